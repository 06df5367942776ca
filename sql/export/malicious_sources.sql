-- query: The rows every export format carries: one per source judged malicious on $day and not on the allow-list.
-- grain: one row per src_ip of source_risk with malicious on $day, allow-listed sources left out
-- column event_date: UTC day judged.
-- column src_ip: Source address (canonical text; checked again in Python before it reaches a rule).
-- column risk: Risk total R that day.
-- column probes: Events sent by the source that day.
-- column first_seen: First event of the source that day, UTC.
-- column last_seen: Last event of the source that day, UTC.
-- column country_code: ISO country, null when unknown.
-- column reasons: Why the source scored, in words (source_risk.reasons).
-- column research_org: Known research-scanning organization on the reference lists that day (source_risk), else null. The scanner_orgs clusters are left out: they change as days are added, a day's export must not.
-- column tags: Tags the source earned that day (source_tags), sorted.
-- column sample_uri: The first URI (text order) the source requested that day, at most 200 characters; attacker-controlled.
-- column sample_user_agent: The first user agent (text order) the source sent that day, at most 200 characters; attacker-controlled.
-- Inputs: source_risk, source_tags, events, export_allowed(ip, is_allow_listed); nothing that depends on other days.
WITH risky AS (
    SELECT r.*
    FROM source_risk AS r
    LEFT JOIN export_allowed AS a ON a.ip = r.src_ip
    WHERE r.event_date = $day AND r.malicious AND NOT coalesce(a.is_allow_listed, false)
), tags AS (
    SELECT src_ip, list(DISTINCT tag ORDER BY tag) AS tags
    FROM source_tags
    WHERE event_date = $day
    GROUP BY src_ip
), samples AS (
    SELECT src_ip, left(min(uri), 200) AS sample_uri, left(min(user_agent), 200) AS sample_user_agent
    FROM events
    WHERE event_date = $day AND src_ip IN (SELECT src_ip FROM risky)
    GROUP BY src_ip
)
SELECT
    r.event_date,
    r.src_ip,
    r.risk::DOUBLE AS risk,
    r.probes,
    r.first_seen,
    r.last_seen,
    r.country_code,
    r.reasons,
    r.research_org,
    coalesce(t.tags, []::VARCHAR[]) AS tags,
    s.sample_uri,
    s.sample_user_agent
FROM risky AS r
LEFT JOIN tags AS t USING (src_ip)
LEFT JOIN samples AS s USING (src_ip)
ORDER BY r.risk DESC, r.src_ip
