"""Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan 2004, "Fast portscan detection using
sequential hypothesis testing"): a source's first contacts to distinct hosts, each a success or a
failure, are walked as a sequential likelihood-ratio test; about four failures in a row call a scanner.

TRW needs the successes as much as the failures, so it reads `events` rather than the `probes` view
(which keeps only the attempts that never became a conversation); `sql/detect/scan_trw.sql` says
which inputs carry an outcome and how it is read.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from pipelines.settings import Trw
from pipelines.sqlfiles import read_sql


def scan_trw(con: duckdb.DuckDBPyConnection, day: date, params: Trw) -> pa.Table:
    """One row per source with first contacts of known outcome that day: the walk's steps, ratio and decision."""
    return con.execute(
        read_sql("detect/scan_trw"),
        {"day": day, "theta0": params.theta0, "theta1": params.theta1, "alpha": params.alpha, "beta": params.beta},
    ).to_arrow_table()
