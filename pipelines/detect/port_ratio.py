"""The port-ratio baseline that paper 002 compares against: distinct (dst_ip, dst_port) targets over
probe records per source and day."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.settings import Slow
from pipelines.sqlfiles import read_sql


def port_ratio(con: duckdb.DuckDBPyConnection, day: date, params: Slow) -> pa.Table:
    """Per source: distinct (dst_ip, dst_port) over records, a scan above the threshold."""
    ensure_probes(con)
    return con.execute(
        read_sql("detect/port_ratio"),
        {
            "day": day,
            "threshold": params.port_ratio_threshold,
            "min_pairs": params.port_ratio_min_pairs,
            "min_share": params.port_ratio_min_share,
        },
    ).to_arrow_table()
