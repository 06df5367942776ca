-- table: What one day adds to the organizations' node attributes: one row per source and day with the day's event and probe counts, and, for the sources that probed that day, its first and last event, distinct values and per-value counts as lists, so the days of the orgs.window_days window combine exactly into source_features (sql/orgs/source_features.sql) without reading their events again (issue 27).
-- grain: one row per (event_date, src_ip) seen in the day's events
-- key: event_date, src_ip
-- built by: pipelines.orgs.days:source_features_day(settings)
-- read as: view
-- column event_date DATE: UTC day of the events counted (lake partition).
-- column src_ip VARCHAR: Source (scanner) address; every source of the day's events.
-- column events BIGINT: Events sent by the source that day.
-- column probe_events BIGINT: Those of them that are probes, judged over the day's events as that day's detectors judge them (the `probes` view, sql/detect/probes.sql). A window's count is the sum of its days' counts, never judged again over the window: a conversation that crosses midnight (the SYN before, the answer after) counts as a probe on the first day, and a service the source uses on one day and fails to reach on another counts as probed on the other.
-- column is_detailed BOOLEAN: True when the source sent at least one probe that day (or the rows were built for every source, pipelines/orgs/features.py); only then are the columns below filled, else null: lists for every source of a day of a million sources, 95% of them benign, do not fit a 2 GB DuckDB limit (docs/SCALING.md).
-- column first_ts TIMESTAMP WITH TIME ZONE: First event of the source that day.
-- column last_ts TIMESTAMP WITH TIME ZONE: Last event of the source that day.
-- column gaps DOUBLE[]: Seconds between consecutive events of the source within the day, sorted (the gap across midnight comes from the days' last_ts and first_ts).
-- column dst_ports INTEGER[]: Distinct destination ports hit, sorted.
-- column dst_port_hits BIGINT[]: Events to each port of dst_ports, in the same order.
-- column hosts VARCHAR[]: Distinct destination addresses hit, sorted.
-- column src_ports INTEGER[]: Distinct source ports used, sorted.
-- column hours INTEGER[]: UTC hours of the day with events, sorted.
-- column hour_hits BIGINT[]: Events in each hour of hours, in the same order.
-- column protos VARCHAR[]: Distinct transport protocols (null for events without one), sorted.
-- column proto_hits BIGINT[]: Events of each protocol of protos, in the same order.
-- column ttls INTEGER[]: Distinct TTLs as received, sorted.
-- column ttl_hits BIGINT[]: Events with each TTL of ttls, in the same order.
-- column ip_ids INTEGER[]: Distinct IP IDs, sorted.
-- column ip_id_hits BIGINT[]: Events with each IP ID of ip_ids, in the same order.
-- column tcp_windows INTEGER[]: Distinct TCP windows, sorted.
-- column tcp_window_hits BIGINT[]: Events with each TCP window of tcp_windows, in the same order.
-- column flags VARCHAR[]: Distinct TCP flag strings, sorted.
-- column flag_hits BIGINT[]: Events with each flag string of flags, in the same order.
-- column user_agents VARCHAR[]: The 20 smallest distinct user agents (attacker-controlled text), sorted.
-- column uris VARCHAR[]: The 20 smallest distinct URIs (attacker-controlled text), sorted.
-- column http_methods VARCHAR[]: The 20 smallest distinct HTTP methods (attacker-controlled text), sorted.
-- column payloads VARCHAR[]: The 20 smallest distinct first 16 hex digits of payloads (attacker-controlled), sorted.
-- check critical: ExpectColumnValuesToNotBeNull(column="src_ip")
-- check critical: ExpectColumnValuesToBeBetween(column="events", min_value=1)
-- Every list column combines exactly over days (sql/orgs/source_features.sql): counts add, first and last
-- take the least and greatest, lists of distinct values are unions, per-value counts add per value,
-- and the 20 smallest of a union are among the 20 smallest of its days. Run over one day's events:
-- pipelines/orgs/features.py:day_rows runs it day by day, so each day's probes are judged alone.
-- $every_source: fill the list columns of every source (the evaluation's populations), not only
-- of the sources that probed. $buckets, $bucket: only the sources in $bucket of $buckets (the macro
-- source_bucket of sql/detect/bucket_macros.sql; pipelines/orgs/days.py:day_relation builds a large day
-- bucket by bucket).
WITH counts AS (
    SELECT event_date, src_ip, count(*) AS events FROM events
    WHERE src_ip IS NOT NULL AND source_bucket(src_ip, $buckets) = $bucket::UBIGINT GROUP BY ALL
), probe_counts AS (
    SELECT event_date, src_ip, count(*) AS probe_events FROM probes
    WHERE src_ip IS NOT NULL AND source_bucket(src_ip, $buckets) = $bucket::UBIGINT GROUP BY ALL
), detailed AS (
    SELECT c.event_date, c.src_ip
    FROM counts AS c
    LEFT JOIN probe_counts AS p USING (event_date, src_ip)
    WHERE $every_source OR p.probe_events > 0
), d_events AS (
    SELECT ev.* FROM events AS ev SEMI JOIN detailed AS d ON d.src_ip = ev.src_ip AND d.event_date = ev.event_date
), e AS (
    SELECT *, epoch(ts) - epoch(lag(ts) OVER (PARTITION BY event_date, src_ip ORDER BY ts)) AS gap
    FROM d_events
), base AS (
    SELECT
        event_date,
        src_ip,
        count(*) AS events,
        min(ts) AS first_ts,
        max(ts) AS last_ts,
        list_sort(list(gap) FILTER (WHERE gap IS NOT NULL)) AS gaps,
        list(DISTINCT dst_ip ORDER BY dst_ip) FILTER (WHERE dst_ip IS NOT NULL) AS hosts,
        list(DISTINCT src_port ORDER BY src_port) FILTER (WHERE src_port IS NOT NULL) AS src_ports,
        list_slice(list(DISTINCT user_agent ORDER BY user_agent) FILTER (WHERE user_agent IS NOT NULL), 1, 20) AS user_agents,
        list_slice(list(DISTINCT uri ORDER BY uri) FILTER (WHERE uri IS NOT NULL), 1, 20) AS uris,
        list_slice(list(DISTINCT http_method ORDER BY http_method) FILTER (WHERE http_method IS NOT NULL), 1, 20) AS http_methods,
        list_slice(list(DISTINCT left(payload_hex, 16) ORDER BY left(payload_hex, 16))
                   FILTER (WHERE payload_hex IS NOT NULL AND payload_hex <> ''), 1, 20) AS payloads
    FROM e
    GROUP BY event_date, src_ip
), counted AS (
    -- per-value counts of the columns whose most common value (or share) is a feature
    SELECT event_date, src_ip, 'port' AS what, dst_port AS iv, NULL::VARCHAR AS sv, count(*) AS n FROM d_events
    WHERE dst_port IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT event_date, src_ip, 'hour', hour(ts)::INTEGER, NULL, count(*) FROM d_events GROUP BY ALL
    UNION ALL
    SELECT event_date, src_ip, 'proto', NULL, proto, count(*) FROM d_events GROUP BY ALL
    UNION ALL
    SELECT event_date, src_ip, 'ttl', ttl, NULL, count(*) FROM d_events
    WHERE ttl IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT event_date, src_ip, 'ip_id', ip_id, NULL, count(*) FROM d_events
    WHERE ip_id IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT event_date, src_ip, 'tcp_window', tcp_window, NULL, count(*) FROM d_events
    WHERE tcp_window IS NOT NULL GROUP BY ALL
    UNION ALL
    SELECT event_date, src_ip, 'flags', NULL, tcp_flags, count(*) FROM d_events
    WHERE tcp_flags IS NOT NULL GROUP BY ALL
), lists AS (
    SELECT
        event_date,
        src_ip,
        list(iv ORDER BY iv) FILTER (WHERE what = 'port') AS dst_ports,
        list(n ORDER BY iv) FILTER (WHERE what = 'port') AS dst_port_hits,
        list(iv ORDER BY iv) FILTER (WHERE what = 'hour') AS hours,
        list(n ORDER BY iv) FILTER (WHERE what = 'hour') AS hour_hits,
        list(sv ORDER BY sv NULLS LAST) FILTER (WHERE what = 'proto') AS protos,
        list(n ORDER BY sv NULLS LAST) FILTER (WHERE what = 'proto') AS proto_hits,
        list(iv ORDER BY iv) FILTER (WHERE what = 'ttl') AS ttls,
        list(n ORDER BY iv) FILTER (WHERE what = 'ttl') AS ttl_hits,
        list(iv ORDER BY iv) FILTER (WHERE what = 'ip_id') AS ip_ids,
        list(n ORDER BY iv) FILTER (WHERE what = 'ip_id') AS ip_id_hits,
        list(iv ORDER BY iv) FILTER (WHERE what = 'tcp_window') AS tcp_windows,
        list(n ORDER BY iv) FILTER (WHERE what = 'tcp_window') AS tcp_window_hits,
        list(sv ORDER BY sv) FILTER (WHERE what = 'flags') AS flags,
        list(n ORDER BY sv) FILTER (WHERE what = 'flags') AS flag_hits
    FROM counted
    GROUP BY event_date, src_ip
)
SELECT
    c.event_date,
    c.src_ip,
    c.events,
    coalesce(p.probe_events, 0) AS probe_events,
    b.src_ip IS NOT NULL AS is_detailed,
    b.first_ts,
    b.last_ts,
    b.gaps,
    l.dst_ports,
    l.dst_port_hits,
    b.hosts,
    b.src_ports,
    l.hours,
    l.hour_hits,
    l.protos,
    l.proto_hits,
    l.ttls,
    l.ttl_hits,
    l.ip_ids,
    l.ip_id_hits,
    l.tcp_windows,
    l.tcp_window_hits,
    l.flags,
    l.flag_hits,
    b.user_agents,
    b.uris,
    b.http_methods,
    b.payloads
FROM counts AS c
LEFT JOIN base AS b USING (event_date, src_ip)
LEFT JOIN lists AS l USING (event_date, src_ip)
LEFT JOIN probe_counts AS p USING (event_date, src_ip)
