-- table: One row per source over every day in the lake, GreyNoise-style: first and last seen, days active, probes, targets, detectors and tags ever earned, latest risk, organization and a classification. Folded day by day from the per-day states the lake stores (source_history_state/date=<day>/); a rerun or backfill folds the days after it again, so any order of days gives the same rows.
-- grain: one row per src_ip
-- key: src_ip
-- built by: pipelines.history:source_history(settings)
-- built at: publish (from the latest day's source_history_state, pipelines/publishing.py)
-- reads: source_history_state, scanner_orgs
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
-- column org VARCHAR: Organization: the known research scanner (reference lists), else its scanner_orgs cluster name over the last orgs.window_days days (null when 'unclustered' or not seen in that window).
-- column research_org VARCHAR: Known research-scanning organization of the source on the reference lists, else null.
-- column is_allow_listed BOOLEAN: True when the address is on the site's allow-list (settings site.allow) at the time of the run.
-- column classification VARCHAR: 'benign' (allow-listed or a known research organization), else 'malicious' (judged malicious on at least one day: risk at or above risk.malicious_at with a detector's finding), else 'unknown'.
-- check critical: ExpectColumnValuesToBeInSet(column="classification", value_set=["malicious", "benign", "unknown"])
-- check critical: ExpectColumnPairValuesAToBeGreaterThanB(column_A="last_date", column_B="first_date", or_equal=True)
-- check warning: ExpectColumnValuesToBeBetween(column="days_active", min_value=1)
-- Inputs: history_state (the latest day's source_history_state: every day folded), scanner_orgs
-- (the latest day's), history_allowed(ip, is_allow_listed). Folded day by day, the rows equal those of one state
-- taken over every day at once (tests/test_history_source.py).
WITH orgs AS (
    SELECT src_ip, any_value(org) AS org FROM scanner_orgs
    WHERE event_date = (SELECT max(event_date) FROM scanner_orgs)  -- the latest day's organizations
    GROUP BY src_ip
)
SELECT
    s.src_ip,
    s.first_seen,
    s.last_seen,
    s.first_date,
    s.last_date,
    s.days_active::BIGINT AS days_active,
    s.probes::BIGINT AS probes,
    coalesce(len(s.ports), 0)::BIGINT AS distinct_ports,
    coalesce(len(s.hosts), 0)::BIGINT AS distinct_hosts,
    coalesce(s.detectors, []::VARCHAR[]) AS detectors,
    coalesce(s.tags, []::VARCHAR[]) AS tags,
    s.latest_risk,
    s.max_risk,
    s.malicious_days::BIGINT AS malicious_days,
    s.country_code,
    coalesce(s.research_org, nullif(o.org, 'unclustered')) AS org,
    s.research_org,
    coalesce(a.is_allow_listed, false) AS is_allow_listed,
    CASE
        WHEN coalesce(a.is_allow_listed, false) OR s.research_org IS NOT NULL THEN 'benign'
        WHEN s.malicious_days > 0 THEN 'malicious'
        ELSE 'unknown'
    END AS classification
FROM history_state AS s
LEFT JOIN orgs AS o USING (src_ip)
LEFT JOIN history_allowed AS a ON a.ip = s.src_ip
WHERE s.first_date IS NOT NULL
ORDER BY s.src_ip
