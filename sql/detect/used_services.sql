-- table: used_services (view): the services each source uses, read from `service_hosts` (`contacts` folded per host); `probes` and `scan_trw` leave contacts to them out.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per (src_ip, proto, dst_port) the source uses on any host (dst_ip null), or per (src_ip, dst_ip, proto, dst_port) it had a used conversation with
-- A client uses the service it contacts (Jung et al. 2004; every IDS that counts only failed attempts):
--   a protocol and port is used by a source when at least as many of the hosts it reached there gave it a
--     conversation that succeeded as gave it none, in the events at hand (the day, or the span model's
--     lookback): a browser's failed HTTPS among its sessions, NTP to pool servers that answer,
--     name lookups that are answered. A scanner's first contacts mostly fail; contacts of unknown
--     outcome (firewall drops, decoys) never make a port used;
--   a host and port is used when the source had a used conversation with it: its other attempts there
--     are a client's retries (a SYN that timed out before the next, a QUIC attempt).
-- Contacts to multicast and broadcast groups (`contacts.to_group`) count for neither.
-- column src_ip: The source.
-- column dst_ip: The host (host-level rows), null for a port used on every host.
-- column proto: Protocol.
-- column dst_port: Port (ICMP type for ICMP).
SELECT src_ip, NULL::VARCHAR AS dst_ip, proto, dst_port
FROM service_hosts
GROUP BY src_ip, proto, dst_port
HAVING count(*) FILTER (WHERE ok) >= count(*) FILTER (WHERE NOT ok)
UNION ALL
SELECT src_ip, dst_ip, proto, dst_port
FROM service_hosts
WHERE ok
