"""Does a day cost what the day holds? Rerun day N of a long history against day 1 of a fresh warehouse.

History is built cheaply, as issue 27's measurement did: one generated day is run once, then its
lake partitions (every `date=<day>/` folder of every table) are copied under the N-1 dates before
it, every date and timestamp column moved by as many days (a copy left as it was would be N
duplicates of one day, which the checks reject), so the history warehouse holds N days and the
fresh one day 1 alone. Both are then run with an
empty landing folder (nothing to ingest: ingest does not depend on history), alternately, each run
under /usr/bin/time -v: wall seconds and the child's peak RSS, the published file's size and the
lake's, and the time of the analysts' example queries (sql/examples/) on the published file.
The history warehouse is run once before the measured rounds (its first run folds the copied days).

`--code DIR` runs `scansense` from another checkout (its `pipelines` first on PYTHONPATH), to
measure the code before a change against the code after it, alternated in the same run:

    .venv/bin/python bench/bench_history.py --days 60 --rounds 3
    .venv/bin/python bench/bench_history.py --days 60 --rounds 2 --code /tmp/mainref --code .
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from bench_day import time_v  # noqa: E402  (the folder of this script is on sys.path)

from pipelines.generate import generate  # noqa: E402

FIRST = date(2025, 11, 26)  # the generator's default first day
# What a day's publish derives (marts, tags, history states, organizations) is not copied: the
# history warehouse's first run builds it for every copied day, as it would for a warehouse
# written before those partitions existed.
DERIVED = {
    "source_history",
    "source_tags",
    "scanner_orgs",
    "daily_summary",
    "geo_abnormal",
    "hourly_abnormal",
    "port_abnormal",
}
# Never copied: its times are window numbers (slow_span_day.w), which `shifted` cannot move; the span
# model computes a missing day's rows from that day's (copied) events on the first run that needs them.
NOT_SHIFTABLE = {"slow_span_day"}
RUN = "import sys; from pipelines.cli import main; sys.argv = ['scansense', *sys.argv[1:]]; sys.exit(main())"
EXAMPLES = sorted((ROOT / "sql" / "examples").glob("*.sql"))


def scansense(code: Path, warehouse: Path, landing: Path, *args: str) -> subprocess.CompletedProcess:
    """`scansense ARGS` from checkout `code` on `warehouse`, under /usr/bin/time -v."""
    env = dict(
        os.environ,
        PYTHONPATH=str(code),
        SCANSENSE_WAREHOUSE=str(warehouse),
        SCANSENSE_LANDING=str(landing),
    )
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", RUN, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=warehouse.parent)


def timed_run(code: Path, warehouse: Path, landing: Path, orgs: Path, day: date) -> dict:
    """Run `day` on `warehouse`: wall seconds, peak RSS of the child, sizes, the run's own seconds per step."""
    args = ("run", "--date", day.isoformat(), "--no-email", "--json", "--orgs-dir", str(orgs))
    out = scansense(code, warehouse, landing, *args)
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    wall_s, max_rss_mb = time_v(out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "wall_s": wall_s,
        "max_rss_mb": max_rss_mb,
        "db_mb": round((warehouse / "scansense.duckdb").stat().st_size / 2**20, 1),
        "lake_mb": round(_size(warehouse / "lake") / 2**20, 1),
        "published": result["published"],
        "examples_s": examples_seconds(warehouse / "scansense.duckdb"),
        "steps_s": result["seconds"],
    }


def examples_seconds(db: Path) -> float:
    """Seconds to run every query of sql/examples/ on the published file, opened read-only."""
    started = time.perf_counter()
    con = duckdb.connect(str(db), read_only=True)
    try:
        for path in EXAMPLES:
            con.execute(path.read_text(encoding="utf-8")).fetchall()
    finally:
        con.close()
    return round(time.perf_counter() - started, 3)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def copy_history(template: Path, warehouse: Path, days: int, derived: bool = False) -> None:
    """A warehouse whose lake holds the template's day under `days` dates ending at the template's day.

    With `derived`, the day's marts, tags, history state and organizations are copied too instead of
    being built by the first run: every copied day has the same sources, ports and hosts, so the
    folded state has the same rows and list lengths as the one-day state copied (only its counts,
    such as days_active, differ), and a run costs the same; it saves the first run's folding.
    """
    shutil.copytree(template / "lake", warehouse / "lake")
    geo = template / "geo"
    if geo.exists():
        (warehouse / "geo").symlink_to(geo.resolve())
    for table in (warehouse / "lake").iterdir():
        source = table / f"date={FIRST.isoformat()}"
        if not source.is_dir() or (table.name in DERIVED and not derived) or table.name in NOT_SHIFTABLE:
            continue
        files = [(f.name, pq.read_table(f)) for f in sorted(source.glob("*.parquet"))]
        for k in range(1, days):
            folder = table / f"date={(FIRST - timedelta(days=k)).isoformat()}"
            folder.mkdir()
            for name, rows in files:
                pq.write_table(shifted(rows, -k), folder / name, compression="zstd")


def shifted(rows: pa.Table, days: int) -> pa.Table:
    """`rows` moved by `days`: every date and timestamp column, so a copy is another day, not a duplicate."""
    delta = timedelta(days=days)
    for i, field in enumerate(rows.schema):
        if pa.types.is_date32(field.type):
            moved = pc.add(rows.column(i).cast(pa.timestamp("s")), pa.scalar(delta, pa.duration("s")))
            rows = rows.set_column(i, field, moved.cast(pa.date32()))
        elif pa.types.is_timestamp(field.type):
            moved = pc.add(rows.column(i), pa.scalar(delta, pa.duration(field.type.unit)))
            rows = rows.set_column(i, field, moved.cast(field.type))
    return rows


def main() -> int:
    """Build the warehouses, alternate the runs, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60, help="days of history before the rerun day")
    parser.add_argument("--scale", type=float, default=0.2, help="generated day's volume (0.2: ~56,000 events)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--code", type=Path, action="append", help="checkouts to compare (default: this one)")
    parser.add_argument("--copy-derived", action="store_true", help="copy derived partitions (see copy_history)")
    parser.add_argument("--keep", type=Path, help="work folder kept after the run (default: a temporary one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    codes = [c.resolve() for c in (args.code or [ROOT])]
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-history-"))
    work.mkdir(parents=True, exist_ok=True)
    generate(work / "gen", days=1, start=FIRST, seed=7, scale=args.scale)
    empty, orgs = work / "empty-landing", work / "gen" / "orgs"
    empty.mkdir(exist_ok=True)
    results: dict[str, dict[str, list[dict]]] = {}
    for code in codes:
        name = f"{code.name}"
        template = work / f"template-{name}"
        (template).mkdir()
        if (ROOT / "warehouse" / "geo").is_dir():
            (template / "geo").symlink_to((ROOT / "warehouse" / "geo").resolve())
        first = timed_run(code, template, work / "gen" / "landing", orgs, FIRST)
        if "error" in first:
            print(f"{name}: the template day failed: {first['error'][-500:]}")
            return 1
        history = work / f"history-{name}"
        history.mkdir()
        copy_history(template, history, args.days, derived=args.copy_derived)
        timed_run(code, history, empty, orgs, FIRST)  # folds the copied days (a warehouse's first run)
        results[name] = {"rerun": [], "fresh": []}
    for _ in range(args.rounds):
        for code in codes:
            name = code.name
            results[name]["rerun"].append(timed_run(code, work / f"history-{name}", empty, orgs, FIRST))
            fresh = work / f"fresh-{name}"
            shutil.rmtree(fresh, ignore_errors=True)
            fresh.mkdir()
            copy_history(work / f"template-{name}", fresh, 1)
            results[name]["fresh"].append(timed_run(code, fresh, empty, orgs, FIRST))
    print(f"day {args.days} of a {args.days}-day history against day 1 of a fresh warehouse, scale {args.scale}")
    print("| code | run | wall s | peak RSS MB | scansense.duckdb MB | lake MB | examples s | ratio wall | ratio RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        fresh_wall = min(r["wall_s"] for r in runs["fresh"] if "wall_s" in r)
        fresh_rss = min(r["max_rss_mb"] for r in runs["fresh"] if "max_rss_mb" in r)
        for which, label in (("fresh", "day 1, fresh"), ("rerun", f"day {args.days}, rerun")):
            for r in runs[which]:
                if "error" in r:
                    print(f"| {name} | {label} | FAILED: {r['error'][-200:]!r} |")
                    continue
                print(
                    f"| {name} | {label} | {r['wall_s']} | {r['max_rss_mb']} | {r['db_mb']} | {r['lake_mb']} | "
                    f"{r['examples_s']} | {r['wall_s'] / fresh_wall:.2f} | {r['max_rss_mb'] / fresh_rss:.2f} |"
                )
    if args.json:
        print(json.dumps(results))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
