"""A day with 1,000,000 distinct sources through `scansense run`, end to end (issue 9).

    .venv/bin/python bench/bench_million_sources.py --sources 1000000 --json

Writes one CIDDS-style flow CSV for 2025-11-26 in which every source sends two unanswered SYNs (a
knock on two ports: background radiation of the Internet), plus a few real fast scanners, then
runs the whole day (ingest, geo, detection, risk, organizations, marts, quality, publish, report)
under `/usr/bin/time -v` and prints wall time, peak memory and what the warehouse holds.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
DAY = "2025-11-26"


def dotted(values: np.ndarray) -> pl.Series:
    """IPv4 numbers as dotted strings, vectorized."""
    s = pl.Series(values.astype(np.int64))
    return (
        (s // 16777216).cast(pl.String)
        + "."
        + (s // 65536 % 256).cast(pl.String)
        + "."
        + (s // 256 % 256).cast(pl.String)
        + "."
        + (s % 256).cast(pl.String)
    )


def write_day(path: Path, sources: int, scanners: int = 5, seed: int = 3) -> int:
    """The day's flow CSV: `sources` knockers with two flows each plus `scanners` x 2,000 probes."""
    rng = np.random.default_rng(seed)
    # Distinct public-looking sources: a random sample of 11.0.0.0-100.0.0.0 (no special ranges there).
    knockers = np.unique(rng.integers(0x0B000000, 0x64000000, int(sources * 1.01) + 100))
    knockers = rng.permutation(knockers)[:sources]
    scan_src = np.arange(0x2D5F9300, 0x2D5F9300 + scanners, dtype=np.int64)  # 45.95.147.0/24
    src = np.concatenate([np.repeat(knockers, 2), np.repeat(scan_src, 2000)])
    n = len(src)
    dst = 0x0A000000 + rng.integers(0, 1024, n)
    port = np.concatenate(
        [rng.choice([22, 23, 80, 443, 445, 3389, 8080], 2 * sources), np.tile(np.arange(1, 2001), scanners)]
    )
    ms = np.concatenate(
        [rng.integers(0, 86_400_000, 2 * sources), np.repeat(rng.integers(0, 80_000_000, scanners), 2000)]
    )
    ms[2 * sources :] += np.tile(np.arange(2000) * 30, scanners)  # 2,000 probes in one minute
    order = np.argsort(ms, kind="stable")
    start = np.datetime64(f"{DAY}T00:00:00", "ms")
    frame = pl.DataFrame(
        {
            "Date first seen": pl.Series(start + ms[order].astype("timedelta64[ms]")).dt.to_string(
                "%Y-%m-%d %H:%M:%S%.3f"
            ),
            "Duration": np.zeros(n),
            "Proto": np.full(n, "TCP  "),
            "Src IP Addr": dotted(src[order]),
            "Src Pt": rng.integers(1024, 65535, n),
            "Dst IP Addr": dotted(dst[order]),
            "Dst Pt": port[order],
            "Packets": np.ones(n, np.int64),
            "Bytes": np.full(n, 40, np.int64),
            "Flows": np.ones(n, np.int64),
            "Flags": np.full(n, "....S."),
            "Tos": np.zeros(n, np.int64),
            "class": np.full(n, "attacker"),
            "attackType": np.full(n, "portScan"),
            "attackID": np.full(n, "---"),
            "attackDescription": np.full(n, "---"),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
    return n


def main() -> int:
    """Build the day, run it, print the figures (JSON on the last line with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="million-") as tmp:
        landing, wh = Path(tmp) / "landing", Path(tmp) / "warehouse"
        started = time.perf_counter()
        flows = write_day(landing / DAY / "flows.csv", args.sources)
        written = time.perf_counter() - started
        cmd = ["/usr/bin/time", "-v", str(ROOT / ".venv" / "bin" / "scansense"), "run", "--date", DAY]
        cmd += ["--landing", str(landing), "--warehouse", str(wh), "--no-email", "--json"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", proc.stderr)
        result: dict = {
            "sources": args.sources,
            "flows": flows,
            "write_csv_s": round(written, 1),
            "returncode": proc.returncode,
            "wall": wall.group(1) if wall else None,
            "max_rss_mb": round(int(rss.group(1)) / 1024) if rss else None,
        }
        if proc.returncode == 0:
            result["run"] = json.loads(proc.stdout.strip().splitlines()[-1])
            with duckdb.connect(str(wh / "scansense.duckdb"), read_only=True) as con:
                for table in ("events", "geo_ip", "source_risk", "scan_fast", "scanner_orgs"):
                    result[f"{table}_rows"] = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                result["distinct_sources"] = con.execute("SELECT count(DISTINCT src_ip) FROM events").fetchone()[0]
                result["fast_scanners"] = sorted(
                    r[0] for r in con.execute("SELECT DISTINCT src_ip FROM scan_fast").fetchall()
                )[:10]
        else:
            result["stderr"] = proc.stderr[-3000:]
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0 if result["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
