"""Build the analyst-facing DuckDB file from the Parquet lake and publish it atomically.

The published `<warehouse>/scansense.duckdb` is never opened for writing: the next version is built
under `<warehouse>/.build/`, checked, then swapped in with `os.replace`, so an analyst holding the
old file open read-only keeps a consistent view and a run killed midway leaves the old file intact.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import atomic, catalog, lake_blocks
from pipelines.layout import layout
from pipelines.sqlfiles import header_entries


def db_path(warehouse: Path) -> Path:
    """Path of the published warehouse file (`pipelines.layout` names every path of the folder)."""
    return layout(warehouse).db


def lake_dir(warehouse: Path, table: str) -> Path:
    """Folder of one table in the Parquet lake."""
    return layout(warehouse).lake_table(table)


@contextmanager
def writer_lock(warehouse: Path) -> Iterator[None]:
    """Hold the single-writer lock of a warehouse (blocks until the previous writer is done)."""
    Path(warehouse).mkdir(parents=True, exist_ok=True)
    with open(layout(warehouse).lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_parquet_atomic(table: pa.Table, path: Path) -> Path:
    """Write `table` to `path` through a temporary file in the same folder and a rename."""
    with atomic.replacing(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def write_day_partition(warehouse: Path, table_name: str, day: date, table: pa.Table) -> Path:
    """Replace one day's partition of a derived table (idempotent by day)."""
    return write_parquet_atomic(table, lake_dir(warehouse, table_name) / f"date={day.isoformat()}" / "part.parquet")


def lake_files(warehouse: Path, table: str, day: date | None = None) -> list[str]:
    """Parquet files of a lake table, optionally only one day's partition; a folder of many read as one (`compact`)."""
    from pipelines.compact import compacted

    base = lake_dir(warehouse, table)
    if day is not None:
        base = base / f"date={day.isoformat()}"
    if not base.is_dir():
        return []
    # os.walk and strings, not Path.rglob: a year of days is 18,000 files, 0.46 s of pathlib objects
    # per publish (cProfile at day 365, docs/SCALING.md). Neither follows a link to a folder.
    lake = layout(warehouse).lake
    found: list[str] = []
    for folder, _, names in os.walk(base):
        files = sorted(os.path.join(folder, n) for n in names if n.endswith(".parquet") and not n.startswith("."))
        if files:
            found += compacted(lake, folder, files)
    return sorted(found)


def load_lake_table(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    table: str,
    schema: pa.Schema | None = None,
    day: date | None = None,
    name: str | None = None,
) -> None:
    """Create table `name` (default `table`) in `con` from the lake; empty with `schema` when no files."""
    files = lake_files(warehouse, table, day)
    name = name or table
    if files:
        con.execute(
            f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM read_parquet($files, union_by_name = true, hive_partitioning = false)',
            {"files": files},
        )
    elif schema is not None:
        empty = schema.empty_table()  # noqa: F841  (scanned by DuckDB through its variable name)
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM empty')
    else:
        raise FileNotFoundError(f"no lake files for table {table!r} and no schema to create it empty")


def lake_view(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    table: str,
    schema: pa.Schema,
    day: date | None = None,
    where: str = "",
) -> None:
    """Create view `table` in `con` over the lake's files (one day's partition), or an empty table when none.

    For the day's events: each query reads only the columns it needs, where they lie. Copying a day
    into the connection cost more than a step's own queries (10 M events: 25.6 s to copy, then the
    probe definition 10.1 s over the copy against 8.4 s over the files; docs/SCALING.md) and held
    the whole day in memory. `where` is our own SQL (a shard's filter), never user text.
    """
    files = lake_files(warehouse, table, day)
    if not files:
        load_lake_table(con, warehouse, table, schema, day)  # an empty table with the catalog's columns
        return
    listed = ", ".join(sql_string(f) for f in files)  # a view keeps no parameters: the lake's own paths, quoted
    con.execute(
        f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM '
        f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false) {where}"
    )


def lake_days(warehouse: Path, table: str) -> list[date]:
    """Days that have a partition (`date=<day>/`) of a lake table, sorted."""
    base = lake_dir(warehouse, table)
    if not base.is_dir():
        return []
    return sorted(date.fromisoformat(p.name[5:]) for p in base.glob("date=*") if p.is_dir())


def is_day_partitioned(warehouse: Path, table: str) -> bool:
    """True when a lake table is stored by day (`date=<day>/`), not as one file per key (geo_ip, ingest_files)."""
    return bool(lake_days(warehouse, table))


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the table or view `name` of the main schema, whichever it is."""
    kind = relation_kind(con, name)
    if kind:
        con.execute(f'DROP {kind} "{name}"')


def lake_relation(
    con: duckdb.DuckDBPyConnection,
    warehouse: Path,
    table: str,
    schema: pa.Schema | None,
    days: list[date] | None = None,
) -> list[str]:
    """View `table` over the lake files of `days` (every file when None), or an empty table when none.

    The published warehouse holds the lake's tables as such views (issue 27): a day adds its own
    files to the lake and publishing writes a few view definitions, instead of copying every day
    into a new file (+0.10 s and 2.3 MB a day, docs/SCALING.md). Paths are absolute, so the file
    works from any working directory; the files are listed one by one, so a file written after
    the publish (the next run's, or anything dropped in the lake by hand) is not seen until the
    next publish. A table not stored by day (geo_ip, ingest_files, quarantine) is read whole.
    Over every day, the closed months and weeks are read from one file each (`lake_blocks`), so
    that a year is about 20 files a table, not 365. Returns the files the view reads.
    """
    if days is not None and is_day_partitioned(warehouse, table):
        files = [f for d in days for f in lake_files(warehouse, table, d)]
    else:
        files = lake_blocks.view_files(warehouse, table, lake_files(warehouse, table))
    files = [str(Path(f).resolve()) for f in files]
    drop_relation(con, table)
    if not files:
        if schema is None:
            raise FileNotFoundError(f"no lake files for table {table!r} and no schema to create it empty")
        empty = schema.empty_table()  # noqa: F841  (scanned by DuckDB through its variable name)
        con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM empty')
        return []
    listed = ", ".join(sql_string(f) for f in files)
    con.execute(
        f'CREATE VIEW "{table}" AS SELECT * FROM '
        f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"
    )
    return files


# --- comments -------------------------------------------------------------------------------


def sql_header_comments(sql_text: str) -> tuple[str | None, dict[str, str]]:
    """The `-- table: ...` comment and `-- column name [TYPE]: ...` comments of a SQL file's header block."""
    table_comment, columns = None, {}
    for key, qualifier, text in header_entries(sql_text):
        if key == "table":
            table_comment = " ".join(text.split())
        elif key == "column" and qualifier:
            columns[qualifier.split()[0]] = " ".join(text.split())
    return table_comment, columns


def sql_string(text: str) -> str:
    """`text` as a SQL string literal, for the few places DuckDB takes no parameter (a view's file list)."""
    return "'" + text.replace("'", "''") + "'"


def relation_kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """'VIEW' or 'TABLE' for a relation of the main schema, None when there is none."""
    row = con.execute(
        """SELECT 'VIEW' FROM duckdb_views() WHERE schema_name = 'main' AND view_name = $n AND NOT internal
             AND database_name = current_database()
           UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = $n
             AND database_name = current_database()""",
        {"n": name},
    ).fetchone()
    return row[0] if row else None


def apply_comments(con: duckdb.DuckDBPyConnection, table: str, table_comment: str, columns: dict[str, str]) -> None:
    """Attach COMMENTs to a table or view and its columns (our own constant text, not user input).

    The table's comments are committed in one transaction of their own (so not inside a caller's;
    none has one): committing each of a publish's ~470 comments apart took 0.3 s of a small day's run.
    """
    kind = relation_kind(con, table) or "TABLE"
    present = {
        r[0]
        for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = $t", {"t": table}).fetchall()
    }
    statements = [f'COMMENT ON {kind} "{table}" IS {sql_string(table_comment)}']
    statements += [
        f'COMMENT ON COLUMN "{table}"."{col}" IS {sql_string(text)}' for col, text in columns.items() if col in present
    ]
    con.begin()
    try:
        con.execute(";\n".join(statements))
    except BaseException:
        con.rollback()
        raise
    con.commit()


def missing_comments(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables and columns of the main schema that carry no COMMENT (should be none)."""
    rows = con.execute(
        """
        SELECT table_name FROM duckdb_tables()
        WHERE schema_name = 'main' AND NOT internal AND comment IS NULL AND database_name = current_database()
        UNION ALL
        SELECT view_name FROM duckdb_views()
        WHERE schema_name = 'main' AND NOT internal AND comment IS NULL AND database_name = current_database()
        UNION ALL
        SELECT c.table_name || '.' || c.column_name FROM duckdb_columns() AS c
        WHERE c.schema_name = 'main' AND NOT c.internal AND c.comment IS NULL
          AND c.database_name = current_database()
        """
    ).fetchall()
    return sorted(r[0] for r in rows)


def build_marts(con: duckdb.DuckDBPyConnection, params: dict) -> list[str]:
    """Create every mart of the catalog (`sql/marts/<table>.sql`) in build order and comment it."""
    built = []
    for entry in catalog.tables("marts"):
        used = {k: v for k, v in params.items() if f"${k}" in entry.sql}
        drop_relation(con, entry.name)
        con.execute(f'CREATE TABLE "{entry.name}" AS {entry.sql}', used)
        apply_comments(con, entry.name, entry.comment, entry.column_comments)
        built.append(entry.name)
    return built


def day_marts(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, pa.Table]:
    """The rows of `day` of every mart built in `con` from that day's tables (the marts' lake partitions).

    Every mart is one row per day and something (its grain starts with event_date), and a day's rows
    read only that day's tables: built from the day alone they are the rows a build over every day
    gave for it, and the published marts are views over these partitions.
    """
    return {
        entry.name: con.execute(f'SELECT * FROM "{entry.name}" WHERE event_date = $d', {"d": day}).to_arrow_table()
        for entry in catalog.tables("marts")
    }


def new_build_path(warehouse: Path) -> Path:
    """A fresh scratch path for the next warehouse file, clearing stale builds of dead runs."""
    build = layout(warehouse).builds
    build.mkdir(parents=True, exist_ok=True)
    discard_builds(warehouse)  # only one writer holds the lock, so any leftover is dead
    return build / f"scansense-{os.getpid()}.duckdb"


def discard_builds(warehouse: Path) -> None:
    """Delete unfinished warehouse builds (a failed or killed run's); the published file is not touched."""
    for stale in layout(warehouse).builds.glob("*.duckdb*"):
        stale.unlink(missing_ok=True)


def publish(build_file: Path, warehouse: Path) -> Path:
    """Swap a finished build in as the published warehouse file (atomic rename)."""
    target = db_path(warehouse)
    wal = build_file.with_name(build_file.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"build {build_file} still has a WAL: close the connection before publishing")
    os.replace(build_file, target)
    return target


_TMP_NAME = re.compile(r"^\..+\.(\d+)\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temp(warehouse: Path) -> int:
    """Delete temporary files (`.<name>.<pid>.tmp`) left in the lake by processes that died."""
    removed = 0
    lake = layout(warehouse).lake
    if not lake.is_dir():
        return 0
    for path in lake.rglob(".*.tmp"):
        m = _TMP_NAME.match(path.name)
        if m and not _alive(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed
