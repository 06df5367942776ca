"""The port-ratio baseline that paper 002 compares against: distinct (dst_ip, dst_port) targets over
probe records per source and day."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.settings import Slow
from pipelines.sqlfiles import read_sql

# Fewer distinct targets than this is never a scan, whatever the ratio (one port of one host has
# ratio 1 on a single record). Read from settings.slow.port_ratio_min_pairs once that key exists.
MIN_PAIRS = 5


def port_ratio(con: duckdb.DuckDBPyConnection, day: date, params: Slow) -> pa.Table:
    """Per source: distinct (dst_ip, dst_port) over records, a scan above the threshold."""
    ensure_probes(con)
    min_pairs = getattr(params, "port_ratio_min_pairs", MIN_PAIRS)
    return con.execute(
        read_sql("detect/port_ratio"), {"day": day, "threshold": params.port_ratio_threshold, "min_pairs": min_pairs}
    ).to_arrow_table()
