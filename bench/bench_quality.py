"""Time and peak memory of the quality step alone (`quality.run_checks`) on a built warehouse.

Opens `<warehouse>/scansense.duckdb` read-only, runs every catalog check on one day with Data Docs
written to a throw-away folder, and prints one JSON line: seconds, peak RSS of this process (MB,
before and after the step), the day's rows of each checked table, and the failed expectations.

    PYTHONPATH=. python bench/bench_quality.py /tmp/s10/warehouse [--date 2025-11-26] [--chunk-rows N]

`--against FILE` (another checkout's `pipelines/quality.py`) runs it and ours alternately in this
process, `--rounds` times each after one unmeasured run of each (GX imported and warmed), prints
the wall and CPU seconds of every run, and stops with an error unless both give the same results.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from pipelines import quality
from pipelines.settings import load_settings


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(path: Path):
    """The quality module at `path` (another checkout's), importable beside ours."""
    spec = importlib.util.spec_from_file_location("quality_against", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def compare(con, day: date, settings, against: Path, rounds: int) -> dict:
    """Seconds (wall, CPU) of `run_checks` from ours and from `against`, alternated; their results must agree."""
    variants = {"this": quality, "against": _load(against)}
    seconds: dict[str, list] = {name: [] for name in variants}
    outcomes = {}
    with tempfile.TemporaryDirectory() as docs:
        for r in range(rounds + 1):
            for name in variants if r % 2 == 0 else reversed(variants):
                wall, cpu = time.perf_counter(), time.process_time()
                found = variants[name].run_checks(con, day, settings, docs_dir=Path(docs) / name)
                if r:  # the first round imports and warms GX: not measured
                    seconds[name].append((round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)))
                outcomes[name] = [dataclasses.astuple(x) for x in found]
    if outcomes["this"] != outcomes["against"]:
        raise SystemExit("bench_quality: the two give different results")
    return {"expectations": len(outcomes["this"]), "wall_cpu_s": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--date", type=date.fromisoformat, help="day to check (default: the day with most events)")
    parser.add_argument("--chunk-rows", type=int, help="[quality] chunk_rows for this run")
    parser.add_argument("--against", type=Path, help="another checkout's pipelines/quality.py, run alternately")
    parser.add_argument("--rounds", type=int, default=5, help="measured runs of each with --against (default 5)")
    args = parser.parse_args(argv)
    settings = load_settings(env={"SCANSENSE_WAREHOUSE": str(args.warehouse)})
    if args.chunk_rows is not None:
        settings = settings.replace("quality", chunk_rows=args.chunk_rows)
    with duckdb.connect(str(args.warehouse / "scansense.duckdb"), read_only=True) as con:
        day = (
            args.date
            or con.execute(
                "SELECT event_date FROM events GROUP BY event_date ORDER BY count(*) DESC LIMIT 1"
            ).fetchone()[0]
        )
        rows = {
            t.name: con.execute(
                f'SELECT count(*) FROM "{t.name}" WHERE {t.checked_rows}', quality._day(t, day)
            ).fetchone()[0]
            for t in quality.checked_entries()
            if t.kind != "check"
        }
        if args.against is not None:
            print(json.dumps({"day": day.isoformat()} | compare(con, day, settings, args.against, args.rounds)))
            return 0
        before = _peak_mb()
        with tempfile.TemporaryDirectory() as docs:
            start = time.perf_counter()
            results = quality.run_checks(con, day, settings, docs_dir=Path(docs))
            seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "day": day.isoformat(),
                "chunk_rows": getattr(getattr(settings, "quality", None), "chunk_rows", None),
                "seconds": round(seconds, 1),
                "peak_rss_mb_before": round(before),
                "peak_rss_mb": round(_peak_mb()),
                "rows": rows,
                "expectations": len(results),
                "failed": [f"{r.table_name}: {r.expectation}" for r in results if not r.success],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
