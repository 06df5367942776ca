-- table: Sums that must agree across layers: each mart total beside the count of the detail rows it summarizes (checks only, not stored).
-- kind: check
-- grain: one row per agreement rule for $day
-- column check_name VARCHAR: The rule, in words.
-- column mart HUGEINT: The mart's total for the day.
-- column detail BIGINT: The count of the detail rows for the day.
-- check critical: ExpectColumnPairValuesToBeEqual(column_A="mart", column_B="detail")
SELECT 'daily_summary.events = count(events)' AS check_name,
       (SELECT coalesce(sum(events), 0) FROM daily_summary WHERE event_date = $day) AS mart,
       (SELECT count(*) FROM events WHERE event_date = $day) AS detail
UNION ALL
SELECT 'daily_summary.sources = count(source_risk)',
       (SELECT coalesce(sum(sources), 0) FROM daily_summary WHERE event_date = $day),
       (SELECT count(*) FROM source_risk WHERE event_date = $day)
UNION ALL
SELECT 'sum(hourly_abnormal.events) = count(events)',
       (SELECT coalesce(sum(events), 0) FROM hourly_abnormal WHERE event_date = $day),
       (SELECT count(*) FROM events WHERE event_date = $day)
