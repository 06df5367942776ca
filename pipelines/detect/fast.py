"""Fast scans by the dynamic threshold of paper 000 (DESIGN 5.1)."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.settings import Fast
from pipelines.sqlfiles import read_sql


def scan_fast(con: duckdb.DuckDBPyConnection, day: date, params: Fast) -> pa.Table:
    """Sources whose per-window probe count exceeded T = mu + k*sigma over the trailing period."""
    if params.mode not in ("mean", "robust"):
        raise ValueError(f"fast.mode must be 'mean' or 'robust', not {params.mode!r}")
    ensure_probes(con)
    return con.execute(
        read_sql("detect/scan_fast"),
        {
            "day": day,
            "window_s": params.window_s,
            "period_s": params.period_s,
            "k": params.k,
            "sigma_floor": params.sigma_floor,
            "min_probes": params.min_probes,
            "mode": params.mode,
        },
    ).to_arrow_table()
