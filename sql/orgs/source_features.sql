-- table: One row per source over all days in events: the node attributes of the organization graph (paper 001 Table 1, DESIGN 5.4), before encoding.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per src_ip
-- key: src_ip
-- Inputs: orgs_events (the events of the sources to encode: every source, or the scanning ones, pipelines/orgs/features.py),
-- the probes view over all of events (sql/detect/probes.sql, the one definition of a probe) and orgs_geo_ip (geo_ip's columns, null where absent).
-- column src_ip: Source (scanner) address.
-- column probes: Events sent by the source.
-- column ports: Distinct destination ports hit.
-- column hosts: Distinct destination addresses hit.
-- column days: Distinct UTC days the source was seen.
-- column rate: Events per hour of activity (span from first to last event, at least one hour).
-- column tcp_share: Share of events over TCP.
-- column udp_share: Share of events over UDP.
-- column icmp_share: Share of ICMP events.
-- column zmap_share: Share of events carrying IP ID 54321 (ZMap/masscan fingerprint) among those with an IP ID.
-- column tcp_window: Most common TCP window (1024 marks nmap/masscan SYN probes), null if unknown.
-- column ttl_bucket: Most common TTL rounded up to the likely initial TTL (32, 64, 128, 255).
-- column main_proto: Most common transport protocol.
-- column flags: Most common TCP flags.
-- column text: User agents, URIs, HTTP methods and payload prefixes seen (attacker-controlled text, at most 20 distinct values each).
-- column country_code: Country of the source (geo_ip).
-- column asn: Autonomous system number (geo_ip).
-- column as_org: AS organization name (geo_ip).
-- column lat: Latitude (geo_ip).
-- column lon: Longitude (geo_ip).
-- column net: /24 (IPv4) or /48 (IPv6) network of the source.
-- column active_slots: Sorted (day, hour) slots of activity, the 'active together' key.
-- column port_set: Sorted distinct destination ports when at most 256, the 'same port set' key.
-- column probe_events: Events of the source that are probes (the `probes` view: first contacts that never became a conversation, firewall drops, sensor and honeypot hits, unanswered or refused flows).
-- column probe_share: Share of the source's events that are probes.
-- column ttl_mode: Most common TTL as received (initial TTL minus the hops: a tool and path fingerprint).
-- column ip_id_mode: Most common IP ID when it covers at least half the events with one (a fixed IP ID is a tool fingerprint), else null.
-- column src_ports_ratio: Distinct source ports per event (1 = a new port per probe, near 0 = a fixed source port).
-- column gap_median: Median seconds between consecutive events of the source (the pace inside a sweep).
-- column gap_p90: 90th percentile of those gaps (the pause between sweeps).
-- column burst: Events per sweep, a sweep being a run of events less than 60 s apart.
-- column peak_slot: Day and UTC hour with the most events, the 'active together' key.
-- Most common values are taken from histogram() with ties broken by the larger value, so
-- reruns give the same features whatever the thread scheduling (mode() breaks ties arbitrarily).
WITH probe_counts AS (
    SELECT src_ip, count(*) AS probe_events FROM probes WHERE src_ip IS NOT NULL GROUP BY src_ip
), e AS (
    SELECT *,
        epoch(ts) - epoch(lag(ts) OVER (PARTITION BY src_ip ORDER BY ts)) AS gap
    FROM orgs_events WHERE src_ip IS NOT NULL
), agg AS (
    SELECT
        src_ip,
        count(*) AS probes,
        count(DISTINCT dst_port) AS ports,
        count(DISTINCT dst_ip) AS hosts,
        count(DISTINCT event_date) AS days,
        list_sort(list_transform(map_entries(histogram(ttl)), x -> {'n': x.value, 'v': x.key}), 'DESC')[1].v AS ttl_mode,
        list_sort(list_transform(map_entries(histogram(ip_id)), x -> {'n': x.value, 'v': x.key}), 'DESC')[1] AS ip_id_top,
        count(ip_id) AS ip_id_n,
        count(DISTINCT src_port) / count(*) AS src_ports_ratio,
        median(gap) AS gap_median,
        quantile_cont(gap, 0.9) AS gap_p90,
        count(*) / (1 + count(*) FILTER (WHERE gap >= 60)) AS burst,
        list_sort(list_transform(map_entries(histogram(event_date::VARCHAR || 'T' || lpad(hour(ts)::VARCHAR, 2, '0'))),
                                 x -> {'n': x.value, 'v': x.key}), 'DESC')[1].v AS peak_slot,
        count(*) / greatest(1.0, (epoch(max(ts)) - epoch(min(ts))) / 3600.0) AS rate,
        avg(CASE WHEN proto = 'tcp' THEN 1.0 ELSE 0.0 END) AS tcp_share,
        avg(CASE WHEN proto = 'udp' THEN 1.0 ELSE 0.0 END) AS udp_share,
        avg(CASE WHEN proto LIKE 'icmp%' THEN 1.0 ELSE 0.0 END) AS icmp_share,
        coalesce(avg(CASE WHEN ip_id IS NULL THEN NULL WHEN ip_id = 54321 THEN 1.0 ELSE 0.0 END), 0.0) AS zmap_share,
        list_sort(list_transform(map_entries(histogram(tcp_window)), x -> {'n': x.value, 'v': x.key}), 'DESC')[1].v AS tcp_window,
        list_sort(list_transform(map_entries(histogram(CASE WHEN ttl IS NULL THEN NULL WHEN ttl <= 32 THEN 32 WHEN ttl <= 64 THEN 64 WHEN ttl <= 128 THEN 128 ELSE 255 END)), x -> {'n': x.value, 'v': x.key}), 'DESC')[1].v AS ttl_bucket,
        list_sort(list_transform(map_entries(histogram(proto)), x -> {'n': x.value, 'v': x.key}), 'DESC')[1].v AS main_proto,
        list_sort(list_transform(map_entries(histogram(tcp_flags)), x -> {'n': x.value, 'v': x.key}), 'DESC')[1].v AS flags,
        concat_ws(' ',
            array_to_string(list_slice(list(DISTINCT user_agent) FILTER (WHERE user_agent IS NOT NULL), 1, 20), ' '),
            array_to_string(list_slice(list(DISTINCT uri) FILTER (WHERE uri IS NOT NULL), 1, 20), ' '),
            array_to_string(list_slice(list(DISTINCT http_method) FILTER (WHERE http_method IS NOT NULL), 1, 20), ' '),
            array_to_string(list_slice(list(DISTINCT left(payload_hex, 16)) FILTER (WHERE payload_hex IS NOT NULL AND payload_hex <> ''), 1, 20), ' ')
        ) AS text,
        list(DISTINCT event_date::VARCHAR || 'T' || hour(ts)::VARCHAR ORDER BY event_date::VARCHAR || 'T' || hour(ts)::VARCHAR) AS slots,
        list(DISTINCT dst_port ORDER BY dst_port) FILTER (WHERE dst_port IS NOT NULL) AS port_list
    FROM e
    GROUP BY src_ip
), geo AS (
    SELECT ip, any_value(country_code) AS country_code, any_value(asn) AS asn, any_value(as_org) AS as_org,
           any_value(lat) AS lat, any_value(lon) AS lon
    FROM orgs_geo_ip
    GROUP BY ip
)
SELECT
    a.src_ip, a.probes, a.ports, a.hosts, a.days, a.rate, a.tcp_share, a.udp_share, a.icmp_share, a.zmap_share,
    a.tcp_window, a.ttl_bucket, a.main_proto, a.flags, a.text,
    coalesce(pc.probe_events, 0) AS probe_events, coalesce(pc.probe_events, 0) / a.probes AS probe_share, a.ttl_mode,
    CASE WHEN a.ip_id_top.n * 2 >= a.ip_id_n AND a.ip_id_n >= 2 THEN a.ip_id_top.v END AS ip_id_mode,
    a.src_ports_ratio, a.gap_median, a.gap_p90, a.burst, a.peak_slot,
    g.country_code, g.asn, g.as_org, g.lat, g.lon,
    CASE
        WHEN a.src_ip LIKE '%:%' THEN array_to_string(list_slice(string_split(a.src_ip, ':'), 1, 3), ':')
        ELSE array_to_string(list_slice(string_split(a.src_ip, '.'), 1, 3), '.')
    END AS net,
    array_to_string(a.slots, ',') AS active_slots,
    CASE WHEN len(a.port_list) BETWEEN 1 AND 256 THEN array_to_string(a.port_list, ',') END AS port_set
FROM agg AS a
LEFT JOIN geo AS g ON g.ip = a.src_ip
LEFT JOIN probe_counts AS pc ON pc.src_ip = a.src_ip
ORDER BY a.src_ip
