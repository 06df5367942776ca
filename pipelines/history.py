"""The `history` layer: `source_tags`, `source_history_state` (steps of the day) and `source_history`, and the exports.

Every table reads detectors only through `findings`, so a new detector shows up in them with no
edit. A day's `source_tags` come from its own events and findings. `source_history` has a row per
source over every day; rebuilding it from every day made each day of history cost more (issue 27),
so the day's step stores its *state* (`source_history_state`: what the day adds, distinct ports and
hosts as lists, merged into the day before's state) and publish builds `source_history` from the
latest day's state with the latest organizations and today's allow-list. A rerun or backfill folds
the later days again (`pipelines.refresh`), so any order of days gives the rows of one state taken
over every day at once, the rebuild from scratch that tests compare with.
`export_published` writes the day's exports from the warehouse file once it is published, so a day
that is not published (critical DQ failure, or a crash before the swap) never leaves exports.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines import catalog
from pipelines import warehouse as wh
from pipelines.allow import allowed_table, read_allow_file
from pipelines.layout import layout
from pipelines.settings import Settings

log = logging.getLogger(__name__)

STATE_TABLE = "source_history_state"  # lake table of the per-day states (`source_history_state/date=<day>/`)
ALL_SOURCES = {"buckets": 1, "bucket": 0}  # the state's SQL over every source, in one bucket


def day_state(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """What the days loaded in `con` add to the history (events, source_risk, findings, source_tags), as a state."""
    from pipelines.duck import install_bucket_macro

    install_bucket_macro(con)
    return con.execute(catalog.table(STATE_TABLE).sql, ALL_SOURCES).to_arrow_table()


def state_before(warehouse: Path, day: date) -> list[str]:
    """The files of the stored state of the latest day before `day`; none when there is none."""
    earlier = [d for d in wh.lake_days(warehouse, STATE_TABLE) if d < day]
    return [str(f) for f in wh.lake_files(warehouse, STATE_TABLE, earlier[-1])] if earlier else []


def latest_state(warehouse: Path) -> str | None:
    """A query of the state of the latest day stored (every day folded), None before the first."""
    days = wh.lake_days(warehouse, STATE_TABLE)
    if not days:
        return None
    files = ", ".join(wh.sql_string(str(f)) for f in wh.lake_files(warehouse, STATE_TABLE, days[-1]))
    return f"SELECT * FROM read_parquet([{files}])"


def store_missing_states(day: date, settings: Settings) -> list[date]:
    """Run the tags and state steps of analyzed days before `day` that have no stored state, in order; returns them.

    Only a warehouse written before states existed has such days (once): its history would
    otherwise start at the first day with a state.
    """
    from pipelines import steps

    warehouse = settings.warehouse
    stored = set(wh.lake_days(warehouse, STATE_TABLE))
    missing = [d for d in wh.lake_days(warehouse, "source_risk") if d < day and d not in stored]
    for other in missing:
        for name in ("source_tags", STATE_TABLE):
            steps.run_step(steps.step(name), other, settings)
    return missing


# DuckDB memory one event takes while a day's state lists each source's distinct ports and hosts: a
# bucket of sources holds about memory_limit / STATE_ROW_BYTES events (pipelines.duck.bucket_count).
# In one query, the 50 M-event day's state ran out of memory under 2 GB (docs/SCALING.md).
STATE_ROW_BYTES = 200
MERGE_BYTES_PER_BYTE = 3


def source_history_state(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> duckdb.DuckDBPyRelation:
    """The day's `source_history_state`: what the day loaded in `con` adds, merged into the day before's state.

    Built bucket by bucket of sources into a staged table, merged with the stored state of the day
    before where it lies, and returned as a relation the step streams to the lake.
    """
    from pipelines.duck import bucket_count, stage_in_buckets

    store_missing_states(day, settings)
    entry = catalog.table(STATE_TABLE)
    events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    columns = [(c.name, c.type) for c in entry.columns if c.name != "event_date"]
    buckets = bucket_count(con, events, STATE_ROW_BYTES)
    staged = stage_in_buckets(con, f"{STATE_TABLE}_day", entry.sql, columns, buckets, {})
    before = state_before(settings.warehouse, day)
    if before:
        # The merge joins two states with their lists: in buckets too, as many as the larger side needs
        # (the state before: its Parquet files' uncompressed size, thrice, as the join's share of memory).
        size = con.execute("SELECT sum(total_uncompressed_size) FROM parquet_metadata($f)", {"f": before}).fetchone()
        buckets = max(buckets, bucket_count(con, int(size[0] or 0), MERGE_BYTES_PER_BYTE))
        bucket = "source_bucket(src_ip, $buckets) = $bucket::UBIGINT"
        sql = (
            f"WITH history_before AS (SELECT * FROM read_parquet($before) WHERE {bucket}),"
            f" history_day AS (SELECT * FROM {staged} WHERE {bucket}) " + catalog.table("source_history_merge").sql
        )
        staged = stage_in_buckets(con, STATE_TABLE, sql, columns, buckets, {"before": before})
    # Not ordered: sorting rows that carry a scanner's every host needs blocks past a 400 MB limit.
    return con.sql(f"SELECT DATE '{day.isoformat()}' AS event_date, * FROM {staged}")


def history_rows(con: duckdb.DuckDBPyConnection, state: str | None, settings: Settings) -> duckdb.DuckDBPyRelation:
    """The rows of `source_history` from `state`, a query of a folded state's rows, and `con`'s `scanner_orgs`.

    In DuckDB, not Arrow: the state lists every host and port each source reached, and read whole
    into Arrow the 50 M-event day's took publish to 3.6 GB (docs/SCALING.md); the rows need only
    the lists' lengths. The relation reads the temporary view `history_state` and the registered
    `history_allowed` this leaves in `con`.
    """
    if state is None:  # a warehouse whose days have no sources yet
        typed = ", ".join(f"NULL::{c.type} AS {c.name}" for c in catalog.table(STATE_TABLE).columns)
        state = f"SELECT {typed} WHERE false"
    con.execute(f"CREATE OR REPLACE TEMP VIEW history_state AS {state}")
    networks = read_allow_file(settings.site.allow)
    ips = con.execute("SELECT src_ip FROM history_state WHERE first_date IS NOT NULL").fetchall() if networks else []
    con.register("history_allowed", allowed_table((ip for (ip,) in ips), networks))  # none listed: every flag false
    return con.sql(catalog.table("source_history").sql)


def source_history(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> duckdb.DuckDBPyRelation:
    """The rows of `source_history` as of `day`, from `day`'s `source_history_state` and `scanner_orgs` in `con`."""
    return history_rows(
        con, f"SELECT * FROM source_history_state WHERE event_date = DATE '{day.isoformat()}'", settings
    )


def create_table(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table | duckdb.DuckDBPyRelation) -> None:
    """Create (or replace) table `name` in `con` from Arrow rows or a relation of `con`, with its catalog comments."""
    wh.drop_relation(con, name)
    if isinstance(rows, duckdb.DuckDBPyRelation):
        rows.create(name)
    else:
        con.register(f"{name}_rows", rows)
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM "{name}_rows"')
        con.unregister(f"{name}_rows")
    entry = catalog.table(name)
    wh.apply_comments(con, name, entry.comment, entry.column_comments)


WITHDRAWN = ".{day}.withdrawn"  # a day's exports moved aside; write_exports clears `.<day>.*` before writing


def exported_days(day: date, settings: Settings) -> list[date]:
    """`day` and the later days within slow.lookback_days whose exports exist or were withdrawn: those a publish rewrites."""
    exports = layout(settings).exports
    days = [date.fromordinal(day.toordinal() + k) for k in range(settings.slow.lookback_days)]
    return [d for d in days if (exports / d.isoformat()).is_dir() or (exports / WITHDRAWN.format(day=d)).is_dir()]


def withdraw_exports(day: date, settings: Settings) -> list[tuple[Path, Path]]:
    """Move aside, before the swap, the exports the new warehouse replaces: `day`'s and the later days' it rewrites.

    A run killed between the swap and `export_published` then leaves those days without exports
    (which a rerun or `scansense export` writes), never with the previous warehouse's, which would
    disagree with the published one. Returns the (withdrawn, original) pairs, for `restore_exports`.
    """
    exports = layout(settings).exports
    moved = []
    for d in exported_days(day, settings):
        folder, aside = exports / d.isoformat(), exports / WITHDRAWN.format(day=d)
        if folder.is_dir():
            shutil.rmtree(aside, ignore_errors=True)
            os.replace(folder, aside)
            moved.append((aside, folder))
    return moved


def restore_exports(moved: list[tuple[Path, Path]]) -> None:
    """Put withdrawn exports back when the swap did not happen (the previous warehouse is still the published one)."""
    for aside, folder in moved:
        if aside.is_dir() and not folder.exists():
            os.replace(aside, folder)


def export_published(published: Path, day: date, settings: Settings) -> Path | None:
    """Write `day`'s exports from the published warehouse file; None when no format is set.

    Read from the file that was swapped in, never from the build: the exports hold exactly what the
    warehouse publishes. A crash after the swap and before this leaves the day without exports (never
    with wrong ones); rerunning the day or `scansense export` writes them.
    """
    from pipelines.export import write_exports

    if not settings.export.formats:
        return None
    con = duckdb.connect(str(published), read_only=True)
    try:
        # A day run after later ones (a backfill in reverse) changes their slow scans across days
        # (scan_slow_span reads slow.lookback_days): their published (or withdrawn) exports are written again.
        later = [d for d in exported_days(day, settings) if d != day]
        folder = write_exports(con, day, settings, settings.export.formats)
        for other in later:
            write_exports(con, other, settings, settings.export.formats)
    finally:
        con.close()
    log.info("exports of %s written to %s", day, folder)
    return folder
