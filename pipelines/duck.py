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
    config: dict[str, object] = {}
    if settings.scale.memory_limit:
        spill = layout(settings).spill
        spill.mkdir(parents=True, exist_ok=True)
        config |= {"memory_limit": settings.scale.memory_limit, "temp_directory": str(spill)}
    con = duckdb.connect(str(database), config=config)
    # DuckDB draws its own progress bar on stdout for queries over 2 s, even into a pipe: the run's
    # machine output (`--json`) must stay the summary alone (pipelines/progress.py draws ours).
    con.execute("SET enable_progress_bar = false")
    return con


# A builder's rows staged on its connection (temporary tables, which DuckDB spills past its limit) are
# named with this prefix; the step drops them once the relation it returned is stored.
STAGED = "_staged_"
_UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """`con`'s DuckDB memory limit in bytes (DuckDB reports it as text, e.g. '381.4 MiB')."""
    import re

    text = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    m = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"DuckDB memory_limit {text!r} not understood")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def bucket_count(con: duckdb.DuckDBPyConnection, rows: int, row_bytes: int) -> int:
    """Buckets of sources for a query holding about `row_bytes` of DuckDB memory per input row: each fits `con`'s limit."""
    return max(1, -(-rows * row_bytes // memory_limit_bytes(con)))


def install_bucket_macro(con: duckdb.DuckDBPyConnection) -> None:
    """Define (temporary) `source_bucket(ip, n)`, the one hash split of sources into shards and buckets.

    Its one definition is `sql/detect/bucket_macros.sql`.
    """
    from pipelines.sqlfiles import read_sql

    con.execute(read_sql("detect/bucket_macros"))


def stage_in_buckets(
    con: duckdb.DuckDBPyConnection, name: str, sql: str, columns: list[tuple[str, str]], buckets: int, params: dict
) -> str:
    """Run `sql` once per bucket of sources into the staged table of `name` (`columns`: name, type); returns its name.

    `sql` keeps only the sources in `$bucket` of `$buckets` (`source_bucket(src_ip, $buckets) = $bucket::UBIGINT`). DuckDB holds ordered
    and distinct list aggregates in memory whole, outside what it can spill; a bucket holds a share.
    """
    install_bucket_macro(con)
    staged = f"{STAGED}{name}"
    typed = ", ".join(f'"{c}" {t}' for c, t in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {staged} ({typed})")
    for bucket in range(buckets):
        con.execute(f"INSERT INTO {staged} BY NAME {sql}", {**params, "buckets": buckets, "bucket": bucket})
    return staged


def drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables builders staged on `con` (`_staged_*`): their rows are stored now."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, $p)", {"p": STAGED}
    ).fetchall()
    for (name,) in rows:
        con.execute(f'DROP TABLE IF EXISTS temp."{name}"')
