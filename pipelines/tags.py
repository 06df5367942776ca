"""Tool and behaviour tags per source and day (`source_tags`), GreyNoise-style.

Per-packet signatures are DuckDB macros in `sql/history/tag_macros.sql`, each citing its source;
`sql/history/source_tags.sql` turns them and the detectors' tables into one row per tag.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from pipelines import catalog
from pipelines.settings import Tags
from pipelines.sqlfiles import read_sql
from pipelines.warehouse import sql_header_comments

SOURCE_TAGS_SQL = "history/source_tags"
# Detector outputs that may not exist (yet) in a warehouse: empty stand-ins keep the SQL whole.
OPTIONAL_INPUTS = {
    "scan_distributed": pa.schema([("event_date", pa.date32()), ("src_ip", pa.string())]),
}


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define the per-packet signature macros (temporary) in `con`."""
    con.execute(read_sql("history/tag_macros"))


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tables and views visible in `con`."""
    rows = con.execute("SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()").fetchall()
    return {r[0] for r in rows}


def register_stand_ins(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Register an empty table for each optional input `con` lacks; return the names registered."""
    present = existing_tables(con)
    missing = [name for name in OPTIONAL_INPUTS if name not in present]
    for name in missing:
        con.register(name, OPTIONAL_INPUTS[name].empty_table())
    return missing


def create_tag_events(con: duckdb.DuckDBPyConnection) -> None:
    """View `tag_events`: `events` with every column the signatures read, null where the table lacks it.

    Lake files written before a column existed (tcp_seq, tcp_options, tcp_mss) load without it
    (`read_parquet(union_by_name)` over old files only), and inputs such as flows never carry it.
    """
    present = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE events)").fetchall()}
    missing = [(c.name, c.type) for c in catalog.table("events").columns if c.name not in present]
    extra = "".join(f', NULL::{typ} AS "{name}"' for name, typ in missing)
    con.execute(f"CREATE OR REPLACE TEMP VIEW tag_events AS SELECT *{extra} FROM events")


def source_tags(con: duckdb.DuckDBPyConnection, tags: Tags) -> pa.Table:
    """Tag every source and day of `events` from its headers and the detectors' tables."""
    install_macros(con)
    create_tag_events(con)
    registered = register_stand_ins(con)
    params = {
        "min_share": float(tags.min_share),
        "nmap_min_probes": int(tags.nmap_min_probes),
        "masscan_min_probes": int(tags.masscan_min_probes),
    }
    try:
        return con.execute(read_sql(SOURCE_TAGS_SQL), params).fetch_arrow_table()
    finally:
        for name in registered:
            con.unregister(name)
        con.execute("DROP VIEW IF EXISTS tag_events")


def comments() -> tuple[str, dict[str, str]]:
    """The table and column comments of `source_tags` (from its SQL header)."""
    table, columns = sql_header_comments(read_sql(SOURCE_TAGS_SQL))
    return table or "source_tags", columns
