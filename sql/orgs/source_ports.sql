-- table: One row per source and destination port: how often the source hit the port (the port-profile block of the node attributes).
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per (src_ip, dst_port)
-- key: src_ip, dst_port
-- column src_ip: Source (scanner) address.
-- column dst_port: Destination port hit.
-- column hits: Events from the source to the port.
SELECT src_ip, dst_port, count(*)::DOUBLE AS hits
FROM orgs_events
WHERE src_ip IS NOT NULL AND dst_port IS NOT NULL
GROUP BY ALL
