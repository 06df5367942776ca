"""Many small lake files read as one: a folder of the lake holding many files is compacted on read.

Ingest writes one lake file per input file and per day (a path's parts are replaced whole on a
rerun). A day of 10,000 one-record files was then 10,000 footers for every query of every step:
220 s and 7.2 GB. A folder with at least `COMPACT_MIN_FILES` files is read instead from one
Parquet file under `<lake>/.compact/`, written once a file at a time (bounded memory) and named by a
digest of the files' names, sizes and times, so any change to the folder makes a new one (the old
is removed) and a rerun of the same inputs reads the same. It is derived data: deleting
`.compact/` loses nothing. Numbers: docs/RELIABILITY.md (issue 28 finding 7).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

COMPACT_MIN_FILES = 64  # fewer files cost less to read than one more copy of them
ROW_GROUP = 65_536  # rows gathered before a row group is written: bounds the copy's memory


def _digest(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:24]


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with `schema`'s columns in its order: a column an older file lacks is null."""
    return pa.table(
        [table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type) for f in schema],
        schema=schema,
    )


def write_union(files: list[Path], final: Path) -> None:
    """Copy `files` (their columns united by name) into one Parquet file, a batch of files at a time, renamed into place.

    One file's table at a time, gathered into row groups of about `ROW_GROUP` rows: DuckDB's
    `read_parquet` over 2,000 files held 866 MB to copy them, this holds one row group.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            pending: list[pa.Table] = []
            rows = 0
            for f in files:
                table = _conform(pq.read_table(f), schema)
                pending.append(table)
                rows += len(table)
                if rows >= ROW_GROUP:
                    writer.write_table(pa.concat_tables(pending))
                    pending, rows = [], 0
            if pending:
                writer.write_table(pa.concat_tables(pending))
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def compacted(lake: Path, folder: str, files: list[str]) -> list[str]:
    """`files` of one lake `folder`, or one compacted file holding them all when they are many."""
    if len(files) < COMPACT_MIN_FILES:
        return files
    paths = [Path(f) for f in files]
    cache = lake / ".compact" / Path(folder).relative_to(lake)
    final = cache / f"{_digest(paths)}.parquet"
    if not final.is_file():
        write_union(paths, final)
        for old in cache.glob("*.parquet"):  # the folder's earlier contents: never read again
            if old != final:
                old.unlink(missing_ok=True)
    return [str(final)]
