-- table: slow_windows (intermediate): per combination and 2-minute window, the set of targets reached, for the persistent incremental model (paper 002, section 2.2).
-- Horizontal combinations fix (src_ip, dst_port) and grow dst_ip; vertical ones fix (src_ip, dst_ip) and grow dst_port.
-- Only combinations present in more than $min_windows windows are kept (the model's persistence condition).
WITH p AS (
    SELECT src_ip, dst_ip, CAST(dst_port AS VARCHAR) AS dst_port, floor(epoch(ts) / $window_s)::BIGINT AS w
    FROM probes
    WHERE event_date = $day AND dst_ip IS NOT NULL AND dst_port IS NOT NULL
), combos AS (
    SELECT 'horizontal' AS kind, src_ip, dst_port AS fixed_value, dst_ip AS target, w FROM p
    UNION ALL
    SELECT 'vertical', src_ip, dst_ip, dst_port, w FROM p
), per_window AS (
    SELECT kind, src_ip, fixed_value, w, list(target) AS targets
    FROM combos
    GROUP BY ALL
), persistent AS (
    SELECT kind, src_ip, fixed_value FROM per_window GROUP BY ALL HAVING count(*) > $min_windows
)
SELECT pw.kind, pw.src_ip, pw.fixed_value, pw.w, pw.targets
FROM per_window AS pw
JOIN persistent USING (kind, src_ip, fixed_value)
ORDER BY pw.kind, pw.src_ip, pw.fixed_value, pw.w
