-- table: probes (view): the events that count as scan probes; the one definition every detector uses.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event that tries a target (same columns as events)
-- A probe is a record of `contacts` (sql/detect/contacts.sql: the record, judged on its own and with its
--   conversation, tries a target rather than carrying an exchange), except contacts to a service the
--   source uses (`used_services`, sql/detect/used_services.sql) and records to multicast and broadcast
--   groups (`contacts.to_group`): one datagram reaches every host (mDNS, LLMNR, SSDP, NetBIOS name
--   service), so it is not a target of a scan.
-- The two kinds of used service are two anti-joins on equal keys: one join whose condition reads "no host,
-- or this host" matched every contact with every used host of its port, which is quadratic in a client's
-- servers (a 200,000-event day: 117 s against 2.6 s, docs/SCALING.md).
WITH used AS MATERIALIZED (
    SELECT * FROM used_services
)
SELECT c.* EXCLUDE (opened, answered, contact_outcome, outcome_from, probe_record, to_group)
FROM contacts AS c
ANTI JOIN used AS u
  ON u.dst_ip IS NULL AND u.src_ip = c.src_ip AND u.proto = c.proto AND u.dst_port IS NOT DISTINCT FROM c.dst_port
ANTI JOIN used AS h
  ON h.dst_ip = c.dst_ip AND h.src_ip = c.src_ip AND h.proto = c.proto AND h.dst_port IS NOT DISTINCT FROM c.dst_port
WHERE c.probe_record AND NOT c.to_group
