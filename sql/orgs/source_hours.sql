-- table: One row per source and UTC hour of day: the activity-hour histogram of the node attributes.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per (src_ip, hour)
-- key: src_ip, hour
-- column src_ip: Source (scanner) address.
-- column hour: UTC hour of day 0-23.
-- column hits: Events from the source in that hour of day, over the days of orgs_days.
-- The days' per-value counts (sql/orgs/source_features_day.sql) added up.
SELECT src_ip, hour, sum(hits)::DOUBLE AS hits
FROM (SELECT src_ip, unnest(hours) AS hour, unnest(hour_hits) AS hits FROM orgs_days WHERE src_ip IS NOT NULL)
WHERE hour IS NOT NULL
GROUP BY ALL
