"""Tool and behaviour tags per source and day (`source_tags`, a catalog table of the `history` layer), GreyNoise-style.

Per-packet signatures are DuckDB macros in `sql/history/tag_macros.sql`, each citing its source;
`sql/history/source_tags.sql` turns them and the detectors' findings into one row per tag.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from pipelines import catalog
from pipelines.settings import Tags


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define the per-packet signature macros (temporary) in `con`."""
    con.execute(catalog.table("tag_macros").sql)


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tables and views visible in `con`."""
    rows = con.execute("SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()").fetchall()
    return {r[0] for r in rows}


def create_tag_events(con: duckdb.DuckDBPyConnection) -> None:
    """View `tag_events`: `events` with every column the signatures read, null where the table lacks it.

    Lake files written before a column existed (tcp_seq, tcp_options, tcp_mss) load without it
    (`read_parquet(union_by_name)` over old files only), and inputs such as flows never carry it.
    """
    present = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE events)").fetchall()}
    missing = [(c.name, c.type) for c in catalog.table("events").columns if c.name not in present]
    extra = "".join(f', NULL::{typ} AS "{name}"' for name, typ in missing)
    con.execute(f"CREATE OR REPLACE TEMP VIEW tag_events AS SELECT *{extra} FROM events")


def source_tags(con: duckdb.DuckDBPyConnection, day: date, tags: Tags) -> pa.Table:
    """Tag every source and day of `events` from its headers and from `findings` (every day's, not only `day`'s)."""
    install_macros(con)
    create_tag_events(con)
    params = {
        "min_share": float(tags.min_share),
        "nmap_min_probes": int(tags.nmap_min_probes),
        "masscan_min_probes": int(tags.masscan_min_probes),
    }
    try:
        return con.execute(catalog.table("source_tags").sql, params).fetch_arrow_table()
    finally:
        con.execute("DROP VIEW IF EXISTS tag_events")
