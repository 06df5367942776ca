-- table: probes (view): the events that count as scan probes; the one definition every detector uses.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event that tries a target (same columns as events), or per candidate row of the span model
-- A probe is a record of `probe_candidates` (sql/detect/probe_candidates.sql: a record of `contacts` that
--   tries a target rather than carrying an exchange, not sent to a multicast or broadcast group), except
--   contacts to a service the source uses (`used_services`, sql/detect/used_services.sql). The span model
--   (pipelines/detect/slow.py) runs this same file over the stored day rows of `slow_span_day`, whose
--   candidates are grouped by window (src_ip, dst_ip, proto, dst_port, w, n): every column of the
--   anti-join is one of theirs, so the grouping does not change which records are left out.
-- The two kinds of used service are two anti-joins on equal keys: one join whose condition read "no host,
-- or this host" matched every contact with every used host of its port, which is quadratic in a client's
-- servers (a 200,000-event day: 117 s against 2.0 s, docs/SCALING.md).
WITH used AS MATERIALIZED (
    SELECT * FROM used_services
)
SELECT c.*
FROM probe_candidates AS c
ANTI JOIN used AS u
  ON u.dst_ip IS NULL AND u.src_ip = c.src_ip AND u.proto = c.proto AND u.dst_port IS NOT DISTINCT FROM c.dst_port
ANTI JOIN used AS h
  ON h.dst_ip = c.dst_ip AND h.src_ip = c.src_ip AND h.proto = c.proto AND h.dst_port IS NOT DISTINCT FROM c.dst_port
