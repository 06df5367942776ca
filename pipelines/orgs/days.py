"""What one day adds to the organizations' node attributes, stored so the window's days are not read again.

`scanner_orgs` clusters the sources of the last `orgs.window_days` days. It used to read and
aggregate every day of the window again each day, and to judge the probe definition over the
window's events (day 14 of a history: 35.7 s against 5.7 s on day 1, issue 27). The
`source_features_day` step aggregates the day's own events once (sql/orgs/source_features_day.sql):
counts for every source, lists that combine exactly for the sources that probed; `scanner_orgs`
combines the window's stored rows (`window_query`).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from pipelines.settings import Settings

TABLE = "source_features_day"
# DuckDB memory one event of a detailed source takes while its lists are built: a bucket of sources
# holds about memory_limit / ROW_BYTES such events. Measured on a 10 M-event day (10,000 probing
# sources, 2.32 M of their events) under a 400 MB limit: in one go, out of memory (at 1.2 GB: 9 s,
# 1.4 GB RSS); in 2 buckets 30 s (spilling); in 4 buckets 11 s, 660 MB RSS.
ROW_BYTES = 1000


def source_features_day(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> duckdb.DuckDBPyRelation:
    """The day's `source_features_day` step: the rows of the day's `events` in `con`, as a relation to store."""
    return day_relation(con)


def day_relation(con: duckdb.DuckDBPyConnection, every_source: bool = False) -> duckdb.DuckDBPyRelation:
    """The `source_features_day` rows of the one day of `events` in `con`, built bucket by bucket of sources.

    The per-source lists are ordered and distinct aggregates, which DuckDB holds in memory whole: on
    the 50 M-event day (11.6 M probes) they ran out of memory under 2 GB in one query. Sources are
    split by the hash of their address into as many buckets as the detailed sources' events need
    (`ROW_BYTES`); each bucket's rows go to a staged temporary table, which DuckDB spills.
    """
    from pipelines import catalog
    from pipelines.detect import ensure_probes
    from pipelines.duck import bucket_count, stage_in_buckets
    from pipelines.sqlfiles import read_sql

    ensure_probes(con)  # probe_events counts the one definition of a probe
    detailed = "events" if every_source else "events SEMI JOIN (SELECT DISTINCT src_ip FROM probes) USING (src_ip)"
    rows = con.execute(f"SELECT count(*) FROM {detailed}").fetchone()[0]
    columns = [(c.name, c.type) for c in catalog.table(TABLE).columns]
    sql = read_sql("orgs/source_features_day")
    staged = stage_in_buckets(
        con, TABLE, sql, columns, bucket_count(con, rows, ROW_BYTES), {"every_source": every_source}
    )
    # Not ordered (readers combine by src_ip; source_features.sql orders its rows): sorting rows that carry
    # lists asks for blocks past a small limit, as source_history_state's did.
    return con.sql(f"SELECT * FROM {staged}")


def window_query(days: list[date], settings: Settings) -> str:
    """A query of the stored `source_features_day` rows of `days`, read where they lie; a day with events
    but none is computed and stored first (`steps.stored_partition`), so the next window reads it.

    A query, not Arrow: read whole, the 50 M-event day's 1 M rows held 0.5 GB beside DuckDB's limit.
    """
    from pipelines import catalog
    from pipelines import warehouse as wh
    from pipelines.steps import stored_partition  # steps imports the builders; imported here, not at load

    files = [f for day in days for f in stored_partition(settings, TABLE, day)]
    if not files:
        typed = ", ".join(f"NULL::{c.type} AS {c.name}" for c in catalog.table(TABLE).columns)
        return f"SELECT {typed} WHERE false"
    listed = ", ".join(wh.sql_string(str(f)) for f in files)
    columns = ", ".join(f"{c.name}::{c.type} AS {c.name}" for c in catalog.table(TABLE).columns)
    return f"SELECT {columns} FROM read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"


def window_rows(days: list[date], settings: Settings) -> pa.Table:
    """The rows of `window_query` as an Arrow table of the catalog's schema."""
    import duckdb

    from pipelines import catalog

    with duckdb.connect() as con:
        return con.execute(window_query(days, settings)).to_arrow_table().cast(catalog.table(TABLE).schema)
