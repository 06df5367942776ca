-- table: probes (view): the events that count as scan probes; the one definition every detector uses.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per event that tries a target (same columns as events)
-- A probe is a record of `contacts` (sql/detect/contacts.sql: the record, judged on its own and with its
--   conversation, tries a target rather than carrying an exchange), except:
--   contacts to a service the source uses: its contacts to that protocol and port mostly succeed (more
--     distinct conversations succeeded than failed, over every server it reached there in the events at
--     hand: the day, or the span model's lookback). A
--     client's failed attempts among its sessions (HTTPS to CDNs, NTP to pool servers, name lookups that
--     were answered) are not a scan's targets; a scanner's first contacts mostly fail (Jung et al. 2004),
--     and contacts of unknown outcome (firewall drops, decoys) never make a port used;
--   contacts to a host and port with which the source had a conversation that was used: its other
--     attempts there are a client's retries (a SYN that timed out before the next, a QUIC attempt);
--   records to multicast and broadcast addresses (`contacts.to_group`): one datagram reaches every host
--     (mDNS, LLMNR, SSDP, NetBIOS name service), so it is not a target of a scan.
WITH judged AS MATERIALIZED (
    SELECT * FROM contacts
), used_hosts AS (
    SELECT DISTINCT src_ip, dst_ip, proto, dst_port
    FROM judged
    WHERE opened AND contact_outcome = 'succeeded' AND NOT to_group
), used AS (
    SELECT src_ip, proto, dst_port
    FROM judged
    WHERE opened AND contact_outcome IN ('succeeded', 'failed') AND NOT to_group
    GROUP BY ALL
    HAVING count(DISTINCT (dst_ip, src_port)) FILTER (WHERE contact_outcome = 'succeeded')
         > count(DISTINCT (dst_ip, src_port)) FILTER (WHERE contact_outcome = 'failed')
)
SELECT j.* EXCLUDE (opened, answered, contact_outcome, outcome_from, probe_record, to_group)
FROM judged AS j
ANTI JOIN used AS u ON u.src_ip = j.src_ip AND u.proto = j.proto AND u.dst_port IS NOT DISTINCT FROM j.dst_port
ANTI JOIN used_hosts AS h
  ON h.src_ip = j.src_ip AND h.dst_ip = j.dst_ip AND h.proto = j.proto AND h.dst_port IS NOT DISTINCT FROM j.dst_port
WHERE j.probe_record AND NOT j.to_group
