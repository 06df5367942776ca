-- table: source_history_rebuild (intermediate of source_history): the rows of source_history rebuilt from every day at once.
-- kind: intermediate (run by Python and the tests, not stored in the warehouse)
-- The reference the day-by-day fold (source_history_state.sql, source_history_merge.sql, source_history.sql)
-- must equal in any order of days (tests/test_history_source.py); `pipelines.history.rebuild_history` runs it.
-- Inputs: source_risk, events, findings, source_tags, scanner_orgs (every day), history_allowed(ip, is_allow_listed).
WITH days AS (
    SELECT
        src_ip,
        min(first_seen) AS first_seen,
        max(last_seen) AS last_seen,
        min(event_date) AS first_date,
        max(event_date) AS last_date,
        count(DISTINCT event_date) AS days_active,
        sum(probes) AS probes,
        arg_max(risk, event_date) AS latest_risk,
        max(risk) AS max_risk,
        count(*) FILTER (WHERE malicious) AS malicious_days,
        arg_max(country_code, event_date) AS country_code,
        arg_max(research_org, event_date) FILTER (WHERE research_org IS NOT NULL) AS research_org
    FROM source_risk
    GROUP BY src_ip
), targets AS (
    SELECT src_ip, count(DISTINCT dst_port) AS distinct_ports, count(DISTINCT dst_ip) AS distinct_hosts
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
), orgs AS (
    SELECT src_ip, any_value(org) AS org FROM scanner_orgs
    WHERE event_date = (SELECT max(event_date) FROM scanner_orgs)  -- the latest day's organizations
    GROUP BY src_ip
)
SELECT
    d.src_ip,
    d.first_seen,
    d.last_seen,
    d.first_date,
    d.last_date,
    d.days_active::BIGINT AS days_active,
    d.probes::BIGINT AS probes,
    coalesce(t.distinct_ports, 0)::BIGINT AS distinct_ports,
    coalesce(t.distinct_hosts, 0)::BIGINT AS distinct_hosts,
    coalesce(det.detectors, []::VARCHAR[]) AS detectors,
    coalesce(tg.tags, []::VARCHAR[]) AS tags,
    d.latest_risk,
    d.max_risk,
    d.malicious_days::BIGINT AS malicious_days,
    d.country_code,
    coalesce(d.research_org, nullif(o.org, 'unclustered')) AS org,
    d.research_org,
    coalesce(a.is_allow_listed, false) AS is_allow_listed,
    CASE
        WHEN coalesce(a.is_allow_listed, false) OR d.research_org IS NOT NULL THEN 'benign'
        WHEN d.malicious_days > 0 THEN 'malicious'
        ELSE 'unknown'
    END AS classification
FROM days AS d
LEFT JOIN targets AS t USING (src_ip)
LEFT JOIN detectors AS det USING (src_ip)
LEFT JOIN tags AS tg USING (src_ip)
LEFT JOIN orgs AS o USING (src_ip)
LEFT JOIN history_allowed AS a ON a.ip = d.src_ip
ORDER BY d.src_ip
