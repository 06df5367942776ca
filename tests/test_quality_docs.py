"""GX Data Docs in `<warehouse>/dq/`: built by a run, list every suite, show a forced failure, keep
attacker text escaped and stay readable with the network off."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest
from generated import generated_settings

from pipelines.generate import generate
from pipelines.quality import checked_entries, run_checks
from pipelines.run import run_day

DAY = date(2025, 11, 26)
# One suite per catalog file with checks: a new table's checks need no edit here.
SUITES = tuple(t.name for t in checked_entries())
assert {"events", "source_risk", "daily_summary", "agreement"} <= set(SUITES)
HOSTILE_IP = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    base = tmp_path_factory.mktemp("dq")
    generate(base / "gen", days=1, start=DAY, seed=3, scale=0.1)
    settings = generated_settings(base / "gen", base / "wh")
    result = run_day(DAY, settings, send_email=False)
    assert result.published
    return settings


@pytest.fixture(scope="module")
def forced(warehouse, tmp_path_factory):
    """Checks run again on a copy of the warehouse holding one event with a hostile source address."""
    base = tmp_path_factory.mktemp("forced")
    db = base / "copy.duckdb"
    shutil.copy(warehouse.warehouse / "scansense.duckdb", db)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE events_copy AS SELECT * FROM events")  # a view over the lake (issue 27): copied in
        con.execute("DROP VIEW events")
        con.execute("ALTER TABLE events_copy RENAME TO events")
        con.execute(
            "INSERT INTO events SELECT * REPLACE ($ip AS src_ip) FROM events WHERE event_date = $day LIMIT 1",
            {"ip": HOSTILE_IP, "day": DAY},
        )
        results = run_checks(con, DAY, warehouse, docs_dir=base / "dq")
    return base / "dq", results


def test_a_run_builds_data_docs_with_every_suite(warehouse) -> None:
    dq = warehouse.warehouse / "dq"
    index = dq / "index.html"
    assert index.is_file()
    page = index.read_text(encoding="utf-8")
    for suite in SUITES:
        assert f">{suite}</a>" in page, suite
        assert (dq / "expectations" / f"{suite}.html").is_file()
        pages = list((dq / "validations" / suite / DAY.isoformat()).rglob("*.html"))
        assert len(pages) == 1, pages
    assert (dq / f"dq-{DAY.isoformat()}.html").is_file()
    # GX's remote logo (a time-stamped URL on every view) was replaced by its local copy.
    assert "great-expectations-web-assets" not in page
    with duckdb.connect(str(warehouse.warehouse / "scansense.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("SELECT DISTINCT table_name FROM dq_results").fetchall()}
    assert tables == set(SUITES)


def test_a_rerun_of_the_day_replaces_its_results(warehouse, tmp_path) -> None:
    dq = tmp_path / "dq"
    with duckdb.connect(str(warehouse.warehouse / "scansense.duckdb"), read_only=True) as con:
        run_checks(con, DAY, warehouse, docs_dir=dq)
        run_checks(con, DAY, warehouse, docs_dir=dq)
    stored = list((dq / ".gx" / "validations" / "events").rglob("*.json"))
    assert len(stored) == 1, stored


def test_forced_failure_shows_in_index_and_validation_page(forced) -> None:
    dq, results = forced
    failed = [r for r in results if not r.success and r.critical]
    assert any(r.table_name == "events" and "src_ip" in r.expectation for r in failed), failed
    assert HOSTILE_IP in " ".join(r.details for r in failed)  # dq_results keeps the raw value
    index = (dq / "index.html").read_text(encoding="utf-8")
    row = re.search(
        r"<tr><td>2025-11-26</td><td><a href='([^']+)'>events</a></td><td>FAILED</td><td>([^<]*)</td>", index
    )
    assert row, index[-3000:]
    assert "expect_column_values_to_match_regex(src_ip) [critical]" in row.group(2)
    page = (dq / row.group(1)).read_text(encoding="utf-8")
    assert "must match this regular expression" in page and "Unexpected Value" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the offending value is shown, escaped once
    assert "id='scansense-offline'" in page  # status words that need no icon font from a CDN
    for html_file in dq.rglob("*.html"):
        assert HOSTILE_IP not in html_file.read_text(encoding="utf-8"), html_file


@pytest.mark.browser
def test_data_docs_open_offline_in_chromium(forced, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (make browser installs it as root)")
    dq, _ = forced
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        # Every host name fails to resolve: the CDN assets GX's pages reference are unreachable.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
    ]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", (dq / "index.html").as_uri()], capture_output=True, text=True, timeout=180
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "scansense-offline-index" in dom.stdout
    assert "FAILED" in dom.stdout and "expect_column_values_to_match_regex(src_ip)" in dom.stdout
    assert HOSTILE_IP not in dom.stdout
