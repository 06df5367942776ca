-- table: service_marks (view): every record of `contacts` that opened its contact, marked with whether it went to a service its source uses (`used_services`); `probe_candidates` and `scan_trw` read it.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- stored as: contacts_day
-- grain: one row per record of `contacts` with opened (same columns, plus to_used_port and to_used_host); the span
--   model (pipelines/detect/slow.py) runs it over the stored probe rows of `slow_span_day` instead
-- A day's steps read its stored rows, `contacts_day`, judged and marked once a day (issue 27): the judgement
-- groups every conversation of the day and the used services every contact, which cost each detector most of
-- its time when each evaluated them again.
-- Only the records whose marks something reads are marked: probe candidates (`probes` leaves out those to a
-- used service) and failed contacts (`scan_trw` does not step on a failed contact to a used port). The
-- others, a client's answered conversations mostly, get null marks: joining them too cost most of the
-- table's time on a 10 M-event day. The marks are two left joins on equal keys: a port-level row of
-- `used_services` is unique per source, protocol and port, a host-level row per source, host, protocol and
-- port, so no record is repeated. (One anti-join whose condition read "no host, or this host" paired every
-- contact with every used host of its port: quadratic in a client's servers, docs/SCALING.md.)
-- column to_used_port: The source uses the record's protocol and port on any host (a port-level row of `used_services`); null for a record that is neither a candidate nor failed.
-- column to_used_host: The source had a used conversation with this host on the record's protocol and port (a host-level row); null as to_used_port.
WITH opened AS NOT MATERIALIZED (  -- read twice, from the stored or staged rows: cheaper than holding them
    SELECT *, coalesce(probe_record AND NOT to_group, false) OR coalesce(contact_outcome = 'failed', false) AS asked
    FROM contacts
    WHERE opened
)
SELECT
    c.* EXCLUDE (asked),
    u.src_ip IS NOT NULL AS to_used_port,
    h.src_ip IS NOT NULL AS to_used_host
FROM opened AS c
LEFT JOIN (SELECT src_ip, proto, dst_port FROM used_services WHERE dst_ip IS NULL) AS u
  ON u.src_ip = c.src_ip AND u.proto = c.proto AND u.dst_port IS NOT DISTINCT FROM c.dst_port
LEFT JOIN (SELECT src_ip, dst_ip, proto, dst_port FROM used_services WHERE dst_ip IS NOT NULL) AS h
  ON h.src_ip = c.src_ip AND h.dst_ip = c.dst_ip AND h.proto = c.proto AND h.dst_port IS NOT DISTINCT FROM c.dst_port
WHERE c.asked
UNION ALL
SELECT * EXCLUDE (asked), NULL::BOOLEAN AS to_used_port, NULL::BOOLEAN AS to_used_host
FROM opened
WHERE NOT asked
