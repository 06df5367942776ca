"""Ingest speed of two source trees, interleaved on the same captures (a before/after under load).

    .venv/bin/python bench/bench_ingest_ab.py BEFORE_TREE AFTER_TREE CAPTURE... [--rounds 3] [--json]

e.g. `git archive <commit> | tar -x -C /tmp/before` for the before tree. Each round runs each
tree in its own process (its own numba cache): `iter_file` best of 5 (packets/s by CPU and wall
time), then `ingest_paths` into an empty lake (rows/s wall, lake bytes). The best of all rounds
is reported per tree: on a shared machine the best run is the one least disturbed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from pipelines.ingest import ingest_paths, iter_file
from pipelines.settings import load_settings
settings, out = load_settings(env={}), {}
for f in sys.argv[2:]:
    p = Path(f)
    sum(c.events.num_rows for c in iter_file(p, settings))  # warm-up: numba cache, page cache
    wall = cpu = 1e9
    for _ in range(5):
        w, c = time.perf_counter(), time.process_time()
        n = sum(ch.events.num_rows for ch in iter_file(p, settings))
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    with tempfile.TemporaryDirectory() as wh:
        started = time.perf_counter()
        rows = ingest_paths([p], load_settings(env={"SCANSENSE_WAREHOUSE": wh})).rows
        lake_s = time.perf_counter() - started
        size = sum(q.stat().st_size for q in (Path(wh) / "lake" / "events").rglob("*.parquet"))
    out[p.name] = {"pps_cpu": n / cpu, "pps_wall": n / wall, "lake_rows_per_s": rows / lake_s, "lake_bytes": size}
print(json.dumps(out))
"""


def run_tree(tree: Path, captures: list[Path]) -> dict:
    """One round of measurements of `tree` in a fresh process."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tree), *map(str, captures)],
        capture_output=True,
        text=True,
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    """Interleave the two trees for `--rounds` rounds and print the best figures of each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("captures", type=Path, nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    best: dict[str, dict] = {"before": {}, "after": {}}
    for _ in range(args.rounds):
        for name, tree in (("before", args.before), ("after", args.after)):
            for capture, figures in run_tree(tree.resolve(), [c.resolve() for c in args.captures]).items():
                kept = best[name].setdefault(capture, figures)
                for key in ("pps_cpu", "pps_wall", "lake_rows_per_s"):
                    kept[key] = max(kept[key], figures[key])
    rounded = {n: {c: {k: round(v) for k, v in f.items()} for c, f in t.items()} for n, t in best.items()}
    print(json.dumps(rounded) if args.json else json.dumps(rounded, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
