"""Benchmarks of the organizations area.

.venv/bin/python bench/bench_orgs.py speed --sources 100000
    time each step of scanner_orgs (graph + smoothing + K-means) on synthetic sources.
.venv/bin/python bench/bench_orgs.py table --orgs 14
    paper 001's Table 2 on synthetic organizations (the generator's own data: `scansense eval orgs`).
.venv/bin/python bench/bench_orgs.py ufw ../shared/data/firewall/ufw_vps_2023-08-20.log --orgs-dir ../shared/data/scanner_orgs
    Table 2 on a real firewall log with the real reference lists as ground truth.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.orgs.cluster import choose_k, cluster, name_clusters, prepare, representation
from pipelines.orgs.evaluate import format_table, summary, table2
from pipelines.orgs.synthetic import generate_orgs
from pipelines.schema import conform_events


def _con(events: pa.Table, geo: pa.Table | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("ev", events)
    con.execute("CREATE TABLE events AS SELECT * FROM ev")
    if geo is not None:
        con.register("g", geo)
        con.execute("CREATE TABLE geo_ip AS SELECT * FROM g")
    return con


def speed(sources: int, seed: int, k: int) -> dict:
    """Seconds per step of graph + smoothing + (mini-batch) K-means on `sources` synthetic sources."""
    tmp = Path("/tmp/bench_orgs_lists")
    n_orgs = 24
    unaffiliated = sources // 4
    per_org = (sources - unaffiliated) // n_orgs
    started = time.perf_counter()
    syn = generate_orgs(n_orgs=n_orgs, sources_per_org=(per_org, per_org), unaffiliated=sources - per_org * n_orgs,
                        seed=seed, probes=(3, 12), orgs_dir=tmp)  # fmt: skip
    con = _con(syn.events, syn.geo_ip)
    gen_s = time.perf_counter() - started
    t = {}
    clock = time.perf_counter()
    prep = prepare(con, str(tmp), seed=seed, population="scanning")  # as scanner_orgs does
    t["features+graph+svd+lists"] = time.perf_counter() - clock
    clock = time.perf_counter()
    x = representation(prep, "graph+smoothing", steps=3, seed=seed)
    t["smoothing"] = time.perf_counter() - clock
    clock = time.perf_counter()
    k = k or choose_k(x, seed=seed)
    t["choose_k"] = time.perf_counter() - clock
    clock = time.perf_counter()
    labels = cluster(x, "kmeans", k, seed=seed)
    name_clusters(labels, prep.known)
    t["kmeans+naming"] = time.perf_counter() - clock
    total = sum(t.values())
    return {
        "sources": len(prep.ips),
        "events": syn.events.num_rows,
        "features": prep.features.matrix.shape[1],
        "groups": prep.graph.incidence.shape[1],
        "k": k,
        "seconds": {name: round(v, 2) for name, v in t.items()},
        "total_s": round(total, 2),
        "generate_s": round(gen_s, 2),
    }


def risk(sources: int, seed: int) -> dict:
    """Seconds of source_risk over one day with `sources` sources (a tenth flagged fast, a tenth slow)."""
    from datetime import date

    from pipelines.risk import source_risk
    from pipelines.settings import Settings

    tmp = Path("/tmp/bench_orgs_lists")
    unaffiliated = sources // 4
    per_org = (sources - unaffiliated) // 24
    syn = generate_orgs(n_orgs=24, sources_per_org=(per_org, per_org), unaffiliated=sources - per_org * 24,
                        seed=seed, probes=(3, 12), orgs_dir=tmp)  # fmt: skip
    con = _con(syn.events, syn.geo_ip)
    con.execute("CREATE TABLE scan_fast AS SELECT DISTINCT src_ip, now() AS window_start FROM events USING SAMPLE 10%")
    con.execute(
        "CREATE TABLE scan_slow AS SELECT DISTINCT src_ip, 'vertical' AS kind, true AS is_scan FROM events USING SAMPLE 10%"
    )
    settings = Settings().replace("orgs", dir=str(tmp))
    source_risk(con, date(2025, 11, 26), settings)  # warm the reference-list cache, as a daily run does
    clock = time.perf_counter()
    out = source_risk(con, date(2025, 11, 26), settings)
    seconds = time.perf_counter() - clock
    malicious = sum(out["malicious"].to_pylist())
    return {
        "sources": out.num_rows,
        "events": syn.events.num_rows,
        "malicious": malicious,
        "seconds": round(seconds, 2),
    }


_UFW = re.compile(
    r"^(?P<mon>\w{3})\s+(?P<day>\d+) (?P<time>[\d:]+) .*?SRC=(?P<src>\S+) DST=(?P<dst>\S+) .*?TTL=(?P<ttl>\d+)"
    r"(?: ID=(?P<id>\d+))?.*?PROTO=(?P<proto>\w+)(?: SPT=(?P<spt>\d+) DPT=(?P<dpt>\d+))?(?: WINDOW=(?P<win>\d+))?"
)


def read_ufw(path: Path, year: int) -> pa.Table:
    """Events of a UFW log: the ingest area's parser when present, else a minimal reading for this benchmark."""
    try:
        from pipelines.ingest import iter_file
        from pipelines.settings import Settings

        return pa.concat_tables([c.events for c in iter_file(path, Settings(), year=year)])
    except ImportError:
        pass
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        m = _UFW.search(line)
        if not m:
            continue
        ts = datetime.strptime(f"{year} {m['mon']} {m['day']} {m['time']}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
        rows.append(
            {
                "ts": ts,
                "event_date": ts.date(),
                "src_ip": m["src"],
                "dst_ip": m["dst"],
                "proto": m["proto"].lower(),
                "dst_port": int(m["dpt"]) if m["dpt"] else None,
                "src_port": int(m["spt"]) if m["spt"] else None,
                "ttl": int(m["ttl"]),
                "ip_id": int(m["id"]) if m["id"] else None,
                "tcp_window": int(m["win"]) if m["win"] else None,
                "packets": 1,
            }  # fmt: skip
        )
    return conform_events(pa.Table.from_pylist(rows))


def ufw(path: Path, orgs_dir: Path, k: int, seed: int, population: str = "labelled", steps: int = 3) -> dict:
    """Table 2 on a real firewall log; ground truth = the reference lists."""
    events = read_ufw(path, 2023)
    con = _con(events, None)
    try:
        from pipelines.geo import enrich
        from pipelines.settings import Settings

        geo = enrich(con, Settings())
        con.register("g", geo)
        con.execute("CREATE TABLE geo_ip AS SELECT * FROM g")
    except ImportError:
        pass
    prep = prepare(con, str(orgs_dir), seed=seed, population=population)
    known = [o for o in prep.known if o and o != "mass_scanner"]
    counts = {o: known.count(o) for o in sorted(set(known))}
    return {
        "events": events.num_rows,
        "summary": summary(prep),
        "orgs": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        "results": table2(prep, k=k, steps=steps, seed=seed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--sources", type=int, default=100_000)
    s.add_argument("--k", type=int, default=0)
    s.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("risk")
    r.add_argument("--sources", type=int, default=100_000)
    r.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("table")
    t.add_argument("--orgs", type=int, default=14)
    t.add_argument("--seed", type=int, default=0)
    u = sub.add_parser("ufw")
    u.add_argument("log", type=Path)
    u.add_argument("--orgs-dir", type=Path, required=True)
    u.add_argument("--k", type=int, default=0)
    u.add_argument("--steps", type=int, default=3)
    u.add_argument("--population", choices=("labelled", "scanning", "all"), default="labelled")
    u.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.what == "speed":
        out = speed(args.sources, args.seed, args.k)
    elif args.what == "risk":
        out = risk(args.sources, args.seed)
    elif args.what == "table":
        tmp = Path("/tmp/bench_orgs_table_lists")
        syn = generate_orgs(n_orgs=args.orgs, seed=args.seed, probes=(3, 12), orgs_dir=tmp)
        prep = prepare(_con(syn.events, syn.geo_ip), str(tmp), seed=args.seed)
        out = {"sources": len(prep.ips), "results": table2(prep, seed=args.seed)}
        print(format_table(out["results"]))
    else:
        out = ufw(args.log, args.orgs_dir, args.k, args.seed, args.population, args.steps)
        print(format_table(out["results"]))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
