-- The analysts' lock-down for the DuckDB CLI, from the project folder (README "Opening the warehouse"):
--   .venv/bin/duckdb -readonly -init deploy/duckdb_analyst.sql warehouse/scansense.duckdb
-- The published tables are views over the lake's Parquet files (issue 27), so DuckDB's `-safe`
-- (no file access at all) cannot read them: only the lake is allowed, then file access and the
-- configuration are locked. DuckDB would still let COPY write inside the lake folder: SQL from
-- others goes through `scansense query`, which runs SELECT statements only.
SET allowed_directories = ['warehouse/lake/'];
SET enable_external_access = false;
SET lock_configuration = true;
