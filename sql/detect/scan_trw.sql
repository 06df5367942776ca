-- table: One source and day under Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan 2004): its first contacts to distinct hosts, in time order, each a success or a failure, walked as a sequential likelihood-ratio test until it crosses the scanner or the benign threshold (README "How sources are judged"). Only sources whose first contacts have a known outcome appear: captures and flow files that carry both directions, Zeek connection states, biflow records with a SYN.
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
-- column failures BIGINT: Those first contacts that failed (TCP: no SYN-ACK, a reset or nothing; UDP: no answer; Zeek S0, REJ, RSTOS0, SH).
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
-- Outcomes (a contact is a connection attempt the source opened; which side opened is the side that
-- spoke first, on a tie the side that went to the lower port, the service, as in probes.sql):
--   captured packets and one-direction flow records (CIDDS, NetFlow), judged with the reverse direction
--   of the same file: TCP succeeds when the other side sent SYN-ACK, or, on a conversation with no SYN
--   either way, anything but a reset; UDP succeeds when the other side answered at all. Only files in
--   which some conversation was answered count: a file that never shows an answer (a darknet, a
--   one-way tap) cannot tell failure from not seeing the answer, so its sources are not judged;
--   Zeek-style records: conn_state S0, REJ, RSTOS0, SH fail; SF, S1, S2, S3, RSTO (established, then
--   reset by the originator, which is also how Zeek writes a half-open scan of an open port: the SYN-ACK
--   came), RSTR succeed; OTH, RSTRH, SHR (no SYN from the originator seen) are not judged;
--   biflow records (CICFlowMeter: one record holds both sides' OR-ed flags): a TCP record with a SYN
--   fails with no ACK in it (nothing came back) or with at most two packets (SYN and a reset), and
--   succeeds with an ACK and three packets or more (a SYN-ACK came back: the source's ACK or RST
--   followed it); records without a SYN and UDP biflows are not judged (the sides cannot be told apart);
--   firewall drops, sensor and honeypot records carry no outcome: their sources are not judged.
WITH ev AS (
    SELECT * FROM events WHERE event_date = $day AND src_ip IS NOT NULL AND dst_ip IS NOT NULL
), conversations AS (
    SELECT
        source_file, source_kind, src_ip, dst_ip, src_port, dst_port, proto,
        min(ts) AS first_ts,
        bool_or(contains(coalesce(tcp_flags, ''), 'S')) AS sent_syn_bit,
        bool_or(contains(coalesce(tcp_flags, ''), 'S') AND contains(coalesce(tcp_flags, ''), 'A')) AS sent_synack,
        bool_or(NOT contains(coalesce(tcp_flags, ''), 'R')) AS sent_live
    FROM ev
    WHERE conn_state IS NULL AND source_kind IN ('pcap', 'flow') AND source_format <> 'cicflowmeter'
      AND proto IN ('tcp', 'udp') AND src_port IS NOT NULL AND dst_port IS NOT NULL
    GROUP BY ALL
), paired AS (
    SELECT
        c.*,
        r.src_ip IS NOT NULL AS answered,
        (r.src_ip IS NULL OR r.first_ts > c.first_ts OR (r.first_ts = c.first_ts AND c.dst_port <= c.src_port)) AS opened,
        CASE
            WHEN c.proto = 'udp' THEN r.src_ip IS NULL
            WHEN r.src_ip IS NULL THEN true
            WHEN c.sent_syn_bit OR r.sent_syn_bit THEN NOT r.sent_synack
            ELSE NOT r.sent_live
        END AS failed
    FROM conversations AS c
    LEFT JOIN conversations AS r
      ON r.source_file = c.source_file AND r.src_ip = c.dst_ip AND r.dst_ip = c.src_ip
     AND r.src_port = c.dst_port AND r.dst_port = c.src_port AND r.proto = c.proto
), two_way_files AS (
    SELECT source_file FROM paired GROUP BY source_file HAVING bool_or(answered)
), contacts AS (
    SELECT src_ip, dst_ip, first_ts AS ts, proto, dst_port, failed, source_kind
    FROM paired
    WHERE opened AND source_file IN (SELECT source_file FROM two_way_files)
      -- an unmatched datagram from a service port to a high port is an answer whose query was not recorded
      AND NOT (proto = 'udp' AND NOT answered AND src_port < 1024 AND dst_port >= 1024)
    UNION ALL
    SELECT src_ip, dst_ip, ts, proto, dst_port, conn_state IN ('S0', 'REJ', 'RSTOS0', 'SH') AS failed, source_kind
    FROM ev
    WHERE conn_state IN ('S0', 'REJ', 'RSTOS0', 'SH', 'SF', 'S1', 'S2', 'S3', 'RSTO', 'RSTR')
    UNION ALL
    SELECT src_ip, dst_ip, ts, proto, dst_port,
           NOT contains(tcp_flags, 'A') OR coalesce(packets, 0) <= 2 AS failed, source_kind
    FROM ev
    WHERE conn_state IS NULL AND source_format = 'cicflowmeter' AND proto = 'tcp' AND contains(tcp_flags, 'S')
), first_contacts AS (
    -- the paper's first contact: the earliest attempt of the source to each distinct host
    SELECT * FROM contacts
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
