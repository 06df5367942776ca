-- Slow scans found by the persistent incremental model, longest first.
SELECT src_ip, kind, fixed_value, period_start, period_end, windows, targets, round(cond_entropy, 3) AS cond_entropy
FROM scan_slow
WHERE is_scan
ORDER BY period_end - period_start DESC
LIMIT 25;
