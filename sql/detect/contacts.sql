-- table: contacts (view): every event with the part it plays in a contact and the contact's outcome; `probes` and `scan_trw` read it, so every detector counts from one definition (DESIGN 5.2a).
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event (same columns as events, plus opened, answered, contact_outcome, outcome_from, probe_record, to_group)
-- reads: group_macros
-- column opened: This record is the side that opened its contact (spoke first), not an answer.
-- column answered: The contact got anything back (a reverse record, a biflow's backward packets).
-- column contact_outcome: succeeded (a conversation that was used: handshake completed or caught mid-way,
--   and both sides sent more than SYNs and resets; a UDP service answered), failed (refused, unanswered,
--   half-open, a handshake closed unused as by a connect scan) or unknown (the record cannot say).
-- column outcome_from: Where the outcome was read: record (the record or its Zeek state says it), flags
--   (a one-direction TCP flow's own flags), conversation (the reverse records of the capture), icmp.
-- column probe_record: The record, judged on its own, tries a target rather than carrying an exchange.
-- column to_group: The record went to a multicast or broadcast address (224.0.0.0/4, 255.255.255.255,
--   ff00::/8, UDP to an IPv4 address ending in .255, the directed broadcast of the common /24): the
--   macro sent_to_group of group_macros.sql, which the shard filter of pipelines/steps.py shares.
-- Where the outcome comes from:
--   records that say it themselves (`events.outcome`, set at ingest from the format: Zeek conn_state and
--     resp_pkts/resp_bytes, a biflow's backward counts and flags, `unknown` for the registry's no_answer
--     formats: firewall drops, decoys and sensors): a failed contact is a probe, a succeeded one is not,
--     an unknown one counts as before (every firewall drop, sensor connection and honeypot hit is a
--     probe; a biflow's lone teardown or a Zeek OTH record, a conversation caught mid-way, is not);
--   Zeek-style rows ingested before outcomes existed: conn_state S0, REJ, RSTOS0, SH fail; SF, S1, S2, S3,
--     RSTO, RSTR succeed;
--   captured TCP packets, judged by their conversation (directed 4-tuple and its reverse), whatever
--     their flags: a packet is a probe when its side opened the conversation (spoke first) and the
--     conversation never became one: no completed handshake either way (a SYN, the other side's SYN-ACK,
--     an ACK back) and no exchange under way, i.e. not both sides sending packets with neither SYN nor
--     RST (a live exchange caught mid-way has data or ACKs both ways; an ACK, FIN, NULL, XMAS or Maimon
--     probe gets a reset or nothing, a SYN a SYN-ACK or a reset). The opener's bare SYN-ACK, RST and
--     RST-ACK (ECE/CWR aside) are never probes: they are what a host sends in answer (backscatter of
--     someone else's spoofed traffic) or to abort its own half-open attempt. The answering side's
--     packets are never probes;
--   UDP packets and one-direction UDP flows of the side that spoke first on their conversation (queries
--     and probes, not answers): succeeded when the other side answered; an unmatched record from a port
--     below 1024 to one above is an answer whose query was not recorded, and a datagram to a host that
--     sent a query from that port to this service port on a multicast or broadcast group is a member's
--     answer (mDNS, LLMNR, SSDP), not a probe;
--   one-direction TCP flow records (CIDDS, NetFlow v5/v9 uni-flows: one side's OR-ed flags): no ACK
--     from this side (SYN, NULL, FIN, XMAS, ...) is a failed probe, except a bare RST (a teardown); an
--     ACK without a reset is a conversation (succeeded);
--   ICMP echo, timestamp, information and address-mask requests (types 8, 13, 15, 17) and ICMPv6 echo
--     requests (128), in every format (dst_port holds the ICMP type): always probes, outcome unknown (an
--     echo reply does not make a sweep benign). Replies and errors are not probes.
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
    WHERE outcome IS NULL AND conn_state IS NULL AND src_port IS NOT NULL AND dst_port IS NOT NULL
      AND ((source_kind = 'pcap' AND proto IN ('tcp', 'udp')) OR (source_kind = 'flow' AND proto = 'udp'))
    GROUP BY ALL
), group_queries AS (
    -- UDP queries to a multicast or broadcast group (mDNS, LLMNR, SSDP, NetBIOS): each member answers
    -- the querier unicast, from the service port to the port the query came from
    SELECT DISTINCT src_ip, src_port, dst_port
    FROM events
    WHERE proto = 'udp' AND src_port IS NOT NULL AND dst_port IS NOT NULL AND sent_to_group(dst_ip, proto)
), roles AS (
    SELECT
        c.src_ip, c.dst_ip, c.src_port, c.dst_port, c.proto,
        r.src_ip IS NOT NULL AS answered,
        -- this side spoke first; on a tie (flow times have millisecond resolution) the side that
        -- went to the lower port, the service, did; a member's answer to a group query never did
        (r.src_ip IS NULL OR r.first_ts > c.first_ts OR (r.first_ts = c.first_ts AND c.dst_port <= c.src_port))
            AND g.src_ip IS NULL AS opened,
        coalesce(
            (c.sent_syn AND r.sent_synack AND c.sent_ack) OR (r.sent_syn AND c.sent_synack AND r.sent_ack)
            OR (c.sent_data AND r.sent_data),
            false
        ) AS completed,
        -- used: both sides sent packets that are neither a SYN nor a reset (a connect scan's handshake is not)
        coalesce(c.sent_data AND r.sent_data, false) AS exchanged
    FROM conversations AS c
    LEFT JOIN conversations AS r
      ON r.src_ip = c.dst_ip AND r.dst_ip = c.src_ip AND r.src_port = c.dst_port AND r.dst_port = c.src_port
     AND r.proto = c.proto
    LEFT JOIN group_queries AS g
      ON c.proto = 'udp' AND g.src_ip = c.dst_ip AND g.src_port = c.dst_port AND g.dst_port = c.src_port
), icmp_request AS (
    SELECT * FROM events
    WHERE (proto = 'icmp' AND dst_port IN (8, 13, 15, 17)) OR (proto = 'icmpv6' AND dst_port = 128)
), judged AS (
-- ICMP requests, in every format
SELECT e.*, true AS opened, coalesce(e.resp_packets > 0, false) AS answered,
       'unknown' AS contact_outcome, 'icmp' AS outcome_from, true AS probe_record
FROM icmp_request AS e
UNION ALL
-- records that say their outcome, or carry a Zeek state
SELECT
    e.*,
    true AS opened,
    coalesce(e.resp_packets > 0, e.conn_state NOT IN ('S0', 'SH', 'OTH'), false) AS answered,
    coalesce(
        e.outcome,
        CASE
            WHEN e.conn_state IN ('S0', 'REJ', 'RSTOS0', 'SH') THEN 'failed'
            WHEN e.conn_state IN ('SF', 'S1', 'S2', 'S3', 'RSTO', 'RSTR') THEN 'succeeded'
            ELSE 'unknown'
        END
    ) AS contact_outcome,
    'record' AS outcome_from,
    CASE
        WHEN e.outcome = 'failed' THEN true
        WHEN e.outcome = 'succeeded' THEN false
        -- the families whose every record is a try (the registry's no_answer formats); a biflow's teardown
        -- or a conversation caught mid-way (Zeek OTH) is none
        WHEN e.outcome = 'unknown' THEN e.source_kind IN ('firewall', 'sensor', 'honeypot')
        ELSE e.conn_state IN ('S0', 'REJ', 'RSTOS0', 'SH')
    END AS probe_record
FROM events AS e
WHERE (e.outcome IS NOT NULL OR e.conn_state IS NOT NULL)
  AND NOT ((e.proto = 'icmp' AND e.dst_port IN (8, 13, 15, 17)) OR (e.proto = 'icmpv6' AND e.dst_port = 128))
UNION ALL
-- one-direction records judged on their own flags: firewall-style rows without an outcome, TCP uni-flows,
-- TCP/UDP records without ports
SELECT
    e.*,
    true AS opened,
    false AS answered,
    CASE
        WHEN e.source_kind IN ('firewall', 'sensor', 'honeypot') THEN 'unknown'
        WHEN e.proto = 'tcp' AND contains(e.tcp_flags, 'A') AND NOT contains(e.tcp_flags, 'R') THEN 'succeeded'
        WHEN e.proto = 'tcp' AND (e.tcp_flags IS NULL OR NOT contains(e.tcp_flags, 'A')) AND e.tcp_flags IS DISTINCT FROM 'R'
            THEN 'failed'
        ELSE 'unknown'
    END AS contact_outcome,
    'flags' AS outcome_from,
    CASE
        WHEN e.source_kind IN ('firewall', 'sensor', 'honeypot') THEN true
        WHEN e.proto = 'tcp' AND e.src_port IS NOT NULL AND e.dst_port IS NOT NULL
            THEN e.tcp_flags IS NULL OR (NOT contains(e.tcp_flags, 'A') AND e.tcp_flags <> 'R')
        WHEN e.proto IN ('tcp', 'udp') AND (e.src_port IS NULL OR e.dst_port IS NULL)
            THEN e.proto = 'udp' OR e.tcp_flags IS NULL OR NOT contains(e.tcp_flags, 'A')
        ELSE false
    END AS probe_record
FROM events AS e
WHERE e.outcome IS NULL AND e.conn_state IS NULL
  AND NOT ((e.proto = 'icmp' AND e.dst_port IN (8, 13, 15, 17)) OR (e.proto = 'icmpv6' AND e.dst_port = 128))
  AND NOT (e.src_port IS NOT NULL AND e.dst_port IS NOT NULL
           AND ((e.source_kind = 'pcap' AND e.proto IN ('tcp', 'udp')) OR (e.source_kind = 'flow' AND e.proto = 'udp')))
UNION ALL
-- captured TCP packets and captured or flow-level UDP, judged with their conversation
SELECT
    e.*,
    c.opened,
    c.answered,
    CASE
        WHEN NOT c.opened THEN 'unknown'
        WHEN e.proto = 'udp' THEN CASE WHEN c.answered THEN 'succeeded' ELSE 'failed' END
        WHEN c.completed AND c.exchanged THEN 'succeeded'
        ELSE 'failed'
    END AS contact_outcome,
    'conversation' AS outcome_from,
    CASE
        WHEN e.proto = 'udp' THEN c.opened AND NOT (NOT c.answered AND e.src_port < 1024 AND e.dst_port >= 1024)
        ELSE c.opened AND NOT c.completed
             AND coalesce(replace(replace(e.tcp_flags, 'E', ''), 'C', '') NOT IN ('SA', 'R', 'RA'), true)
    END AS probe_record
FROM events AS e
JOIN roles AS c
  ON c.src_ip = e.src_ip AND c.dst_ip = e.dst_ip AND c.src_port = e.src_port AND c.dst_port = e.dst_port
 AND c.proto = e.proto
WHERE e.outcome IS NULL AND e.conn_state IS NULL
  AND ((e.source_kind = 'pcap' AND e.proto IN ('tcp', 'udp')) OR (e.source_kind = 'flow' AND e.proto = 'udp'))
)
SELECT
    *,
    -- one datagram to a group reaches every host (mDNS, LLMNR, SSDP, NetBIOS): no target of a scan
    sent_to_group(dst_ip, proto) AS to_group
FROM judged
