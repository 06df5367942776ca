-- table: fast_counts (intermediate of scan_fast): per source and counting window, its probes and distinct targets.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per (w, src_ip) with at least one probe on $day
-- column row_id: Position of the row in (w, src_ip) order; the threshold recursion in pipelines/detect/fast.py indexes by it.
-- column w: Window number: floor(epoch seconds / $window_s).
-- column src_ip: The source.
-- column probes: Probes it sent in the window.
-- column distinct_ports: Distinct destination ports among them.
-- column distinct_hosts: Distinct destination hosts among them.
SELECT
    (row_number() OVER (ORDER BY w, src_ip) - 1)::BIGINT AS row_id,
    w,
    src_ip,
    probes,
    distinct_ports,
    distinct_hosts
FROM (
    SELECT
        floor(epoch(ts) / $window_s)::BIGINT AS w,
        src_ip,
        count(*)::BIGINT AS probes,
        count(DISTINCT dst_port)::BIGINT AS distinct_ports,
        count(DISTINCT dst_ip)::BIGINT AS distinct_hosts
    FROM probes
    WHERE event_date = $day AND src_ip IS NOT NULL
    GROUP BY ALL
)
ORDER BY row_id
