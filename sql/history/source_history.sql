-- table: One row per source over every day in the lake, GreyNoise-style: first and last seen, days active, probes, targets, detectors and tags ever earned, latest risk, organization and a classification. Rebuilt from the lake by every run, so any backfill order gives the same rows.
-- grain: one row per src_ip
-- key: src_ip
-- built by: pipelines.history:source_history(settings)
-- checked rows: true
-- column src_ip VARCHAR: Source (scanner) address.
-- column first_seen TIMESTAMP WITH TIME ZONE: First event of the source in the lake, UTC.
-- column last_seen TIMESTAMP WITH TIME ZONE: Last event of the source in the lake, UTC.
-- column first_date DATE: First UTC day the source was seen.
-- column last_date DATE: Last UTC day the source was seen.
-- column days_active BIGINT: UTC days on which the source sent anything.
-- column probes BIGINT: Events (packets, flows, log lines) sent by the source over all days.
-- column distinct_ports BIGINT: Distinct destination ports the source reached over all days.
-- column distinct_hosts BIGINT: Distinct destination addresses the source reached over all days.
-- column detectors VARCHAR[]: Detectors with a finding on the source on any day (findings.detector: scan_fast, scan_slow, scan_trw, port_ratio, ...), sorted; allow-listed sources have none.
-- column tags VARCHAR[]: Every tag the source ever earned (source_tags), sorted.
-- column latest_risk DOUBLE: Risk total on the source's last day (source_risk.risk).
-- column max_risk DOUBLE: Highest daily risk total of the source.
-- column malicious_days BIGINT: Days on which source_risk judged the source malicious.
-- column country_code VARCHAR: Country of the source on its last day, null when unknown.
-- column org VARCHAR: Organization: the known research scanner (reference lists), else the scanner_orgs cluster name (null when 'unclustered').
-- column research_org VARCHAR: Known research-scanning organization of the source on the reference lists, else null.
-- column is_allow_listed BOOLEAN: True when the address is on the site's allow-list (settings site.allow) at the time of the run.
-- column classification VARCHAR: 'benign' (allow-listed or a known research organization), else 'malicious' (judged malicious on at least one day: risk at or above risk.malicious_at with a detector's finding), else 'unknown'.
-- check critical: ExpectColumnValuesToBeInSet(column="classification", value_set=["malicious", "benign", "unknown"])
-- check critical: ExpectColumnPairValuesAToBeGreaterThanB(column_A="last_date", column_B="first_date", or_equal=True)
-- check warning: ExpectColumnValuesToBeBetween(column="days_active", min_value=1)
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
    SELECT src_ip, any_value(org) AS org FROM scanner_orgs GROUP BY src_ip
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
