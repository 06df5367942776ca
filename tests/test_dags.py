"""The DAGs import cleanly, have the expected tasks and edges, and run end to end with `airflow dags test`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_daily_dag_shape(dagbag) -> None:
    dag = dagbag.dags["scansense_daily"]
    assert dag.catchup is True
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"sensor_dumps_closed", "list_files", "ingest", "record", "analyze", "publish"}
    assert tasks["ingest"].upstream_task_ids == {"list_files"}
    assert tasks["list_files"].upstream_task_ids == {"sensor_dumps_closed"}
    assert tasks["publish"].upstream_task_ids == {"analyze"}
    for name in ("record", "analyze", "publish"):
        assert tasks[name].pool == "scansense_warehouse"
    assert all(t.retries >= 1 for t in dag.tasks)
    assert [o.name for o in tasks["publish"].outlets] == ["scansense_warehouse"]


def test_report_dag_consumes_the_warehouse_asset(dagbag) -> None:
    dag = dagbag.dags["scansense_report"]
    assert "scansense_warehouse" in str(dag.timetable.asset_condition)


@pytest.mark.slow
@pytest.mark.airflow
def test_airflow_dags_test_runs_a_generated_day(tmp_path: Path) -> None:
    from pipelines.generate import generate

    generate(tmp_path / "gen", days=1, seed=3, scale=0.1)  # a small day: what is tested is Airflow, not detection
    env = _airflow_env(tmp_path / "airflow", tmp_path / "warehouse", tmp_path / "gen" / "landing")
    env["SCANSENSE_ORGS_DIR"] = str(tmp_path / "gen" / "orgs")
    for cmd in (
        [str(AIRFLOW), "db", "migrate"],
        [str(AIRFLOW), "pools", "set", "scansense_warehouse", "1", "ScanSense warehouse writer"],
    ):
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    proc = subprocess.run(
        [str(AIRFLOW), "dags", "test", "scansense_daily", "2025-11-26"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    import duckdb

    with duckdb.connect(str(tmp_path / "warehouse" / "scansense.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM events WHERE event_date = DATE '2025-11-26'").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM source_risk").fetchone()[0] > 0
    assert (tmp_path / "warehouse" / "reports" / "2025-11-26" / "report.html").is_file()
