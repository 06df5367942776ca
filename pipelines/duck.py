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
    config = {}
    if settings.scale.memory_limit:
        spill = layout(settings).spill
        spill.mkdir(parents=True, exist_ok=True)
        config = {"memory_limit": settings.scale.memory_limit, "temp_directory": str(spill)}
    return duckdb.connect(str(database), config=config)
