-- table: probes (view): the events of `events` that count as scan probes; the one definition every detector uses.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event that tries a target (same columns as events)
-- A probe is a record in which the source tries a target rather than carrying an established exchange:
--   firewall drops, sensor connections/datagrams and honeypot hits: always;
--   Zeek-style flows: conn_state S0 (no answer), REJ (refused), RSTOS0 (SYN then reset), SH (SYN, FIN, no answer);
--   captured TCP packets, judged by their conversation (directed 4-tuple and its reverse), whatever
--     their flags: a packet is a probe when its side opened the conversation (spoke first) and the
--     conversation never became one: no completed handshake either way (a SYN, the other side's SYN-ACK,
--     an ACK back) and no exchange under way, i.e. not both sides sending packets with neither SYN nor
--     RST (a live exchange caught mid-way has data or ACKs both ways; an ACK, FIN, NULL, XMAS or Maimon
--     probe gets a reset or nothing, a SYN a SYN-ACK or a reset). The opener's bare SYN-ACK, RST and RST-ACK (ECE/CWR aside) are never probes: they are
--     what a host sends in answer (backscatter of someone else's spoofed traffic) or to abort its own
--     half-open attempt. The answering side's packets are never probes;
--   biflow records (CICFlowMeter: one record holds both sides, its flags OR-ed over both): with a SYN,
--     a probe unless a handshake completed, i.e. an ACK and at least four packets, or three without a
--     reset (SYN, SYN-ACK, ACK; SYN, SYN-ACK, RST is a half-open probe; SYN, RST-ACK a refused one);
--     without a SYN, a probe when the record holds at most two packets (the probe and the target's
--     reset) and is not a lone RST or RST-ACK (a teardown);
--   other TCP flow records (CIDDS, nfdump: one direction's flags): no ACK from this side (SYN, NULL,
--     FIN, XMAS, ...), except a bare RST (a teardown);
--   UDP packets and flows of the side that spoke first on their conversation (queries and probes, not
--     answers); an unmatched record from a port below 1024 to one above is an answer whose query was not
--     recorded, not a probe;
--   ICMP echo, timestamp, information and address-mask requests (types 8, 13, 15, 17) and ICMPv6 echo
--     requests (128); dst_port holds the ICMP type. Replies and errors are not probes.
WITH conversations AS (
    SELECT
        src_ip, dst_ip, src_port, dst_port, proto,
        min(ts) AS first_ts,
        bool_or(contains(tcp_flags, 'S') AND NOT contains(tcp_flags, 'A')) AS sent_syn,
        bool_or(contains(tcp_flags, 'S') AND contains(tcp_flags, 'A')) AS sent_synack,
        bool_or(contains(tcp_flags, 'A') AND NOT contains(tcp_flags, 'S') AND NOT contains(tcp_flags, 'R')) AS sent_ack,
        -- a packet of an exchange under way: neither a SYN nor a reset (an ACK, data, a FIN)
        bool_or(NOT contains(tcp_flags, 'S') AND NOT contains(tcp_flags, 'R')) AS sent_data
    FROM events
    WHERE conn_state IS NULL AND src_port IS NOT NULL AND dst_port IS NOT NULL
      AND ((source_kind = 'pcap' AND proto IN ('tcp', 'udp')) OR (source_kind = 'flow' AND proto = 'udp'))
    GROUP BY ALL
), roles AS (
    SELECT
        c.src_ip, c.dst_ip, c.src_port, c.dst_port, c.proto,
        r.src_ip IS NULL AS unmatched,
        -- this side spoke first; on a tie (flow times have millisecond resolution) the side that
        -- went to the lower port, the service, did
        (r.src_ip IS NULL OR r.first_ts > c.first_ts OR (r.first_ts = c.first_ts AND c.dst_port <= c.src_port)) AS opened,
        coalesce(
            (c.sent_syn AND r.sent_synack AND c.sent_ack) OR (r.sent_syn AND c.sent_synack AND r.sent_ack)
            OR (c.sent_data AND r.sent_data),
            false
        ) AS completed
    FROM conversations AS c
    LEFT JOIN conversations AS r
      ON r.src_ip = c.dst_ip AND r.dst_ip = c.src_ip AND r.src_port = c.dst_port AND r.dst_port = c.src_port
     AND r.proto = c.proto
)
-- records judged on their own
SELECT e.*
FROM events AS e
WHERE e.source_kind IN ('firewall', 'sensor', 'honeypot')
   OR (e.conn_state IS NOT NULL AND e.conn_state IN ('S0', 'REJ', 'RSTOS0', 'SH'))
   OR (e.conn_state IS NULL AND e.source_kind <> 'pcap' AND e.proto = 'tcp' AND e.source_format = 'cicflowmeter'
       AND CASE
           WHEN e.tcp_flags IS NULL THEN coalesce(e.packets, 1) <= 2
           WHEN contains(e.tcp_flags, 'S') THEN NOT (contains(e.tcp_flags, 'A')
               AND (coalesce(e.packets, 0) >= 4 OR (e.packets = 3 AND NOT contains(e.tcp_flags, 'R'))))
           ELSE coalesce(e.packets, 1) <= 2
                AND NOT (replace(replace(e.tcp_flags, 'E', ''), 'C', '') IN ('R', 'RA') AND coalesce(e.packets, 1) = 1)
       END)
   OR (e.conn_state IS NULL AND e.source_kind <> 'pcap' AND e.proto = 'tcp' AND e.source_format IS DISTINCT FROM 'cicflowmeter'
       AND (e.tcp_flags IS NULL OR (NOT contains(e.tcp_flags, 'A') AND e.tcp_flags <> 'R')))
   OR (e.conn_state IS NULL AND e.proto = 'icmp' AND e.dst_port IN (8, 13, 15, 17))
   OR (e.conn_state IS NULL AND e.proto = 'icmpv6' AND e.dst_port = 128)
   OR (e.conn_state IS NULL AND e.proto IN ('tcp', 'udp') AND (e.src_port IS NULL OR e.dst_port IS NULL)
       AND (e.proto = 'udp' OR e.tcp_flags IS NULL OR NOT contains(e.tcp_flags, 'A')))
UNION ALL
-- captured TCP packets and captured or flow-level UDP, judged with their conversation
SELECT e.*
FROM events AS e
JOIN roles AS c
  ON c.src_ip = e.src_ip AND c.dst_ip = e.dst_ip AND c.src_port = e.src_port AND c.dst_port = e.dst_port
 AND c.proto = e.proto
WHERE e.conn_state IS NULL
  AND ((e.source_kind = 'pcap' AND e.proto IN ('tcp', 'udp')) OR (e.source_kind = 'flow' AND e.proto = 'udp'))
  AND CASE
      WHEN e.proto = 'udp' THEN c.opened AND NOT (c.unmatched AND e.src_port < 1024 AND e.dst_port >= 1024)
      ELSE c.opened AND NOT c.completed
           AND coalesce(replace(replace(e.tcp_flags, 'E', ''), 'C', '') NOT IN ('SA', 'R', 'RA'), true)
  END
