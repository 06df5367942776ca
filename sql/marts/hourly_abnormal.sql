-- table: One row per UTC day and local hour of day: sources active and abnormal sources active in that hour (the 24-hour trend; paper 000 finds the peak at 22:00-24:00).
-- grain: one row per (event_date, hour)
-- key: event_date, hour
-- column event_date DATE: UTC day of the events.
-- column hour INTEGER: Hour of day 0-23 in the configured time zone (settings site.timezone).
-- column sources BIGINT: Distinct sources with events in that hour.
-- column abnormal_sources BIGINT: Distinct malicious sources with events in that hour.
-- column events BIGINT: Events in that hour.
-- check critical: ExpectColumnValuesToBeBetween(column="hour", min_value=0, max_value=23)
-- check critical: ExpectColumnPairValuesAToBeGreaterThanB(column_A="sources", column_B="abnormal_sources", or_equal=True)
SELECT
    e.event_date,
    hour(timezone($tz, e.ts))::INTEGER AS hour,
    count(DISTINCT e.src_ip)::BIGINT AS sources,
    count(DISTINCT e.src_ip) FILTER (WHERE r.malicious)::BIGINT AS abnormal_sources,
    count(*)::BIGINT AS events
FROM events AS e
LEFT JOIN source_risk AS r ON r.event_date = e.event_date AND r.src_ip = e.src_ip
GROUP BY ALL
ORDER BY 1, 2
