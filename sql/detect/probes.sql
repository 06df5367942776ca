-- table: probes (view): the events that count as scan probes; the one definition every detector uses.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event that tries a target (same columns as events), or per candidate row of the span model
-- A probe is a record of `probe_candidates` (sql/detect/probe_candidates.sql: a record of `contacts` that
--   tries a target rather than carrying an exchange, not sent to a multicast or broadcast group) that did
--   not go to a service the source uses (`used_services`, sql/detect/used_services.sql, as
--   sql/detect/service_marks.sql marks it). The span model (pipelines/detect/slow.py) runs this same file
--   over the stored day rows of `slow_span_day`, whose candidates are grouped by window (src_ip, dst_ip,
--   proto, dst_port, w, n): every column of the marks is one of theirs, so the grouping does not change which
--   records are left out.
SELECT * EXCLUDE (to_used_port, to_used_host)
FROM probe_candidates
WHERE NOT to_used_port AND NOT to_used_host
