"""The day's steps (pipelines/steps.py): one list from the catalog, each step alone in its own process
gives the warehouse `scansense run` builds, a failed detector retried alone changes nothing, and
N shards of sources give the same tables for every N.

One small generated day (scale 0.1: every kind of scan, a tenth of the background): what is tested
is where each step reads and writes, not the detection.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from generated import generated_settings
from hashing import table_hashes

from pipelines import catalog, steps
from pipelines.generate import generate
from pipelines.run import RUN_STEPS, run_day, stage_ingest, stage_publish

SCANSENSE = str(Path(sys.executable).with_name("scansense"))
DAY = date(2025, 11, 26)


def _all_tables(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        sql = "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views() WHERE NOT internal"
        return [n for (n,) in con.execute(f"{sql} ORDER BY 1").fetchall()]


def _hashes(warehouse: Path) -> dict[str, str]:
    db = warehouse / "scansense.duckdb"
    return table_hashes(db, _all_tables(db))


@pytest.fixture(scope="module")
def gen(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, days=1, start=DAY, seed=5, scale=0.1)
    return out


@pytest.fixture(scope="module")
def reference(gen: Path, tmp_path_factory) -> dict[str, str]:
    """The digests of every table `scansense run` publishes for the day (one process, unsharded)."""
    warehouse = tmp_path_factory.mktemp("reference")
    result = run_day(DAY, generated_settings(gen, warehouse), send_email=False)
    assert result.published and result.fast_scans > 0 and result.slow_scans > 0
    return _hashes(warehouse)


def test_steps_follow_the_catalog() -> None:
    """Every table from staging to history is a step (but those publish builds), after the steps of the tables it reads."""
    plan = steps.table_steps()
    layers = ("staging", "detect", "score", "orgs", "history")
    assert [s.table for s in plan] == [t.name for t in catalog.tables(*layers) if t.built_at != "publish"]
    assert {"scanner_orgs", "source_tags", "source_history_state"} <= {s.table for s in plan}
    assert "source_history" not in {s.table for s in plan}
    made = {s.table for s in plan}
    for s in plan:
        reads = catalog.depends_on(s.table)
        assert set(s.after) == {t for t in reads if t in made} | ({"record"} if "events" in reads else set()), s
    assert [n for n in RUN_STEPS if n in made] == [s.table for s in plan]
    findings = steps.step("findings")
    assert {t.name for t in catalog.tables("detect") if t.findings} == set(findings.after)


def test_sharded_plan_combines_the_fast_threshold_between_two_sharded_phases() -> None:
    plan = {s.name: s for s in steps.table_steps(3)}
    assert plan["scan_fast.fast_counts"].sharded and plan["scan_fast"].sharded
    assert not plan["scan_fast.fast_stats"].sharded
    assert plan["scan_fast.fast_stats"].after == ("scan_fast.fast_counts",)
    assert set(plan["scan_fast"].after) == {"scan_fast.fast_counts", "scan_fast.fast_stats"}
    assert {n for n, s in plan.items() if s.sharded} == {
        "scan_fast.fast_counts",
        "scan_fast",
        "scan_slow",
        "slow_span_day",
        "port_ratio",
        "source_risk",
    }
    # Whole-day tables (statistics over every source, groups of sources) stay one step.
    assert not plan["window_entropy"].sharded and not plan["scan_distributed"].sharded
    with pytest.raises(ValueError):
        steps.table_steps(0)


def _step(
    gen: Path, warehouse: Path, name: str, *, shard: int = 0, env: dict | None = None
) -> subprocess.CompletedProcess:
    """`scansense step NAME` in its own process, as one Airflow task runs it."""
    full = dict(os.environ, SCANSENSE_ORGS_DIR=str(gen / "orgs"), **(env or {}))
    cmd = [SCANSENSE, "step", name, "--date", DAY.isoformat(), "--shard", str(shard), "--json"]
    cmd += ["--warehouse", str(warehouse), "--landing", str(gen / "landing")]
    return subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=600)


@pytest.mark.slow
def test_each_step_in_its_own_process_and_a_failed_detector_retried_alone(
    gen: Path, reference: dict[str, str], tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse"
    settings = generated_settings(gen, warehouse)
    stage_ingest(DAY, settings)  # the DAG's ingest tasks and `record`
    for s in steps.table_steps():
        if s.name == "scan_fast":
            # The first try fails (a bad setting on that worker): nothing written, the day not harmed.
            failed = _step(gen, warehouse, s.name, env={"SCANSENSE_FAST_MODE": "median"})
            assert failed.returncode == 2 and "[fast] mode" in failed.stdout + failed.stderr
            assert not (warehouse / "lake" / "scan_fast").exists()
            # A try that wrote other rows (another k) is replaced whole by the retry.
            assert _step(gen, warehouse, s.name, env={"SCANSENSE_FAST_K": "0.5"}).returncode == 0
        done = _step(gen, warehouse, s.name)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # findings (after every detector) retried once more after the whole day: the same partition.
    assert _step(gen, warehouse, "findings").returncode == 0
    stage_publish(DAY, settings, send_email=False)
    assert _hashes(warehouse) == reference


def test_a_day_is_grouped_below_the_event_setting_and_never_at_zero() -> None:
    """`[airflow] group_steps_below_events`: fewer events than it run in one task; 0 keeps one task per table."""
    from pipelines.settings import Settings

    settings = Settings().replace("airflow", group_steps_below_events=1000)
    assert steps.grouped(0, settings) and steps.grouped(999, settings)
    assert not steps.grouped(1000, settings) and not steps.grouped(50_000_000, settings)
    assert not steps.grouped(0, settings.replace("airflow", group_steps_below_events=0))
    assert steps.grouped(999_999, Settings())  # the default groups the 1 M-event day of docs/SCALING.md


def test_one_connection_run_that_failed_resumes_at_the_failed_table(
    gen: Path, reference: dict[str, str], tmp_path: Path, monkeypatch
) -> None:
    """What Airflow's retry of `analyze` does: the tables built before the failure are loaded, not built again.

    A finished run, or a new `record` of the day, builds every table again; the warehouse is the
    one `scansense run` builds either way.
    """
    settings = generated_settings(gen, tmp_path / "warehouse")
    stage_ingest(DAY, settings)
    plan = [s.name for s in steps.table_steps()]
    ran: list[str] = []
    fail = {"source_risk"}
    real = steps.run_step

    def run_step(step, day, settings, shard=0, con=None):
        ran.append(step.name)
        if step.name in fail:
            fail.discard(step.name)
            raise RuntimeError("disk full")  # one try of one table fails
        return real(step, day, settings, shard=shard, con=con)

    monkeypatch.setattr(steps, "run_step", run_step)
    with pytest.raises(RuntimeError, match="disk full"):
        steps.run_shared(DAY, settings, resume=True)
    at = plan.index("source_risk")
    assert ran == plan[: at + 1]
    ran.clear()
    built = steps.run_shared(DAY, settings, resume=True)
    assert ran == plan[at:] and set(built) == set(plan[at:])  # resumed at the table that failed
    stage_publish(DAY, settings, send_email=False)
    assert _hashes(settings.warehouse) == reference
    ran.clear()
    steps.run_shared(DAY, settings, resume=True)
    assert ran == plan  # a finished run is not resumed: everything again
    # An unfinished run of an earlier `record` of the day is not resumed either.
    fail.add("findings")
    with pytest.raises(RuntimeError, match="disk full"):
        steps.run_shared(DAY, settings, resume=True)
    stage_ingest(DAY, settings)
    ran.clear()
    steps.run_shared(DAY, settings, resume=True)
    assert ran == plan


def test_a_step_refuses_a_day_it_cannot_build(gen: Path, tmp_path: Path) -> None:
    """A step whose input phase is missing says so in one line; an unknown step is named."""
    env = {"SCANSENSE_SCALE_SHARDS": "3"}
    missing = _step(gen, tmp_path / "empty", "scan_fast.fast_stats", env=env)
    assert missing.returncode == 2 and "shard files missing" in missing.stdout
    unknown = _step(gen, tmp_path / "empty", "scan_nothing")
    assert unknown.returncode == 2 and "no step 'scan_nothing'" in unknown.stdout
    assert "Traceback" not in missing.stderr + unknown.stderr


@pytest.mark.slow
@pytest.mark.parametrize("shards", [3, 8])
def test_shards_give_the_same_warehouse(gen: Path, reference: dict[str, str], tmp_path: Path, shards: int) -> None:
    """N shards of sources (phases on fresh connections, as the DAG's tasks) publish the tables of N = 1."""
    settings = generated_settings(gen, tmp_path / "warehouse").replace("scale", shards=shards)
    result = run_day(DAY, settings, send_email=False)
    assert result.published
    files = sorted(p.name for p in (tmp_path / "warehouse" / "lake" / "scan_fast" / f"date={DAY}").iterdir())
    assert files == [f"shard-{i}-of-{shards}.parquet" for i in range(shards)]
    got = _hashes(tmp_path / "warehouse")
    assert got.keys() == reference.keys()
    assert [t for t in got if got[t] != reference[t]] == []
    # Back to one shard over the same lake: one file per partition again, the same tables.
    again = run_day(DAY, settings.replace("scale", shards=1), send_email=False)
    assert again.published
    assert [p.name for p in (tmp_path / "warehouse" / "lake" / "scan_fast" / f"date={DAY}").iterdir()] == [
        "part.parquet"
    ]
    assert _hashes(tmp_path / "warehouse") == reference


def test_a_memory_limit_bounds_every_connection_and_changes_nothing(gen: Path, reference, tmp_path) -> None:
    """`scale.memory_limit` reaches the run's connections (DuckDB spills past it); the tables stay the same."""
    from pipelines import duck

    settings = generated_settings(gen, tmp_path / "wh").replace("scale", memory_limit="256MB")
    with duck.connect(settings) as con:
        limit, spill, bar = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
            "current_setting('enable_progress_bar')"
        ).fetchone()
    assert bar is False  # DuckDB's own bar would write to stdout, into `run --json`'s output
    assert limit.startswith("244") or limit.startswith("256"), limit
    assert Path(spill) == settings.warehouse / ".spill"
    assert run_day(DAY, settings, send_email=False).published
    assert _hashes(settings.warehouse) == reference


def test_step_refuses_what_run_refuses(gen: Path, tmp_path: Path) -> None:
    """Issue 28: a day outside the accepted range, a day never ingested and a shard past the count: one line each."""
    warehouse = tmp_path / "warehouse"
    stage_ingest(DAY, generated_settings(gen, warehouse))
    cases = [
        (["scan_fast", "--date", "9999-12-31"], "--date 9999-12-31 is outside 1970-01-01.."),
        (["scan_fast", "--date", "1969-12-31"], "--date 1969-12-31 is outside 1970-01-01.."),
        (["scan_fast", "--date", "2025-11-30"], "--date 2025-11-30: the day was never ingested"),
        (["scan_fast", "--date", DAY.isoformat(), "--shard", "7"], "--shard 7: scan_fast is not sharded"),
        (["scan_fast", "--date", DAY.isoformat(), "--shard", "-1"], "--shard -1: scan_fast is not sharded"),
    ]
    env = dict(os.environ, SCANSENSE_ORGS_DIR=str(gen / "orgs"))
    for args, says in cases:
        cmd = [SCANSENSE, "step", *args, "--warehouse", str(warehouse), "--landing", str(gen / "landing")]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        lines = proc.stdout.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {says}"), proc.stdout
    sharded = dict(env, SCANSENSE_SCALE_SHARDS="2")
    cmd = [SCANSENSE, "step", "scan_slow", "--date", DAY.isoformat(), "--shard", "2", "--warehouse", str(warehouse)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=sharded, timeout=600)
    assert proc.returncode == 2 and "--shard 2: scan_slow is a step of 2 shards; shards are 0..1" in proc.stdout
    assert not (warehouse / "lake" / "scan_fast").exists() and not (warehouse / "lake" / "scan_slow").exists()
