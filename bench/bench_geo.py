"""Benchmark geo enrichment: 1,000,000 distinct addresses (public IPv4 plus some IPv6) through
`pipelines.geo.enrich` with the offline databases, cold (empty geo_ip cache) and cache hit.

    .venv/bin/python bench/bench_geo.py [--n 1000000] [--v6-share 0.05] [--geo DATA_DIR] [--repeat 3] [--rebuild]

The databases come from `<geo>` (`make setup` fetches them); the cache is written to a temporary
warehouse. `--rebuild` also times the one-time conversion of the databases to range tables.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pipelines import geo
from pipelines.geo import ranges
from pipelines.geo.files import data_dir
from pipelines.settings import Settings, load_settings


def addresses(n: int, v6_share: float, seed: int = 7) -> pa.Array:
    """`n` distinct random public addresses, about `v6_share` of them IPv6 in 2000::/3."""
    rng = np.random.default_rng(seed)
    n6 = int(n * v6_share)
    special = ranges.special_table()
    v4: np.ndarray = np.zeros(0, np.uint64)
    while len(v4) < n - n6:
        draw = rng.integers(1 << 24, 224 << 24, 2 * (n - n6), dtype=np.uint64)
        keys = ranges.Keys(np.full(len(draw), 4, np.int8), np.zeros(len(draw), np.uint64), draw)
        v4 = np.unique(np.concatenate([v4, draw[special.find(keys) < 0]]))
    v4 = rng.permutation(v4)[: n - n6]
    octets = [(v4 >> np.uint64(s)) & np.uint64(255) for s in (24, 16, 8, 0)]
    text4 = [f"{a}.{b}.{c}.{d}" for a, b, c, d in zip(*(o.tolist() for o in octets), strict=True)]
    hi = rng.integers(0x2000 << 48, 0x3000 << 48, n6, dtype=np.uint64).tolist()
    lo = rng.integers(0, 1 << 63, n6, dtype=np.uint64).tolist()
    text6 = [
        ":".join(f"{(x >> s) & 0xFFFF:x}" for x in (h, low) for s in (48, 32, 16, 0))
        for h, low in zip(hi, lo, strict=True)
    ]
    return pa.array(text4 + sorted(set(text6)), pa.string())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--v6-share", type=float, default=0.05)
    parser.add_argument("--geo", type=Path, help="folder with the offline databases (default: [geo] data_dir)")
    parser.add_argument("--repeat", type=int, default=3, help="cache-hit runs (the best is reported, all are listed)")
    parser.add_argument("--rebuild", action="store_true", help="also time converting the databases to range tables")
    args = parser.parse_args(argv)
    source = (args.geo or data_dir(load_settings())).resolve()
    if not any(source.glob("*.mmdb")):
        raise SystemExit(f"no .mmdb in {source}: run `make setup` (or `scansense geo fetch`) first")
    ips = addresses(args.n, args.v6_share)
    events = pa.table({"src_ip": ips, "dst_ip": pa.array(["192.0.2.1"] * len(ips), pa.string())})  # noqa: F841
    out: dict = {
        "addresses": len(ips),
        "ipv6": sum(1 for s in ips.to_pylist() if ":" in s),
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = Path(tmp) / "warehouse"
        warehouse.mkdir()
        # the databases and their prepared tables, from the shared data directory as in a run
        settings = Settings().replace("paths", warehouse=str(warehouse)).replace("geo", data_dir=str(source))
        if args.rebuild:
            shutil.rmtree(source / ".prepared", ignore_errors=True)
            t = time.perf_counter()
            geo.offline(["8.8.8.8"], settings)
            out["prepare_s"] = round(time.perf_counter() - t, 2)
        ranges._LOADED.clear()  # cold: the prepared range tables are read from Parquet again
        con = duckdb.connect()
        con.execute("CREATE TABLE events AS SELECT * FROM events")
        # Wall time, and CPU time of all threads (less sensitive to other work on a shared machine).
        t, c = time.perf_counter(), time.process_time()
        cold = geo.enrich(con, settings)
        out["cold_s"], out["cold_cpu_s"] = round(time.perf_counter() - t, 2), round(time.process_time() - c, 2)
        runs, cpu = [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            hit = geo.enrich(con, settings)
            runs.append(round(time.perf_counter() - t, 2))
            cpu.append(round(time.process_time() - c, 2))
        out["cache_s"], out["cache_runs_s"], out["cache_cpu_s"] = min(runs), runs, cpu
        out["rows"] = hit.num_rows
        out["cache_rows_equal"] = hit.equals(cold)
        public = cold.filter(pa.compute.equal(cold["ip_class"], "public"))
        out["placed_share"] = round(
            public["country_code"].null_count and 1 - public["country_code"].null_count / public.num_rows or 1.0, 4
        )
        out["providers"] = dict(zip(*[c.to_pylist() for c in cold["provider"].value_counts().flatten()], strict=True))
        con.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
