-- table: One window and feature: the normalized entropy (0..1) of src_ip, dst_ip or dst_port among the window's probes, and whether it falls outside mu +- k*sigma of the day's series (paper 002, section 2.1).
-- grain: one row per (window_start, feature)
-- key: event_date, window_start, feature
-- built by: pipelines.detect.entropy:window_entropy(settings.entropy)
-- column event_date DATE: UTC day the row belongs to (lake partition).
-- column window_start TIMESTAMP WITH TIME ZONE: Start of the window (UTC).
-- column feature VARCHAR: src_ip, dst_ip or dst_port.
-- column entropy DOUBLE: Shannon entropy of the feature's values divided by the log of their distinct count (0 when one value).
-- column records BIGINT: Probes in the window.
-- column lower DOUBLE: mu - k*sigma of the feature's entropy series over the day.
-- column upper DOUBLE: mu + k*sigma of that series.
-- column anomalous BOOLEAN: True when the entropy lies outside [lower, upper].
-- column k DOUBLE: The k of the bounds.
-- column window_s INTEGER: Window length in seconds.
-- check critical: ExpectColumnValuesToBeInSet(column="feature", value_set=["src_ip", "dst_ip", "dst_port"])
-- check warning: ExpectColumnValuesToBeBetween(column="entropy", min_value=0, max_value=1.000001)
WITH p AS (
    SELECT to_timestamp(floor(epoch(ts) / $window_s) * $window_s) AS window_start, src_ip, dst_ip, CAST(dst_port AS VARCHAR) AS dst_port
    FROM probes
    WHERE event_date = $day
), long AS (
    SELECT window_start, 'src_ip' AS feature, src_ip AS value FROM p
    UNION ALL SELECT window_start, 'dst_ip', dst_ip FROM p
    UNION ALL SELECT window_start, 'dst_port', dst_port FROM p
), freq AS (
    SELECT window_start, feature, value, count(*) AS n FROM long WHERE value IS NOT NULL GROUP BY ALL
), ent AS (
    SELECT
        window_start, feature, sum(n) AS records, count(*) AS distinct_values,
        -sum((n / total) * ln(n / total)) AS h
    FROM (SELECT *, sum(n) OVER (PARTITION BY window_start, feature) AS total FROM freq)
    GROUP BY ALL
), norm AS (
    SELECT window_start, feature, records, CASE WHEN distinct_values > 1 THEN h / ln(distinct_values) ELSE 0 END AS entropy FROM ent
), bounds AS (
    SELECT feature, avg(entropy) AS mu, coalesce(stddev_pop(entropy), 0) AS sigma FROM norm GROUP BY ALL
)
SELECT
    n.window_start, n.feature, round(n.entropy, 9)::DOUBLE AS entropy, n.records::BIGINT AS records,
    -- rounded: parallel float sums differ in the last bits, and reruns must give identical rows
    round(b.mu - $k * b.sigma, 9)::DOUBLE AS lower, round(b.mu + $k * b.sigma, 9)::DOUBLE AS upper,
    (n.entropy < b.mu - $k * b.sigma OR n.entropy > b.mu + $k * b.sigma) AS anomalous,
    $k::DOUBLE AS k, $window_s::INTEGER AS window_s
FROM norm AS n JOIN bounds AS b USING (feature)
ORDER BY n.window_start, n.feature
