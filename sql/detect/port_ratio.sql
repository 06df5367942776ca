-- table: One source and day under the port-ratio baseline: distinct (dst_ip, dst_port) pairs over probe records, flagged above a threshold (the comparison method of paper 002).
-- grain: one row per src_ip per day
-- key: event_date, src_ip
-- built by: pipelines.detect.port_ratio:port_ratio(settings.slow)
-- sharded by: src_ip
-- findings: SELECT src_ip, 'ratio' AS kind, timezone('UTC', $day::TIMESTAMP) AS window_start,
--     timezone('UTC', $day::TIMESTAMP + INTERVAL 1 DAY) AS window_end,
--     to_json({'records': records, 'distinct_pairs': distinct_pairs, 'ratio': ratio})::VARCHAR AS evidence,
--     to_json({'threshold': threshold, 'min_pairs': min_pairs, 'min_probe_share': min_probe_share})::VARCHAR AS parameters
--   FROM port_ratio WHERE is_scan
-- column event_date DATE: UTC day the row belongs to (lake partition).
-- column src_ip VARCHAR: The source.
-- column records BIGINT: Probes it sent that day.
-- column distinct_pairs BIGINT: Distinct (dst_ip, dst_port) targets among them.
-- column ratio DOUBLE: distinct_pairs / records.
-- column is_scan BOOLEAN: ratio above the threshold with at least $min_pairs distinct targets (one port of one host is never a scan), from a source whose probes are at least $min_probe_share of the records it opened contacts with (a client's handful of failed lookups among its sessions gives ratio 1 too).
-- column threshold DOUBLE: The ratio threshold used.
-- column min_pairs INTEGER: Minimum distinct targets for a scan.
-- column opened BIGINT: Records the source sent as the side that opened its contacts (sql/detect/contacts.sql), probes or not.
-- column probe_share DOUBLE: records / opened: the share of what it tried that were probes.
-- column min_probe_share DOUBLE: Minimum probe_share for a scan (settings slow.port_ratio_min_share).
-- check critical: ExpectColumnValuesToBeBetween(column="ratio", min_value=0, max_value=1)
WITH ratios AS (
    SELECT
        src_ip,
        count(*)::BIGINT AS records,
        count(DISTINCT (dst_ip, dst_port))::BIGINT AS distinct_pairs
    FROM probes
    WHERE event_date = $day
    GROUP BY src_ip
), opened AS (
    SELECT src_ip, count(*)::BIGINT AS opened
    FROM service_marks
    WHERE event_date = $day AND src_ip IN (SELECT src_ip FROM ratios)
    GROUP BY src_ip
)
SELECT
    r.src_ip,
    r.records,
    r.distinct_pairs,
    (r.distinct_pairs / r.records)::DOUBLE AS ratio,
    (r.distinct_pairs / r.records > $threshold AND r.distinct_pairs >= $min_pairs
     AND r.records / greatest(o.opened, r.records) >= $min_share) AS is_scan,
    $threshold::DOUBLE AS threshold,
    $min_pairs::INTEGER AS min_pairs,
    greatest(o.opened, r.records)::BIGINT AS opened,
    (r.records / greatest(o.opened, r.records))::DOUBLE AS probe_share,
    $min_share::DOUBLE AS min_probe_share
FROM ratios AS r
LEFT JOIN opened AS o USING (src_ip)
ORDER BY r.src_ip
