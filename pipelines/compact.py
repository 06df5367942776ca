"""Many small lake files read as one: a folder of the lake holding many files is compacted on read.

Ingest writes one lake file per input file and per day (a path's parts are replaced whole on a
rerun). A day of 10,000 one-record files was then 10,000 footers for every query of every step:
220 s and 7.2 GB. A folder with at least `COMPACT_MIN_FILES` files is read instead from one
Parquet file under `<lake>/.compact/`, written once by a streaming DuckDB `COPY` and named by a
digest of the files' names, sizes and times, so any change to the folder makes a new one (the old
is removed) and a rerun of the same inputs reads the same. It is derived data: deleting
`.compact/` loses nothing. Numbers: docs/RELIABILITY.md (issue 28 finding 7).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb

COMPACT_MIN_FILES = 64  # fewer files cost less to read than one more copy of them


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:24]


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _write(files: list[Path], final: Path) -> None:
    """Copy `files` (their columns united by name) into one Parquet file, streaming, renamed into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    con = duckdb.connect(config={"threads": 2, "preserve_insertion_order": False})
    try:
        con.execute(
            f"COPY (SELECT * FROM read_parquet($files, union_by_name = true, hive_partitioning = false)) "
            f"TO {_quote(tmp)} (FORMAT parquet, COMPRESSION zstd)",
            {"files": [str(f) for f in files]},
        )
    finally:
        con.close()
    os.replace(tmp, final)


def compacted(lake: Path, folder: Path, files: list[Path]) -> list[Path]:
    """`files` of one lake `folder`, or one compacted file holding them all when they are many."""
    if len(files) < COMPACT_MIN_FILES:
        return files
    cache = lake / ".compact" / folder.relative_to(lake)
    final = cache / f"{_digest(files)}.parquet"
    if not final.is_file():
        _write(files, final)
        for old in cache.glob("*.parquet"):  # the folder's earlier contents: never read again
            if old != final:
                old.unlink(missing_ok=True)
    return [final]
