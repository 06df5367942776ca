"""Detector speed on one synthetic day: the fast threshold and the persistent incremental model.

The day is an Internet-facing /22 behind a firewall, every event a drop (so every event is a
probe, the detectors' worst case): background sources knocking on popular ports, fast scanners
(thousands of probes in minutes), slow scanners (nmap -T1 pace for hours), vertical and horizontal.
It is built with numpy and handed to DuckDB as an Arrow table; nothing is written to disk.

Measured side by side in one run:
  fast   scan_fast (probe counting in DuckDB + the threshold recursion in numpy), mean and robust
  also   window_entropy and port_ratio, for the day's total
  slow   scan_slow as shipped: DuckDB window functions + the incremental filter vectorized across
         combinations (one numpy step per window position)
  slow incremental filter alone, three ways, on the same combination windows:
         vectorized (numpy, shipped) / integer recurrence in a Python loop per combination /
         the literal set-based filter (`growth_periods`, the previous implementation)

    .venv/bin/python bench/bench_detect.py --events 10000000 --json
    .venv/bin/python bench/bench_detect.py --events 10000000 --memory-limit 2GB --skip-set-filter --json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.detect import ensure_probes, entropy, fast, port_ratio, slow
from pipelines.schema import conform_events
from pipelines.settings import Settings
from pipelines.sqlfiles import read_sql

DAY = date(2025, 11, 26)
POPULAR = np.array([22, 23, 80, 443, 445, 3389, 8080, 1433, 3306, 5900, 6379, 8443, 2222, 25, 53, 123])


def _scanners(rng: np.random.Generator, n: int, per: int, first_id: int, start_span: float, hosts: int, step_s: float):
    """n probes from n // per scanners, one every step_s from a random start; half vertical, half horizontal."""
    k = max(n // per, 1)
    idx = np.arange(n)
    scanner, step = idx % k, idx // k
    start = rng.random(k) * start_span
    vertical = scanner % 2 == 0
    return (
        first_id + scanner,
        np.where(vertical, rng.integers(0, hosts, k)[scanner], step % hosts),
        np.where(vertical, step % 65535 + 1, POPULAR[scanner % len(POPULAR)]),
        start[scanner] + step * step_s,
    )


def synth_day(events: int, seed: int) -> pa.Table:
    """A day of firewall drops: 45% background, 25% fast scans, 20% slow scans, 10% busy repeaters."""
    rng = np.random.default_rng(seed)
    day0 = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC).timestamp()
    n_bg, n_fast, n_slow = int(events * 0.45), int(events * 0.25), int(events * 0.20)
    n_rep = events - n_bg - n_fast - n_slow
    hosts = 1024  # the protected /22

    # background: 150k sources, a few knocks each on popular (mostly) or random ports, any time
    bg_src = rng.zipf(1.3, n_bg) % 150_000
    bg = (
        bg_src,
        rng.integers(0, hosts, n_bg),
        np.where(rng.random(n_bg) < 0.8, POPULAR[rng.integers(0, len(POPULAR), n_bg)], rng.integers(1, 65536, n_bg)),
        rng.random(n_bg) * 86400,
    )
    fa = _scanners(rng, n_fast, 20_000, 200_000, 86000, hosts, 300 / 20_000)  # ~5 minutes each
    sl = _scanners(rng, n_slow, 4000, 300_000, 20000, hosts, 15.0)  # nmap -T1: one probe every ~15 s
    sl = (*sl[:3], np.minimum(sl[3] + rng.random(n_slow) * 3, 86399.9))
    # busy repeaters: 2k sources hammering one or two services of a few hosts all day (brute force)
    rep_src = rng.integers(0, 2000, n_rep)
    rp = (
        400_000 + rep_src,
        (rep_src * 7 + rng.integers(0, 3, n_rep)) % hosts,
        POPULAR[(rep_src + rng.integers(0, 2, n_rep)) % 4],
        rng.random(n_rep) * 86400,
    )
    src, dst, port, off = (np.concatenate(parts) for parts in zip(bg, fa, sl, rp, strict=True))
    src_names = pa.array(
        [f"{10 + i // 65536 % 200}.{i // 256 % 256}.{i % 256}.{7 + i // 13_107_200}" for i in range(410_000)]
    )
    dst_names = pa.array([f"203.0.{112 + i // 256}.{i % 256}" for i in range(hosts)])
    ts = ((day0 + off) * 1e6).astype(np.int64)
    table = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "event_date": pa.array(np.full(len(ts), (DAY - date(1970, 1, 1)).days, dtype=np.int32), pa.date32()),
            "src_ip": src_names.take(pa.array(src)),
            "dst_ip": dst_names.take(pa.array(dst)),
            "src_port": pa.array(rng.integers(1024, 65536, len(ts)).astype(np.int32)),
            "dst_port": pa.array(port.astype(np.int32)),
            "proto": pa.array(["tcp"] * 1, pa.string()).take(pa.array(np.zeros(len(ts), dtype=np.int32))),
            "tcp_flags": pa.array(["S"], pa.string()).take(pa.array(np.zeros(len(ts), dtype=np.int32))),
            "source_kind": pa.array(["firewall"], pa.string()).take(pa.array(np.zeros(len(ts), dtype=np.int32))),
        }
    )
    return conform_events(table)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t0, 2)


def _python_recurrence(combo: np.ndarray, pos: np.ndarray, m: np.ndarray) -> int:
    """The integer recurrence per combination in a plain Python loop (rows sorted by combo, pos)."""
    periods = 0
    s, current = 0, -1
    for c, i, mi in zip(combo.tolist(), pos.tolist(), m.tolist(), strict=True):
        if c != current:
            current, s = c, 0
            periods += 1
        elif mi >= s:
            s = i
            periods += 1
    return periods


def _set_filter(con: duckdb.DuckDBPyConnection) -> int:
    """The literal set-based filter over every persistent combination (the previous implementation)."""
    rows = con.execute(
        "SELECT combo_id, w, list(target) FROM _slow_triples GROUP BY combo_id, w ORDER BY combo_id, w"
    ).fetchall()
    periods, i = 0, 0
    while i < len(rows):
        k = i
        while k < len(rows) and rows[k][0] == rows[i][0]:
            k += 1
        periods += len(slow.growth_periods([set(r[2]) for r in rows[i:k]]))
        i = k
    return periods


def main() -> int:
    """Build the day, time the detectors, print the figures (one JSON object last with --json)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: DuckDB's default)")
    ap.add_argument("--memory-limit", default="", help="DuckDB memory_limit, e.g. 2GB (spills to a temp folder)")
    ap.add_argument("--skip-set-filter", action="store_true", help="do not time the slow set-based reference")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    events, t_synth = _timed(lambda: synth_day(args.events, args.seed))
    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {int(args.threads)}")
    if args.memory_limit:
        spill = tempfile.mkdtemp(prefix="bench_detect_")
        con.execute("SET memory_limit = $m", {"m": args.memory_limit})
        con.execute("SET temp_directory = $d", {"d": spill})
    con.register("synth", events)
    _, t_load = _timed(lambda: con.execute("CREATE TABLE events AS SELECT * FROM synth"))
    con.unregister("synth")
    del events
    ensure_probes(con)
    settings = Settings()
    result: dict = {"events": args.events, "synth_s": t_synth, "load_s": t_load}

    fast_rows, result["fast_mean_s"] = _timed(lambda: fast.scan_fast(con, DAY, settings.fast))
    result["fast_mean_rows"] = fast_rows.num_rows
    result["fast_mean_sources"] = len(set(fast_rows["src_ip"].to_pylist()))
    robust = settings.replace("fast", mode="robust").fast
    fast_rows, result["fast_robust_s"] = _timed(lambda: fast.scan_fast(con, DAY, robust))
    result["fast_robust_sources"] = len(set(fast_rows["src_ip"].to_pylist()))

    rows, result["entropy_s"] = _timed(lambda: entropy.window_entropy(con, DAY, settings.entropy))
    result["entropy_anomalous_windows"] = sum(rows["anomalous"].to_pylist())
    rows, result["port_ratio_s"] = _timed(lambda: port_ratio.port_ratio(con, DAY, settings.slow))
    result["port_ratio_scan_sources"] = sum(rows["is_scan"].to_pylist())

    slow_rows, result["slow_s"] = _timed(lambda: slow.scan_slow(con, DAY, settings.slow))
    result["slow_periods"] = slow_rows.num_rows
    result["slow_scan_sources"] = len(
        {r for r, s in zip(slow_rows["src_ip"].to_pylist(), slow_rows["is_scan"].to_pylist(), strict=True) if s}
    )

    # the incremental filter alone, three ways, on the same combination windows
    p = settings.slow
    _, result["slow_triples_sql_s"] = _timed(
        lambda: con.execute(
            f"CREATE OR REPLACE TEMP TABLE _slow_triples AS {read_sql('detect/slow_triples')}",
            {"day": DAY, "window_s": p.window_s, "min_windows": p.min_windows},
        )
    )
    steps = con.execute(
        """SELECT combo_id, w, min(coalesce(prev_w, -1)) AS prev_w FROM _slow_triples
           GROUP BY combo_id, w ORDER BY combo_id, w"""
    ).fetchnumpy()
    combo = steps["combo_id"]
    pos, m = slow.window_positions(combo, steps["w"], steps["prev_w"])
    result["combinations"] = int(len(np.unique(combo)))
    result["combination_windows"] = int(len(combo))
    result["max_windows_per_combination"] = int(pos.max()) + 1 if len(pos) else 0
    order = np.lexsort((combo, pos))
    vec, result["filter_numpy_s"] = _timed(lambda: slow.restarts(combo[order], pos[order], m[order]))
    loop, result["filter_python_int_s"] = _timed(lambda: _python_recurrence(combo, pos, m))
    assert int(vec.sum()) == loop, "vectorized and looped recurrences disagree"
    result["growth_periods"] = loop
    if not args.skip_set_filter:
        sets, result["filter_python_sets_s"] = _timed(lambda: _set_filter(con))
        assert sets == loop, "set-based filter and recurrence disagree"
    con.execute("DROP TABLE _slow_triples")
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    text = "\n".join(f"{k}: {v}" for k, v in result.items())
    if args.json:
        print(text)
        print(json.dumps(result))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
