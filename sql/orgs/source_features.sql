-- table: One row per source over the days of orgs_days: the node attributes of the organization graph (paper 001 Table 1, DESIGN 5.4), before encoding. An organization's fingerprint is read from the days its sources probed: every column but probe_events and probe_share combines the source's days with probes (the days whose source_features_day row is detailed); those two count every day of the window.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- grain: one row per src_ip
-- key: src_ip
-- Inputs: orgs_days (the detailed source_features_day rows of the days to combine, of the sources to
--   encode: every source, or the scanning ones, pipelines/orgs/features.py), orgs_source_counts (src_ip,
--   events, probe_events: the sums over every row of those days, detailed or not) and orgs_geo_ip
--   (geo_ip's columns, null where absent).
-- column src_ip: Source (scanner) address.
-- column probes: Events sent by the source on the days it probed.
-- column ports: Distinct destination ports hit.
-- column hosts: Distinct destination addresses hit.
-- column days: Distinct UTC days the source probed.
-- column rate: Events per hour of activity (span from first to last event, at least one hour).
-- column tcp_share: Share of events over TCP.
-- column udp_share: Share of events over UDP.
-- column icmp_share: Share of ICMP events.
-- column zmap_share: Share of events carrying IP ID 54321 (ZMap/masscan fingerprint) among those with an IP ID.
-- column tcp_window: Most common TCP window (1024 marks nmap/masscan SYN probes), null if unknown.
-- column ttl_bucket: Most common TTL rounded up to the likely initial TTL (32, 64, 128, 255).
-- column main_proto: Most common transport protocol.
-- column flags: Most common TCP flags.
-- column text: User agents, URIs, HTTP methods and payload prefixes seen (attacker-controlled text, the 20 smallest distinct values of each).
-- column country_code: Country of the source (geo_ip).
-- column asn: Autonomous system number (geo_ip).
-- column as_org: AS organization name (geo_ip).
-- column lat: Latitude (geo_ip).
-- column lon: Longitude (geo_ip).
-- column net: /24 (IPv4) or /48 (IPv6) network of the source.
-- column active_slots: Sorted (day, hour) slots of activity, the 'active together' key.
-- column port_set: Sorted distinct destination ports when at most 256, the 'same port set' key.
-- column probe_events: Probes sent by the source: the sum of its days' own counts (source_features_day.probe_events, each day judged over its own events by the `probes` view as that day's detectors judge it; never judged again over the window, so a conversation crossing midnight or a service used on one day and failing on another is judged per day).
-- column probe_share: probe_events over the source's events of every day of the window (days without probes included).
-- column ttl_mode: Most common TTL as received (initial TTL minus the hops: a tool and path fingerprint).
-- column ip_id_mode: Most common IP ID when it covers at least half the events with one (a fixed IP ID is a tool fingerprint), else null.
-- column src_ports_ratio: Distinct source ports per event (1 = a new port per probe, near 0 = a fixed source port).
-- column gap_median: Median seconds between consecutive events of the source (the pace inside a sweep).
-- column gap_p90: 90th percentile of those gaps (the pause between sweeps).
-- column burst: Events per sweep, a sweep being a run of events less than 60 s apart.
-- column peak_slot: Day and UTC hour with the most events, the 'active together' key.
-- Every column combines the days' rows exactly (sql/orgs/source_features_day.sql): the gaps are the
-- days' own plus one across each pair of consecutive days the source was seen (a day's first event
-- minus the earlier day's last), most common values sum the days' per-value counts and take the
-- largest count, ties broken by the larger value (as histogram() was read over events: reruns give
-- the same features whatever the thread scheduling).
WITH d AS (
    SELECT *, epoch(first_ts) - epoch(lag(last_ts) OVER (PARTITION BY src_ip ORDER BY event_date)) AS cross_gap
    FROM orgs_days
    WHERE src_ip IS NOT NULL
), gap_values AS (
    SELECT src_ip, unnest(gaps) AS gap FROM d
    UNION ALL
    SELECT src_ip, cross_gap FROM d WHERE cross_gap IS NOT NULL
), gap_stats AS (
    SELECT src_ip, median(gap) AS gap_median, quantile_cont(gap, 0.9) AS gap_p90,
           count(*) FILTER (WHERE gap >= 60) AS long_gaps
    FROM gap_values
    GROUP BY src_ip
), ints AS (
    SELECT src_ip, 'ttl' AS what, unnest(ttls) AS v, unnest(ttl_hits) AS n FROM d
    UNION ALL SELECT src_ip, 'ip_id', unnest(ip_ids), unnest(ip_id_hits) FROM d
    UNION ALL SELECT src_ip, 'tcp_window', unnest(tcp_windows), unnest(tcp_window_hits) FROM d
    UNION ALL
    SELECT src_ip, 'ttl_bucket', CASE WHEN t <= 32 THEN 32 WHEN t <= 64 THEN 64 WHEN t <= 128 THEN 128 ELSE 255 END, n
    FROM (SELECT src_ip, unnest(ttls) AS t, unnest(ttl_hits) AS n FROM d)
), int_counts AS (
    SELECT src_ip, what, v, sum(n) AS n FROM ints GROUP BY ALL
), int_modes AS (
    SELECT
        src_ip,
        list_sort(list({'n': n, 'v': v}) FILTER (WHERE what = 'ttl'), 'DESC')[1].v AS ttl_mode,
        list_sort(list({'n': n, 'v': v}) FILTER (WHERE what = 'ip_id'), 'DESC')[1] AS ip_id_top,
        coalesce(sum(n) FILTER (WHERE what = 'ip_id'), 0)::BIGINT AS ip_id_n,
        coalesce(sum(n) FILTER (WHERE what = 'ip_id' AND v = 54321), 0)::BIGINT AS zmap_n,
        list_sort(list({'n': n, 'v': v}) FILTER (WHERE what = 'tcp_window'), 'DESC')[1].v AS tcp_window,
        list_sort(list({'n': n, 'v': v}) FILTER (WHERE what = 'ttl_bucket'), 'DESC')[1].v AS ttl_bucket
    FROM int_counts
    GROUP BY src_ip
), texts AS (
    SELECT src_ip, 'proto' AS what, unnest(protos) AS v, unnest(proto_hits) AS n FROM d
    UNION ALL SELECT src_ip, 'flags', unnest(flags), unnest(flag_hits) FROM d
    UNION ALL
    SELECT src_ip, 'slot', event_date::VARCHAR || 'T' || lpad(unnest(hours)::VARCHAR, 2, '0'), unnest(hour_hits) FROM d
), text_counts AS (
    SELECT src_ip, what, v, sum(n) AS n FROM texts GROUP BY ALL
), text_modes AS (
    SELECT
        src_ip,
        list_sort(list({'n': n, 'v': v}) FILTER (WHERE what = 'proto' AND v IS NOT NULL), 'DESC')[1].v AS main_proto,
        list_sort(list({'n': n, 'v': v}) FILTER (WHERE what = 'flags'), 'DESC')[1].v AS flags,
        list_sort(list({'n': n, 'v': v}) FILTER (WHERE what = 'slot'), 'DESC')[1].v AS peak_slot,
        coalesce(sum(n) FILTER (WHERE what = 'proto' AND v = 'tcp'), 0)::BIGINT AS tcp_n,
        coalesce(sum(n) FILTER (WHERE what = 'proto' AND v = 'udp'), 0)::BIGINT AS udp_n,
        coalesce(sum(n) FILTER (WHERE what = 'proto' AND v LIKE 'icmp%'), 0)::BIGINT AS icmp_n
    FROM text_counts
    GROUP BY src_ip
), agg AS (
    SELECT
        src_ip,
        sum(events)::BIGINT AS probes,
        count(*) AS days,
        min(first_ts) AS first_ts,
        max(last_ts) AS last_ts,
        list_sort(list_distinct(flatten(list(dst_ports)))) AS port_list,
        len(list_distinct(flatten(list(hosts)))) AS hosts,
        len(list_distinct(flatten(list(src_ports)))) AS src_ports,
        list_sort(flatten(list(list_transform(hours, h -> event_date::VARCHAR || 'T' || h::VARCHAR)))) AS slots,
        list_slice(list_sort(list_distinct(flatten(list(user_agents) FILTER (WHERE user_agents IS NOT NULL)))), 1, 20) AS user_agents,
        list_slice(list_sort(list_distinct(flatten(list(uris) FILTER (WHERE uris IS NOT NULL)))), 1, 20) AS uris,
        list_slice(list_sort(list_distinct(flatten(list(http_methods) FILTER (WHERE http_methods IS NOT NULL)))), 1, 20) AS http_methods,
        list_slice(list_sort(list_distinct(flatten(list(payloads) FILTER (WHERE payloads IS NOT NULL)))), 1, 20) AS payloads
    FROM d
    GROUP BY src_ip
), geo AS (
    SELECT ip, any_value(country_code) AS country_code, any_value(asn) AS asn, any_value(as_org) AS as_org,
           any_value(lat) AS lat, any_value(lon) AS lon
    FROM orgs_geo_ip
    GROUP BY ip
)
SELECT
    a.src_ip,
    a.probes,
    coalesce(len(a.port_list), 0) AS ports,
    a.hosts,
    a.days,
    a.probes / greatest(1.0, (epoch(a.last_ts) - epoch(a.first_ts)) / 3600.0) AS rate,
    t.tcp_n / a.probes AS tcp_share,
    t.udp_n / a.probes AS udp_share,
    t.icmp_n / a.probes AS icmp_share,
    CASE WHEN coalesce(i.ip_id_n, 0) = 0 THEN 0.0 ELSE i.zmap_n / i.ip_id_n END AS zmap_share,
    i.tcp_window, i.ttl_bucket, t.main_proto, t.flags,
    concat_ws(' ',
        array_to_string(a.user_agents, ' '), array_to_string(a.uris, ' '),
        array_to_string(a.http_methods, ' '), array_to_string(a.payloads, ' ')
    ) AS text,
    coalesce(pc.probe_events, 0) AS probe_events, coalesce(pc.probe_events, 0) / pc.events AS probe_share, i.ttl_mode,
    CASE WHEN i.ip_id_top.n * 2 >= i.ip_id_n AND i.ip_id_n >= 2 THEN i.ip_id_top.v END AS ip_id_mode,
    a.src_ports / a.probes AS src_ports_ratio,
    g.gap_median, g.gap_p90,
    a.probes / (1 + coalesce(g.long_gaps, 0)) AS burst,
    t.peak_slot,
    geo.country_code, geo.asn, geo.as_org, geo.lat, geo.lon,
    CASE
        WHEN a.src_ip LIKE '%:%' THEN array_to_string(list_slice(string_split(a.src_ip, ':'), 1, 3), ':')
        ELSE array_to_string(list_slice(string_split(a.src_ip, '.'), 1, 3), '.')
    END AS net,
    array_to_string(a.slots, ',') AS active_slots,
    CASE WHEN len(a.port_list) BETWEEN 1 AND 256 THEN array_to_string(a.port_list, ',') END AS port_set
FROM agg AS a
LEFT JOIN int_modes AS i ON i.src_ip = a.src_ip
LEFT JOIN text_modes AS t ON t.src_ip = a.src_ip
LEFT JOIN gap_stats AS g ON g.src_ip = a.src_ip
LEFT JOIN geo ON geo.ip = a.src_ip
LEFT JOIN orgs_source_counts AS pc ON pc.src_ip = a.src_ip
ORDER BY a.src_ip
