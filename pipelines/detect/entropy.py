"""Entropy screen of paper 002 (section 2.1): per-window normalized entropies and mu +- k*sigma bounds."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.settings import Entropy
from pipelines.sqlfiles import read_sql


def window_entropy(con: duckdb.DuckDBPyConnection, day: date, params: Entropy) -> pa.Table:
    """Normalized entropy of src_ip, dst_ip and dst_port per window, flagged outside mu +- k*sigma."""
    ensure_probes(con)
    return con.execute(
        read_sql("detect/window_entropy"), {"day": day, "window_s": params.window_s, "k": params.k}
    ).to_arrow_table()
