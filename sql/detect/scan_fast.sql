-- table: One source in one window whose probe count exceeded the dynamic threshold T = mu + k*max(sigma, sigma_floor) of paper 000 (mean mode), or median + k*1.4826*MAD (robust mode), over the trailing statistics period.
-- grain: one row per (window_start, src_ip) over threshold
-- key: window_start, src_ip
-- built by: pipelines.detect.fast:scan_fast(settings.fast)
-- reads: fast_counts
-- sharded by: src_ip
-- combined by: pipelines.detect.fast:fast_counts, fast_stats, fast_over
-- findings: SELECT src_ip, 'fast' AS kind, window_start, window_start + to_seconds(window_s) AS window_end,
--     to_json({'probes': probes, 'distinct_ports': distinct_ports, 'distinct_hosts': distinct_hosts,
--              'mu': mu, 'sigma': sigma, 'threshold': threshold})::VARCHAR AS evidence,
--     to_json({'mode': mode, 'k': k, 'window_s': window_s, 'period_s': period_s, 'sigma_floor': sigma_floor,
--              'min_probes': min_probes, 'min_targets': min_targets})::VARCHAR AS parameters
--   FROM scan_fast
-- Inputs: fast_counts rows (temp table _fast_counts) and the threshold recursion's output (_fast_stats: row_id, mu, sigma, threshold, over), see pipelines/detect/fast.py.
-- column event_date DATE: UTC day the row belongs to (lake partition).
-- column window_start TIMESTAMP WITH TIME ZONE: Start of the counting window (UTC).
-- column src_ip VARCHAR: The suspected scanner.
-- column probes BIGINT: Probes the source sent in the window.
-- column distinct_ports BIGINT: Distinct destination ports it probed in the window.
-- column distinct_hosts BIGINT: Distinct destination hosts it probed in the window.
-- column mu DOUBLE: Baseline centre over the per-source window counts of the trailing period, leaving out counts that were over threshold in earlier windows: their mean without the judged source's own counts (mean mode; 0 when no other count), or their median (robust mode; 0 with fewer than 3 other counts).
-- column sigma DOUBLE: Baseline spread: standard deviation (mean mode) or 1.4826*MAD (robust mode) of those counts, before the floor.
-- column threshold DOUBLE: T = mu + k * max(sigma, sigma_floor); the source's probes exceeded it.
-- column mode VARCHAR: mean (paper 000) or robust.
-- column k DOUBLE: The k of T = mu + k*sigma.
-- column window_s INTEGER: Counting window in seconds.
-- column period_s INTEGER: Trailing statistics period in seconds (the window itself and the earlier windows starting within it).
-- column sigma_floor DOUBLE: Lower bound applied to sigma.
-- column min_probes INTEGER: Minimum probes in a window for a source to be reported, whatever the threshold: the floor that does not depend on how many other sources were active.
-- column min_targets INTEGER: Minimum distinct destination ports or distinct destination hosts in the window: a scan has many targets, a client retrying one unreachable server has one or two.
-- check critical: ExpectColumnPairValuesAToBeGreaterThanB(column_A="probes", column_B="threshold")
-- check critical: ExpectColumnValuesToNotBeNull(column="src_ip")
SELECT
    to_timestamp(c.w * $window_s) AS window_start,
    c.src_ip,
    c.probes,
    c.distinct_ports,
    c.distinct_hosts,
    s.mu,
    s.sigma,
    s.threshold,
    $mode AS mode,
    $k::DOUBLE AS k,
    $window_s::INTEGER AS window_s,
    $period_s::INTEGER AS period_s,
    $sigma_floor::DOUBLE AS sigma_floor,
    $min_probes::INTEGER AS min_probes,
    $min_targets::INTEGER AS min_targets
FROM _fast_counts AS c
JOIN _fast_stats AS s USING (row_id)
WHERE s.over
  AND c.probes >= $min_probes
  -- with few active sources T falls to a few probes a minute (docs/DETECTORS.md): these floors hold whatever T is
  AND (c.distinct_ports >= $min_targets OR c.distinct_hosts >= $min_targets)
ORDER BY c.w, c.src_ip
