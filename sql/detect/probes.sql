-- table: probes (view): the events that count as scan probes; the one definition every detector uses.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event that tries a target (same columns as events), or per candidate row of the span model
-- A probe is a record of `probe_candidates` (sql/detect/probe_candidates.sql: a record of `contacts` that
--   tries a target rather than carrying an exchange, not sent to a multicast or broadcast group), except
--   contacts to a service the source uses (`used_services`, sql/detect/used_services.sql). The span model
--   (pipelines/detect/slow.py) runs this same file over the stored day rows of `slow_span_day`, whose
--   candidates are grouped by window (src_ip, dst_ip, proto, dst_port, w, n): every column of the
--   anti-join is one of theirs, so the grouping does not change which records are left out.
SELECT c.*
FROM probe_candidates AS c
ANTI JOIN used_services AS u
  ON u.src_ip = c.src_ip AND u.proto = c.proto AND u.dst_port IS NOT DISTINCT FROM c.dst_port
 AND (u.dst_ip IS NULL OR u.dst_ip = c.dst_ip)
