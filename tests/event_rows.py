"""Tiny `events` tables for detector tests: rows as dicts, filled in as captured TCP packets unless a row says otherwise."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from pipelines.schema import conform_events


def events_con(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB whose `events` holds the rows (captured TCP packets of one file unless a row says otherwise).

    Every row gets the columns any row may set (a column missing from the first row would be dropped).
    """
    for i, r in enumerate(rows):
        r.setdefault("event_date", r["ts"].date())
        r.setdefault("source_kind", "pcap")
        r.setdefault("source_format", "pcap")
        r.setdefault("source_file", "capture.pcap")
        r.setdefault("source_location", str(i))
        r.setdefault("proto", "tcp")
        r.setdefault("packets", 1)
        for key in ("tcp_flags", "outcome", "conn_state", "resp_packets", "resp_bytes"):
            r.setdefault(key, None)
    events = conform_events(pa.Table.from_pylist(rows))  # noqa: F841 (scanned by DuckDB)
    con = duckdb.connect()
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    return con
