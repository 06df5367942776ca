"""The canonical record shapes every stage agrees on: events and quarantine rows."""

from __future__ import annotations

import pyarrow as pa

from pipelines import catalog

# One probe: a packet, a flow, a log line. Parsers fill what their format carries and leave the
# rest null; `ts` is always UTC. Columns, types and comments live in sql/raw/events.sql.
EVENT_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    (c.name, catalog.arrow_type(c.type), c.comment) for c in catalog.table("events").columns
]
EVENTS_SCHEMA = catalog.table("events").schema

# One rejected record; sql/raw/quarantine.sql.
QUARANTINE_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    (c.name, catalog.arrow_type(c.type), c.comment) for c in catalog.table("quarantine").columns
]
QUARANTINE_SCHEMA = catalog.table("quarantine").schema

RAW_LIMIT = 1024


def empty_events() -> pa.Table:
    """Return an events table with no rows."""
    return EVENTS_SCHEMA.empty_table()


def conform_events(table: pa.Table) -> pa.Table:
    """Return `table` with exactly the events columns, in order, missing ones null, types cast."""
    cols = []
    for name, typ, _ in EVENT_COLUMNS:
        if name in table.column_names:
            col = table.column(name)
            cols.append(col if col.type == typ else col.cast(typ))
        else:
            cols.append(pa.nulls(table.num_rows, typ))
    return pa.Table.from_arrays(cols, schema=EVENTS_SCHEMA)


def quarantine_row(source_file: str, location: str, reason: str, raw: bytes | str) -> dict:
    """Build one quarantine record, keeping at most RAW_LIMIT bytes of the offending input."""
    if isinstance(raw, bytes):
        try:
            text = raw[:RAW_LIMIT].decode("utf-8")
        except UnicodeDecodeError:
            text = raw[:RAW_LIMIT].hex()
    else:
        text = raw[:RAW_LIMIT]
    return {"source_file": source_file, "location": location, "reason": reason, "raw": text}


def quarantine_table(rows: list[dict]) -> pa.Table:
    """Turn quarantine records into an Arrow table of QUARANTINE_SCHEMA."""
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)
