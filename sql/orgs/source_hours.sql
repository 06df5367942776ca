-- table: One row per source and UTC hour of day: the activity-hour histogram of the node attributes.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per (src_ip, hour)
-- key: src_ip, hour
-- column src_ip: Source (scanner) address.
-- column hour: UTC hour of day 0-23.
-- column hits: Events from the source in that hour of day, over all days.
SELECT src_ip, hour(ts)::INTEGER AS hour, count(*)::DOUBLE AS hits
FROM orgs_events
WHERE src_ip IS NOT NULL AND ts IS NOT NULL
GROUP BY ALL
