-- Which tools and behaviours the tags found, per day: sources per tag (GreyNoise-style tags, source_tags).
SELECT event_date, tag, kind, count(DISTINCT src_ip) AS sources, sum(probes) AS probes
FROM source_tags
GROUP BY ALL
ORDER BY event_date DESC, sources DESC;
