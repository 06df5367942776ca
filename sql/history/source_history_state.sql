-- table: source_history_state (intermediate of source_history): what a day adds to each source's history.
-- kind: intermediate (run by Python; stored in the lake as source_history_state/date=<day>/, not in the warehouse file)
-- What source_history folds day by day (issue 27): one row per source of the days visible in the
-- connection, with the distinct ports and hosts kept as lists so that two states combine exactly
-- (source_history_merge.sql). A state over every day gives the rows of source_history_rebuild.sql.
-- Detectors are read only through findings, so a new detector reaches the history with no edit.
-- Inputs: source_risk, events, findings, source_tags (the days loaded).
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
), detectors AS (
    SELECT src_ip, list(DISTINCT detector ORDER BY detector) AS detectors
    FROM findings
    WHERE src_ip IS NOT NULL
    GROUP BY src_ip
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
