-- The latest day's malicious sources, new (first seen that day) or returning (seen on an earlier day).
WITH last_day AS (SELECT max(event_date) AS d FROM source_risk)
SELECT r.src_ip, r.risk,
    CASE WHEN h.first_date = last_day.d THEN 'new' ELSE 'returning' END AS status,
    h.first_date, h.days_active, h.classification, h.org, h.tags, r.reasons
FROM source_risk AS r
JOIN source_history AS h USING (src_ip)
CROSS JOIN last_day
WHERE r.event_date = last_day.d AND r.malicious AND NOT h.is_allow_listed
ORDER BY status, r.risk DESC, r.src_ip;
