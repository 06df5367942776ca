-- New malicious sources this week by organization: first seen in the last 7 days of the warehouse
-- and classified malicious (allow-listed and research scanners are 'benign', so not counted).
WITH last_day AS (SELECT max(last_date) AS d FROM source_history)
SELECT coalesce(h.org, '(no organization)') AS org, count(*) AS new_malicious_sources,
    list(h.src_ip ORDER BY h.max_risk DESC, h.src_ip)[1:10] AS riskiest
FROM source_history AS h, last_day
WHERE h.first_date > last_day.d - 7 AND h.classification = 'malicious'
GROUP BY ALL
ORDER BY new_malicious_sources DESC, org;
