-- table: One row per source over every day in the lake, GreyNoise-style: first and last seen, days active, probes, targets, detectors and tags ever earned, latest risk, organization and a classification. Folded day by day from per-day states in the lake (a rerun or backfill folds the days after it again), so any backfill order gives the same rows.
-- grain: one row per src_ip
-- key: src_ip
-- column src_ip: Source (scanner) address.
-- column first_seen: First event of the source in the lake, UTC.
-- column last_seen: Last event of the source in the lake, UTC.
-- column first_date: First UTC day the source was seen.
-- column last_date: Last UTC day the source was seen.
-- column days_active: UTC days on which the source sent anything.
-- column probes: Events (packets, flows, log lines) sent by the source over all days.
-- column distinct_ports: Distinct destination ports the source reached over all days.
-- column distinct_hosts: Distinct destination addresses the source reached over all days.
-- column detectors: Detector tables that ever named the source: scan_fast, scan_slow (growth periods judged a scan), scan_distributed.
-- column tags: Every tag the source ever earned (source_tags), sorted.
-- column latest_risk: Risk total on the source's last day (source_risk.risk).
-- column max_risk: Highest daily risk total of the source.
-- column malicious_days: Days on which source_risk judged the source malicious.
-- column country_code: Country of the source on its last day, null when unknown.
-- column org: Organization: the known research scanner (reference lists), else its scanner_orgs cluster name over the last orgs.window_days days (null when 'unclustered' or not seen in that window).
-- column research_org: Known research-scanning organization of the source on the reference lists, else null.
-- column is_allow_listed: True when the address is on the site's allow-list (settings site.allow) at the time of the run.
-- column classification: 'benign' (allow-listed or a known research organization), else 'malicious' (judged malicious on at least one day: risk at or above risk.malicious_at with a detector's finding), else 'unknown'.
-- Inputs: history_state (source_history_state.sql folded over every day), scanner_orgs,
-- history_allowed(ip, is_allow_listed). The same columns as source_history.sql, the rebuild from scratch.
WITH orgs AS (
    SELECT src_ip, any_value(org) AS org FROM scanner_orgs GROUP BY src_ip
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
