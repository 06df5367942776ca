-- table: One row per UTC day, protocol and destination port hit by suspected sources (traffic_score > 0): the ports scanners go for.
-- grain: one row per (event_date, proto, dst_port)
-- key: event_date, proto, dst_port
-- column event_date DATE: UTC day.
-- column proto VARCHAR: Transport protocol (tcp, udp, icmp, ...).
-- column dst_port INTEGER: Destination port (ICMP type for ICMP).
-- column events BIGINT: Events from suspected sources to that port.
-- column sources BIGINT: Distinct suspected sources that hit the port.
-- column abnormal_sources BIGINT: Distinct malicious sources that hit the port.
SELECT
    e.event_date,
    e.proto,
    e.dst_port,
    count(*)::BIGINT AS events,
    count(DISTINCT e.src_ip)::BIGINT AS sources,
    count(DISTINCT e.src_ip) FILTER (WHERE r.malicious)::BIGINT AS abnormal_sources
FROM events AS e
JOIN source_risk AS r ON r.event_date = e.event_date AND r.src_ip = e.src_ip
WHERE r.traffic_score > 0 AND e.dst_port IS NOT NULL
GROUP BY ALL
ORDER BY 1, events DESC
