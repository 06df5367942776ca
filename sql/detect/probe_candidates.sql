-- table: probe_candidates (view): the records of `contacts` that try a target, before the services the source uses are left out; `probes` reads it.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event that tries a target (same columns as events); the span model (pipelines/detect/slow.py)
--   provides it instead from the stored days of `slow_span_day` (src_ip, dst_ip, proto, dst_port, w, n)
-- A candidate is a record judged a probe on its own and with its conversation (`contacts.probe_record`) that
-- did not go to a multicast or broadcast group (`contacts.to_group`): one datagram reaches every host
-- (mDNS, LLMNR, SSDP, NetBIOS name service), so it is not a target of a scan.
SELECT * EXCLUDE (opened, answered, contact_outcome, outcome_from, probe_record, to_group)
FROM contacts
WHERE probe_record AND NOT to_group
