-- table: One source and day under Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan 2004): its first contacts to distinct hosts, in time order, each a success or a failure, walked as a sequential likelihood-ratio test until it crosses the scanner or the benign threshold (README "How sources are judged"). Only sources whose first contacts have a known outcome appear (sql/detect/contacts.sql): captures and flow files that carry both directions, Zeek connection states, biflow records, one-direction TCP flows.
-- grain: one row per src_ip per day with at least one first contact of known outcome
-- key: event_date, src_ip
-- built by: pipelines.detect.trw:scan_trw(settings.trw)
-- findings: SELECT src_ip, 'horizontal' AS kind, first_seen AS window_start, decided_at AS window_end,
--     to_json({'first_contacts': first_contacts, 'failures': failures, 'steps': steps,
--              'likelihood_ratio': likelihood_ratio, 'decision': decision, 'inputs': inputs})::VARCHAR AS evidence,
--     to_json({'theta0': theta0, 'theta1': theta1, 'alpha': alpha, 'beta': beta})::VARCHAR AS parameters
--   FROM scan_trw WHERE is_scan
-- column event_date DATE: UTC day the row belongs to (lake partition).
-- column src_ip VARCHAR: The source (the side that opened its contacts).
-- column first_contacts BIGINT: Distinct destination hosts it contacted that day with a known outcome (only the first contact to each host counts, as in the paper).
-- column failures BIGINT: Those first contacts that failed (refused, unanswered or half-open: the `contacts` outcome).
-- column steps BIGINT: First contacts the walk consumed before it decided (all of them when it is still pending): the probes TRW needed.
-- column likelihood_ratio DOUBLE: Product over those steps of P(outcome | scanner) / P(outcome | benign): theta1/theta0 per success, (1-theta1)/(1-theta0) per failure.
-- column decision VARCHAR: scanner (the ratio reached beta/alpha), benign (it fell to (1-beta)/(1-alpha)) or pending (neither, when the day's contacts ran out).
-- column is_scan BOOLEAN: decision = 'scanner'.
-- column first_seen TIMESTAMP WITH TIME ZONE: Its first first-contact of the day, UTC.
-- column decided_at TIMESTAMP WITH TIME ZONE: Time of the first contact that decided (the last one seen when pending), UTC.
-- column inputs VARCHAR: Input families its outcomes came from (pcap, flow), comma-separated.
-- column theta0 DOUBLE: P(success | benign) used.
-- column theta1 DOUBLE: P(success | scanner) used.
-- column alpha DOUBLE: Target false-positive probability used (upper threshold beta/alpha).
-- column beta DOUBLE: Target detection probability used.
-- check critical: ExpectColumnValuesToBeInSet(column="decision", value_set=["scanner", "benign", "pending"])
-- check critical: ExpectColumnValuesToNotBeNull(column="src_ip")
-- check warning: ExpectColumnValuesToBeBetween(column="likelihood_ratio", min_value=0)
-- check warning: ExpectColumnValuesToBeBetween(column="steps", min_value=1)
-- Outcomes come from `contacts` (sql/detect/contacts.sql, the one definition of a contact and its
-- outcome): records that say their outcome (Zeek states, biflows' backward counts), one-direction TCP
-- flows by their own flags, captured packets and UDP flows by the reverse direction of the same capture.
-- Contacts judged by their conversation count only from files in which some contact was answered: a
-- file that never shows an answer (a darknet, a one-way tap) cannot tell failure from not seeing the
-- answer, so its sources are not judged. Contacts to a multicast or broadcast group are no first
-- contact of a host (`contacts.to_group`), and a failed contact to a port the source uses (`used_services`, marked by `service_marks`)
-- is a client's miss, not a step of the walk. Unknown outcomes (firewall drops, sensor and honeypot records,
-- ICMP) are not judged.
WITH judged AS (
    -- read twice from the day's stored rows (contacts_day): cheaper than holding them (a 50 M-event day)
    SELECT c.src_ip, c.dst_ip, c.ts, c.proto, c.src_port, c.dst_port, c.contact_outcome, c.outcome_from,
           c.answered, c.source_kind, c.source_file
    FROM service_marks AS c
    WHERE c.event_date = $day AND c.src_ip IS NOT NULL AND c.dst_ip IS NOT NULL AND NOT c.to_group
      AND c.contact_outcome IN ('succeeded', 'failed')
      AND NOT (c.contact_outcome = 'failed' AND c.to_used_port)
), two_way_files AS (
    SELECT source_file FROM judged WHERE outcome_from = 'conversation' GROUP BY source_file HAVING bool_or(answered)
), contacts_of_day AS (
    -- one contact per conversation: its first record
    SELECT src_ip, dst_ip, min(ts) AS ts, proto, dst_port, bool_or(contact_outcome = 'failed') AS failed,
           any_value(source_kind) AS source_kind
    FROM judged
    WHERE outcome_from <> 'conversation' OR source_file IN (SELECT source_file FROM two_way_files)
    GROUP BY src_ip, dst_ip, src_port, dst_port, proto
), first_contacts AS (
    -- the paper's first contact: the earliest attempt of the source to each distinct host
    SELECT * FROM contacts_of_day
    QUALIFY row_number() OVER (PARTITION BY src_ip, dst_ip ORDER BY ts, proto, dst_port, failed DESC) = 1
), walk AS (
    SELECT
        src_ip, ts, failed, source_kind,
        row_number() OVER w AS step,
        -- log of the likelihood ratio, rounded so that reruns cross the thresholds identically
        round(sum(CASE WHEN failed THEN ln((1 - $theta1) / (1 - $theta0)) ELSE ln($theta1 / $theta0) END) OVER w, 9)
            AS log_lr
    FROM first_contacts
    WINDOW w AS (PARTITION BY src_ip ORDER BY ts, dst_ip ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), decided AS (
    SELECT
        src_ip,
        min(step) FILTER (WHERE log_lr >= round(ln($beta / $alpha), 9)
                             OR log_lr <= round(ln((1 - $beta) / (1 - $alpha)), 9)) AS decided_step,
        count(*) AS first_contacts,
        count(*) FILTER (WHERE failed) AS failures,
        max(step) AS last_step,
        min(ts) AS first_seen,
        string_agg(DISTINCT source_kind, ',' ORDER BY source_kind) AS inputs
    FROM walk
    GROUP BY src_ip
)
SELECT
    d.src_ip,
    d.first_contacts::BIGINT AS first_contacts,
    d.failures::BIGINT AS failures,
    coalesce(d.decided_step, d.last_step)::BIGINT AS steps,
    exp(w.log_lr)::DOUBLE AS likelihood_ratio,
    CASE
        WHEN d.decided_step IS NULL THEN 'pending'
        WHEN w.log_lr > 0 THEN 'scanner'
        ELSE 'benign'
    END AS decision,
    coalesce(d.decided_step IS NOT NULL AND w.log_lr > 0, false) AS is_scan,
    d.first_seen,
    w.ts AS decided_at,
    d.inputs,
    $theta0::DOUBLE AS theta0,
    $theta1::DOUBLE AS theta1,
    $alpha::DOUBLE AS alpha,
    $beta::DOUBLE AS beta
FROM decided AS d
JOIN walk AS w ON w.src_ip = d.src_ip AND w.step = coalesce(d.decided_step, d.last_step)
ORDER BY d.src_ip
