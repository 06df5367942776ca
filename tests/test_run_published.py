"""What `scansense run` publishes, as its users see it: the run's counts and the analysts' DuckDB CLI.

One small generated day is run through the CLI with two fast scanners on the site's allow-list,
so the run's counts differ from the detectors' own tables exactly where the warehouse's do.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.generate import generate

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
DAY = date(2025, 11, 26)
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "sql" / "examples").glob("*.sql"))


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> dict:
    """The day run by `scansense run --json` with an allow-list: its JSON and the published file."""
    base = tmp_path_factory.mktemp("published")
    generate(base / "gen", days=1, start=DAY, seed=7, scale=0.1)
    with open(base / "gen" / "truth.csv", newline="", encoding="utf-8") as fh:
        fast = sorted({r["src_ip"] for r in csv.DictReader(fh) if r["kind"].startswith("fast")})
    listed = fast[:2]
    (base / "allow.txt").write_text("# the site's own scanners\n" + "\n".join(listed) + "\n", encoding="utf-8")
    env = dict(os.environ, SCANSENSE_SITE_ALLOW=str(base / "allow.txt"), SCANSENSE_ORGS_DIR=str(base / "gen" / "orgs"))
    args = ["run", "--date", DAY.isoformat(), "--landing", str(base / "gen" / "landing")]
    args += ["--warehouse", str(base / "wh"), "--no-email", "--json"]
    proc = subprocess.run([str(BIN / "scansense"), *args], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["published"], result["dq_failed"]
    return {"run": result, "db": base / "wh" / "scansense.duckdb", "listed": listed}


def test_run_json_counts_are_the_published_daily_summary(published) -> None:
    run, listed = published["run"], published["listed"]
    with duckdb.connect(str(published["db"]), read_only=True) as con:
        summary = con.execute(
            "SELECT events, sources, fast_scans, slow_scans, abnormal_sources FROM daily_summary WHERE event_date = $d",
            {"d": DAY},
        ).fetchone()
        detected = con.execute("SELECT count(DISTINCT src_ip) FROM scan_fast").fetchone()[0]
        listed_found = con.execute(
            "SELECT count(DISTINCT src_ip) FROM scan_fast WHERE list_contains($l, src_ip)", {"l": listed}
        ).fetchone()[0]
    assert [run[k] for k in ("events", "sources", "fast_scans", "slow_scans", "malicious")] == list(summary)
    # the allow-listed scanners were detected, and neither the warehouse nor the run counts them
    assert listed_found == 2 and run["fast_scans"] == detected - 2


def _cli(db: Path, sql: str) -> subprocess.CompletedProcess:
    """The README's `duckdb -readonly -init deploy/duckdb_analyst.sql <db>`, the query on its standard input.

    The init file names the lake as the default layout has it (`warehouse/lake/`); here it is the
    test warehouse's lake, the same three settings otherwise.
    """
    init = db.parent / "analyst.sql"
    text = (ROOT / "deploy" / "duckdb_analyst.sql").read_text(encoding="utf-8")
    init.write_text(text.replace("'warehouse/lake/'", f"'{db.parent / 'lake'}/'"), encoding="utf-8")
    out = subprocess.run(
        [str(BIN / "duckdb"), "-readonly", "-init", str(init), "-bail", "-json", str(db)],
        input=sql,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # the CLI says on stderr, in colour, that it read the init file: that line is not an error
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out.stderr)
    stderr = "".join(line for line in plain.splitlines(keepends=True) if "Loading resources from" not in line)
    return subprocess.CompletedProcess(out.args, out.returncode, out.stdout, stderr)


def test_the_duckdb_cli_is_installed_at_the_librarys_version() -> None:
    out = subprocess.run([str(BIN / "duckdb"), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split()[0] == f"v{duckdb.__version__}", out.stdout + out.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_query_runs_in_the_read_only_cli(published, example: Path) -> None:
    out = _cli(published["db"], example.read_text(encoding="utf-8"))
    assert out.returncode == 0 and not out.stderr, out.stderr
    assert isinstance(json.loads(out.stdout or "[]"), list)


def test_the_read_only_cli_refuses_writes_and_files(published, tmp_path: Path) -> None:
    write = _cli(published["db"], "CREATE TABLE mine AS SELECT 1 AS x;")
    assert write.returncode != 0 and "read-only" in write.stderr.lower(), write.stderr
    (tmp_path / "secret.txt").write_text("not for SQL\n", encoding="utf-8")
    read = _cli(published["db"], f"SELECT * FROM read_text('{tmp_path / 'secret.txt'}');")
    assert read.returncode != 0 and "not for SQL" not in read.stdout, read.stdout + read.stderr
