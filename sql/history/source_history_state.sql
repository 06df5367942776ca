-- table: What each day adds to the sources' history, folded into the day before's: one row per source ever seen up to that day, with its distinct ports, hosts, detectors and tags as lists so two states combine exactly (source_history_merge.sql). source_history is the latest day's state with the latest organizations and allow-list; a rerun or backfill of a day folds the days after it again (issue 27).
-- grain: one row per (event_date, src_ip): the state as of event_date
-- key: event_date, src_ip
-- built by: pipelines.history:source_history_state(settings)
-- column event_date DATE: UTC day of the state (every day up to and including it is folded in).
-- column src_ip VARCHAR: Source (scanner) address.
-- column first_seen TIMESTAMP WITH TIME ZONE: First event of the source up to event_date, UTC.
-- column last_seen TIMESTAMP WITH TIME ZONE: Last event of the source up to event_date, UTC.
-- column first_date DATE: First UTC day the source was seen.
-- column last_date DATE: Last UTC day the source was seen, up to event_date.
-- column days_active BIGINT: UTC days on which the source sent anything, up to event_date.
-- column probes BIGINT: Events sent by the source up to event_date.
-- column latest_risk DOUBLE: Risk total on the source's last day up to event_date.
-- column max_risk DOUBLE: Highest daily risk total of the source up to event_date.
-- column malicious_days BIGINT: Days judged malicious up to event_date.
-- column country_code VARCHAR: Country of the source on its last day, null when unknown.
-- column research_org VARCHAR: Known research-scanning organization of the source on the reference lists, else null.
-- column ports INTEGER[]: Distinct destination ports the source reached up to event_date.
-- column hosts VARCHAR[]: Distinct destination addresses the source reached up to event_date.
-- column detectors VARCHAR[]: Detectors with a finding on the source up to event_date (findings.detector), sorted.
-- column tags VARCHAR[]: Every tag the source earned up to event_date (source_tags), sorted.
-- check critical: ExpectColumnValuesToNotBeNull(column="src_ip")
-- What one day adds (this query, over the day's events, source_risk, findings and source_tags) is
-- merged into the day before's state by pipelines.history.source_history_state; taken over every day at
-- once, it is the rebuild from scratch that tests compare the fold with. Detectors are read
-- only through findings, so a new detector reaches the history with no edit. $buckets, $bucket: only
-- the sources in $bucket of $buckets (the macro source_bucket of sql/detect/bucket_macros.sql; a large
-- day is built bucket by bucket, pipelines.duck.stage_in_buckets; 1 and 0: every source).
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
    WHERE source_bucket(src_ip, $buckets) = $bucket::UBIGINT
    GROUP BY src_ip
), targets AS (
    SELECT
        src_ip,
        list(DISTINCT dst_port ORDER BY dst_port) FILTER (WHERE dst_port IS NOT NULL) AS ports,
        list(DISTINCT dst_ip ORDER BY dst_ip) FILTER (WHERE dst_ip IS NOT NULL) AS hosts
    FROM events
    WHERE src_ip IS NOT NULL AND source_bucket(src_ip, $buckets) = $bucket::UBIGINT
    GROUP BY src_ip
), detectors AS (
    SELECT src_ip, list(DISTINCT detector ORDER BY detector) AS detectors
    FROM findings
    WHERE src_ip IS NOT NULL AND source_bucket(src_ip, $buckets) = $bucket::UBIGINT
    GROUP BY src_ip
), tags AS (
    SELECT src_ip, list(DISTINCT tag ORDER BY tag) AS tags FROM source_tags WHERE source_bucket(src_ip, $buckets) = $bucket::UBIGINT GROUP BY src_ip
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
ORDER BY s.src_ip
