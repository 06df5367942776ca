"""What publishing a day writes, so that a day costs what the day holds (issue 27).

The published `scansense.duckdb` holds views over the lake's Parquet files for every table the lake
stores (`warehouse.lake_relation`) and, as a table, only `source_history`, the one table with a row
per source over every day. A day's publish therefore:

1. clusters the organizations of its window (`[orgs] window_days`) into `scanner_orgs/date=<day>/`,
   ids kept from the day before (`pipelines.orgs.window`);
2. builds, from the day's partitions alone, its marts, its `source_tags` and its history state, each
   stored as the day's lake partition (`day_parts`); the quality gates then read that day only;
3. writes the views of a fresh, small file over every day's files, and `source_history` from the
   latest state (`publish_views`); `run.stage_publish` swaps the file in when the gates pass.

A rerun or backfill of a day changes the history states of the days after it, and a warehouse
written before states existed has none for its days: `days_to_refold` names those days, whose
partitions are built again, each from its own day.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import catalog, duck, history, tags
from pipelines import warehouse as wh
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


def day_parts(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> dict[str, pa.Table]:
    """Marts, source_tags and the history state of the day whose views `con` holds, by lake table.

    The marts and `source_tags` stay in `con` as tables of that day (what the quality gates read);
    nothing is written: `store_parts` stores them once the gates pass, so a rejected day leaves the
    published views as they were.
    """
    wh.build_marts(con, {"tz": settings.site.timezone})
    parts = {name: rows for name, rows in wh.day_marts(con, day).items()}
    rows = history.day_tags(con, settings)
    wh.drop_relation(con, "source_tags")
    con.register("source_tags_rows", rows)
    con.execute("CREATE TABLE source_tags AS SELECT * FROM source_tags_rows")
    con.unregister("source_tags_rows")
    parts["source_tags"] = rows
    parts[history.STATE_TABLE] = history.fold_day(con, day, settings)
    return parts


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


def rebuild_day(day: date, settings: Settings) -> None:
    """Build a day's marts, tags and history state again from its own partitions (in memory)."""
    con = duck.connect(settings)
    try:
        day_views(con, settings, [day])
        store_parts(day_parts(con, day, settings), day, settings)
    finally:
        con.close()


def publish_views(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Turn `con` into the published shape: views over every lake file, `source_history` from the latest state."""
    warehouse = settings.warehouse
    for entry in catalog.tables():
        if entry.name == window.TABLE:
            _orgs_view(con, settings)
        else:
            wh.lake_relation(con, warehouse, entry.name, entry.schema)
    if wh.lake_files(warehouse, "source_tags"):
        wh.lake_relation(con, warehouse, "source_tags", None)
    history.publish_history(con, history.latest_state(warehouse), settings)
    if wh.relation_kind(con, "source_tags"):
        wh.apply_comments(con, "source_tags", *tags.comments())


def rejected_views(con: duckdb.DuckDBPyConnection, parts: dict[str, pa.Table], settings: Settings) -> None:
    """Complete a rejected build (the day's views and marts) with its checks, organizations and history, for its report."""
    wh.lake_relation(con, settings.warehouse, "dq_results", catalog.table("dq_results").schema)
    wh.drop_relation(con, window.TABLE)
    con.register("rejected_orgs", parts[window.TABLE])
    con.execute(f'CREATE TABLE "{window.TABLE}" AS SELECT * FROM rejected_orgs')
    con.unregister("rejected_orgs")
    history.publish_history(con, parts[history.STATE_TABLE], settings)


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
