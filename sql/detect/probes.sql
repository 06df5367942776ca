-- table: probes (view): the events that count as scan probes, one definition shared by every detector.
-- A probe is a packet or record that tries a target rather than carrying an established exchange:
--   firewall drops, sensor connections/datagrams and honeypot hits always;
--   Zeek-style states of unanswered or refused attempts (S0, REJ, RSTOS0, RSTRH, SH, SHR, OTH);
--   TCP without ACK (SYN, NULL, FIN, XMAS) except a bare RST, and ACK-bearing packets without SYN/RST
--     sent from a higher to a lower port (nmap -sA/-sW/-sM probes; replies from services go the other way);
--   UDP sent to a port not above its source port (queries and probes, not answers);
--   ICMP/ICMPv6 echo and timestamp requests (8, 13, 128).
SELECT *
FROM events
WHERE CASE
    WHEN source_kind IN ('firewall', 'sensor', 'honeypot') THEN true
    WHEN conn_state IS NOT NULL THEN conn_state IN ('S0', 'REJ', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH')
    WHEN proto = 'tcp' THEN
        tcp_flags IS NULL
        OR (position('A' IN tcp_flags) = 0 AND tcp_flags <> 'R')
        OR (source_kind = 'pcap' AND position('S' IN tcp_flags) = 0 AND position('R' IN tcp_flags) = 0
            AND src_port > dst_port)
    WHEN proto = 'udp' THEN src_port IS NULL OR dst_port IS NULL OR dst_port <= src_port
    WHEN proto IN ('icmp', 'icmpv6') THEN dst_port IN (8, 13, 128)
    ELSE false
END
