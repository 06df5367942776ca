"""The commands as a newcomer types them: from whatever folder they are in, with the default,
relative settings (no SCANSENSE_* variables, no absolute path anywhere)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

SCANSENSE = str(Path(sys.executable).with_name("scansense"))
DAY = "2025-11-26"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SCANSENSE_")}


def _cli(cwd: Path, *args: str) -> dict:
    proc = subprocess.run(
        [SCANSENSE, *args, "--json"], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    """`scansense demo` run in an empty folder: everything lands under it, relative to it."""
    cwd = tmp_path_factory.mktemp("newcomer")
    return cwd, _cli(cwd, "demo", "--days", "1", "--scale", "0.1")


def test_demo_with_default_relative_paths_publishes_under_the_working_directory(demo) -> None:
    cwd, result = demo
    (day,) = result["days"]
    assert day["published"] is True, day["dq_failed"]
    assert day["events"] > 0 and day["malicious"] > 0
    assert Path(day["warehouse"]) == cwd / "warehouse" / "scansense.duckdb"
    assert Path(result["report"]).is_file() and Path(result["report"]).is_relative_to(cwd)
    assert (cwd / "warehouse" / "dq" / "index.html").is_file()
    assert (cwd / "demo" / "landing" / DAY).is_dir()


def test_ingest_run_query_and_eval_take_relative_paths(demo) -> None:
    cwd, _ = demo
    ingested = _cli(cwd, "ingest", f"demo/landing/{DAY}", "--warehouse", "other")
    assert ingested["files"] == 5 and ingested["rows"] > 0
    ran = _cli(
        cwd, "run", "--date", DAY, "--landing", "demo/landing", "--warehouse", "other", "--orgs-dir", "demo/orgs",
        "--no-email",
    )  # fmt: skip
    assert ran["published"] is True and ran["events"] == ingested["rows"]
    assert Path(ran["warehouse"]) == cwd / "other" / "scansense.duckdb"
    with duckdb.connect(ran["warehouse"], read_only=True) as con:
        files = {r[0] for r in con.execute("SELECT path FROM ingest_files").fetchall()}
    assert files and all(Path(f).is_absolute() and Path(f).is_relative_to(cwd) for f in files)

    rows = _cli(cwd, "query", "SELECT count(*) AS n FROM events")  # the default warehouse: ./warehouse
    assert rows["rows"][0][0] > 0
    rows = _cli(cwd, "query", "--warehouse", "other", "SELECT count(*) AS n FROM events")
    assert rows["rows"][0][0] == ran["events"]

    scores = _cli(cwd, "eval", "sources", "--landing", "demo/landing", "--truth", "demo/truth.csv")
    assert scores["detectors"]


def test_a_settings_file_with_relative_paths_resolves_against_the_working_directory(tmp_path, monkeypatch) -> None:
    from pipelines.settings import load_settings

    (tmp_path / "scansense.toml").write_text('[paths]\nwarehouse = "data/wh"\nlanding = "in"\n')
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    monkeypatch.chdir("/")  # resolved once, at load: a later change of directory changes nothing
    assert settings.warehouse == tmp_path / "data" / "wh"
    assert settings.landing == tmp_path / "in"
    assert Path(settings.sensor.out).is_absolute()
