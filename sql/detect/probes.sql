-- table: probes (view): the events of `events` that count as scan probes; the one definition every detector uses.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event that tries a target (same columns as events)
-- A probe is a record in which the source tries a target rather than carrying an established exchange:
--   firewall drops, sensor connections/datagrams and honeypot hits: always;
--   Zeek-style flows: conn_state S0 (no answer), REJ (refused), RSTOS0 (SYN then reset), SH (SYN, FIN, no answer);
--   TCP flow records: no ACK from this side (SYN, NULL, FIN, XMAS, ...), except a bare RST (a teardown);
--   captured TCP packets, judged with their conversation (directed 4-tuple and its reverse):
--     without ACK (SYN, NULL, FIN, XMAS, ...; not a bare RST) on a conversation whose handshake never
--       completed (this side's SYN, the other side's SYN-ACK, this side's ACK): unanswered, refused, or
--       a half-open SYN scan of an open port;
--     with ACK but no SYN/RST on a conversation where no SYN or SYN-ACK was seen either way: nmap
--       -sA / -sW / -sM probes (a connection opened before the capture also matches, but it repeats
--       one port of one host, which no detector calls a scan);
--   UDP packets and flows of the side that spoke first on their conversation (queries and probes, not
--     answers); an unmatched record from a port below 1024 to one above is an answer whose query was not
--     recorded, not a probe;
--   ICMP/ICMPv6 echo and timestamp requests (types 8, 13, 128; dst_port holds the ICMP type).
WITH conversations AS (
    SELECT
        src_ip, dst_ip, src_port, dst_port, proto,
        min(ts) AS first_ts,
        bool_or(contains(tcp_flags, 'S') AND NOT contains(tcp_flags, 'A')) AS sent_syn,
        bool_or(contains(tcp_flags, 'S') AND contains(tcp_flags, 'A')) AS sent_synack,
        bool_or(contains(tcp_flags, 'A') AND NOT contains(tcp_flags, 'S') AND NOT contains(tcp_flags, 'R')) AS sent_ack
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
        coalesce(c.sent_syn AND r.sent_synack AND c.sent_ack, false) AS completed,
        c.sent_syn OR c.sent_synack OR coalesce(r.sent_syn OR r.sent_synack, false) AS any_syn
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
   OR (e.conn_state IS NULL AND e.source_kind <> 'pcap' AND e.proto = 'tcp'
       AND (e.tcp_flags IS NULL OR (NOT contains(e.tcp_flags, 'A') AND e.tcp_flags <> 'R')))
   OR (e.conn_state IS NULL AND e.proto IN ('icmp', 'icmpv6') AND e.dst_port IN (8, 13, 128))
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
      WHEN e.tcp_flags IS NULL THEN NOT c.completed
      WHEN NOT contains(e.tcp_flags, 'A') THEN e.tcp_flags <> 'R' AND NOT c.completed
      ELSE NOT contains(e.tcp_flags, 'S') AND NOT contains(e.tcp_flags, 'R') AND NOT c.any_syn
  END
