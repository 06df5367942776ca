-- table: host_outcomes (view): the outcome of each contact of known outcome a source opened, by service and host, read from `contacts`; `service_hosts` folds it per host.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per contact record that opened its contact with a known outcome (succeeded or failed); the span model
--   (pipelines/detect/slow.py) provides it instead from the stored days of `slow_span_day` (one row per day and host)
-- Contacts to multicast and broadcast groups (`contacts.to_group`) count for no service; contacts of unknown
-- outcome (firewall drops, decoys) never make one used.
-- column src_ip: The source.
-- column proto: Protocol.
-- column dst_port: Port (ICMP type for ICMP).
-- column dst_ip: The host reached.
-- column ok: The contact succeeded.
SELECT src_ip, proto, dst_port, dst_ip, contact_outcome = 'succeeded' AS ok
FROM contacts
WHERE opened AND NOT to_group AND contact_outcome IN ('succeeded', 'failed')
