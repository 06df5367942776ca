-- table: One row per UTC day: sources seen, sources suspected by a detector, sources judged abnormal (malicious), and what the run ingested. The report's headline figures.
-- grain: one row per event_date that has events or a run (a quiet day's run gives a row of zeros)
-- key: event_date
-- column event_date DATE: UTC day.
-- column sources BIGINT: Distinct source addresses seen that day.
-- column suspected_sources BIGINT: Sources with traffic_score > 0 (found by the fast threshold or the slow-scan model).
-- column abnormal_sources BIGINT: Sources judged malicious (risk at or above the configured cut, default 60).
-- column abnormal_share DOUBLE: abnormal_sources / sources, 0..1 (paper 000 reports 18.4-19.1%).
-- column events BIGINT: Events (packets, flows, log lines) recorded that day.
-- column fast_scans BIGINT: Distinct sources over the dynamic threshold in at least one window.
-- column slow_scans BIGINT: Distinct sources with at least one slow-scan growth period judged a scan.
-- column quarantined BIGINT: Records rejected by ingestion in the run of that day.
-- check critical: ExpectColumnValuesToBeBetween(column="abnormal_share", min_value=0, max_value=1)
-- check critical: ExpectColumnPairValuesAToBeGreaterThanB(column_A="sources", column_B="abnormal_sources", or_equal=True)
-- check critical: ExpectColumnPairValuesAToBeGreaterThanB(column_A="sources", column_B="suspected_sources", or_equal=True)
-- check critical: ExpectTableRowCountToEqual(value=1)
WITH ev AS (
    SELECT event_date, count(*) AS events FROM events GROUP BY event_date
), src AS (
    SELECT
        event_date,
        count(*) AS sources,
        count(*) FILTER (WHERE traffic_score > 0) AS suspected_sources,
        count(*) FILTER (WHERE malicious) AS abnormal_sources
    FROM source_risk
    GROUP BY event_date
), fast AS (
    SELECT event_date, count(DISTINCT src_ip) AS fast_scans FROM findings WHERE detector = 'scan_fast' GROUP BY event_date
), slow AS (
    SELECT event_date, count(DISTINCT src_ip) AS slow_scans FROM findings WHERE detector = 'scan_slow' GROUP BY event_date
), q AS (
    SELECT run_date AS event_date, sum(quarantined) AS quarantined FROM runs GROUP BY run_date
), days AS (
    SELECT event_date FROM ev UNION SELECT event_date FROM q
)
SELECT
    days.event_date,
    coalesce(src.sources, 0)::BIGINT AS sources,
    coalesce(src.suspected_sources, 0)::BIGINT AS suspected_sources,
    coalesce(src.abnormal_sources, 0)::BIGINT AS abnormal_sources,
    CASE WHEN coalesce(src.sources, 0) = 0 THEN 0.0 ELSE src.abnormal_sources / src.sources END AS abnormal_share,
    coalesce(ev.events, 0)::BIGINT AS events,
    coalesce(fast.fast_scans, 0)::BIGINT AS fast_scans,
    coalesce(slow.slow_scans, 0)::BIGINT AS slow_scans,
    coalesce(q.quarantined, 0)::BIGINT AS quarantined
FROM days
LEFT JOIN ev USING (event_date)
LEFT JOIN src USING (event_date)
LEFT JOIN fast USING (event_date)
LEFT JOIN slow USING (event_date)
LEFT JOIN q USING (event_date)
ORDER BY days.event_date
