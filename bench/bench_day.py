"""Where a day's time goes: `scansense run` end to end under /usr/bin/time -v, seconds per step.

Days measured: one real day (the shared UFW log, ../shared/data, skipped when absent) and a small
generated day (scale 0.1). Each is run twice into a fresh warehouse, the second run being a rerun
of the same day (what a retried DAG task does). Prints wall seconds, CPU seconds (user + system),
max RSS and the run's own seconds per step; `--json` prints one JSON object as the last line.

`--against DIR` measures another checkout beside this one (its own `.venv/bin/scansense`, e.g.
`git worktree add /tmp/before main && make -C /tmp/before setup`): each round runs both, the
order alternating, so both see the same load. `--days ufw` keeps to the real day.

    .venv/bin/python bench/bench_day.py [--json] [--against DIR] [--rounds N] [--days ufw generated]
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


def cpu_v(stderr: str) -> float | None:
    """User plus system CPU seconds from what `/usr/bin/time -v` wrote to stderr."""
    found = [re.search(rf"{kind} time \(seconds\): ([\d.]+)", stderr) for kind in ("User", "System")]
    return round(sum(float(m.group(1)) for m in found), 2) if all(found) else None


def time_v(stderr: str) -> tuple[float, int | None]:
    """(wall seconds, peak RSS in MB) from what `/usr/bin/time -v` wrote to stderr."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    hours, minutes, seconds = wall.groups() if wall else (None, "0", "nan")
    return round(int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds), 2), (
        round(int(rss.group(1)) / 1024) if rss else None
    )


def timed_run(cwd: Path, day: str, *args: str, scansense: Path = SCANSENSE) -> dict:
    """One `scansense run --json` under /usr/bin/time -v in `cwd`: wall, CPU, max RSS, seconds per step."""
    cmd = ["/usr/bin/time", "-v", str(scansense), "run", "--date", day, "--no-email", "--json", *args]
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    wall_s, max_rss_mb = time_v(out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "wall_s": wall_s,
        "cpu_s": cpu_v(out.stderr),
        "max_rss_mb": max_rss_mb,
        "events": result["events"],
        "published": result["published"],
        "steps_s": result["seconds"],
    }


def prepare(cwd: Path, name: str) -> tuple[str, list[str]]:
    """Lay out day `name` (ufw or generated) in the fresh folder `cwd`; its date and extra run arguments."""
    if name == "ufw":
        (cwd / "landing" / "2023-08-20").mkdir(parents=True)
        shutil.copy(UFW, cwd / "landing" / "2023-08-20" / UFW.name)
        return "2023-08-20", []
    generate(cwd, days=1, seed=7, scale=0.1)
    return "2025-11-26", ["--orgs-dir", "orgs"]


def main() -> int:
    """Measure the days and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--against", type=Path, help="another checkout to measure alternately (its .venv)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every variant (default 1)")
    parser.add_argument("--days", nargs="+", choices=("ufw", "generated"), default=["ufw", "generated"])
    args = parser.parse_args()
    variants = {"this": SCANSENSE}
    if args.against is not None:
        other = args.against.resolve() / ".venv" / "bin" / "scansense"
        if not other.is_file():
            parser.error(f"--against: no {other} (run `make setup` in that checkout)")
        variants["against"] = other
    days = [d for d in args.days if d != "ufw" or UFW.is_file()]
    plan = []
    for r in range(args.rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))  # alternate who goes first
        plan += [(name, variant, r) for name in days for variant in order]
    bar, step = progress.step_bar(tuple(f"{n} {v} {r}" for n, v, r in plan), args.json, desc="bench day")
    results: dict[str, list[dict]] = {}
    with bar, tempfile.TemporaryDirectory() as tmp:
        for name, variant, r in plan:
            step(f"{name} {variant} {r}")
            cwd = Path(tmp) / f"{name}-{variant}-{r}"
            day, extra = prepare(cwd, name)
            scansense = variants[variant]
            runs = {w: timed_run(cwd, day, *extra, scansense=scansense) for w in ("first", "rerun")}
            results.setdefault(f"{name} {variant}", []).append(runs)
            shutil.rmtree(cwd, ignore_errors=True)
    lines = []
    for key, rounds in results.items():
        for r, runs in enumerate(rounds):
            for which, run in runs.items():
                if "error" in run:
                    lines.append(f"{key} #{r} {which}: FAILED {run['error'][-300:]}")
                    continue
                top = sorted(run["steps_s"].items(), key=lambda kv: -kv[1])[:5]
                lines.append(
                    f"{key} #{r} {which}: {run['events']:,} events, {run['wall_s']} s wall, {run['cpu_s']} s CPU, "
                    f"{run['max_rss_mb']} MB max RSS; " + ", ".join(f"{k} {v} s" for k, v in top)
                )
    print("\n".join(lines))
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
