-- table: service_hosts (view): per source, service and host reached there, whether any conversation with the host succeeded; the input of `used_services`.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per (src_ip, proto, dst_port, dst_ip) of `host_outcomes`
-- Over the day's contacts, or (the span model) over the stored per-day rows of the lookback's days: a host is
-- ok when it was ok on any of them.
-- column src_ip: The source.
-- column proto: Protocol.
-- column dst_port: Port (ICMP type for ICMP).
-- column dst_ip: The host reached.
-- column ok: Some conversation of the source with the host on this service succeeded.
SELECT src_ip, proto, dst_port, dst_ip, bool_or(ok) AS ok
FROM host_outcomes
GROUP BY ALL
