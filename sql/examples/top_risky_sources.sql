-- The riskiest sources of the latest day, with why they scored.
SELECT event_date, src_ip, country_code, risk, traffic_score, time_score, geo_score, research_org, reasons
FROM source_risk
WHERE event_date = (SELECT max(event_date) FROM source_risk)
ORDER BY risk DESC, probes DESC
LIMIT 25;
