"""DuckDB connections of a run: each bounded by `scale.memory_limit`, spilling to the warehouse's `.spill` folder.

A day of tens of millions of events outgrows memory in joins and sorts; DuckDB then writes to its
temporary folder instead of growing, so one process stays under the limit whatever the day's size.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.layout import layout
from pipelines.settings import Settings


def connect(settings: Settings, database: str | Path = ":memory:") -> duckdb.DuckDBPyConnection:
    """A read-write connection to `database` (default in memory) with the run's memory limit and spill folder."""
    config: dict[str, object] = {}
    if settings.scale.memory_limit:
        spill = layout(settings).spill
        spill.mkdir(parents=True, exist_ok=True)
        config |= {"memory_limit": settings.scale.memory_limit, "temp_directory": str(spill)}
    con = duckdb.connect(str(database), config=config)
    # DuckDB draws its own progress bar on stdout for queries over 2 s, even into a pipe: the run's
    # machine output (`--json`) must stay the summary alone (pipelines/progress.py draws ours).
    con.execute("SET enable_progress_bar = false")
    return con
