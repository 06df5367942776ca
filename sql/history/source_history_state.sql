-- What source_history folds day by day (issue 27): one row per source of the days visible in the
-- connection (events, source_risk, the detectors and source_tags of those days), with the distinct
-- ports and hosts kept as lists so that two states combine exactly (source_history_merge.sql).
-- A state over every day gives the same source_history as source_history.sql, the rebuild from
-- scratch that tests compare it with.
-- Inputs: source_risk, events, scan_fast, scan_slow, scan_distributed(event_date, src_ip), source_tags.
WITH days AS (
    SELECT
        src_ip,
        min(first_seen) AS first_seen,
        max(last_seen) AS last_seen,
        min(event_date) AS first_date,
        max(event_date) AS last_date,
        count(DISTINCT event_date)::BIGINT AS days_active,
        sum(probes)::BIGINT AS probes,
        arg_max(risk, event_date) AS latest_risk,
        max(risk) AS max_risk,
        (count(*) FILTER (WHERE malicious))::BIGINT AS malicious_days,
        arg_max(country_code, event_date) AS country_code,
        arg_max(research_org, event_date) FILTER (WHERE research_org IS NOT NULL) AS research_org
    FROM source_risk
    GROUP BY src_ip
), targets AS (
    SELECT
        src_ip,
        list(DISTINCT dst_port) FILTER (WHERE dst_port IS NOT NULL) AS ports,
        list(DISTINCT dst_ip) FILTER (WHERE dst_ip IS NOT NULL) AS hosts
    FROM events
    WHERE src_ip IS NOT NULL
    GROUP BY src_ip
), named AS (
    SELECT DISTINCT src_ip, 'scan_fast' AS detector FROM scan_fast
    UNION
    SELECT DISTINCT src_ip, 'scan_slow' FROM scan_slow WHERE is_scan
    UNION
    SELECT DISTINCT src_ip, 'scan_distributed' FROM scan_distributed
), detectors AS (
    SELECT src_ip, list(DISTINCT detector ORDER BY detector) AS detectors FROM named GROUP BY src_ip
), tags AS (
    SELECT src_ip, list(DISTINCT tag ORDER BY tag) AS tags FROM source_tags GROUP BY src_ip
), sources AS (
    SELECT src_ip FROM days UNION SELECT src_ip FROM targets
)
SELECT
    s.src_ip,
    d.first_seen,
    d.last_seen,
    d.first_date,
    d.last_date,
    d.days_active,
    d.probes,
    d.latest_risk,
    d.max_risk,
    d.malicious_days,
    d.country_code,
    d.research_org,
    t.ports,
    t.hosts,
    det.detectors,
    tg.tags
FROM sources AS s
LEFT JOIN days AS d USING (src_ip)
LEFT JOIN targets AS t USING (src_ip)
LEFT JOIN detectors AS det USING (src_ip)
LEFT JOIN tags AS tg USING (src_ip)
