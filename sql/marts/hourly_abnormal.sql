-- table: One row per UTC day and local hour of day: sources active and abnormal sources active in that hour (the 24-hour trend; paper 000 finds the peak at 22:00-24:00).
-- grain: one row per (event_date, hour)
-- key: event_date, hour
-- column event_date: UTC day of the events.
-- column hour: Hour of day 0-23 in the configured time zone (settings site.timezone).
-- column sources: Distinct sources with events in that hour.
-- column abnormal_sources: Distinct malicious sources with events in that hour.
-- column events: Events in that hour.
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
