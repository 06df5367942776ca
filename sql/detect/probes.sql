-- table: probes (view): the events that count as scan probes; the one definition every detector uses.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event that tries a target (same columns as events)
-- A probe is a record of `contacts` (sql/detect/contacts.sql: the record, judged on its own and with its
--   conversation, tries a target rather than carrying an exchange), except contacts to a service the
--   source uses (`used_services`, sql/detect/used_services.sql) and records to multicast and broadcast
--   groups (`contacts.to_group`): one datagram reaches every host (mDNS, LLMNR, SSDP, NetBIOS name
--   service), so it is not a target of a scan.
SELECT c.* EXCLUDE (opened, answered, contact_outcome, outcome_from, probe_record, to_group)
FROM contacts AS c
ANTI JOIN used_services AS u
  ON u.src_ip = c.src_ip AND u.proto = c.proto AND u.dst_port IS NOT DISTINCT FROM c.dst_port
 AND (u.dst_ip IS NULL OR u.dst_ip = c.dst_ip)
WHERE c.probe_record AND NOT c.to_group
