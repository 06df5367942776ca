"""Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan 2004, "Fast portscan detection using
sequential hypothesis testing"): a source's first contacts to distinct hosts, each a success or a
failure, are walked as a sequential likelihood-ratio test; about four failures in a row call a scanner.

TRW needs the successes as much as the failures, so it reads the `contacts` view (every contact with
its outcome, the definition `probes` is drawn from) rather than `probes`.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.settings import Trw
from pipelines.sqlfiles import read_sql


def scan_trw(con: duckdb.DuckDBPyConnection, day: date, params: Trw) -> pa.Table:
    """One row per source with first contacts of known outcome that day: the walk's steps, ratio and decision."""
    ensure_probes(con)
    return con.execute(
        read_sql("detect/scan_trw"),
        {"day": day, "theta0": params.theta0, "theta1": params.theta1, "alpha": params.alpha, "beta": params.beta},
    ).to_arrow_table()
