"""The DAGs import cleanly, have the expected tasks and edges, and run end to end with `airflow dags test`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = Path(sys.executable).with_name("airflow")


def _airflow_env(home: Path, warehouse: Path, landing: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="false",
        AIRFLOW__CORE__UNIT_TEST_MODE="false",
        SCANSENSE_WAREHOUSE=str(warehouse),
        SCANSENSE_LANDING=str(landing),
    )
    return env


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert {"scansense_daily", "scansense_report"} <= set(dagbag.dag_ids)


def _after(step) -> set[str]:
    """A step task's upstream ids: the steps it reads, `analyze` in place of `record` (it runs right after record)."""
    return {"analyze" if t == "record" else t for t in step.after}


def test_daily_dag_shape(dagbag) -> None:
    """The tasks are the catalog's steps, each after the steps of the tables it reads; publish is the one writer."""
    from pipelines.steps import table_steps

    dag = dagbag.dags["scansense_daily"]
    assert dag.catchup is True and dag.max_active_runs == 1
    tasks = {t.task_id: t for t in dag.tasks}
    plan = table_steps(1)
    assert set(tasks) == {
        "sensor_dumps_closed",
        "list_files",
        "ingest",
        "record",
        "analyze",
        "refresh_later",
        "publish",
        "report",
    } | {s.name for s in plan}
    assert tasks["ingest"].upstream_task_ids == {"list_files"}
    assert tasks["list_files"].upstream_task_ids == {"sensor_dumps_closed"}
    assert tasks["record"].upstream_task_ids == {"ingest"}
    assert tasks["analyze"].upstream_task_ids == {"record"}
    for step in plan:
        assert tasks[step.name].upstream_task_ids == _after(step), step.name
    assert tasks["scan_fast"].upstream_task_ids == {"contacts_day"}  # its probes: the day's judged contacts
    assert tasks["contacts_day"].upstream_task_ids == {"analyze"}
    assert tasks["source_risk"].upstream_task_ids == {"analyze", "findings", "geo_ip"}
    assert {"scan_fast", "scan_slow", "port_ratio", "scan_distributed"} <= tasks["findings"].upstream_task_ids
    assert {"scanner_orgs", "source_tags", "source_history_state"} <= set(tasks)  # organizations and history are steps
    assert tasks["refresh_later"].upstream_task_ids == {"analyze"} | {s.name for s in plan}
    assert tasks["publish"].upstream_task_ids == {"refresh_later"}
    assert tasks["report"].upstream_task_ids == {"publish"}
    assert tasks["publish"].pool == "default_pool"  # no pool to create by hand: one day at a time serializes
    assert [o.name for o in tasks["report"].outlets] == ["scansense_warehouse"]  # emitted once the report exists


def _grouped(tmp_path: Path, shards: int) -> set[tuple[str, int]]:
    """(task id, map index) of what `analyze` skips on a grouped day, as the DAG parsed with `shards` gives them."""
    import json

    env = {"AIRFLOW_HOME": str(tmp_path / "home"), "SCANSENSE_LANDING": str(tmp_path / "landing")}
    code = "import json, scansense_daily\nprint(json.dumps(scansense_daily.GROUPED))\n"
    full = dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'dags'}", SCANSENSE_SCALE_SHARDS=str(shards), **env)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return {tuple(x) for x in json.loads(out.stdout.strip().splitlines()[-1])}


def test_small_days_skip_per_table_tasks_that_stay_clearable(dagbag, tmp_path: Path) -> None:
    """`analyze` may skip every per-table task; a cleared one still runs alone, and publish follows either path.

    Per-table tasks run when what they read is done or skipped (`none_failed`), so one cleared on a
    grouped day runs; no task is a branch (whose stored choice would skip it again when cleared);
    `refresh_later` runs after `analyze` alone when the per-table tasks were skipped.
    """
    from pipelines.steps import table_steps

    dag = dagbag.dags["scansense_daily"]
    names = {s.name for s in table_steps(1)}
    for name in names:
        assert dag.get_task(name).trigger_rule == "none_failed", name
    assert dag.get_task("refresh_later").trigger_rule == "none_failed_min_one_success"
    assert [t.task_id for t in dag.tasks if t.inherits_from_skipmixin] == []  # NotPreviouslySkippedDep: none
    assert _grouped(tmp_path, 1) == {(name, -1) for name in names}


def test_sharded_steps_are_skipped_shard_by_shard(tmp_path: Path) -> None:
    """With shards > 1 a grouped day skips each shard of a mapped step, and the combine step between phases."""
    grouped = _grouped(tmp_path, 3)
    assert {("scan_fast", i) for i in (-1, 0, 1, 2)} <= grouped  # the finish phase, every shard
    assert ("scan_fast.fast_stats", -1) in grouped and ("scan_fast.fast_stats", 0) not in grouped  # the combine
    assert ("window_entropy", -1) in grouped and ("window_entropy", 0) not in grouped  # not sharded


@pytest.mark.slow
def test_analyze_builds_a_small_day_and_leaves_a_large_one_to_the_per_table_tasks(
    dagbag, tmp_path: Path, monkeypatch
) -> None:
    """The task body as a worker runs it: the day's event count against `[airflow] group_steps_below_events`."""
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    from pipelines import catalog
    from pipelines.generate import generate
    from pipelines.run import stage_ingest
    from pipelines.settings import load_settings
    from pipelines.steps import table_steps

    generate(tmp_path / "gen", days=1, seed=3, scale=0.1)
    warehouse = tmp_path / "warehouse"
    monkeypatch.setenv("SCANSENSE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("SCANSENSE_LANDING", str(tmp_path / "gen" / "landing"))
    monkeypatch.setenv("SCANSENSE_ORGS_DIR", str(tmp_path / "gen" / "orgs"))
    recorded = stage_ingest(date(2025, 11, 26), load_settings())  # ingest and record, as their tasks do
    events = recorded["rows"]
    analyze = dagbag.dags["scansense_daily"].get_task("analyze").python_callable

    monkeypatch.setenv("SCANSENSE_AIRFLOW_GROUP_STEPS_BELOW_EVENTS", str(events))  # not below: a large day
    assert analyze(recorded, ds="2025-11-26") == {"events": events, "grouped": False}
    assert not (warehouse / "lake" / "scan_fast").exists()  # left to the per-table tasks

    monkeypatch.setenv("SCANSENSE_AIRFLOW_GROUP_STEPS_BELOW_EVENTS", str(events + 1))  # a small day
    with pytest.raises(DownstreamTasksSkipped) as skipped:
        analyze(recorded, ds="2025-11-26")
    plan = table_steps(1)
    assert {task for task, _ in skipped.value.tasks} == {s.name for s in plan}
    for s in plan:
        if catalog.table(s.table).layer != "staging":  # geo_ip is a cache over days
            assert list((warehouse / "lake" / s.table / "date=2025-11-26").glob("*.parquet")), s.table


def _dag_edges(root: Path, env: dict[str, str]) -> dict[str, list[str]]:
    """task id -> upstream ids of scansense_daily parsed from `root`'s dags/ with `root` first on the path."""
    import json

    code = (
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(root / 'dags' / 'scansense_daily.py')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "dag = bag.dags['scansense_daily']\n"
        "print(json.dumps({t.task_id: [sorted(t.upstream_task_ids), t.is_mapped] for t in dag.tasks}))\n"
    )
    full = dict(os.environ, PYTHONPATH=str(root), AIRFLOW__CORE__LOAD_EXAMPLES="false", **env)
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=full, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_new_catalog_table_is_a_new_task_with_no_dag_edit(tmp_path: Path) -> None:
    """A detector added as its catalog file (here a copy of port_ratio) is a task, sharded when shards > 1, read by findings."""
    import shutil

    root = tmp_path / "repo"
    for part in ("dags", "pipelines", "sql", "dashboards"):
        shutil.copytree(ROOT / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "scansense.toml", root / "scansense.toml")
    text = (ROOT / "sql" / "detect" / "port_ratio.sql").read_text()
    (root / "sql" / "detect" / "scan_copy.sql").write_text(text.replace("'ratio' AS kind", "'copy' AS kind"))
    env = {"AIRFLOW_HOME": str(tmp_path / "home"), "SCANSENSE_LANDING": str(tmp_path / "landing")}
    edges = _dag_edges(root, env)
    assert edges["scan_copy"] == [["contacts_day"], False]
    assert "scan_copy" in edges["findings"][0] and "scan_copy" in edges["refresh_later"][0]
    sharded = _dag_edges(root, env | {"SCANSENSE_SCALE_SHARDS": "3"})
    assert sharded["scan_copy"] == [["contacts_day"], True]
    assert sharded["scan_fast.fast_stats"] == [["scan_fast.fast_counts"], False]
    assert sharded["scan_fast"] == [["scan_fast.fast_counts", "scan_fast.fast_stats"], True]


def test_operators_habits(dagbag) -> None:
    """Every task: a doc in the UI, retries with backoff, a time limit, the callback naming day and step."""
    for dag_id in ("scansense_daily", "scansense_report"):
        dag = dagbag.dags[dag_id]
        assert dag.is_paused_upon_creation is False, dag_id  # a new installation runs without a click
        assert dag.doc_md and set(dag.tags) == {"scansense"}
        for t in dag.tasks:
            where = f"{dag_id}.{t.task_id}"
            assert t.doc_md and len(t.doc_md.split()) >= 8, where
            assert t.retries >= 2 and t.retry_exponential_backoff >= 2 and t.max_retry_delay, where
            assert t.execution_timeout is not None and t.execution_timeout <= timedelta(hours=2), where
            callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
            assert [cb.__name__ for cb in callbacks] == ["on_failure"], where


def test_failure_message_names_the_day_and_the_step() -> None:
    from pipelines.alerts import failure_message

    ti = SimpleNamespace(dag_id="scansense_daily", task_id="publish", map_index=-1, try_number=3, max_tries=2)
    context = {"ti": ti, "ds": "2025-11-27", "exception": RuntimeError("disk full")}
    assert failure_message(context) == (
        "scansense_daily failed: day 2025-11-27, step publish (try 3 of 3): RuntimeError: disk full"
    )
    mapped = SimpleNamespace(dag_id="scansense_daily", task_id="ingest", map_index=4, try_number=1, max_tries=0)
    assert "step ingest[4] (try 1 of 1)" in failure_message({"ti": mapped, "ds": "2025-11-27"})
    dag_run = SimpleNamespace(logical_date=datetime(2025, 11, 27, tzinfo=UTC))
    run = {"dag": SimpleNamespace(dag_id="scansense_daily"), "dag_run": dag_run, "reason": "task_failure"}
    assert failure_message(run) == "scansense_daily failed: day 2025-11-27, step the run: task_failure"


def test_first_and_last_day_come_from_settings(tmp_path: Path, monkeypatch) -> None:
    """No date in the code: `[airflow]` settings, else the earliest landing day; nothing at import but files."""
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "landing" / "2025-11-27").mkdir(parents=True)
    (tmp_path / "landing" / "2025-11-29").mkdir()
    monkeypatch.setenv("SCANSENSE_LANDING", str(tmp_path / "landing"))
    dag = DagBag(dag_folder=str(ROOT / "dags" / "scansense_daily.py")).dags["scansense_daily"]
    assert (dag.start_date.date(), dag.end_date, dag.catchup) == (date(2025, 11, 27), None, True)
    monkeypatch.setenv("SCANSENSE_AIRFLOW_START_DATE", "2025-11-20")
    monkeypatch.setenv("SCANSENSE_AIRFLOW_END_DATE", "2025-11-22")
    monkeypatch.setenv("SCANSENSE_AIRFLOW_CATCHUP", "false")
    monkeypatch.setenv("SCANSENSE_AIRFLOW_POOL", "scansense_warehouse")
    dag = DagBag(dag_folder=str(ROOT / "dags" / "scansense_daily.py")).dags["scansense_daily"]
    assert (dag.start_date.date(), dag.end_date.date(), dag.catchup) == (date(2025, 11, 20), date(2025, 11, 22), False)
    assert dag.get_task("publish").pool == "scansense_warehouse"
    assert "datetime(20" not in (ROOT / "dags" / "scansense_daily.py").read_text()  # no day in the code


def test_report_dag_consumes_the_warehouse_asset(dagbag) -> None:
    dag = dagbag.dags["scansense_report"]
    assert "scansense_warehouse" in str(dag.timetable.asset_condition)


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.parametrize(
    ("below", "shards"),
    [("", 1), ("0", 1), ("", 3)],
    ids=["small-day-in-one-task", "one-task-per-table", "small-day-skips-every-shard"],
)
def test_airflow_dags_test_runs_a_generated_day(tmp_path: Path, below: str, shards: int) -> None:
    """A small day, grouped by default (`analyze` builds it, the per-table tasks are skipped), or one task per table."""
    import sqlite3

    from pipelines.generate import generate
    from pipelines.steps import table_steps

    generate(tmp_path / "gen", days=1, seed=3, scale=0.1)  # a small day: what is tested is Airflow, not detection
    env = _airflow_env(tmp_path / "airflow", tmp_path / "warehouse", tmp_path / "gen" / "landing")
    env["SCANSENSE_ORGS_DIR"] = str(tmp_path / "gen" / "orgs")
    if below:
        env["SCANSENSE_AIRFLOW_GROUP_STEPS_BELOW_EVENTS"] = below
    env["SCANSENSE_SCALE_SHARDS"] = str(shards)
    # Nothing created by hand: no pool, no variable, no connection.
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    proc = subprocess.run(
        [str(AIRFLOW), "dags", "test", "scansense_daily", "2025-11-26"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with sqlite3.connect(tmp_path / "airflow" / "airflow.db") as db:
        rows = db.execute("SELECT task_id, map_index, state FROM task_instance WHERE dag_id = 'scansense_daily'")
        states = {(task, index): state for task, index, state in rows}
    per_table = {s.name for s in table_steps(shards)}
    assert {t for t, _ in states} >= per_table | {"analyze", "publish"}
    assert {s for (t, _), s in states.items() if t in per_table} == ({"success"} if below else {"skipped"}), states
    assert {s for (t, _), s in states.items() if t not in per_table} == {"success"}, states
    import duckdb

    with duckdb.connect(str(tmp_path / "warehouse" / "scansense.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events WHERE event_date = DATE '2025-11-26'").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM source_risk").fetchone()[0] > 0
    assert (tmp_path / "warehouse" / "reports" / "2025-11-26" / "report.html").is_file()
