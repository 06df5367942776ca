-- table: One source in one window whose probe count exceeded the dynamic threshold T = mu + k*sigma (paper 000), or median + k*1.4826*MAD in robust mode.
-- grain: one row per (window_start, src_ip) over threshold
-- column window_start: Start of the counting window (UTC).
-- column src_ip: The suspected scanner.
-- column probes: Probes the source sent in the window.
-- column distinct_ports: Distinct destination ports it probed in the window.
-- column distinct_hosts: Distinct destination hosts it probed in the window.
-- column mu: Centre of the other sources' counts over the trailing statistics period (leave-one-out mean, or median in robust mode).
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
    SELECT w.window_start, c.src_ip, c.probes
    FROM windows AS w
    JOIN counts AS c
      ON c.window_start > w.window_start - to_seconds($period_s) AND c.window_start <= w.window_start
), agg AS (
    SELECT window_start, count(*) AS n, sum(probes) AS s1, sum(probes * probes) AS s2, median(probes) AS med
    FROM trail GROUP BY ALL
), mad AS (
    SELECT t.window_start, median(abs(t.probes - a.med)) AS mad
    FROM trail AS t JOIN agg AS a USING (window_start) GROUP BY ALL
), own AS (
    SELECT window_start, src_ip, count(*) AS n_c, sum(probes) AS s1_c, sum(probes * probes) AS s2_c
    FROM trail GROUP BY ALL
), stats AS (
    -- The source being judged is left out of its own statistics (leave-one-out): otherwise a lone
    -- scanner sets mu to its own count and can never exceed mu + k*sigma (paper 000's method fails
    -- exactly on the single-scanner captures it is meant for). With no other source, mu = 0.
    -- The robust mode keeps the median and MAD of all sources, which one outlier cannot drag,
    -- and falls back to mu = 0 when fewer than three other sources were active.
    SELECT
        o.window_start,
        o.src_ip,
        CASE
            WHEN $mode = 'mean' AND a.n > o.n_c THEN (a.s1 - o.s1_c) / (a.n - o.n_c)
            WHEN $mode = 'robust' AND a.n - o.n_c >= 3 THEN a.med
            ELSE 0
        END AS mu,
        CASE
            WHEN $mode = 'mean' AND a.n > o.n_c
                THEN sqrt(greatest((a.s2 - o.s2_c) / (a.n - o.n_c) - pow((a.s1 - o.s1_c) / (a.n - o.n_c), 2), 0))
            WHEN $mode = 'robust' AND a.n - o.n_c >= 3 THEN 1.4826 * m.mad
            ELSE 0
        END AS sigma
    FROM own AS o
    JOIN agg AS a USING (window_start)
    JOIN mad AS m USING (window_start)
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
JOIN stats AS s USING (window_start, src_ip)
WHERE c.probes > s.mu + $k * greatest(s.sigma, $sigma_floor)
  AND c.probes >= $min_probes
  AND (c.distinct_ports > 1 OR c.distinct_hosts > 1)  -- one port of one host is never a scan
ORDER BY c.window_start, c.src_ip
