"""What publishing a day writes, so that a day costs what the day holds (issue 27).

The published `scansense.duckdb` holds views over the lake's Parquet files for every table the lake
stores (`warehouse.lake_relation`) and, as a table, only `source_history`, the one table with a row
per source over every day. A day's publish therefore:

1. clusters the organizations of its window (`[orgs] window_days`) into `scanner_orgs/date=<day>/`,
   ids kept from the day before (`pipelines.orgs.window`);
2. builds, from the day's partitions alone, its `source_tags`, its history state (and from it
   `source_history`) and its marts, each stored as the day's lake partition (`day_parts`); the
   quality gates then read that day only;
3. writes the views of a fresh, small file over every day's files, and `source_history` from the
   latest state (`publish_views`); `run.stage_publish` swaps the file in when the gates pass.

A rerun or backfill of a day changes the history states of the days after it, and a warehouse
written before states existed has none for its days: `days_to_refold` names those days, whose
partitions are built again, each from its own day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import catalog, duck, history
from pipelines import warehouse as wh
from pipelines.layout import layout
from pipelines.orgs import window
from pipelines.settings import Settings

# The lake's per-day tables a day's marts, tags and history read.
DAY_LAYERS = ("raw", "staging", "detect", "score")


def day_views(con: duckdb.DuckDBPyConnection, settings: Settings, days: list[date]) -> None:
    """Views over the lake files of `days` for every per-day table (tables kept whole: geo_ip, the registry)."""
    for entry in catalog.tables(*DAY_LAYERS):
        wh.lake_relation(con, settings.warehouse, entry.name, entry.schema, days=days)


def cluster_orgs(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> pa.Table:
    """The organizations of the window ending `day`, ids kept from the day before (stored by `store_parts`)."""
    from pipelines import orgs

    days = window.window(day, settings.orgs.window_days)
    wh.lake_relation(con, settings.warehouse, "events", catalog.table("events").schema, days=days)
    wh.lake_relation(con, settings.warehouse, "geo_ip", catalog.table("geo_ip").schema)
    return window.stable_ids(orgs.scanner_orgs(con, settings), window.previous(settings.warehouse, day))


def refresh_later_orgs(day: date, settings: Settings) -> list[date]:
    """After `day` is stored, bring the organizations of the days after it up to date; returns those days.

    A backfill changes the window of the next `window_days - 1` days: they are clustered again. The
    days after those keep their clusters, but their ids follow the earlier days' (renumbered), so the
    organizations are the same whatever order the days ran in. A run of the latest day has none.
    """
    warehouse = settings.warehouse
    later = [d for d in wh.lake_days(warehouse, window.TABLE) if d > day]
    reach = day + timedelta(days=max(1, settings.orgs.window_days))
    for other in later:
        if other < reach:
            con = duck.connect(settings)
            try:
                rows = cluster_orgs(con, other, settings)
            finally:
                con.close()
        else:
            rows = window.stable_ids(
                pq.read_table(wh.lake_files(warehouse, window.TABLE, other)), window.previous(warehouse, other)
            )
        wh.write_day_partition(warehouse, window.TABLE, other, rows)
    return later


def day_parts(
    con: duckdb.DuckDBPyConnection,
    day: date,
    settings: Settings,
    step: Callable[[str], AbstractContextManager] | None = None,
) -> dict[str, pa.Table]:
    """The history layer and the marts of the day whose views `con` holds, by lake table.

    They stay in `con` as tables of that day (what the quality gates read), `source_history` folded
    over the days before; nothing is written: `store_parts` stores them once the gates pass, so a
    rejected day leaves the published views as they were. `step(name)`, when given, is entered
    around each table of the history layer and around the marts (the run's stopwatch).
    """
    step = step or (lambda name: nullcontext())
    parts = {}
    for entry in catalog.tables("history"):
        with step(entry.name):
            if entry.name == "source_history":
                parts[history.STATE_TABLE] = state = history.fold_day(con, day, settings)
                rows = history.history_rows(con, state, settings)  # published whole by `publish_views`
            else:
                rows = parts[entry.name] = catalog.builder(entry.name)(con, day, settings)
            history.create_table(con, entry.name, rows)
    with step("marts"):
        wh.build_marts(con, {"tz": settings.site.timezone})
        return parts | wh.day_marts(con, day)


def store_parts(parts: dict[str, pa.Table], day: date, settings: Settings) -> None:
    """Write a day's parts as its lake partitions (each replaced whole, atomically)."""
    for table, rows in parts.items():
        wh.write_day_partition(settings.warehouse, table, day, rows)


def days_to_refold(day: date, settings: Settings) -> tuple[list[date], list[date]]:
    """(earlier days without a history state, later days with one): built again around a run of `day`.

    Earlier days lack a state only in a warehouse written before states existed (once); later
    days have one when `day` is a rerun or a backfill, and their states include `day`'s.
    """
    warehouse = settings.warehouse
    folded = set(wh.lake_days(warehouse, history.STATE_TABLE))
    earlier = [d for d in wh.lake_days(warehouse, "source_risk") if d < day and d not in folded]
    later = sorted(d for d in folded if d > day)
    return earlier, later


@contextmanager
def day_connection(day: date, settings: Settings) -> Iterator[tuple[duckdb.DuckDBPyConnection, dict[str, pa.Table]]]:
    """An in-memory connection holding `day` alone as a build does (views, organizations, history, marts), and its parts."""
    con = duck.connect(settings)
    try:
        day_views(con, settings, [day])
        orgs = wh.lake_files(settings.warehouse, window.TABLE, day)
        empty = catalog.table(window.TABLE).schema.empty_table()
        history.create_table(con, window.TABLE, pq.read_table(orgs) if orgs else empty)
        yield con, day_parts(con, day, settings)
    finally:
        con.close()


def rebuild_day(day: date, settings: Settings) -> None:
    """Build a day's tags, history state and marts again from its own partitions, and store them."""
    with day_connection(day, settings) as (_, parts):
        store_parts(parts, day, settings)


def check_day(day: date, settings: Settings) -> list:
    """Run the quality checks of a day built alone (a later day a refresh rewrote); returns the results."""
    from pipelines import quality

    with day_connection(day, settings) as (con, _):
        return quality.run_checks(con, day, settings, docs_dir=layout(settings.warehouse).dq)


def publish_views(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Turn `con` into the published shape: views over every lake file, `source_history` from the latest state."""
    warehouse = settings.warehouse
    for entry in catalog.tables():
        if entry.name == window.TABLE:
            _orgs_view(con, settings)
        elif entry.name != "source_history":
            wh.lake_relation(con, warehouse, entry.name, entry.schema)
    history.create_table(con, "source_history", history.history_rows(con, history.latest_state(warehouse), settings))


def rejected_views(con: duckdb.DuckDBPyConnection, parts: dict[str, pa.Table], settings: Settings) -> None:
    """Complete a rejected build (the day's tables, as checked) with the checks' results, for its report."""
    wh.lake_relation(con, settings.warehouse, "dq_results", catalog.table("dq_results").schema)


def _orgs_view(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """View `scanner_orgs` over the latest day's organizations (an empty table before the first)."""
    files = window.latest_file(settings.warehouse)
    wh.drop_relation(con, window.TABLE)
    if not files:
        empty = catalog.table(window.TABLE).schema.empty_table()  # noqa: F841  (scanned by DuckDB by name)
        con.execute(f'CREATE TABLE "{window.TABLE}" AS SELECT * FROM empty')
        return
    listed = ", ".join("'" + str(Path(f).resolve()).replace("'", "''") + "'" for f in files)
    con.execute(f'CREATE VIEW "{window.TABLE}" AS SELECT * FROM read_parquet([{listed}], hive_partitioning = false)')
