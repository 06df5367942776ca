-- table: What one day's events contribute to the persistent incremental model of paper 002 (scan_slow and scan_slow_span): the day's probe candidates counted per window, and per source, service and host whether a conversation succeeded. scan_slow_span combines the stored rows of its lookback's days instead of judging every event of them again (issue 27); scan_slow judges its one day from the same rows. Contacts are judged per day: a captured conversation that crosses midnight is judged on each side of it, apart; everything else equals the model over the lookback's events.
-- grain: one row per (row_kind, src_ip, dst_ip, proto, dst_port, w) of the day
-- key: event_date, row_kind, src_ip, dst_ip, proto, dst_port, w
-- built by: pipelines.detect.slow:slow_span_day(settings.slow)
-- sharded by: src_ip
-- read as: view
-- Rows of kind `probe` are `probe_candidates` (sql/detect/probe_candidates.sql) with a source, host and port,
-- grouped by window, before the services the source uses are left out: which services those are is only known
-- over the whole lookback. Rows of kind `host` are `service_hosts` (sql/detect/service_hosts.sql) of the day.
-- The model then runs sql/detect/used_services.sql and probes.sql over these rows (pipelines/detect/slow.py).
-- column event_date DATE: UTC day the row belongs to (lake partition): the day of the events it was computed from.
-- column row_kind VARCHAR: probe (probe records of a source to a host and port in a window) or host (whether the source's contacts to a host on a service succeeded).
-- column src_ip VARCHAR: The source.
-- column dst_ip VARCHAR: The host tried (probe) or reached (host).
-- column proto VARCHAR: Protocol.
-- column dst_port INTEGER: Port (ICMP type for ICMP).
-- column w BIGINT: Window number of probe rows, floor(epoch seconds / slow.window_s); null for host rows.
-- column n BIGINT: Probe records of probe rows in the window; null for host rows.
-- column ok BOOLEAN: Host rows: some contact of the source with the host on this service succeeded that day (a contact of known outcome it opened, not to a group); null for probe rows.
-- check critical: ExpectColumnValuesToBeInSet(column="row_kind", value_set=["probe", "host"])
-- check critical: ExpectColumnValuesToBeBetween(column="n", min_value=1)
SELECT 'probe' AS row_kind, src_ip, dst_ip, proto, dst_port, floor(epoch(ts) / $window_s)::BIGINT AS w,
       count(*)::BIGINT AS n, NULL::BOOLEAN AS ok
FROM probe_candidates
WHERE src_ip IS NOT NULL AND dst_ip IS NOT NULL AND dst_port IS NOT NULL
GROUP BY ALL
UNION ALL
SELECT 'host' AS row_kind, src_ip, dst_ip, proto, dst_port, NULL::BIGINT AS w, NULL::BIGINT AS n, ok
FROM service_hosts
