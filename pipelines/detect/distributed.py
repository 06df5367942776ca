"""Coordinated (distributed) scans: groups of sources that together sweep a contiguous range of
ports of one host, or of hosts of one /16 on one port, each doing too little to be caught alone.

After Gates 2009 ("Coordinated scan detection", NDSS): the adversary splits a target space among
sources; the defender looks for sets of sources whose targets tile a range with little overlap.
Gates' greedy set cover is replaced here by interval merging (each member's slice is dense and the
slices chain), which finds the same tilings in one sorted pass in SQL.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.settings import Distributed
from pipelines.sqlfiles import read_sql


def scan_distributed(con: duckdb.DuckDBPyConnection, day: date, params: Distributed) -> pa.Table:
    """One row per member source of each coordinated scan found in the day's probes."""
    ensure_probes(con)
    return con.execute(
        read_sql("detect/scan_distributed"),
        {
            "day": day,
            "window_s": params.window_s,
            "min_each": params.min_each,
            "max_each": params.max_each,
            "min_density": params.min_density,
            "max_gap": params.max_gap,
            "min_members": params.min_members,
            "min_coverage": params.min_coverage,
            "max_overlap": params.max_overlap,
        },
    ).to_arrow_table()
