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
    """The stored `source_features_day` rows of `days`; a day with events but none is computed and stored
    first (`steps.stored_partition`), so the next window reads it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines import catalog
    from pipelines.steps import stored_partition  # steps imports the builders; imported here, not at load

    schema = catalog.table(TABLE).schema
    parts = [pq.read_table(f).cast(schema) for day in days for f in stored_partition(settings, TABLE, day)]
    return pa.concat_tables(parts) if parts else schema.empty_table()
