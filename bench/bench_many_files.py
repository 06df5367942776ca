"""Wall time and peak memory of `scansense run` on a day of many one-record files against the same
records in 3 files (issue 28 finding 7).

    .venv/bin/python bench/bench_many_files.py --files 2000 5000 [--work /tmp/many] [--json]

For each count: a landing day of N one-record files (half CIDDS flow CSV, half sensor JSON lines),
then the same records in 3 files; each day is run by `/usr/bin/time -v scansense run --date
2025-11-26` into an empty warehouse. Prints wall seconds, peak RSS (MB) and the run's own step seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

DAY = "2025-11-26"
CIDDS_HEAD = (
    "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,"
    "class,attackType,attackID,attackDescription\n"
)


def _record(i: int) -> tuple[str, str]:
    """Record i as (CSV line, JSON line): source 203.0.x.y probing one port of 10.0.0.1."""
    src, port, sec = f"203.0.{i // 250}.{i % 250 + 1}", 22 + i % 100, f"{(i // 60) % 60:02d}:{i % 60:02d}"
    csv = f"{DAY} 03:{sec}.000,0.000,TCP,{src},40000,10.0.0.1,{port},1,60,1,....S.,0,attacker,portScan,1,---\n"
    rec = {"ts": f"{DAY}T04:{sec}Z", "event": "connect", "transport": "tcp", "src_ip": src, "src_port": 40000}
    rec |= {"dst_ip": "10.0.0.1", "dst_port": port, "bytes": 0, "sensor": "s1"}
    return csv, json.dumps(rec) + "\n"


def write_day(landing: Path, n: int, files: int | None) -> None:
    """N records in N files (files=None) or in `files` files (CSV records and JSON records apart)."""
    folder = landing / DAY
    folder.mkdir(parents=True)
    records = [_record(i) for i in range(n)]
    if files is None:
        for i, (csv, js) in enumerate(records):
            (folder / f"r{i:06d}.{'csv' if i % 2 else 'jsonl'}").write_text(CIDDS_HEAD + csv if i % 2 else js)
        return
    odd = [c for i, (c, _) in enumerate(records) if i % 2]
    even = [j for i, (_, j) in enumerate(records) if not i % 2]
    (folder / "a.csv").write_text(CIDDS_HEAD + "".join(odd))
    (folder / "b.jsonl").write_text("".join(even[: len(even) // 2]))
    (folder / "c.jsonl").write_text("".join(even[len(even) // 2 :]))


def measure(work: Path) -> dict:
    """Run the day under /usr/bin/time -v; wall seconds, peak RSS in MB and the run's step seconds."""
    env = dict(os.environ, SCANSENSE_LANDING=str(work / "landing"), SCANSENSE_WAREHOUSE=str(work / "wh"))
    scansense = str(Path(sys.executable).with_name("scansense"))
    cmd = ["/usr/bin/time", "-v", scansense, "run", "--date", DAY, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", out.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    h, m, s = wall.groups()
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "wall_s": round(int(h or 0) * 3600 + int(m) * 60 + float(s), 1),
        "peak_rss_mb": round(int(rss.group(1)) / 1024),
        "events": result["events"],
        "ingest_s": result["seconds"]["ingest"],
        "steps_s": round(sum(v for k, v in result["seconds"].items() if k != "ingest"), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/scansense-many-files"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    for n in args.files:
        for label, files in ((f"{n} files", None), ("3 files", 3)):
            shutil.rmtree(args.work, ignore_errors=True)
            write_day(args.work / "landing", n, files)
            results[f"{n} records in {label}"] = measure(args.work)
            if not args.json:
                print(f"{n} records in {label}: {results[f'{n} records in {label}']}", flush=True)
    shutil.rmtree(args.work, ignore_errors=True)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
