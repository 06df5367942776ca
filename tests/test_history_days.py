"""The published file is views over the lake plus source_history (issue 27): what analysts open works.

Two small generated days run one after the other: the file holds a view per lake table, every view
and column carries its COMMENT in duckdb_columns(), the file opens and answers from another working
directory, its size does not grow with the days, and the organizations are stored per day.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from generated import generated_settings

from pipelines import catalog
from pipelines import warehouse as wh

DAY = date(2025, 11, 26)
DAYS = [DAY, DAY + timedelta(days=1)]
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "sql" / "examples").glob("*.sql"))


@pytest.fixture(scope="module")
def two_days(tmp_path_factory) -> dict:
    from pipelines.generate import generate
    from pipelines.run import run_day

    base = tmp_path_factory.mktemp("days")
    generate(base / "gen", days=2, start=DAY, seed=11, scale=0.05)
    settings = generated_settings(base / "gen", base / "wh")
    sizes = []
    for day in DAYS:
        assert run_day(day, settings, send_email=False).published
        sizes.append(wh.db_path(settings.warehouse).stat().st_size)
    return {"settings": settings, "sizes": sizes}


def test_lake_tables_are_views_with_comments_and_history_is_a_table(two_days) -> None:
    db = wh.db_path(two_days["settings"].warehouse)
    with duckdb.connect(str(db), read_only=True) as con:
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert set(catalog.names()) - {"source_history"} <= views
        assert tables == {"source_history"}
        assert wh.missing_comments(con) == []
        commented = con.execute(
            "SELECT count(*), count(comment) FROM duckdb_columns() WHERE table_name IN ('events', 'daily_summary')"
        ).fetchone()
        assert commented[0] > 10 and commented[0] == commented[1]
        days = con.execute("SELECT list(DISTINCT event_date ORDER BY event_date) FROM daily_summary").fetchone()[0]
        assert days == DAYS
        assert con.execute("SELECT max(days_active) FROM source_history").fetchone()[0] == 2


def test_the_file_answers_from_another_working_directory(two_days, tmp_path: Path) -> None:
    db = wh.db_path(two_days["settings"].warehouse)
    code = (
        "import duckdb, sys, pathlib\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "for t in ('events', 'source_risk', 'scanner_orgs', 'daily_summary', 'source_tags', 'dq_results'):\n"
        "    assert con.execute(f'SELECT count(*) FROM {t}').fetchone()[0] > 0, t\n"
        "for p in sys.argv[2:]:\n"
        "    con.execute(pathlib.Path(p).read_text()).fetchall()\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(db), *map(str, EXAMPLES)], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_file_does_not_grow_with_the_days(two_days) -> None:
    first, second = two_days["sizes"]
    assert second <= first * 1.25  # views and source_history (one row per source) only, no copy of each day


def test_organizations_are_stored_per_day_and_published_by_day(two_days) -> None:
    settings = two_days["settings"]
    assert wh.lake_days(settings.warehouse, "scanner_orgs") == DAYS
    latest = wh.lake_files(settings.warehouse, "scanner_orgs", DAYS[-1])
    with duckdb.connect(str(wh.db_path(settings.warehouse)), read_only=True) as con:
        days = con.execute("SELECT list(DISTINCT event_date ORDER BY event_date) FROM scanner_orgs").fetchone()[0]
        published = con.execute("SELECT * FROM scanner_orgs WHERE event_date = $d ORDER BY src_ip", {"d": DAYS[-1]})
        published = published.fetchall()
        stored = con.execute(
            "SELECT * FROM read_parquet($f, hive_partitioning = false) ORDER BY src_ip", {"f": latest}
        ).fetchall()
    assert days == DAYS and published == stored


def test_a_state_built_in_buckets_of_sources_is_the_state_of_one_query(two_days, monkeypatch) -> None:
    """A day too large for its memory limit builds its history state bucket by bucket: the same rows."""
    from pipelines import history, steps
    from pipelines.duck import memory_limit_bytes

    settings = two_days["settings"]

    def stored() -> list[tuple]:
        files = [str(f) for f in wh.lake_files(settings.warehouse, "source_history_state", DAYS[1])]
        with duckdb.connect() as con:
            return con.execute("SELECT * FROM read_parquet($f) ORDER BY src_ip", {"f": files}).fetchall()

    whole = stored()
    with duckdb.connect() as con:
        events = sum(
            con.execute("SELECT count(*) FROM read_parquet($f)", {"f": [str(f)]}).fetchone()[0]
            for f in wh.lake_files(settings.warehouse, "events", DAYS[1])
        )
        limit = memory_limit_bytes(con)
    monkeypatch.setattr(history, "STATE_ROW_BYTES", limit // (events // 8))  # about 8 buckets
    steps.run_step(steps.step("source_history_state"), DAYS[1], settings)
    again = stored()
    assert len(again) == len(whole) > 0 and again == whole
    assert max(r[6] for r in again) == 2  # days_active: the day before's state merged in
