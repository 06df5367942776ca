-- table: bucket_macros (intermediate of sharded steps and of builders that work bucket by bucket of sources): which of n buckets an address falls in, as a macro.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- The one hash split of sources, installed by pipelines/duck.py:install_bucket_macro wherever rows are
-- split by address: the shards of a sharded step (pipelines/steps.py) and the buckets of sources that
-- source_features_day and source_history_state are built in (pipelines/duck.py:stage_in_buckets).
-- Temporary: it lives in the connection, never in the file.
-- source_bucket(ip, n): 0..n-1 from DuckDB's hash of the address; a row without an address is in 0.
-- Always a UBIGINT: callers compare it with `$bucket::UBIGINT`; against an uncast INTEGER parameter both
-- sides became HUGEINT and the filter took 12.9 s instead of 0.45-1.1 s on 10 M events.
CREATE OR REPLACE TEMP MACRO source_bucket(ip, n) AS
    CASE WHEN ip IS NULL THEN 0::UBIGINT ELSE hash(ip) % n::UBIGINT END;
