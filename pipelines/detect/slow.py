"""Slow scans by the persistent incremental model of paper 002 (section 2.2, DESIGN 5.3).

For each combination (horizontal: src_ip + dst_port; vertical: src_ip + dst_ip) seen in more than
`min_windows` 2-minute windows, run the incremental filter over its windows:
    pre = dip_0; for i >= 1: u = pre | dip_i; pre = dip_i if |u| == |pre| else u; len_i = |pre|
A growth period is a maximal run of windows where len strictly increases; periods shorter than
`min_period` windows are dropped. A period is a scan when the normalized conditional entropy of its
targets, H(targets of its records) / log(record count), reaches the threshold.

The filter is sequential per combination, so it runs in Python over the per-window target lists that
DuckDB groups; only persistent combinations reach Python, which keeps the loop small.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime

import duckdb
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.settings import Slow
from pipelines.sqlfiles import read_sql

SCAN_SLOW_SCHEMA = pa.schema(
    [
        ("src_ip", pa.string()),
        ("kind", pa.string()),
        ("fixed_value", pa.string()),
        ("period_start", pa.timestamp("us", tz="UTC")),
        ("period_end", pa.timestamp("us", tz="UTC")),
        ("windows", pa.int32()),
        ("targets", pa.int32()),
        ("records", pa.int64()),
        ("cond_entropy", pa.float64()),
        ("is_scan", pa.bool_()),
        ("threshold", pa.float64()),
        ("window_s", pa.int32()),
        ("min_windows", pa.int32()),
        ("min_period", pa.int32()),
    ]
)


def growth_periods(window_sets: list[set]) -> list[tuple[int, int]]:
    """(first, last) indexes of the growth periods of the incremental filter over a combination's windows."""
    if not window_sets:
        return []
    pre = set(window_sets[0])
    lengths = [len(pre)]
    for dip in window_sets[1:]:
        union = pre | dip
        pre = set(dip) if len(union) == len(pre) else union
        lengths.append(len(pre))
    periods, start = [], 0
    for i in range(1, len(lengths) + 1):
        if i == len(lengths) or lengths[i] <= lengths[i - 1]:
            periods.append((start, i - 1))
            start = i
    return periods


def cond_entropy(targets: list) -> float:
    """Normalized conditional entropy: entropy of the target distribution over log(record count)."""
    n = len(targets)
    if n <= 1:
        return 0.0
    h = -sum(c / n * math.log(c / n) for c in Counter(targets).values())
    return h / math.log(n)


def scan_slow(con: duckdb.DuckDBPyConnection, day: date, params: Slow) -> pa.Table:
    """Growth periods of every persistent combination of the day, judged by conditional entropy."""
    ensure_probes(con)
    rows = con.execute(
        read_sql("detect/slow_windows"), {"day": day, "window_s": params.window_s, "min_windows": params.min_windows}
    ).fetchall()
    out: list[dict] = []
    i = 0
    while i < len(rows):
        kind, src, fixed = rows[i][0], rows[i][1], rows[i][2]
        j = i
        while j < len(rows) and rows[j][:3] == (kind, src, fixed):
            j += 1
        group = rows[i:j]
        windows = [r[3] for r in group]
        records = [r[4] for r in group]
        for first, last in growth_periods([set(t) for t in records]):
            if last - first + 1 < params.min_period:
                continue
            targets = [t for rec in records[first : last + 1] for t in rec]
            h = cond_entropy(targets)
            out.append(
                {
                    "src_ip": src,
                    "kind": kind,
                    "fixed_value": fixed,
                    "period_start": datetime.fromtimestamp(windows[first] * params.window_s, UTC),
                    "period_end": datetime.fromtimestamp((windows[last] + 1) * params.window_s, UTC),
                    "windows": last - first + 1,
                    "targets": len(set(targets)),
                    "records": len(targets),
                    "cond_entropy": h,
                    "is_scan": h >= params.threshold,
                    "threshold": params.threshold,
                    "window_s": params.window_s,
                    "min_windows": params.min_windows,
                    "min_period": params.min_period,
                }
            )
        i = j
    return pa.Table.from_pylist(out, schema=SCAN_SLOW_SCHEMA)
