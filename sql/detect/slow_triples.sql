-- table: slow_triples (intermediate of scan_slow): the persistent incremental model's input (paper 002, section 2.2).
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per (combination, window, target) of a persistent combination over the day rows at hand
--   (one day for scan_slow; the lookback of slow.lookback_days for scan_slow_span)
-- `probes` here holds probes counted per window (w) with their record counts (n): for scan_slow, the day's
-- probes (contacts_day) counted per window; for scan_slow_span, sql/detect/probes.sql over the lookback's
-- `slow_span_day` rows (probe candidates per window, hosts' outcomes) (pipelines/detect/slow.py).
-- Horizontal combinations fix (src_ip, dst_port) and grow the set of dst_ip; vertical ones fix (src_ip, dst_ip)
-- and grow the set of dst_port. Only combinations present in more than $min_windows windows are kept.
-- Probes to a service the source uses are already left out of `probes` (sql/detect/probes.sql).
-- column combo_id: Number of the combination (kind, src_ip, fixed_value).
-- column kind: horizontal or vertical.
-- column src_ip: The source.
-- column fixed_value: dst_port (horizontal) or dst_ip (vertical), as text.
-- column target: dst_ip (horizontal) or dst_port (vertical), as text.
-- column w: Window number: floor(epoch seconds / $window_s).
-- column n: Probe records of the combination to this target in this window.
-- column prev_w: The combination's previous window holding this target (null when none): the incremental
--   filter's window adds nothing new exactly when every target's prev_w lies in the current growth period
--   (see pipelines/detect/slow.py).
WITH base AS (
    -- one grouping serves both kinds: (src_ip, dst_ip, dst_port, window) -> records, over every protocol
    SELECT src_ip, dst_ip, dst_port, w, sum(n)::BIGINT AS n
    FROM probes
    GROUP BY ALL
), horizontal AS (
    SELECT src_ip, dst_port FROM base GROUP BY src_ip, dst_port HAVING count(DISTINCT w) > $min_windows
), vertical AS (
    SELECT src_ip, dst_ip FROM base GROUP BY src_ip, dst_ip HAVING count(DISTINCT w) > $min_windows
), combos AS (
    SELECT
        kind, src_ip, dst_port, dst_ip,
        (row_number() OVER (ORDER BY kind, src_ip, dst_port, dst_ip) - 1)::BIGINT AS combo_id
    FROM (
        SELECT 'horizontal' AS kind, src_ip, dst_port, NULL::VARCHAR AS dst_ip FROM horizontal
        UNION ALL
        SELECT 'vertical' AS kind, src_ip, NULL::INTEGER AS dst_port, dst_ip FROM vertical
    )
), triples AS (
    SELECT c.combo_id, c.kind, b.src_ip, CAST(b.dst_port AS VARCHAR) AS fixed_value, b.dst_ip AS target, b.w, b.n
    FROM base AS b
    JOIN combos AS c ON c.kind = 'horizontal' AND c.src_ip = b.src_ip AND c.dst_port = b.dst_port
    UNION ALL
    SELECT c.combo_id, c.kind, b.src_ip, b.dst_ip AS fixed_value, CAST(b.dst_port AS VARCHAR) AS target, b.w, b.n
    FROM base AS b
    JOIN combos AS c ON c.kind = 'vertical' AND c.src_ip = b.src_ip AND c.dst_ip = b.dst_ip
)
SELECT *, lag(w) OVER (PARTITION BY combo_id, target ORDER BY w) AS prev_w
FROM triples
