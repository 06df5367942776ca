-- table: One source in one window whose probe count exceeded the dynamic threshold T = mu + k*sigma (paper 000), or median + k*1.4826*MAD in robust mode.
-- grain: one row per (window_start, src_ip) over threshold
-- column window_start: Start of the counting window (UTC).
-- column src_ip: The suspected scanner.
-- column probes: Probes the source sent in the window.
-- column distinct_ports: Distinct destination ports it probed in the window.
-- column distinct_hosts: Distinct destination hosts it probed in the window.
-- column mu: Centre of the per-source counts over the trailing statistics period (mean, or median in robust mode).
-- column sigma: Spread of those counts (standard deviation, or 1.4826*MAD in robust mode), before the floor.
-- column threshold: T = mu + k * max(sigma, sigma_floor); the source exceeded it.
-- column mode: mean (paper) or robust.
-- column k: The k of T = mu + k*sigma.
-- column window_s: Counting window in seconds.
-- column period_s: Trailing statistics period in seconds.
-- column sigma_floor: Lower bound applied to sigma.
-- column min_probes: Minimum probes in a window for a source to be flagged.
WITH counts AS (
    SELECT
        to_timestamp(floor(epoch(ts) / $window_s) * $window_s) AS window_start,
        src_ip,
        count(*) AS probes,
        count(DISTINCT dst_port) AS distinct_ports,
        count(DISTINCT dst_ip) AS distinct_hosts
    FROM probes
    WHERE event_date = $day
    GROUP BY ALL
), windows AS (
    SELECT DISTINCT window_start FROM counts
), trail AS (
    -- every source count of the trailing period (period_s up to and including the window)
    SELECT w.window_start, c.probes
    FROM windows AS w
    JOIN counts AS c
      ON c.window_start > w.window_start - to_seconds($period_s) AND c.window_start <= w.window_start
), mean_stats AS (
    SELECT window_start, avg(probes) AS mu, coalesce(stddev_pop(probes), 0) AS sigma FROM trail GROUP BY ALL
), medians AS (
    SELECT window_start, median(probes) AS med FROM trail GROUP BY ALL
), robust_stats AS (
    SELECT t.window_start, any_value(m.med) AS mu, 1.4826 * median(abs(t.probes - m.med)) AS sigma
    FROM trail AS t JOIN medians AS m USING (window_start)
    GROUP BY ALL
), stats AS (
    SELECT * FROM mean_stats WHERE $mode = 'mean'
    UNION ALL
    SELECT * FROM robust_stats WHERE $mode = 'robust'
)
SELECT
    c.window_start,
    c.src_ip,
    c.probes,
    c.distinct_ports,
    c.distinct_hosts,
    -- rounded: parallel float sums differ in the last bits, and reruns must give identical rows
    round(s.mu, 9)::DOUBLE AS mu,
    round(s.sigma, 9)::DOUBLE AS sigma,
    round(s.mu + $k * greatest(s.sigma, $sigma_floor), 9)::DOUBLE AS threshold,
    $mode AS mode,
    $k::DOUBLE AS k,
    $window_s::INTEGER AS window_s,
    $period_s::INTEGER AS period_s,
    $sigma_floor::DOUBLE AS sigma_floor,
    $min_probes::INTEGER AS min_probes
FROM counts AS c
JOIN stats AS s USING (window_start)
WHERE c.probes > s.mu + $k * greatest(s.sigma, $sigma_floor)
  AND c.probes >= $min_probes
ORDER BY c.window_start, c.src_ip
