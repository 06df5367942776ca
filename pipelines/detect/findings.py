"""Findings: every detector's verdicts in one shape (Zeek's notices), less the allow-listed sources.

A detector declares its findings in its catalog file, `-- findings: SELECT src_ip, kind, window_start,
window_end, evidence, parameters FROM <its table> ...` (`$day` available); this module gathers them.
Risk, the marts and the report read `findings`, so a new detector needs no change downstream.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from pipelines import allow, catalog
from pipelines.settings import Settings


def _present(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()").fetchall()
    return {r[0] for r in rows}


def findings(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> pa.Table:
    """The day's findings of every detector whose table is in `con`, allow-listed sources left out."""
    schema = catalog.table("findings").schema
    present = _present(con)
    parts = [
        f"SELECT '{t.name}' AS detector, src_ip, kind, window_start, window_end, evidence, parameters FROM ({t.findings})"
        for t in catalog.entries()
        if t.findings and t.name in present
    ]
    if not parts:
        return schema.empty_table()
    query = f"""SELECT $day::DATE AS event_date, src_ip, detector, kind, window_start, window_end, evidence, parameters
                FROM ({" UNION ALL ".join(parts)}) ORDER BY ALL"""
    table = con.execute(query, {"day": day}).fetch_arrow_table()
    skip = allow.allowed(sorted(set(table["src_ip"].to_pylist()) - {None}), settings)
    if skip:
        keep = pa.array([ip not in skip for ip in table["src_ip"].to_pylist()], pa.bool_())
        table = table.filter(keep)
    return table.select(schema.names).cast(schema)
