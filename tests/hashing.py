"""Content hashes of warehouse tables, for the idempotency and crash tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import duckdb

# Columns that record when something ran, not what it found.
VOLATILE = {"looked_up_at", "ingested_at", "started_at", "checked_at"}


def table_hashes(db: Path, tables: Iterable[str]) -> dict[str, str]:
    """A hash per table of its rows in a canonical order, run-time columns left out."""
    hashes = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for table in tables:
            cols = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = $t ORDER BY column_index", {"t": table}
                ).fetchall()
                if c not in VOLATILE
            ]
            collist = ", ".join(f'"{c}"' for c in cols)
            rows = con.execute(f'SELECT {collist} FROM "{table}" ORDER BY ALL').fetchall()
            hashes[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return hashes


def materialize(con, *names: str) -> None:
    """Turn views of the published file (the lake's tables, issue 27) into tables of `con`, so a test can damage them."""
    for name in names:
        con.execute(f'CREATE TABLE "{name}_copy" AS SELECT * FROM "{name}"')
        con.execute(f'DROP VIEW "{name}"')
        con.execute(f'ALTER TABLE "{name}_copy" RENAME TO "{name}"')
