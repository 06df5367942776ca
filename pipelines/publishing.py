"""What publishing a day writes, so that a day costs what the day holds (issue 27).

The published `scansense.duckdb` holds views over the lake's Parquet files for every table the lake
stores (`warehouse.lake_relation`) and, as a table, only `source_history`, the one table with a row
per source over every day. The day's steps (`pipelines.steps`) have already stored its partitions,
organizations, tags and history state included; publish is then load, marts, checks, comments, swap:

1. `day_views`: the day's partitions as views;
2. `day_marts`: `source_history` as of the day (from its state) and the marts, built from the day
   alone; the quality gates read that day only;
3. `publish_views`: a fresh, small file of views over every day's files, `source_history` from the
   latest day's state; `run.stage_publish` stores the marts and swaps the file in when the gates pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date

import duckdb
import pyarrow as pa

from pipelines import catalog, duck, history
from pipelines import warehouse as wh
from pipelines.layout import layout
from pipelines.settings import Settings

# The lake's per-day tables a day's marts, history and checks read.
DAY_LAYERS = ("raw", "staging", "detect", "score", "orgs", "history")


def day_views(con: duckdb.DuckDBPyConnection, settings: Settings, day: date) -> None:
    """Views over the lake files of `day` for every table its steps store (tables kept whole: geo_ip, the registry)."""
    for entry in catalog.tables(*DAY_LAYERS):
        if entry.built_at == "publish":
            continue
        wh.lake_relation(con, settings.warehouse, entry.name, entry.schema, days=[day])


def day_marts(
    con: duckdb.DuckDBPyConnection,
    day: date,
    settings: Settings,
    step: Callable[[str], AbstractContextManager] | None = None,
) -> dict[str, pa.Table]:
    """Build in `con` the tables publish makes for the day whose views it holds; returns the marts' rows by lake table.

    `source_history` as of the day (from its state) and the marts stay in `con` (what the quality
    gates read); nothing is written: `store_parts` stores the marts once the gates pass. `step(name)`,
    when given, is entered around each (the run's stopwatch).
    """
    step = step or (lambda name: nullcontext())
    for entry in catalog.tables():
        if entry.built_at == "publish":
            with step(entry.name):
                history.create_table(con, entry.name, catalog.builder(entry.name)(con, day, settings))
    with step("marts"):
        wh.build_marts(con, {"tz": settings.site.timezone})
        return wh.day_marts(con, day)


def store_parts(parts: dict[str, pa.Table], day: date, settings: Settings) -> None:
    """Write a day's parts as its lake partitions (each replaced whole, atomically)."""
    for table, rows in parts.items():
        wh.write_day_partition(settings.warehouse, table, day, rows)


@contextmanager
def day_connection(day: date, settings: Settings) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, pa.Table]]]:
    """An in-memory connection holding `day` alone as a build does (views, history, marts), and its marts' rows."""
    con = duck.connect(settings)
    try:
        day_views(con, settings, day)
        yield con, day_marts(con, day, settings)
    finally:
        con.close()


def check_day(day: date, settings: Settings) -> tuple[list, dict[str, pa.Table]]:
    """The quality results of a day built alone (a later day a refresh rewrote) and its marts' rows."""
    from pipelines import quality

    with day_connection(day, settings) as (con, parts):
        return quality.run_checks(con, day, settings, docs_dir=layout(settings.warehouse).dq), parts


def publish_views(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[str]:
    """Turn `con` into the published shape: views over the lake, `source_history` from the latest state.

    Returns the files the views read (closed months and weeks as one file each, `lake_blocks`), for
    `lake_blocks.prune` once the file is swapped in.
    """
    warehouse = settings.warehouse
    files: list[str] = []
    for entry in catalog.tables():
        if entry.built_at != "publish":
            files += wh.lake_relation(con, warehouse, entry.name, entry.schema)
    state = history.latest_state(warehouse)
    history.create_table(con, "source_history", history.history_rows(con, state, settings))
    return files


def rejected_views(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Complete a rejected build (the day's tables, as checked) with the checks' results, for its report."""
    wh.lake_relation(con, settings.warehouse, "dq_results", catalog.table("dq_results").schema)
