-- table: One row per UTC day, country and region of the sources: how many sources and abnormal sources came from there (the report's geography and map).
-- grain: one row per (event_date, country_code, region)
-- key: event_date, country_code, region
-- column event_date DATE: UTC day.
-- column country_code VARCHAR: ISO 3166-1 alpha-2 code of the sources, or a label such as 'private' for special ranges, '??' when unknown.
-- column country VARCHAR: Country name.
-- column region VARCHAR: Region (ISO 3166-2 subdivision name where known).
-- column lat DOUBLE: Mean latitude of the located sources.
-- column lon DOUBLE: Mean longitude of the located sources.
-- column sources BIGINT: Distinct sources from there.
-- column abnormal_sources BIGINT: Distinct malicious sources from there.
-- column events BIGINT: Events sent from there.
WITH per_source AS (
    SELECT r.event_date, r.src_ip, r.malicious, r.probes
    FROM source_risk AS r
)
SELECT
    s.event_date,
    coalesce(g.country_code, CASE WHEN g.ip_class IS NOT NULL AND g.ip_class <> 'public' THEN g.ip_class END, '??') AS country_code,
    coalesce(g.country, '') AS country,
    coalesce(g.region, '') AS region,
    avg(g.lat) AS lat,
    avg(g.lon) AS lon,
    count(*)::BIGINT AS sources,
    count(*) FILTER (WHERE s.malicious)::BIGINT AS abnormal_sources,
    sum(coalesce(s.probes, 0))::BIGINT AS events
FROM per_source AS s
LEFT JOIN geo_ip AS g ON g.ip = s.src_ip
GROUP BY ALL
ORDER BY 1, abnormal_sources DESC, sources DESC
