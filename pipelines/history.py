"""`source_history`: one row per source over every day in the lake, rebuilt from scratch by each run.

A full recomputation from the lake's per-day partitions, so a rerun or any backfill order gives
the same rows. `pipelines/run.py` makes two calls: `publish_day` builds `source_tags` and
`source_history` in the warehouse being built; `export_published` writes the day's exports from
the warehouse file once it is published, so a day that is not published (critical DQ failure, or
a crash before the swap) never leaves exports behind.
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import date
from pathlib import Path

import duckdb

from pipelines import tags
from pipelines.allow import allowed_table, read_allow_file
from pipelines.layout import layout
from pipelines.settings import Settings
from pipelines.sqlfiles import read_sql
from pipelines.warehouse import apply_comments, sql_header_comments

log = logging.getLogger(__name__)

SOURCE_HISTORY_SQL = "history/source_history"


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
    """Build the history tables in the warehouse being built (exports wait for the publish)."""
    return {"history": build_history(con, settings)}


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
