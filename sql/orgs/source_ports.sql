-- table: One row per source and destination port: how often the source hit the port (the port-profile block of the node attributes).
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per (src_ip, dst_port)
-- key: src_ip, dst_port
-- column src_ip: Source (scanner) address.
-- column dst_port: Destination port hit.
-- column hits: Events from the source to the port.
-- The days' per-value counts (sql/orgs/source_features_day.sql) added up.
SELECT src_ip, dst_port, sum(hits)::DOUBLE AS hits
FROM (SELECT src_ip, unnest(dst_ports) AS dst_port, unnest(dst_port_hits) AS hits FROM orgs_days WHERE src_ip IS NOT NULL)
GROUP BY ALL
