-- table: One source and day under the port-ratio baseline: distinct (dst_ip, dst_port) pairs over probe records, flagged above a threshold (the comparison method of paper 002).
-- grain: one row per src_ip per day
-- key: event_date, src_ip
-- built by: pipelines.detect.port_ratio:port_ratio(settings.slow)
-- sharded by: src_ip
-- findings: SELECT src_ip, 'ratio' AS kind, timezone('UTC', $day::TIMESTAMP) AS window_start,
--     timezone('UTC', $day::TIMESTAMP + INTERVAL 1 DAY) AS window_end,
--     to_json({'records': records, 'distinct_pairs': distinct_pairs, 'ratio': ratio})::VARCHAR AS evidence,
--     to_json({'threshold': threshold, 'min_pairs': min_pairs})::VARCHAR AS parameters
--   FROM port_ratio WHERE is_scan
-- column event_date DATE: UTC day the row belongs to (lake partition).
-- column src_ip VARCHAR: The source.
-- column records BIGINT: Probes it sent that day.
-- column distinct_pairs BIGINT: Distinct (dst_ip, dst_port) targets among them.
-- column ratio DOUBLE: distinct_pairs / records.
-- column is_scan BOOLEAN: ratio above the threshold with at least $min_pairs distinct targets (one port of one host is never a scan).
-- column threshold DOUBLE: The ratio threshold used.
-- column min_pairs INTEGER: Minimum distinct targets for a scan.
-- check critical: ExpectColumnValuesToBeBetween(column="ratio", min_value=0, max_value=1)
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
