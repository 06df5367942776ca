-- table: probe_candidates (view): the records of `service_marks` that try a target, with the marks of the services their source uses; `probes` reads it.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event that tries a target (same columns as events, plus to_used_port, to_used_host); the
--   span model (pipelines/detect/slow.py) runs it over the stored days of `slow_span_day` (src_ip, dst_ip, proto,
--   dst_port, w, n)
-- A candidate is a record judged a probe on its own and with its conversation (`contacts.probe_record`) that
-- did not go to a multicast or broadcast group (`contacts.to_group`): one datagram reaches every host
-- (mDNS, LLMNR, SSDP, NetBIOS name service), so it is not a target of a scan.
SELECT * EXCLUDE (opened, answered, contact_outcome, outcome_from, probe_record, to_group)
FROM service_marks
WHERE probe_record AND NOT to_group
