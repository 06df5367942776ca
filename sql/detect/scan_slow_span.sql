-- table: One slow scan slower than a day: a growth period of the persistent incremental model (paper 002, as scan_slow) run over the lake's last slow.lookback_days days instead of one, so a source adding a few ports or hosts a day is one scan with its whole span. A day's rows are the periods that end on that day and began on an earlier one (scans within one day are scan_slow's). Recomputed on every run from the lake's stored day rows of the lookback (slow_span_day: each day's probe candidates per window and hosts' outcomes, computed from that day's events): no state carried from earlier runs of this table, so days run in any order give the same rows. The one difference from the model over the lookback's events: contacts are judged per day, so a captured conversation that crosses midnight is judged on each side of it apart.
-- grain: one row per growth period ending on event_date and starting on an earlier day
-- key: event_date, kind, src_ip, fixed_value, period_start
-- built by: pipelines.detect.slow:scan_slow_span(settings)
-- reads: slow_triples, slow_span_day
-- findings: SELECT src_ip, kind, period_start AS window_start, period_end AS window_end,
--     to_json({'fixed_value': fixed_value, 'first_day': first_day, 'last_day': event_date, 'days_active': days_active,
--              'windows': windows, 'targets': targets, 'records': records, 'cond_entropy': cond_entropy})::VARCHAR AS evidence,
--     to_json({'threshold': threshold, 'window_s': window_s, 'min_windows': min_windows, 'min_period': min_period,
--              'lookback_days': lookback_days})::VARCHAR AS parameters
--   FROM scan_slow_span WHERE is_scan
-- Inputs: _slow_triples (sql/detect/slow_triples.sql) and _slow_periods, as scan_slow, over the lake's `slow_span_day`
-- partitions of the lookback days (the sources with probe candidates on $day and an earlier day), read by
-- pipelines/detect/slow.py:scan_slow_span; a day stored before that table existed gets its rows computed from its
-- events then. Used services over the lookback are sql/detect/used_services.sql over the days' host rows (a host is
-- ok when ok on any day), probes sql/detect/probes.sql over their candidates: the same files as a day's.
-- column event_date DATE: UTC day the row belongs to (lake partition): the last day of the period.
-- column src_ip VARCHAR: The source whose target set grew.
-- column kind VARCHAR: horizontal (fixed src_ip and dst_port, growing hosts) or vertical (fixed src_ip and dst_ip, growing ports).
-- column fixed_value VARCHAR: The fixed part of the combination: dst_port for horizontal, dst_ip for vertical.
-- column first_day DATE: UTC day of the period's first window (at most lookback_days - 1 days before event_date).
-- column days_active INTEGER: UTC days of the span on which the period has probes.
-- column period_start TIMESTAMP WITH TIME ZONE: Start of the growth period's first window (UTC).
-- column period_end TIMESTAMP WITH TIME ZONE: End of the growth period's last window (UTC).
-- column windows INTEGER: Windows with probes in the growth period, over all its days.
-- column targets INTEGER: Distinct targets (hosts or ports) reached over the whole span.
-- column records BIGINT: Probe records of the combination in the period.
-- column cond_entropy DOUBLE: Normalized conditional entropy of the targets given the combination: H(targets of the records) / log(records), 0 for one record.
-- column is_scan BOOLEAN: cond_entropy at or above the threshold: judged a scan.
-- column threshold DOUBLE: Entropy threshold used (paper 002: 0.75).
-- column window_s INTEGER: Window length in seconds (paper 002: 120).
-- column min_windows INTEGER: Persistence: the combination appeared in more than this many windows of the lookback.
-- column min_period INTEGER: Minimum growth period length in windows.
-- column lookback_days INTEGER: Days of the lake the model read (settings slow.lookback_days), event_date included.
-- check critical: ExpectColumnValuesToBeBetween(column="cond_entropy", min_value=0, max_value=1.000001)
-- check critical: ExpectColumnValuesToBeInSet(column="kind", value_set=["horizontal", "vertical"])
-- check critical: ExpectColumnValuesToNotBeNull(column="first_day")
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
        min(w) AS first_w, max(w) AS last_w, count(DISTINCT w) AS windows,
        count(DISTINCT (w * $window_s) // 86400) AS days_active  -- UTC day numbers
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
    (DATE '1970-01-01' + ((first_w * $window_s) // 86400)::INTEGER) AS first_day,
    days_active::INTEGER AS days_active,
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
    $min_period::INTEGER AS min_period,
    $lookback_days::INTEGER AS lookback_days
FROM judged
WHERE DATE '1970-01-01' + ((last_w * $window_s) // 86400)::INTEGER = $day::DATE
  AND DATE '1970-01-01' + ((first_w * $window_s) // 86400)::INTEGER < $day::DATE
ORDER BY kind, src_ip, fixed_value, period_start
