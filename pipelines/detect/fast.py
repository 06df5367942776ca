"""Fast scans by the dynamic threshold of paper 000 (DESIGN 5.1).

Per source and window DuckDB counts the probes (`sql/detect/fast_counts.sql`). The threshold of
window w is T = mu + k*max(sigma, sigma_floor) over the per-source window counts of the trailing
period (window w and the earlier windows starting less than `period_s` before it). Two choices
make it hold on real traffic where the paper's formula does not:

- Leave-one-out: the judged source's own counts are not in its baseline; otherwise a lone scanner
  sets mu to its own count and can never exceed mu + k*sigma.
- Suspects leave the baseline: a count that was over threshold in an earlier window no longer
  counts (the paper's mu is "the benchmark level of normal network access"). Without this, on a
  sensor that sees scanners one after another (probing_nmap.pcapng: nine nmap runs in a row), each
  scanner is measured against the previous ones and most are missed.

The second choice makes window w depend on the decisions of the windows before it, so the
threshold runs as a recursion over windows in numpy, vectorized across the window's sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.settings import Fast
from pipelines.sqlfiles import read_sql

MODES = ("mean", "robust")
MAD_SCALE = 1.4826  # MAD * 1.4826 estimates sigma for normally distributed counts
ROBUST_MIN_OTHERS = 3  # robust mode needs this many other counts, else mu = sigma = 0 (the floor decides)


@dataclass(frozen=True)
class Baseline:
    """Per counting row: baseline centre and spread, the threshold, and whether the count exceeded it."""

    mu: np.ndarray
    sigma: np.ndarray
    threshold: np.ndarray
    over: np.ndarray


def _own_links(w: np.ndarray, src: np.ndarray, lookback: int) -> np.ndarray:
    """For each row, the rows of the same source in the `lookback` windows before it (-1 when none)."""
    n = len(w)
    links = np.full((n, max(lookback, 0)), -1, dtype=np.int64)
    order = np.lexsort((w, src))  # by source, then window
    ws, ss = w[order], src[order]
    for k in range(1, lookback + 1):
        if n <= k:
            break
        same = (ss[k:] == ss[:-k]) & (ws[k:] - ws[:-k] <= lookback)
        links[order[k:][same], k - 1] = order[:-k][same]
    return links


def dynamic_threshold(
    w: np.ndarray, src: np.ndarray, probes: np.ndarray, lookback: int, k: float, sigma_floor: float, mode: str
) -> Baseline:
    """Run the threshold over counting rows sorted by window (w, src as integer codes, probes counts).

    `lookback` is how many earlier windows belong to the trailing period. Returns per-row baseline
    statistics; `over` is probes > threshold (rounded to 9 decimals so reruns give identical rows).
    """
    if mode not in MODES:
        raise ValueError(f"fast.mode must be one of {MODES}, not {mode!r}")
    n = len(w)
    x = probes.astype(np.int64)
    mu, sigma, threshold = np.zeros(n), np.zeros(n), np.zeros(n)
    over = np.zeros(n, dtype=bool)
    if n == 0:
        return Baseline(mu=mu, sigma=sigma, threshold=threshold, over=over)
    links = _own_links(w, src, lookback)
    windows, starts = np.unique(w, return_index=True)
    ends = np.append(starts[1:], n)
    for win, start, end in zip(windows.tolist(), starts.tolist(), ends.tolist(), strict=True):
        first_past = int(np.searchsorted(w, win - lookback, side="left"))
        past = x[first_past:start][~over[first_past:start]]  # earlier windows, suspects removed
        cur = x[start:end]
        lk = links[start:end]
        has = lk >= 0
        own = has & ~over[np.where(has, lk, 0)]  # the source's own earlier counts still in the pool
        own_x = np.where(own, x[np.where(has, lk, 0)], 0)
        others = len(past) + len(cur) - 1 - own.sum(axis=1)
        if mode == "mean":
            s1 = int(past.sum()) + int(cur.sum()) - cur - own_x.sum(axis=1)
            s2 = int((past * past).sum()) + int((cur * cur).sum()) - cur * cur - (own_x * own_x).sum(axis=1)
            safe = np.maximum(others, 1)
            m = np.where(others > 0, s1 / safe, 0.0)
            var = np.where(others > 0, s2 / safe - m * m, 0.0)
            s = np.sqrt(np.maximum(var, 0.0))
        else:
            # The median and MAD of the whole pool (the judged source included): one outlier cannot
            # drag them, so leaving it out only matters for tiny pools, which fall back to zero.
            pool = np.concatenate([past, cur])
            med = float(np.median(pool))
            mad = float(np.median(np.abs(pool - med)))
            enough = others >= ROBUST_MIN_OTHERS
            m = np.where(enough, med, 0.0)
            s = np.where(enough, MAD_SCALE * mad, 0.0)
        t = np.round(m + k * np.maximum(s, sigma_floor), 9)
        mu[start:end], sigma[start:end], threshold[start:end] = np.round(m, 9), np.round(s, 9), t
        over[start:end] = cur > t
    return Baseline(mu=mu, sigma=sigma, threshold=threshold, over=over)


def lookback_windows(window_s: int, period_s: int) -> int:
    """Earlier windows inside the trailing period: those starting less than period_s before the window."""
    return max(-(-period_s // window_s) - 1, 0)


def _check_mode(params: Fast) -> None:
    if params.mode not in MODES:
        raise ValueError(f"fast.mode must be one of {MODES}, not {params.mode!r}")


def fast_counts(con: duckdb.DuckDBPyConnection, day: date, params: Fast) -> pa.Table:
    """Phase 1 (per shard of sources): probes and distinct targets per (window, source), `fast_counts.sql`."""
    _check_mode(params)
    ensure_probes(con)
    return con.execute(
        f"SELECT w, src_ip, probes, distinct_ports, distinct_hosts FROM ({read_sql('detect/fast_counts')})",
        {"day": day, "window_s": params.window_s},
    ).to_arrow_table()


def fast_stats(counts: pa.Table, params: Fast) -> pa.Table:
    """Combine (once, over every shard's counts): the threshold recursion; (w, src_ip, mu, sigma, threshold) of the rows over it.

    The recursion is global (a window's baseline is every source's earlier counts less the suspects),
    so it runs on the compact counts of all sources; only the rows over threshold go back to the shards.
    """
    _check_mode(params)
    con = duckdb.connect()
    try:
        con.register("_counts", counts)
        ordered = con.execute("SELECT w, src_ip, probes FROM _counts ORDER BY w, src_ip").to_arrow_table()
    finally:
        con.close()
    src_codes = ordered["src_ip"].combine_chunks().dictionary_encode().indices.to_numpy(zero_copy_only=False)
    base = dynamic_threshold(
        ordered["w"].to_numpy(),
        src_codes,
        ordered["probes"].to_numpy(),
        lookback_windows(params.window_s, params.period_s),
        params.k,
        params.sigma_floor,
        params.mode,
    )
    over = pa.array(base.over)
    stats = pa.table(
        {
            "w": ordered["w"],
            "src_ip": ordered["src_ip"],
            "mu": base.mu,
            "sigma": base.sigma,
            "threshold": base.threshold,
        }
    )
    return stats.filter(over)


def fast_over(con: duckdb.DuckDBPyConnection, counts: pa.Table, stats: pa.Table, params: Fast) -> pa.Table:
    """Phase 2 (per shard): the shard's counts over threshold as `scan_fast` rows (`scan_fast.sql`)."""
    _check_mode(params)
    con.register("_fast_counts_in", counts)
    con.register("_fast_over_in", stats)
    try:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _fast_counts AS
               SELECT (row_number() OVER (ORDER BY w, src_ip) - 1)::BIGINT AS row_id, * FROM _fast_counts_in"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _fast_stats AS
               SELECT c.row_id, s.mu, s.sigma, s.threshold, true AS over
               FROM _fast_counts AS c JOIN _fast_over_in AS s USING (w, src_ip)"""
        )
        return con.execute(
            read_sql("detect/scan_fast"),
            {
                "window_s": params.window_s,
                "period_s": params.period_s,
                "k": params.k,
                "sigma_floor": params.sigma_floor,
                "min_probes": params.min_probes,
                "min_targets": max(params.min_targets, 2),  # one port of one host is never a scan
                "mode": params.mode,
            },
        ).to_arrow_table()
    finally:
        con.execute("DROP TABLE IF EXISTS _fast_counts")
        con.execute("DROP TABLE IF EXISTS _fast_stats")
        con.unregister("_fast_counts_in")
        con.unregister("_fast_over_in")


def scan_fast(con: duckdb.DuckDBPyConnection, day: date, params: Fast) -> pa.Table:
    """Sources whose per-window probe count exceeded T = mu + k*sigma over the trailing period.

    The three phases in one connection; sharded runs call them per shard with the combine between.
    """
    counts = fast_counts(con, day, params)
    return fast_over(con, counts, fast_stats(counts, params), params)
