-- table: One source and day under the port-ratio baseline: distinct (dst_ip, dst_port) pairs over probe records, flagged above a threshold (the comparison method of paper 002).
-- grain: one row per src_ip per day
-- column src_ip: The source.
-- column records: Probes it sent that day.
-- column distinct_pairs: Distinct (dst_ip, dst_port) targets among them.
-- column ratio: distinct_pairs / records.
-- column is_scan: ratio above the threshold with at least $min_pairs distinct targets (one port of one host is never a scan).
-- column threshold: The ratio threshold used.
-- column min_pairs: Minimum distinct targets for a scan.
SELECT
    src_ip,
    count(*)::BIGINT AS records,
    count(DISTINCT (dst_ip, dst_port))::BIGINT AS distinct_pairs,
    (count(DISTINCT (dst_ip, dst_port)) / count(*))::DOUBLE AS ratio,
    (count(DISTINCT (dst_ip, dst_port)) / count(*) > $threshold AND count(DISTINCT (dst_ip, dst_port)) >= $min_pairs) AS is_scan,
    $threshold::DOUBLE AS threshold,
    $min_pairs::INTEGER AS min_pairs
FROM probes
WHERE event_date = $day
GROUP BY src_ip
ORDER BY src_ip
