-- table: One row per source, UTC day and tag, GreyNoise-style: a scanning tool its packets show (zmap, masscan, mirai, nmap) or a behaviour a detector found (one tag per detector finding of the day: fast-scan, slow-vertical, slow-horizontal, distributed-member, and <detector>-<kind> for every other detector).
-- grain: one row per (event_date, src_ip, tag)
-- key: event_date, src_ip, tag
-- built by: pipelines.tags:source_tags(settings.tags)
-- reads: events, findings
-- column event_date DATE: UTC day the tag was earned.
-- column src_ip VARCHAR: Source (scanner) address.
-- column tag VARCHAR: The tag: zmap, masscan, mirai, nmap (tools, from packet headers); fast-scan, slow-vertical,
--   slow-horizontal, distributed-member (behaviours of scan_fast, scan_slow, scan_distributed), or
--   <detector>-<kind> with underscores as hyphens (any other detector's findings, e.g. scan-trw-horizontal, port-ratio-ratio).
-- column kind VARCHAR: 'tool' (a signature in the packet headers, sql/history/tag_macros.sql) or 'behaviour' (a detector's findings).
-- column probes BIGINT: For a tool, the source's probes that day carrying its signature; for a behaviour, the detector's findings that day (windows over the threshold, growth periods, coordinated groups, ...).
-- column evidence VARCHAR: The rule that matched, in words.
-- check critical: ExpectColumnValuesToBeInSet(column="kind", value_set=["tool", "behaviour"])
-- check critical: ExpectColumnValuesToNotBeNull(column="src_ip")
-- check warning: ExpectColumnValuesToBeBetween(column="probes", min_value=1)
-- Parameters: $min_share (share of probes with the signature), $nmap_min_probes, $masscan_min_probes.
-- Inputs: tag_events (events of every day, with tcp_seq, tcp_options, tcp_mss null where a lake file predates them),
-- every detector's verdicts through `findings` (a new detector earns its tag with no edit here; the
-- allow-listed sources have none), the macros of tag_macros.sql.
-- Each share is taken over the probes that could show the signature (IPv4 TCP with the fields it reads),
-- so flows and logs without those fields neither earn nor dilute a tag.
WITH marked AS (
    SELECT
        event_date,
        src_ip,
        proto,
        ttl,
        ip_id,
        tcp_window,
        proto = 'tcp' AND ipv4_to_int(dst_ip) IS NOT NULL AND tcp_seq IS NOT NULL AS seq4,
        proto = 'tcp' AND is_masscan_probe(dst_ip, dst_port, tcp_seq, ip_id) AS masscan,
        proto = 'tcp' AND is_mirai_probe(dst_ip, tcp_seq) AS mirai,
        proto = 'tcp' AND tcp_flags = 'S' AND tcp_options IS NOT NULL AS syn_with_options,
        proto = 'tcp' AND is_nmap_syn_probe(tcp_flags, tcp_window, tcp_options, tcp_mss) AS nmap_syn,
        proto = 'tcp' AND is_nmap_raw_window(tcp_window) AS nmap_window
    FROM tag_events
    WHERE src_ip IS NOT NULL
), counted AS (
    SELECT
        event_date,
        src_ip,
        count(ip_id) AS with_ip_id,
        count(*) FILTER (WHERE is_zmap_probe(ip_id)) AS zmap,
        count(*) FILTER (WHERE seq4 AND ip_id IS NOT NULL) AS with_seq_id,
        count(*) FILTER (WHERE masscan) AS masscan,
        count(*) FILTER (WHERE seq4) AS with_seq,
        count(*) FILTER (WHERE mirai) AS mirai,
        -- masscan's packets are left out of both nmap rules: its window 1024 (and, from 1.3, its lone
        -- MSS 1460) would pass for nmap's.
        count(*) FILTER (WHERE syn_with_options) AS syn_with_options,
        count(*) FILTER (WHERE nmap_syn AND NOT masscan AND ttl IS NOT NULL) AS nmap_syn,
        max(ttl) FILTER (WHERE nmap_syn AND NOT masscan) AS nmap_syn_ttl_max,
        count(*) FILTER (WHERE proto = 'tcp' AND tcp_window IS NOT NULL) AS tcp_with_window,
        count(*) FILTER (WHERE nmap_window AND NOT masscan AND ttl IS NOT NULL) AS nmap,
        count(DISTINCT ttl) FILTER (WHERE nmap_window AND NOT masscan) AS nmap_ttls,
        min(ttl) FILTER (WHERE nmap_window AND NOT masscan) AS nmap_ttl_min,
        max(ttl) FILTER (WHERE nmap_window AND NOT masscan) AS nmap_ttl_max
    FROM marked
    GROUP BY event_date, src_ip
), tools AS (
    SELECT
        event_date, src_ip, 'zmap' AS tag, 'tool' AS kind, zmap AS probes,
        format('{} of {} probes with IP ID 54321', zmap, with_ip_id) AS evidence
    FROM counted
    WHERE zmap > 0 AND zmap >= $min_share * with_ip_id
    UNION ALL
    -- a random IP ID fits masscan's cookie 1 time in 65,536: several probes must all (min_share) fit.
    SELECT
        event_date, src_ip, 'masscan', 'tool', masscan,
        format('{} of {} TCP probes with IP ID = (destination ^ port ^ sequence) & 0xFFFF', masscan, with_seq_id)
    FROM counted
    WHERE masscan >= $masscan_min_probes AND masscan >= $min_share * with_seq_id
    UNION ALL
    -- a random sequence number equals the destination 1 time in 2^32: one probe is evidence enough.
    SELECT
        event_date, src_ip, 'mirai', 'tool', mirai,
        format('{} of {} TCP probes with sequence number = destination address', mirai, with_seq)
    FROM counted
    WHERE mirai > 0 AND mirai >= $min_share * with_seq
    UNION ALL
    -- nmap: SYN probes with a raw-probe window and MSS 1460 alone, sent with nmap's TTL (37..59 at
    -- the sender, only lower after hops), or any raw probe (-sF -sN -sX -sA -sW -sM carry no option)
    -- with a raw-probe window and a spread of TTLs in nmap's range, at most 22 apart.
    SELECT
        event_date, src_ip, 'nmap', 'tool', greatest(nmap_syn, nmap),
        CASE WHEN nmap_syn >= $nmap_min_probes AND nmap_syn >= $min_share * syn_with_options AND nmap_syn_ttl_max <= 59
            THEN format('{} of {} SYN probes with window 1024..4096 and the single option MSS 1460, TTL at most {}',
                        nmap_syn, syn_with_options, nmap_syn_ttl_max)
            ELSE format('{} of {} TCP probes with a raw-probe window (1024..4096) and {} TTLs in {}..{}',
                        nmap, tcp_with_window, nmap_ttls, nmap_ttl_min, nmap_ttl_max)
        END
    FROM counted
    WHERE (nmap_syn >= $nmap_min_probes AND nmap_syn >= $min_share * syn_with_options AND nmap_syn_ttl_max <= 59)
        OR (nmap >= $nmap_min_probes AND nmap >= $min_share * tcp_with_window
            AND nmap_ttls >= 2 AND nmap_ttl_max <= 59 AND nmap_ttl_max - nmap_ttl_min <= 22)
), behaviours AS (
    -- the three detectors of the first tags keep the names analysts know; any other is <detector>-<kind>
    SELECT
        event_date,
        src_ip,
        CASE detector
            WHEN 'scan_fast' THEN 'fast-scan'
            WHEN 'scan_slow' THEN 'slow-' || kind
            WHEN 'scan_distributed' THEN 'distributed-member'
            ELSE replace(detector, '_', '-') || '-' || kind
        END AS tag,
        'behaviour' AS kind,
        count(*) AS probes,
        CASE any_value(detector)
            WHEN 'scan_fast' THEN format('over the dynamic threshold in {} window(s)', count(*))
            WHEN 'scan_slow' THEN format('{} {} slow-scan growth period(s) judged a scan', count(*), any_value(kind))
            WHEN 'scan_distributed' THEN format('member of {} coordinated scan group(s)', count(*))
            ELSE format('{} {} finding(s) of {}', count(*), any_value(kind), any_value(detector))
        END AS evidence
    FROM findings
    WHERE src_ip IS NOT NULL
    GROUP BY event_date, src_ip, tag
)
SELECT event_date::DATE AS event_date, src_ip, tag, kind, probes::BIGINT AS probes, evidence
FROM (SELECT * FROM tools UNION ALL SELECT * FROM behaviours)
ORDER BY event_date, src_ip, tag
