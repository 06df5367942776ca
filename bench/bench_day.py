"""Where a day's time goes: `scansense run` end to end under /usr/bin/time -v, seconds per step.

Days measured: one real day (the shared UFW log, ../shared/data, skipped when absent) and a small
generated day (scale 0.1). Each is run twice into a fresh warehouse, the second run being a rerun
of the same day (what a retried DAG task does). Prints wall seconds, max RSS and the run's own
seconds per step; `--json` prints one JSON object as the last line.

    .venv/bin/python bench/bench_day.py [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import progress  # noqa: E402
from pipelines.generate import generate  # noqa: E402

SCANSENSE = Path(sys.executable).with_name("scansense")
UFW = ROOT.parent / "shared" / "data" / "firewall" / "ufw_vps_2023-08-20.log"


def time_v(stderr: str) -> tuple[float, int | None]:
    """(wall seconds, peak RSS in MB) from what `/usr/bin/time -v` wrote to stderr."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    hours, minutes, seconds = wall.groups() if wall else (None, "0", "nan")
    return round(int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), 2), (
        round(int(rss.group(1)) / 1024) if rss else None
    )


def timed_run(cwd: Path, day: str, *args: str) -> dict:
    """One `scansense run --json` under /usr/bin/time -v in `cwd`: wall, max RSS, seconds per step."""
    cmd = ["/usr/bin/time", "-v", str(SCANSENSE), "run", "--date", day, "--no-email", "--json", *args]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    wall_s, max_rss_mb = time_v(out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "wall_s": wall_s,
        "max_rss_mb": max_rss_mb,
        "events": result["events"],
        "published": result["published"],
        "steps_s": result["seconds"],
    }


def main() -> int:
    """Measure the days and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    days = (["ufw"] if UFW.is_file() else []) + ["generated"]
    bar, step = progress.step_bar(tuple(days), args.json, desc="bench day")
    results: dict[str, dict] = {}
    with bar, tempfile.TemporaryDirectory() as tmp:
        for name in days:
            step(name)
            cwd = Path(tmp) / name
            if name == "ufw":
                (cwd / "landing" / "2023-08-20").mkdir(parents=True)
                shutil.copy(UFW, cwd / "landing" / "2023-08-20" / UFW.name)
                day, extra = "2023-08-20", []
            else:
                generate(cwd, days=1, seed=7, scale=0.1)
                day, extra = "2025-11-26", ["--orgs-dir", "orgs"]
            results[name] = {"first": timed_run(cwd, day, *extra), "rerun": timed_run(cwd, day, *extra)}
    lines = []
    for name, runs in results.items():
        for which, r in runs.items():
            if "error" in r:
                lines.append(f"{name} {which}: FAILED {r['error'][-300:]}")
                continue
            top = sorted(r["steps_s"].items(), key=lambda kv: -kv[1])[:5]
            lines.append(
                f"{name} {which}: {r['events']:,} events, {r['wall_s']} s wall, {r['max_rss_mb']} MB max RSS; "
                + ", ".join(f"{k} {v} s" for k, v in top)
            )
    print("\n".join(lines))
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
