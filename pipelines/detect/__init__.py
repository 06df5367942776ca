"""Scan detectors: the dynamic threshold (paper 000), entropy windows and the persistent incremental
model (paper 002), the port-ratio baseline and coordinated (distributed) scans (Gates 2009). Each takes a DuckDB connection holding `events`
(the day's events) and returns a pyarrow table; the probe definition they share is `sql/detect/probes.sql`.

`COMMENTS[table]` maps each output column to its comment and `TABLE_COMMENTS[table]` describes the
table; both come from the header blocks of the tables' SQL files.
"""

from __future__ import annotations

import duckdb

from pipelines.sqlfiles import read_sql
from pipelines.warehouse import sql_header_comments

OUTPUT_TABLES = ("scan_fast", "window_entropy", "scan_slow", "port_ratio", "scan_distributed")


def ensure_probes(con: duckdb.DuckDBPyConnection) -> None:
    """Create the `probes` view (the shared definition of what counts as a probe) over `events`."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW probes AS {read_sql('detect/probes')}")


def _header(name: str) -> tuple[str, dict[str, str]]:
    table, columns = sql_header_comments(read_sql(f"detect/{name}"))
    return table or name, columns


TABLE_COMMENTS: dict[str, str] = {name: _header(name)[0] for name in OUTPUT_TABLES}
COMMENTS: dict[str, dict[str, str]] = {name: _header(name)[1] for name in OUTPUT_TABLES}
