"""Running day 1 after day 2 ends as running 1 then 2, on the CLI path and on the DAG path.

A day run after later days changes what they read: their slow scans across days, their
organizations' window and their history's fold. `scansense run` and the DAG's tasks bring them up
to date with the same function (`pipelines.refresh`); this compares every published table, every
export file and every report of the three days with the in-order run's.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from generated import generated_settings
from hashing import table_hashes

from pipelines import catalog
from pipelines import warehouse as wh
from pipelines.settings import Settings

DAY = date(2025, 11, 26)
DAYS = [DAY, DAY + timedelta(days=1)]
# Where each run differs by nature: the warehouse's own path, and the report's build time.
RUN_SPECIFIC = re.compile(rb"/[^\"'<>\s]*/(?:in_order|cli|dag|dag_grouped)/|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[^\"'<\s]*")


def dag_day(day: date, settings: Settings) -> None:
    """One day as scansense_daily's tasks run it, in their order, each task's body as the DAG calls it."""
    from pipelines import steps
    from pipelines.batches import ingest_batches, sizes
    from pipelines.ingest.names import path_of
    from pipelines.refresh import refresh_later_days
    from pipelines.run import day_file_names, ingest_batch, record_run, stage_publish, stage_report

    names = day_file_names(settings.landing, day, settings)  # list_files
    measured = [size for _, size in sizes(path_of(n) for n in names)]
    batches = ingest_batches(list(zip(names, measured, strict=True)), settings.airflow.ingest_batch_mb)
    recorded = record_run(day, [ingest_batch(b, settings, year=day.year) for b in batches], settings)  # record
    if steps.grouped(recorded["rows"], settings):  # analyze: a small day's steps in that one task
        steps.run_shared(day, settings, resume=True)
    else:
        for step in steps.table_steps(settings.scale.shards):  # one task per step, each in its own process
            for shard in range(settings.scale.shards if step.sharded else 1):
                steps.run_step(step, day, settings, shard=shard)
    refreshed = refresh_later_days(day, settings)  # refresh_later
    result = stage_publish(day, settings, send_email=False, with_report=False, recheck=refreshed)  # publish
    assert result["published"], result["dq_failed"]
    stage_report(day, settings, later=refreshed)  # report


def cli_day(day: date, settings: Settings) -> None:
    from pipelines.run import run_day

    result = run_day(day, settings, send_email=False)
    assert result.published, result.dq_failed


def _files(folder: Path) -> dict[str, str]:
    """Relative path -> digest of every file under `folder`, run-specific text left out."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(RUN_SPECIFIC.sub(b"", p.read_bytes())).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _outcome(settings: Settings) -> dict:
    tables = [t for t in catalog.names() if t not in ("ingest_files", "runs", "dq_results")]
    return {
        "tables": table_hashes(wh.db_path(settings.warehouse), tables),
        "exports": _files(settings.warehouse / "exports"),
        "reports": {k: v for k, v in _files(settings.warehouse / "reports").items() if k.endswith(".html")},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    from pipelines.generate import generate

    base = tmp_path_factory.mktemp("backfill")
    generate(base / "gen", days=2, start=DAY, seed=7, scale=0.02)
    out = {}
    for name, order, run in (
        ("in_order", DAYS, cli_day),
        ("cli", DAYS[::-1], cli_day),
        ("dag", DAYS[::-1], dag_day),
        ("dag_grouped", DAYS[::-1], dag_day),
    ):
        settings = generated_settings(base / "gen", base / name)
        if name == "dag":  # one task per table, as a large day runs; dag_grouped: small days in `analyze`
            settings = settings.replace("airflow", group_steps_below_events=0)
        for day in order:
            run(day, settings)
        out[name] = _outcome(settings)
    return out


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a hang, not a speed limit: six small days and two refreshes
@pytest.mark.parametrize("path", ["cli", "dag", "dag_grouped"])
def test_an_earlier_day_run_last_gives_the_in_order_warehouse(runs, path: str) -> None:
    expected, got = runs["in_order"], runs[path]
    assert got["tables"] == expected["tables"]
    assert set(got["exports"]) == set(expected["exports"]) and len(expected["exports"]) >= 6 * len(DAYS)
    assert got["exports"] == expected["exports"]
    assert sorted(got["reports"]) == sorted(expected["reports"]) == [f"{d}/report.html" for d in DAYS]
    assert got["reports"] == expected["reports"]
