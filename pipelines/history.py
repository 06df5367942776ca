"""The `history` layer: `source_tags` and `source_history`, rebuilt over every day by each run, and the day's exports.

Both are catalog tables (`sql/history/<table>.sql`: typed header, key, checks) built in the
warehouse being built, after the organizations and before the marts and the checks, from every
day's rows loaded there; they read detectors only through `findings`, so a new detector shows up
in them with no edit. A full recomputation, so a rerun or any backfill order gives the same rows.
`export_published` writes the day's exports from the warehouse file once it is published, so a
day that is not published (critical DQ failure, or a crash before the swap) never leaves exports.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines import catalog
from pipelines.allow import allowed_table, read_allow_file
from pipelines.layout import layout
from pipelines.settings import Settings

log = logging.getLogger(__name__)


def register_allowed(con: duckdb.DuckDBPyConnection, settings: Settings, name: str = "history_allowed") -> None:
    """Register `(ip, is_allow_listed)` for every source of `source_risk` under `name`."""
    ips = [r[0] for r in con.execute("SELECT DISTINCT src_ip FROM source_risk WHERE src_ip IS NOT NULL").fetchall()]
    con.register(name, allowed_table(ips, read_allow_file(settings.site.allow)))


def source_history(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> pa.Table:
    """The rows of `source_history` from every day's tables in `con` (`day` does not narrow them)."""
    register_allowed(con, settings)
    try:
        return con.execute(catalog.table("source_history").sql).fetch_arrow_table()
    finally:
        con.unregister("history_allowed")


def build_history(
    con: duckdb.DuckDBPyConnection,
    day: date,
    settings: Settings,
    step: Callable[[str], object] | None = None,
) -> dict[str, int]:
    """Create every table of the catalog's `history` layer in `con`, in catalog order; returns rows per table.

    `step(name)`, when given, is a context manager entered around each table (the run's stopwatch).
    """
    counts = {}
    for entry in catalog.tables("history"):
        with step(entry.name) if step is not None else nullcontext():
            rows = catalog.builder(entry.name)(con, day, settings)
            con.register(f"{entry.name}_rows", rows)
            con.execute(f'CREATE OR REPLACE TABLE "{entry.name}" AS SELECT * FROM "{entry.name}_rows"')
            con.unregister(f"{entry.name}_rows")
        counts[entry.name] = rows.num_rows
    return counts


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
