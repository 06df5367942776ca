-- table: One source taking part in a coordinated (distributed) scan: a group of sources that together cover a contiguous range of ports of one host, or of hosts of one /16 on one port, in the same window, while each probes only a small, dense slice of it (Gates 2009, adapted; README "How sources are judged").
-- grain: one row per member source per group
-- key: event_date, group_id, src_ip
-- built by: pipelines.detect.distributed:scan_distributed(settings.distributed)
-- reads: probes
-- findings: SELECT src_ip, CASE axis WHEN 'ports' THEN 'vertical' ELSE 'horizontal' END AS kind,
--     first_seen AS window_start, last_seen AS window_end,
--     to_json({'group_id': group_id, 'target': target, 'dst_port': dst_port, 'members': members,
--              'coverage': coverage, 'covered_from': covered_from, 'covered_to': covered_to,
--              'overlap': overlap, 'member_targets': member_targets})::VARCHAR AS evidence,
--     to_json({'window_start': window_start})::VARCHAR AS parameters
--   FROM scan_distributed
-- column event_date DATE: UTC day the row belongs to (lake partition).
-- column src_ip VARCHAR: The member source.
-- column group_id VARCHAR: Identifier of the group (hash of its window, axis, target and first covered value); the same on every rerun.
-- column axis VARCHAR: 'ports' (many ports of one host) or 'hosts' (many hosts of one /16 on one port).
-- column target VARCHAR: The host whose ports were covered (axis 'ports'), or the /16 whose hosts were covered (axis 'hosts').
-- column proto VARCHAR: tcp or udp.
-- column dst_port INTEGER: The port probed on every host (axis 'hosts'); null for axis 'ports'.
-- column window_start TIMESTAMP WITH TIME ZONE: Start of the fixed window the group was found in, UTC.
-- column members BIGINT: Sources in the group.
-- column coverage BIGINT: Distinct ports (or hosts) the group probed together.
-- column covered_from VARCHAR: Lowest port (or host address) the group probed.
-- column covered_to VARCHAR: Highest port (or host address) the group probed.
-- column overlap DOUBLE: Sum of the members' distinct targets over the group's coverage: 1.0 when no target was probed twice.
-- column member_targets BIGINT: Distinct ports (or hosts) this member probed in the group.
-- column member_probes BIGINT: Probe records of this member in the group.
-- column first_seen TIMESTAMP WITH TIME ZONE: This member's first probe in the group, UTC.
-- column last_seen TIMESTAMP WITH TIME ZONE: This member's last probe in the group, UTC.
-- check critical: ExpectColumnValuesToBeInSet(column="axis", value_set=["ports", "hosts"])
-- check critical: ExpectColumnValuesToNotBeNull(column="src_ip")
-- check warning: ExpectColumnValuesToBeBetween(column="overlap", min_value=1.0)
-- Method: probes of the window are grouped per (target, proto); a candidate member probes between
-- $min_each and $max_each distinct values of the axis, densely (distinct / span >= $min_density).
-- Candidates sorted by their lowest value form a chain while each starts within $max_gap of the
-- highest value reached so far (interval merging). A chain is a group when it has >= $min_members
-- members, covers >= $min_coverage values, densely, and overlaps little (<= $max_overlap), which
-- busy clients of one service (all on the same port) and background radiation (scattered ports)
-- do not.
WITH p AS (
    SELECT
        src_ip, dst_ip, dst_port, proto, ts,
        time_bucket(to_seconds($window_s), ts) AS window_start
    FROM probes
    WHERE event_date = $day AND proto IN ('tcp', 'udp') AND dst_port IS NOT NULL AND dst_ip IS NOT NULL
), v4 AS (
    SELECT *,
        string_split(dst_ip, '.') AS o
    FROM p
    WHERE regexp_full_match(dst_ip, '\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}')
), axes AS (
    SELECT src_ip, 'ports' AS axis, dst_ip AS target, proto, -1 AS dst_port, window_start, ts,  -- -1: no fixed port (joins need a value)
           dst_port::BIGINT AS v
    FROM p
    UNION ALL
    SELECT src_ip, 'hosts', o[1] || '.' || o[2] || '.0.0/16', proto, dst_port, window_start, ts,
           (o[1]::BIGINT << 24) + (o[2]::BIGINT << 16) + (o[3]::BIGINT << 8) + o[4]::BIGINT
    FROM v4
), slices AS (
    SELECT axis, target, proto, dst_port, window_start, src_ip,
           min(v) AS lo, max(v) AS hi, count(DISTINCT v) AS n, count(*) AS probes,
           min(ts) AS first_seen, max(ts) AS last_seen
    FROM axes
    GROUP BY ALL
    HAVING count(DISTINCT v) BETWEEN $min_each AND $max_each
       AND count(DISTINCT v) >= $min_density * (max(v) - min(v) + 1)
), ordered AS (
    SELECT *,
        max(hi) OVER (PARTITION BY axis, target, proto, dst_port, window_start ORDER BY lo, hi, src_ip
                      ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
    FROM slices
), chained AS (
    SELECT *,
        sum(CASE WHEN reach IS NULL OR lo > reach + $max_gap THEN 1 ELSE 0 END)
            OVER (PARTITION BY axis, target, proto, dst_port, window_start ORDER BY lo, hi, src_ip) AS chain
    FROM ordered
), covered AS (
    SELECT c.axis, c.target, c.proto, c.dst_port, c.window_start, c.chain,
           count(DISTINCT a.v) AS coverage, min(a.v) AS lo, max(a.v) AS hi
    FROM chained AS c
    JOIN axes AS a
      ON a.src_ip = c.src_ip AND a.axis = c.axis AND a.target = c.target AND a.proto = c.proto
     AND a.window_start = c.window_start AND a.dst_port = c.dst_port
    GROUP BY ALL
), groups AS (
    SELECT c.axis, c.target, c.proto, c.dst_port, c.window_start, c.chain,
           count(*) AS members, sum(c.n) AS member_sum, any_value(v.coverage) AS coverage,
           any_value(v.lo) AS lo, any_value(v.hi) AS hi
    FROM chained AS c
    JOIN covered AS v USING (axis, target, proto, dst_port, window_start, chain)
    GROUP BY ALL
    HAVING count(*) >= $min_members
       AND any_value(v.coverage) >= $min_coverage
       AND any_value(v.coverage) >= $min_density * (any_value(v.hi) - any_value(v.lo) + 1)
       AND sum(c.n) <= $max_overlap * any_value(v.coverage)
)
SELECT
    $day::DATE AS event_date,
    c.src_ip,
    md5(concat_ws('|', g.window_start, g.axis, g.target, g.proto, g.dst_port, g.lo)) AS group_id,
    g.axis,
    g.target,
    g.proto,
    nullif(g.dst_port, -1)::INTEGER AS dst_port,
    g.window_start,
    g.members,
    g.coverage,
    CASE WHEN g.axis = 'ports' THEN g.lo::VARCHAR
         ELSE concat_ws('.', g.lo >> 24, (g.lo >> 16) & 255, (g.lo >> 8) & 255, g.lo & 255) END AS covered_from,
    CASE WHEN g.axis = 'ports' THEN g.hi::VARCHAR
         ELSE concat_ws('.', g.hi >> 24, (g.hi >> 16) & 255, (g.hi >> 8) & 255, g.hi & 255) END AS covered_to,
    round(g.member_sum / g.coverage, 3) AS overlap,
    c.n AS member_targets,
    c.probes AS member_probes,
    c.first_seen,
    c.last_seen
FROM chained AS c
JOIN groups AS g USING (axis, target, proto, dst_port, window_start, chain)
ORDER BY g.window_start, g.axis, g.target, c.lo, c.src_ip
