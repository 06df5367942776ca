-- table: One row per source, UTC day and tag, GreyNoise-style: a scanning tool its packets show (zmap, nmap) or a behaviour a detector found (fast-scan, slow-vertical, slow-horizontal, distributed-member).
-- grain: one row per (event_date, src_ip, tag)
-- key: event_date, src_ip, tag
-- column event_date: UTC day the tag was earned.
-- column src_ip: Source (scanner) address.
-- column tag: The tag: zmap, nmap (tools, from packet headers) or fast-scan, slow-vertical, slow-horizontal, distributed-member (behaviours, from detectors).
-- column kind: 'tool' (a signature in the packet headers, sql/history/tag_macros.sql) or 'behaviour' (a detector's table).
-- column probes: For a tool, the source's probes that day carrying its signature; for a behaviour, the detector's rows (windows over the threshold, growth periods, coordinated groups).
-- column evidence: The rule that matched, in words.
-- Parameters: $min_share (share of probes with the signature), $nmap_min_probes.
-- Inputs: events (every day), scan_fast, scan_slow, scan_distributed(event_date, src_ip: one row per member); the macros of tag_macros.sql.
-- Masscan (IP ID from the SYN cookie) and Mirai (sequence number = destination) need tcp_seq, and nmap's
-- MSS-only option list needs the TCP options: events carry neither yet, so their macros are not used here.
WITH probes AS (
    SELECT
        event_date,
        src_ip,
        count(ip_id) AS with_ip_id,
        count(*) FILTER (WHERE is_zmap_probe(ip_id)) AS zmap,
        count(*) FILTER (WHERE proto = 'tcp' AND tcp_window IS NOT NULL) AS tcp_with_window,
        count(*) FILTER (WHERE proto = 'tcp' AND is_nmap_raw_window(tcp_window) AND ttl IS NOT NULL) AS nmap,
        count(DISTINCT ttl) FILTER (WHERE proto = 'tcp' AND is_nmap_raw_window(tcp_window)) AS nmap_ttls,
        min(ttl) FILTER (WHERE proto = 'tcp' AND is_nmap_raw_window(tcp_window)) AS nmap_ttl_min,
        max(ttl) FILTER (WHERE proto = 'tcp' AND is_nmap_raw_window(tcp_window)) AS nmap_ttl_max
    FROM events
    WHERE src_ip IS NOT NULL
    GROUP BY event_date, src_ip
), tools AS (
    SELECT
        event_date, src_ip, 'zmap' AS tag, 'tool' AS kind, zmap AS probes,
        format('{} of {} probes with IP ID 54321', zmap, with_ip_id) AS evidence
    FROM probes
    WHERE zmap > 0 AND zmap >= $min_share * with_ip_id
    UNION ALL
    -- nmap draws the TTL at random in 37..59 per probe: a spread of TTLs no higher than 59 and at
    -- most 22 apart (hops lower them all alike), on raw-probe windows.
    SELECT
        event_date, src_ip, 'nmap', 'tool', nmap,
        format('{} of {} TCP probes with a raw-probe window (1024..4096) and {} TTLs in {}..{}',
               nmap, tcp_with_window, nmap_ttls, nmap_ttl_min, nmap_ttl_max)
    FROM probes
    WHERE nmap >= $nmap_min_probes AND nmap >= $min_share * tcp_with_window
        AND nmap_ttls >= 2 AND nmap_ttl_max <= 59 AND nmap_ttl_max - nmap_ttl_min <= 22
), members AS (
    SELECT event_date, src_ip FROM scan_distributed
), behaviours AS (
    SELECT
        event_date, src_ip, 'fast-scan' AS tag, 'behaviour' AS kind, count(*) AS probes,
        format('over the dynamic threshold in {} window(s)', count(*)) AS evidence
    FROM scan_fast
    GROUP BY event_date, src_ip
    UNION ALL
    SELECT
        event_date, src_ip, 'slow-' || kind, 'behaviour', count(*),
        format('{} {} slow-scan growth period(s) judged a scan', count(*), kind)
    FROM scan_slow
    WHERE is_scan
    GROUP BY event_date, src_ip, kind
    UNION ALL
    SELECT event_date, src_ip, 'distributed-member', 'behaviour', count(*),
        format('member of {} coordinated scan group(s)', count(*))
    FROM members
    WHERE src_ip IS NOT NULL
    GROUP BY event_date, src_ip
)
SELECT event_date::DATE AS event_date, src_ip, tag, kind, probes::BIGINT AS probes, evidence
FROM (SELECT * FROM tools UNION ALL SELECT * FROM behaviours)
ORDER BY event_date, src_ip, tag
