-- Sources active on each of the last 7 days in the warehouse (counted back from its latest day),
-- with what the history says about them: persistent scanners, whatever their daily risk.
WITH last_day AS (SELECT max(event_date) AS d FROM source_risk)
SELECT h.src_ip, h.classification, h.org, h.country_code, h.first_date, h.days_active, h.probes, h.tags
FROM source_risk AS r
JOIN source_history AS h USING (src_ip)
CROSS JOIN last_day
WHERE r.event_date > last_day.d - 7
GROUP BY ALL
HAVING count(DISTINCT r.event_date) = 7
ORDER BY h.probes DESC;
