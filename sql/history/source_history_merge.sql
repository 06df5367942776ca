-- table: source_history_merge (intermediate of source_history): two history states combined.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- Combine two source_history_state rows: `history_before` over days before
-- those of `history_day`. Sums add, first/last take the least/greatest, the latest values come
-- from the later state where it has them (arg_max over days skips nulls, as coalesce does here),
-- and the distinct ports, hosts, detectors and tags are unions.
SELECT
    coalesce(d.src_ip, b.src_ip) AS src_ip,
    least(b.first_seen, d.first_seen) AS first_seen,
    greatest(b.last_seen, d.last_seen) AS last_seen,
    least(b.first_date, d.first_date) AS first_date,
    greatest(b.last_date, d.last_date) AS last_date,
    CASE WHEN b.days_active IS NULL AND d.days_active IS NULL THEN NULL
         ELSE coalesce(b.days_active, 0) + coalesce(d.days_active, 0) END::BIGINT AS days_active,
    CASE WHEN b.probes IS NULL AND d.probes IS NULL THEN NULL
         ELSE coalesce(b.probes, 0) + coalesce(d.probes, 0) END::BIGINT AS probes,
    coalesce(d.latest_risk, b.latest_risk) AS latest_risk,
    greatest(b.max_risk, d.max_risk) AS max_risk,
    CASE WHEN b.malicious_days IS NULL AND d.malicious_days IS NULL THEN NULL
         ELSE coalesce(b.malicious_days, 0) + coalesce(d.malicious_days, 0) END::BIGINT AS malicious_days,
    coalesce(d.country_code, b.country_code) AS country_code,
    coalesce(d.research_org, b.research_org) AS research_org,
    CASE WHEN b.ports IS NULL THEN d.ports WHEN d.ports IS NULL THEN b.ports
         ELSE list_sort(list_distinct(list_concat(b.ports, d.ports))) END AS ports,
    CASE WHEN b.hosts IS NULL THEN d.hosts WHEN d.hosts IS NULL THEN b.hosts
         ELSE list_sort(list_distinct(list_concat(b.hosts, d.hosts))) END AS hosts,
    CASE WHEN b.detectors IS NULL THEN d.detectors WHEN d.detectors IS NULL THEN b.detectors
         ELSE list_sort(list_distinct(list_concat(b.detectors, d.detectors))) END AS detectors,
    CASE WHEN b.tags IS NULL THEN d.tags WHEN d.tags IS NULL THEN b.tags
         ELSE list_sort(list_distinct(list_concat(b.tags, d.tags))) END AS tags
FROM history_before AS b
FULL OUTER JOIN history_day AS d USING (src_ip)
