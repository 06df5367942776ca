"""Scan detectors: the dynamic threshold (paper 000), entropy windows and the persistent incremental
model (paper 002), the port-ratio baseline and coordinated (distributed) scans (Gates 2009). Each takes a DuckDB connection holding `events`
(the day's events) and returns a pyarrow table; the probe definition they share is `sql/detect/probes.sql`.
Each output table is documented by its file in `sql/detect/` (see `pipelines.catalog`).
"""

from __future__ import annotations

import duckdb

from pipelines.sqlfiles import read_sql


def ensure_probes(con: duckdb.DuckDBPyConnection) -> None:
    """Create the `probes` view (the shared definition of what counts as a probe) over `events`."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW probes AS {read_sql('detect/probes')}")
