"""What one day adds to the organizations' node attributes, stored so the window's days are not read again.

`scanner_orgs` clusters the sources of the last `orgs.window_days` days. It used to read and
aggregate every day of the window again each day, and to judge the probe definition over the
window's events (day 14 of a history: 35.7 s against 5.7 s on day 1, issue 27). The
`source_features_day` step aggregates the day's own events once (sql/orgs/source_features_day.sql):
counts for every source, lists that combine exactly for the sources that probed; `scanner_orgs`
combines the window's stored rows (`window_rows`).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from pipelines import warehouse as wh

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from pipelines.settings import Settings

TABLE = "source_features_day"


def source_features_day(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> pa.Table:
    """The day's `source_features_day` step: the rows of the day's `events` in `con`."""
    from pipelines import catalog
    from pipelines.orgs.features import day_rows

    return day_rows(con).cast(catalog.table(TABLE).schema)


def window_rows(days: list[date], settings: Settings) -> pa.Table:
    """The stored `source_features_day` rows of `days`.

    A day with events but no stored rows (a lake written before this table existed) is computed
    from its events, on a connection of its own, and stored, so the next window reads it.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines import catalog, duck

    schema = catalog.table(TABLE).schema
    parts = []
    for day in days:
        files = wh.lake_files(settings.warehouse, TABLE, day)
        if not files and wh.lake_files(settings.warehouse, "events", day):
            own = duck.connect(settings)
            try:
                wh.lake_view(own, settings.warehouse, "events", catalog.table("events").schema, day)
                rows = source_features_day(own, day, settings)
            finally:
                own.close()
            wh.write_day_partition(settings.warehouse, TABLE, day, rows)
            parts.append(rows)
        elif files:
            parts += [pq.read_table(f).cast(schema) for f in files]  # one file, or one per shard
    return pa.concat_tables(parts) if parts else schema.empty_table()
