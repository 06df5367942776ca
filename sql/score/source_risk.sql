-- table: One row per source and UTC day: traffic, time and geography indicators, the risk total, the verdict and the reasons in words (paper 000, DESIGN 5.2).
-- grain: one row per (event_date, src_ip)
-- built by: pipelines.risk:source_risk(settings)
-- sharded by: src_ip
-- key: event_date, src_ip
-- column event_date DATE: UTC day scored.
-- column src_ip VARCHAR: Source (scanner) address.
-- column traffic_score INTEGER: Traffic indicator F: points when a detector found the source (a row of findings: over the dynamic threshold in a window, a slow-scan growth period judged a scan, or any other detector not in risk.baseline_detectors).
-- column time_score INTEGER: Time indicator T: points when the source was active in the night window (settings site.night_start..night_end, site.timezone).
-- column geo_score INTEGER: Geography indicator G: points when the source's country is known, outside site.home_country, and the address is public (private/reserved score 0).
-- column risk DOUBLE: Risk total R: F + T + G (formula 'sum', 0..100) or 0.4F + 0.3T + 0.3G on 0..100 indicators (formula 'paper').
-- column malicious BOOLEAN: R at or above risk.malicious_at for a source suspected by traffic (F > 0: paper 000 assesses only the marked suspected sources), or a source found by a detector from inside the site (internal, with risk.internal_scans_malicious); in both cases not a known research scanner when risk.exclude_research_orgs is set.
-- column country_code VARCHAR: ISO country of the source from geo_ip, null when unknown.
-- column reasons VARCHAR[]: Why the source scored, in words (e.g. 'exceeded the dynamic threshold 14 times', 'abroad: SG').
-- column probes BIGINT: Events (packets, flows, log lines) sent by the source that day.
-- column first_seen TIMESTAMP WITH TIME ZONE: First event of the source that day, UTC.
-- column last_seen TIMESTAMP WITH TIME ZONE: Last event of the source that day, UTC.
-- column research_org VARCHAR: Known research-scanning organization of the source (reference lists, settings orgs.dir), else null.
-- column formula VARCHAR: Formula used for risk: 'sum' or 'paper'.
-- column internal BOOLEAN: The source lies in the site's own networks (settings site.internal_networks).
-- check critical: ExpectColumnValuesToBeBetween(column="risk", min_value=0, max_value=100)
-- check critical: ExpectColumnValuesToBeUnique(column="src_ip")
-- check warning: ExpectColumnValuesToBeInSet(column="traffic_score", value_set=[0, 50, 100])
-- Parameters: $day, $tz, $night_start, $night_end (minutes after local midnight), $night_label,
-- $home, $formula, $f_points, $t_points, $g_points, $malicious_at, $exclude_research, $internal_malicious,
-- $baseline (detectors whose findings never raise F).
-- Inputs: events (the day), findings (every detector's verdicts), geo_ip, risk_sources_public(ip, is_public, is_internal),
-- risk_research_orgs(ip, org). Any detector's finding raises F; the two of paper 000 and 002 keep their own words
-- in `reasons`, another detector is named with its kind.
WITH src AS (
    SELECT
        src_ip,
        count(*) AS probes,
        min(ts) AS first_seen,
        max(ts) AS last_seen,
        count(DISTINCT dst_port) AS ports,
        count(DISTINCT dst_ip) AS hosts,
        bool_or(
            CASE
                WHEN $night_start < $night_end THEN local_minute >= $night_start AND local_minute < $night_end
                ELSE local_minute >= $night_start OR local_minute < $night_end
            END
        ) AS at_night
    FROM (
        SELECT
            src_ip, ts, dst_port, dst_ip,
            hour(timezone($tz, ts)) * 60 + minute(timezone($tz, ts)) AS local_minute
        FROM events
        WHERE src_ip IS NOT NULL
    )
    GROUP BY src_ip
), found AS (
    SELECT
        src_ip,
        count(*) FILTER (WHERE detector = 'scan_fast') AS windows_over,
        list(DISTINCT kind ORDER BY kind) FILTER (WHERE detector = 'scan_slow') AS slow_kinds,
        list(DISTINCT detector || ' (' || kind || ')' ORDER BY detector || ' (' || kind || ')')
            FILTER (WHERE detector NOT IN ('scan_fast', 'scan_slow')) AS others
    FROM findings
    WHERE NOT list_contains($baseline, detector)
    GROUP BY src_ip
), geo AS (
    SELECT ip, any_value(country_code) FILTER (WHERE country_code IS NOT NULL AND country_code <> '') AS country_code
    FROM geo_ip
    GROUP BY ip
), flags AS (
    SELECT
        s.*,
        coalesce(f.windows_over, 0) AS windows_over,
        coalesce(f.slow_kinds, []) AS slow_kinds,
        coalesce(f.others, []) AS others,
        g.country_code,
        coalesce(p.is_public, false) AS is_public,
        coalesce(p.is_internal, false) AS internal,
        o.org AS research_org,
        f.src_ip IS NOT NULL AS f_hit,
        g.country_code IS NOT NULL AND upper(g.country_code) <> upper($home) AND coalesce(p.is_public, false) AS g_hit
    FROM src AS s
    LEFT JOIN found AS f USING (src_ip)
    LEFT JOIN geo AS g ON g.ip = s.src_ip
    LEFT JOIN risk_sources_public AS p ON p.ip = s.src_ip
    LEFT JOIN risk_research_orgs AS o ON o.ip = s.src_ip
), scored AS (
    SELECT
        *,
        CASE WHEN f_hit THEN $f_points ELSE 0 END::INTEGER AS traffic_score,
        CASE WHEN at_night THEN $t_points ELSE 0 END::INTEGER AS time_score,
        CASE WHEN g_hit THEN $g_points ELSE 0 END::INTEGER AS geo_score
    FROM flags
), totals AS (
    SELECT
        *,
        CASE
            -- Paper 000, equation (2): R = 0.4F + 0.3T + 0.3G, here on 0..100 indicators.
            WHEN $formula = 'paper' THEN 0.4 * traffic_score + 0.3 * time_score + 0.3 * geo_score
            ELSE (traffic_score + time_score + geo_score)::DOUBLE
        END AS risk
    FROM scored
)
SELECT
    $day::DATE AS event_date,
    src_ip,
    traffic_score,
    time_score,
    geo_score,
    round(risk, 6) AS risk,
    -- Paper 000 scores only the sources its threshold marked as suspected, so without F no verdict:
    -- this matters for the paper's weights, where night + abroad alone reach 0.3*100 + 0.3*100 = 60.
    (round(risk, 6) >= $malicious_at OR ($internal_malicious AND internal)) AND traffic_score > 0
        AND NOT ($exclude_research AND research_org IS NOT NULL) AS malicious,
    country_code,
    list_filter(
        [
            CASE WHEN windows_over = 1 THEN 'exceeded the dynamic threshold once'
                 WHEN windows_over > 1 THEN format('exceeded the dynamic threshold {:,} times', windows_over) END,
            CASE WHEN list_contains(slow_kinds, 'vertical')
                 THEN format('slow vertical scan of {:,} port{}', ports, CASE WHEN ports = 1 THEN '' ELSE 's' END) END,
            CASE WHEN list_contains(slow_kinds, 'horizontal')
                 THEN format('slow horizontal scan of {:,} host{}', hosts, CASE WHEN hosts = 1 THEN '' ELSE 's' END) END,
            CASE WHEN len(others) > 0 THEN 'found by ' || array_to_string(others, ', ') END,
            CASE WHEN f_hit AND internal THEN 'scan from inside the site' END,
            CASE WHEN at_night THEN 'active ' || $night_label END,
            CASE WHEN g_hit THEN 'abroad: ' || upper(country_code) END,
            CASE WHEN research_org IS NOT NULL THEN 'known research scanner: ' || research_org END
        ],
        x -> x IS NOT NULL
    ) AS reasons,
    probes,
    first_seen,
    last_seen,
    research_org,
    $formula AS formula,
    internal
FROM totals
ORDER BY risk DESC, probes DESC, src_ip
