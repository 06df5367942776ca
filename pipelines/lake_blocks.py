"""Closed months and weeks of a day-partitioned lake table read as one file each by the published views.

The published views list every file they read (`warehouse.lake_relation`); with one file per table
and day, a year was 16,000 files whose footers every publish and every analyst's query opened
(publish 2.5-2.9 s against 0.75 s on day 1, the example queries 0.55-0.68 s against 0.05 s;
docs/SCALING.md). Here the days of a table are grouped into blocks: a calendar month before the
month of the table's latest day, and, inside that month, its days 1-7, 8-14, 15-21 and 22-28 once
the latest day is past them. A closed block is read from one Parquet file under
`<lake>/.blocks/<table>/<block>/`, named by a digest of its day files' paths, sizes and times: a
rerun, a refresh or a backfill of any of its days changes the digest, so the next publish writes a
new file and the views never read stale or doubled rows. The day files stay where they are (the
steps read them); a block file is derived data, deleting `.blocks/` loses nothing. A year is then
at most 12 + 4 + 7 files per table, whatever the history.

A block file replaced by a newer one is removed one publish later (`prune`): an analyst who opened
the previous published file keeps reading until the next publish; a run killed between its swap
and its prune leaves the files for the next publish to remove.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

from pipelines.compact import write_union
from pipelines.layout import layout

WEEK = 7  # a block of the open month: days 1-7, 8-14, 15-21, 22-28 (29-31 stay days until the month closes)
BLOCKS = ".blocks"  # `Layout.lake_blocks`'s folder name, for tests and readers of a view's SQL


def blocks_dir(warehouse: Path) -> Path:
    """Folder of the block files (derived, under the lake so that they move with it)."""
    return layout(warehouse).lake_blocks


def block_of(day: date, latest: date) -> str | None:
    """Name of the closed block holding `day` when the table's latest day is `latest`, None while it is open.

    A month before `latest`'s month is closed; in `latest`'s month a week (days 1-7, ...) whose last
    day is before `latest` is. The latest day itself is never in a closed block.
    """
    if (day.year, day.month) < (latest.year, latest.month):
        return f"month={day:%Y-%m}"
    week = _week_of(day)
    if week is not None and date.fromisoformat(week[5:]) + timedelta(days=WEEK - 1) < latest:
        return week
    return None


def _day_of(path: str) -> date | None:
    """The day of a lake file from its `date=<day>` folder (a folder compacted on read keeps the name)."""
    # Plain strings, not pathlib: a year's view lists 18,000 day files (see `_digest`).
    for part in reversed(os.path.normpath(path).split(os.sep)[:-1]):
        if part.startswith("date="):
            try:
                return date.fromisoformat(part[5:])
            except ValueError:
                return None
    return None


def _digest(files: list[str], lake: Path) -> str:
    # os.stat and a prefix, not pathlib: at day 365 the three Path objects per file were 0.54 s of a
    # publish's 1.45 s of views (cProfile; docs/SCALING.md). The digests are the same.
    h = hashlib.sha256()
    root = os.path.join(os.path.normpath(lake), "")
    for f in files:
        st = os.stat(f)
        path = os.path.normpath(f)
        rel = path[len(root) :] if path.startswith(root) else f
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:24]


def view_files(warehouse: Path, table: str, files: list[str]) -> list[str]:
    """`files` of a lake table with those of each closed block (of two days or more) replaced by the block's file.

    Files outside a `date=` folder (tables kept whole) are returned as they are. A block's file is
    written here when missing (bounded memory: `compact.write_union`).
    """
    dated = [(f, _day_of(f)) for f in files]
    days = [d for _, d in dated if d is not None]
    if not days:
        return list(files)
    latest = max(days)
    kept: list[str] = []
    blocks: dict[str, list[str]] = {}
    for f, d in dated:
        name = None if d is None else block_of(d, latest)
        if name is None:
            kept.append(f)
        else:
            blocks.setdefault(name, []).append(f)
    for name, members in blocks.items():
        if len({_day_of(f) for f in members}) < 2:
            kept.extend(members)  # one day: its own files are as few
            continue
        members.sort()
        final = _block_path(warehouse, table, name, members)
        if not final.is_file():
            write_union([Path(f) for f in members], final)
        kept.append(str(final))
    return sorted(kept)


def _block_path(warehouse: Path, table: str, name: str, members: list[str]) -> Path:
    return blocks_dir(warehouse) / table / name / f"{_digest(members, layout(warehouse).lake)}.parquet"


def _week_of(day: date | None) -> str | None:
    """The week block name of `day` in its month (None for days 29-31, which no week holds)."""
    if day is None or day.day > 4 * WEEK:
        return None
    return f"week={day.replace(day=(day.day - 1) // WEEK * WEEK + 1).isoformat()}"


def named_by(db: Path) -> list[str] | None:
    """The block files the views of the published file `db` read; [] without a file, None when it cannot be read."""
    import duckdb

    if not Path(db).is_file():
        return []
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            sqls = [sql for (sql,) in con.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()]
    except duckdb.Error:
        return None
    quoted = (m.replace("''", "'") for sql in sqls for m in re.findall(r"'((?:[^']|'')*)'", sql))
    return [q for q in quoted if f"/{BLOCKS}/" in q]


def prune(warehouse: Path, keep: Iterable[str]) -> int:
    """Remove the block files not in `keep`; returns how many.

    Publish keeps the files its new file names and those of the file it replaced (`named_by`, read
    before the swap), so an analyst holding the previous file keeps reading until the next publish.
    """
    root = blocks_dir(warehouse)
    if not root.is_dir():
        return 0
    kept = {str(Path(f).resolve()) for f in keep}
    removed = 0
    for path in root.rglob("*.parquet"):
        if str(path.resolve()) not in kept:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
