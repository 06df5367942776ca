"""What holds a small day's peak RSS: memory after each heavy import, and after each step of a run.

Two measurements, each in a fresh process:
- imports: the libraries `scansense run` loads, imported one after another in the order a run
  meets them; prints the resident set (VmRSS) after each and what it added;
- steps: the real UFW day (../shared/data; a generated day at scale 0.1 when absent) run by
  `run_day`, a first run then a rerun, each in its own process as `scansense run` would be; at
  the start of each step it records VmRSS and the peak so far (VmHWM), so the step that raised
  the peak is the one before it.

    .venv/bin/python bench/bench_memory.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

UFW = ROOT.parent / "shared" / "data" / "firewall" / "ufw_vps_2023-08-20.log"

# The heavy modules in the order a run imports them (ingest, organizations, quality, report).
IMPORTS = (
    "duckdb",
    "pyarrow",
    "polars",
    "numpy",
    "pipelines.ingest.paths",  # numba-compiled decoders
    "pandas",
    "sklearn.cluster",
    "sklearn.feature_extraction.text",
    "scipy.stats",
    "great_expectations",
    "altair",
    "vl_convert",
)


def _status_mb(field: str) -> float:
    """A field of /proc/self/status (VmRSS, VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    raise KeyError(field)


def measure_imports() -> list[dict]:
    """VmRSS after importing each of IMPORTS in turn (this process must be fresh)."""
    import importlib

    rows = [{"module": "(interpreter)", "rss_mb": _status_mb("VmRSS")}]
    for name in IMPORTS:
        importlib.import_module(name)
        rows.append({"module": name, "rss_mb": _status_mb("VmRSS")})
    for before, after in zip(rows, rows[1:], strict=False):
        after["added_mb"] = round(after["rss_mb"] - before["rss_mb"], 1)
    return rows


def prepare(folder: Path) -> str:
    """Lay out the day to run in `folder`; its name (ufw, or generated when the shared log is absent)."""
    from pipelines.generate import generate

    if UFW.is_file():
        (folder / "landing" / "2023-08-20").mkdir(parents=True)
        shutil.copy(UFW, folder / "landing" / "2023-08-20" / UFW.name)
        return "ufw"
    generate(folder, days=1, seed=7, scale=0.1)
    return "generated"


def measure_steps(folder: Path) -> list[dict]:
    """VmRSS and VmHWM at each step's start of one run of the day laid out in `folder`, in this process."""
    from pipelines.run import run_day
    from pipelines.settings import load_settings

    os.chdir(folder)  # settings and paths as `scansense run` in that folder finds them
    day = date(2023, 8, 20) if (folder / "landing" / "2023-08-20").is_dir() else date(2025, 11, 26)
    marks: list[dict] = []

    def mark(step: str) -> None:
        marks.append({"step": step, "rss_mb": _status_mb("VmRSS"), "peak_mb": _status_mb("VmHWM")})

    run_day(day, load_settings(), send_email=False, on_step=mark)
    mark("(end)")
    return marks


def _child(*args: str) -> object:
    """The JSON a child process of this script printed last."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    """Run both measurements in fresh processes and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=("imports", "steps"), help=argparse.SUPPRESS)  # the child processes
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only == "imports":
        print(json.dumps(measure_imports()))
        return 0
    if args.only == "steps":
        print(json.dumps(measure_steps(args.folder)))
        return 0
    found: dict = {"imports": _child("--only", "imports"), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        found["day"] = prepare(Path(tmp))
        for which in ("first", "rerun"):
            found["runs"][which] = _child("--only", "steps", "--folder", tmp)
    lines = ["imports (VmRSS after each, MB):"]
    lines += [f"  {r['module']:<34} {r['rss_mb']:>7} {r.get('added_mb', ''):>+8}" for r in found["imports"][1:]]
    lines.insert(1, f"  {'(interpreter)':<34} {found['imports'][0]['rss_mb']:>7}")
    for which, marks in found["runs"].items():
        lines.append(f"{found['day']} {which} (at each step's start: VmRSS, peak so far, MB):")
        lines += [f"  {m['step']:<22} {m['rss_mb']:>7} {m['peak_mb']:>7}" for m in marks]
    print("\n".join(lines))
    if args.json:
        print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
