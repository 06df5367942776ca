"""`source_history`: one row per source over every day in the lake, folded day by day.

Rebuilding it from every day of the lake made each day of history cost more (issue 27). A day now
stores its state (`sql/history/source_history_state.sql`: per source, what the day adds, with
distinct ports and hosts as lists) merged into the previous day's, as the lake partition
`source_history/date=<day>/`; the published table is the latest state with today's organizations
and allow-list (`source_history_publish.sql`). A rerun or backfill merges from the state of the
day before it and folds the later days again (`pipelines/publishing.py`), so any order gives the
rows of `source_history.sql`, the rebuild from scratch that `build_history` still runs and tests
compare with. `export_published` writes the day's exports from the warehouse file once it is
published, so a day that is not published (critical DQ failure, or a crash before the swap) never
leaves exports behind.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import tags
from pipelines import warehouse as wh
from pipelines.allow import allowed_table, read_allow_file
from pipelines.layout import layout
from pipelines.settings import Settings
from pipelines.sqlfiles import read_sql
from pipelines.warehouse import apply_comments, sql_header_comments

log = logging.getLogger(__name__)

SOURCE_HISTORY_SQL = "history/source_history"
STATE_SQL = "history/source_history_state"
MERGE_SQL = "history/source_history_merge"
PUBLISH_SQL = "history/source_history_publish"
STATE_TABLE = "source_history"  # lake table of the per-day states (`source_history/date=<day>/`)


def register_allowed(con: duckdb.DuckDBPyConnection, settings: Settings, name: str = "history_allowed") -> None:
    """Register `(ip, is_allow_listed)` for every source of `source_risk` under `name`."""
    ips = [r[0] for r in con.execute("SELECT DISTINCT src_ip FROM source_risk WHERE src_ip IS NOT NULL").fetchall()]
    con.register(name, allowed_table(ips, read_allow_file(settings.site.allow)))


def build_history(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Create `source_tags` and `source_history` (with comments) in `con` from the tables loaded there."""
    con.register("source_tags_rows", tags.source_tags(con, settings.tags))
    con.execute("CREATE OR REPLACE TABLE source_tags AS SELECT * FROM source_tags_rows")
    con.unregister("source_tags_rows")
    apply_comments(con, "source_tags", *tags.comments())
    register_allowed(con, settings)
    stand_ins = tags.register_stand_ins(con)
    try:
        con.execute(f"CREATE OR REPLACE TABLE source_history AS {read_sql(SOURCE_HISTORY_SQL)}")
    finally:
        for name in [*stand_ins, "history_allowed"]:
            con.unregister(name)
    table, columns = sql_header_comments(read_sql(SOURCE_HISTORY_SQL))
    apply_comments(con, "source_history", table or "source_history", columns)
    counts = con.execute("SELECT (SELECT count(*) FROM source_tags), (SELECT count(*) FROM source_history)").fetchone()
    return {"source_tags": int(counts[0]), "source_history": int(counts[1])}


def publish_day(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> dict[str, object]:
    """Build the history tables in `con` from every day loaded there, from scratch (exports wait for the publish)."""
    return {"history": build_history(con, settings)}


def day_tags(con: duckdb.DuckDBPyConnection, settings: Settings) -> pa.Table:
    """Tag the sources of the day loaded in `con` (the day's `source_tags` partition)."""
    return tags.source_tags(con, settings.tags)


def day_state(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The history state of the days loaded in `con` (events, source_risk, detectors, source_tags)."""
    stand_ins = tags.register_stand_ins(con)
    try:
        return con.execute(read_sql(STATE_SQL)).to_arrow_table()
    finally:
        for name in stand_ins:
            con.unregister(name)


def state_before(warehouse: Path, day: date) -> pa.Table | None:
    """The stored state of the latest day before `day`, None when there is none."""
    earlier = [d for d in wh.lake_days(warehouse, STATE_TABLE) if d < day]
    if not earlier:
        return None
    return pq.read_table(wh.lake_files(warehouse, STATE_TABLE, earlier[-1]))


def merge_states(before: pa.Table | None, day_rows: pa.Table) -> pa.Table:
    """The state of the days of `before` and of `day_rows` together (every day of `before` is earlier)."""
    if before is None:
        return day_rows
    con = duckdb.connect()
    try:
        con.register("history_before", before)
        con.register("history_day", day_rows)
        return con.execute(read_sql(MERGE_SQL)).to_arrow_table()
    finally:
        con.close()


def fold_day(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> pa.Table:
    """The state of the day loaded in `con` merged into the previous day's (the day's `source_history` partition)."""
    return merge_states(state_before(settings.warehouse, day), day_state(con))


def latest_state(warehouse: Path) -> pa.Table | None:
    """The state of the latest day stored (every day folded), None before the first."""
    days = wh.lake_days(warehouse, STATE_TABLE)
    return pq.read_table(wh.lake_files(warehouse, STATE_TABLE, days[-1])) if days else None


def publish_history(con: duckdb.DuckDBPyConnection, state: pa.Table | None, settings: Settings) -> int:
    """Create table `source_history` (with comments) in `con` from a folded state and `con`'s scanner_orgs."""
    con.register("history_state", state if state is not None else _empty_state(con))
    ips = con.execute("SELECT src_ip FROM history_state WHERE first_date IS NOT NULL").to_arrow_table()
    con.register("history_allowed", allowed_table(ips.column(0).to_pylist(), read_allow_file(settings.site.allow)))
    try:
        wh.drop_relation(con, "source_history")
        con.execute(f"CREATE TABLE source_history AS {read_sql(PUBLISH_SQL)}")
    finally:
        con.unregister("history_state")
        con.unregister("history_allowed")
    table, columns = sql_header_comments(read_sql(PUBLISH_SQL))
    apply_comments(con, "source_history", table or "source_history", columns)
    return int(con.execute("SELECT count(*) FROM source_history").fetchone()[0])


def _empty_state(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """A state with no rows and the state's columns (a warehouse whose days have no sources yet)."""
    stand_ins = tags.register_stand_ins(con)
    try:
        return con.execute(f"SELECT * FROM ({read_sql(STATE_SQL)}) WHERE false").to_arrow_table()
    finally:
        for name in stand_ins:
            con.unregister(name)


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
        folder = write_exports(con, day, settings, settings.export.formats)
        # A day run after later ones (a backfill in reverse) changes their slow scans across days
        # (scan_slow_span reads slow.lookback_days): their published exports are written again.
        for later in range(1, settings.slow.lookback_days):
            other = date.fromordinal(day.toordinal() + later)
            if layout(settings).export_dir(other).is_dir():
                write_exports(con, other, settings, settings.export.formats)
    finally:
        con.close()
    log.info("exports of %s written to %s", day, folder)
    return folder
