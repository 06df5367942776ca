"""Scenario tests: generated days through the whole pipeline, via the CLI contract."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from generated import generated_settings
from hashing import table_hashes

from pipelines import catalog
from pipelines.generate import generate
from pipelines.run import run_day
from pipelines.warehouse import missing_comments

SCANSENSE = str(Path(sys.executable).with_name("scansense"))
DAY = date(2025, 11, 26)
TABLES = catalog.names()  # every table of the catalog: a rerun of the day changes none


def _cli(*args: str) -> dict:
    proc = subprocess.run([SCANSENSE, *args, "--json"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, days=2, start=DAY, seed=11)
    return out


def test_run_fills_every_table_and_is_idempotent(tmp_path: Path, generated: Path) -> None:
    settings = generated_settings(generated, tmp_path / "warehouse")
    first = run_day(DAY, settings, send_email=False)
    assert first.published, first.dq_failed
    assert first.rows > 0 and first.events > 0 and first.malicious > 0
    db = settings.warehouse / "scansense.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        for table in (
            "events",
            "geo_ip",
            "scan_fast",
            "source_risk",
            "daily_summary",
            "hourly_abnormal",
            "geo_abnormal",
            "port_abnormal",
            "scanner_orgs",
            "dq_results",
        ):
            assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] > 0, table
        # Every table and column carries a comment for analysts.
        assert missing_comments(con) == []
        truth = {
            r[0]
            for r in con.execute(
                "SELECT src_ip FROM read_csv($p) WHERE label = 'scan' AND kind LIKE 'fast%' AND CAST(start AS DATE) = $d",
                {"p": str(generated / "truth.csv"), "d": DAY},
            ).fetchall()
        }
        found = {r[0] for r in con.execute("SELECT src_ip FROM source_risk WHERE traffic_score > 0").fetchall()}
        assert truth and len(truth & found) / len(truth) >= 0.9
    before = table_hashes(db, TABLES)
    again = run_day(DAY, settings, send_email=False)
    assert again.published and again.rows == first.rows
    assert table_hashes(db, TABLES) == before
    assert Path(first.report).is_file()


def test_same_file_twice_is_counted_once(tmp_path: Path, generated: Path) -> None:
    settings = generated_settings(generated, tmp_path / "warehouse")
    capture = generated / "landing" / DAY.isoformat() / "capture.pcap"
    copy = tmp_path / "elsewhere" / "copy.pcap"
    copy.parent.mkdir()
    copy.write_bytes(capture.read_bytes())
    first = _cli("ingest", str(capture), "--warehouse", str(settings.warehouse))
    second = _cli("ingest", str(copy), "--warehouse", str(settings.warehouse))
    assert first["files"] == 1 and first["rows"] > 0
    assert second["rows"] == 0


def test_cli_run_and_query_contract(tmp_path: Path, generated: Path) -> None:
    wh = tmp_path / "warehouse"
    result = _cli(
        "run",
        "--date",
        "2025-11-27",
        "--landing",
        str(generated / "landing"),
        "--warehouse",
        str(wh),
        "--orgs-dir",
        str(generated / "orgs"),
        "--no-email",
    )
    assert result["published"] is True and result["events"] > 0
    rows = _cli("query", "--warehouse", str(wh), "SELECT count(*) AS n FROM events")
    assert rows["columns"] == ["n"] and rows["rows"][0][0] == result["events"]
