-- table: One growth period of a persistent combination under the persistent incremental model of paper 002 (section 2.2, DESIGN 5.3), judged a slow scan when the normalized conditional entropy of its targets reaches the threshold.
-- grain: one row per growth period of at least $min_period windows
-- key: kind, src_ip, fixed_value, period_start
-- built by: pipelines.detect.slow:scan_slow(settings.slow)
-- reads: slow_triples
-- sharded by: src_ip
-- findings: SELECT src_ip, kind, period_start AS window_start, period_end AS window_end,
--     to_json({'fixed_value': fixed_value, 'windows': windows, 'targets': targets, 'records': records,
--              'cond_entropy': cond_entropy})::VARCHAR AS evidence,
--     to_json({'threshold': threshold, 'window_s': window_s, 'min_windows': min_windows,
--              'min_period': min_period})::VARCHAR AS parameters
--   FROM scan_slow WHERE is_scan
-- Inputs: _slow_triples (sql/detect/slow_triples.sql) and _slow_periods (combo_id, w, period_id: the windows of the incremental filter's kept growth periods, computed in pipelines/detect/slow.py), over the day's rows of sql/detect/slow_span_day.sql computed from its events, as scan_slow_span combines them over its lookback.
-- column event_date DATE: UTC day the row belongs to (lake partition).
-- column src_ip VARCHAR: The source whose target set grew.
-- column kind VARCHAR: horizontal (fixed src_ip and dst_port, growing hosts) or vertical (fixed src_ip and dst_ip, growing ports).
-- column fixed_value VARCHAR: The fixed part of the combination: dst_port for horizontal, dst_ip for vertical.
-- column period_start TIMESTAMP WITH TIME ZONE: Start of the growth period's first window (UTC).
-- column period_end TIMESTAMP WITH TIME ZONE: End of the growth period's last window (UTC).
-- column windows INTEGER: Windows in the growth period (the combination's windows with probes; periods shorter than min_period are dropped).
-- column targets INTEGER: Distinct targets (hosts or ports) reached in the period.
-- column records BIGINT: Probe records of the combination in the period.
-- column cond_entropy DOUBLE: Normalized conditional entropy of the targets given the combination: H(targets of the records) / log(records), 0 for one record.
-- column is_scan BOOLEAN: cond_entropy at or above the threshold: judged a scan.
-- column threshold DOUBLE: Entropy threshold used (paper 002: 0.75).
-- column window_s INTEGER: Window length in seconds (paper 002: 120).
-- column min_windows INTEGER: Persistence: the combination appeared in more than this many windows.
-- column min_period INTEGER: Minimum growth period length in windows.
-- check critical: ExpectColumnValuesToBeBetween(column="cond_entropy", min_value=0, max_value=1.000001)
-- check critical: ExpectColumnValuesToBeInSet(column="kind", value_set=["horizontal", "vertical"])
WITH member AS (
    SELECT s.period_id, t.kind, t.src_ip, t.fixed_value, t.w, t.target, t.n
    FROM _slow_triples AS t
    JOIN _slow_periods AS s USING (combo_id, w)
), per_target AS (
    SELECT period_id, target, sum(n) AS n FROM member GROUP BY ALL
), entropy AS (
    -- H = ln(N) - (1/N) * sum(n_t * ln(n_t)) over the period's targets t, N = sum(n_t)
    SELECT period_id, sum(n) AS records, count(*) AS targets, sum(n * ln(n)) AS n_ln_n FROM per_target GROUP BY ALL
), periods AS (
    SELECT
        period_id, any_value(kind) AS kind, any_value(src_ip) AS src_ip, any_value(fixed_value) AS fixed_value,
        min(w) AS first_w, max(w) AS last_w, count(DISTINCT w) AS windows
    FROM member
    GROUP BY ALL
), judged AS (
    SELECT
        p.*, e.records, e.targets,
        -- rounded: parallel float sums differ in the last bits, and reruns must give identical rows
        round(CASE WHEN e.records > 1 THEN (ln(e.records) - e.n_ln_n / e.records) / ln(e.records) ELSE 0 END, 9)
            AS cond_entropy
    FROM periods AS p
    JOIN entropy AS e USING (period_id)
)
SELECT
    src_ip,
    kind,
    fixed_value,
    to_timestamp(first_w * $window_s) AS period_start,
    to_timestamp((last_w + 1) * $window_s) AS period_end,
    windows::INTEGER AS windows,
    targets::INTEGER AS targets,
    records::BIGINT AS records,
    cond_entropy::DOUBLE AS cond_entropy,
    cond_entropy >= $threshold AS is_scan,
    $threshold::DOUBLE AS threshold,
    $window_s::INTEGER AS window_s,
    $min_windows::INTEGER AS min_windows,
    $min_period::INTEGER AS min_period
FROM judged
ORDER BY kind, src_ip, fixed_value, period_start
