"""Scanning organizations (paper 001 without the neural network, DESIGN 5.4).

`scanner_orgs(con, settings)` clusters the scanning sources of `events` into organizations;
`reference.load_reference(dir)` reads the known organizations' address lists. Heavy imports
(scikit-learn, scipy) happen inside the functions so that importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from pipelines import catalog

if TYPE_CHECKING:
    import duckdb

    from pipelines.settings import Settings

# The clustering's columns; the day's step adds `event_date` (pipelines/steps.py).
_STORED = catalog.table("scanner_orgs").schema
SCANNER_ORGS_SCHEMA = _STORED.remove(_STORED.get_field_index("event_date"))


def scanner_orgs(con: duckdb.DuckDBPyConnection, settings: Settings) -> pa.Table:
    """Cluster the scanning sources of `events` (all days, `geo_ip` joined) into organizations; one row per source."""
    from pipelines.orgs.cluster import scanner_orgs as run

    return run(con, settings)


__all__ = ["SCANNER_ORGS_SCHEMA", "scanner_orgs"]
