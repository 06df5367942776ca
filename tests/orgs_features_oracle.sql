-- The node attributes computed from events at once, as scanner_orgs computed them before source_features_day
-- (main at 059edef, sql/orgs/source_features.sql): the oracle tests/test_orgs_days.py holds the combined day rows to.
-- Reads orgs_events (the events to encode), probes (the probe records to count) and orgs_geo_ip.
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
