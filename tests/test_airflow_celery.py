"""A real scheduler, executor and broker: the DAGs on Postgres, Redis and two Celery workers.

`deploy/airflow_local.py` (also `make airflow`) starts Debian's postgresql and redis-server on
127.0.0.1 with throw-away folders, `airflow db migrate`, the scheduler, the dag-processor, the
api-server and two Celery workers. Nothing else is created in Airflow: the DAGs start unpaused and
take their days from `[airflow]` settings, so three generated days run by catchup alone. Then:
every task instance succeeded, on both workers; the warehouse writers never overlapped;
`scansense_report` mailed one report per day, for that day (the day comes from the asset event);
and the warehouse equals the one `scansense run` builds from the same days.
"""

from __future__ import annotations

import importlib.util
import os
import time
from datetime import date, datetime
from email import message_from_bytes
from pathlib import Path

import pytest
from hashing import table_hashes
from test_reliability import STABLE_TABLES

ROOT = Path(__file__).resolve().parents[1]
DAYS = ["2025-11-26", "2025-11-27", "2025-11-28"]
WRITER = "publish"  # the one writer of scansense.duckdb; the table steps write their own day partitions
# What the test gives the workers, as the README's recipe does (and the mail sink's address).
SCANSENSE_VARIABLES = (
    "SCANSENSE_LANDING",
    "SCANSENSE_WAREHOUSE",
    "SCANSENSE_ORGS_DIR",
    "SCANSENSE_AIRFLOW_START_DATE",
    "SCANSENSE_AIRFLOW_END_DATE",
    "SCANSENSE_SMTP_HOST",
    "SCANSENSE_SMTP_PORT",
)


def _load_launcher():
    spec = importlib.util.spec_from_file_location("airflow_local", ROOT / "deploy" / "airflow_local.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


launcher = _load_launcher()


class _Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_sink():
    from aiosmtpd.controller import Controller

    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=launcher.free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


def _listeners(pids: set[int]) -> set[str]:
    """Addresses our processes listen on (TCP)."""
    import psutil

    found = set()
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            found.add(conn.laddr.ip)
    return found


def _tree(pids: list[int]) -> set[int]:
    import psutil

    out = set()
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            out |= {pid} | {c.pid for c in proc.children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
    return out


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.timeout(900)
def test_celery_workers_run_three_days_by_catchup(tmp_path: Path, smtp_sink) -> None:
    missing = launcher.missing_programs()
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (`make test` installs them as root: apt-get)")
    from pipelines.generate import generate
    from pipelines.run import run_day
    from pipelines.settings import load_settings
    from pipelines.steps import table_steps

    started = time.monotonic()
    gen = tmp_path / "gen"
    generate(gen, days=3, seed=5, scale=0.1)
    sink, smtp_port = smtp_sink
    scansense_env = {
        "SCANSENSE_LANDING": str(gen / "landing"),
        "SCANSENSE_WAREHOUSE": str(tmp_path / "warehouse"),
        "SCANSENSE_ORGS_DIR": str(gen / "orgs"),
        "SCANSENSE_AIRFLOW_START_DATE": DAYS[0],
        "SCANSENSE_AIRFLOW_END_DATE": DAYS[-1],
        "SCANSENSE_SMTP_HOST": "127.0.0.1",
        "SCANSENSE_SMTP_PORT": str(smtp_port),
    }
    stack = launcher.LocalAirflow(tmp_path / "airflow", workers=2, concurrency=2)
    assert set(scansense_env) == set(SCANSENSE_VARIABLES)
    stack.env.update(scansense_env)
    with stack:
        # The DAGs were neither unpaused nor given a pool: catchup over [airflow] days starts by itself.
        deadline = time.monotonic() + 600
        runs: list[dict] = []
        while time.monotonic() < deadline:
            stack.check_alive()
            try:
                runs = stack.api("GET", "/api/v2/dags/scansense_daily/dagRuns?limit=50")["dag_runs"]
                reports = stack.api("GET", "/api/v2/dags/scansense_report/dagRuns?limit=50")["dag_runs"]
            except Exception:  # the DAG is not parsed yet (404)
                runs, reports = [], []
            failed = [r["dag_run_id"] for r in runs + reports if r["state"] == "failed"]
            assert not failed, f"failed runs: {failed}; logs in {stack.home / 'logs'}"
            done = [r for r in runs if r["state"] == "success"]
            if len(done) == len(DAYS) and sum(r["state"] == "success" for r in reports) >= len(DAYS):
                break
            time.sleep(2)
        else:
            pytest.fail(f"runs not done in time: {[(r['dag_run_id'], r['state']) for r in runs]}")
        airflow_seconds = time.monotonic() - started

        assert sorted(r["logical_date"][:10] for r in runs) == DAYS
        for dag_id in ("scansense_daily", "scansense_report"):
            assert stack.api("GET", f"/api/v2/dags/{dag_id}")["is_paused"] is False

        tis = stack.api("GET", "/api/v2/dags/~/dagRuns/~/taskInstances?limit=1000")["task_instances"]
        daily = [t for t in tis if t["dag_id"] == "scansense_daily"]
        assert daily and all(t["state"] == "success" for t in tis), [
            (t["task_id"], t["state"]) for t in tis if t["state"] != "success"
        ]
        steps = {s.name for s in table_steps(1)}  # one task per catalog step, from pipelines/steps.py
        assert {t["task_id"] for t in daily} == {
            "sensor_dumps_closed",
            "list_files",
            "ingest",
            "record",
            *steps,
            WRITER,
            "report",
        }
        hosts = {t["hostname"].split("@")[0] for t in tis}
        assert hosts == {"worker1", "worker2"}, hosts  # Celery spread the tasks over both workers

        # One writer at a time, across days: no two publish tasks' run times overlap, and each day's
        # publish starts after every step of its day ended.
        writes = sorted(
            (_at(t["start_date"]), _at(t["end_date"]), t["dag_run_id"]) for t in daily if t["task_id"] == WRITER
        )
        assert len(writes) == len(DAYS)
        for (_, end, a), (start, _, b) in zip(writes, writes[1:], strict=False):
            assert end <= start, f"publish of {a} and of {b} wrote at the same time"
        for start, _, run_id in writes:
            day_steps = [t for t in daily if t["dag_run_id"] == run_id and t["task_id"] in steps]
            assert day_steps and all(_at(t["end_date"]) <= start for t in day_steps), run_id

        # The report DAG: one run per published day, each mailing its own day (from the asset event).
        reports = stack.api("GET", "/api/v2/dags/scansense_report/dagRuns?limit=50")["dag_runs"]
        days_reported = []
        for run in reports:
            xcom = stack.api(
                "GET",
                f"/api/v2/dags/scansense_report/dagRuns/{run['dag_run_id']}/taskInstances/email_report/xcomEntries/return_value",
            )
            days_reported += [line[:10] for line in xcom["value"]]
        assert sorted(days_reported) == DAYS
        subjects = sorted(message_from_bytes(m)["Subject"] for m in sink.messages)
        assert [s.split()[1].rstrip(":") for s in subjects] == DAYS, subjects

        # Everything listened on 127.0.0.1 only.
        pids = _tree([p.pid for p in stack.procs.values()])
        assert _listeners(pids) <= {"127.0.0.1"}

    stopped = _tree([p.pid for p in stack.procs.values()])
    assert not stopped, "processes left running after stop"

    # The same days through `scansense run`, in this process: the same tables.
    reference = tmp_path / "reference"
    env = {**os.environ, **scansense_env, "SCANSENSE_WAREHOUSE": str(reference)}
    settings = load_settings(env=env)
    for day in DAYS:
        run_day(date.fromisoformat(day), settings, send_email=False)
    assert table_hashes(tmp_path / "warehouse" / "scansense.duckdb", STABLE_TABLES) == table_hashes(
        reference / "scansense.duckdb", STABLE_TABLES
    )
    print(f"airflow part {airflow_seconds:.0f} s, whole test {time.monotonic() - started:.0f} s")


def test_readme_recipe_is_what_the_celery_test_runs() -> None:
    """The README's "without Docker" recipe: `make airflow` runs the launcher tested above, with its variables."""
    import re
    import subprocess

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Airflow") :]
    recipe = section[section.index("Without Docker") :].split("```sh\n", 1)[1].split("```", 1)[0]
    exported = set(re.findall(r"\b(SCANSENSE_[A-Z_]+)=", recipe))
    assert {"SCANSENSE_LANDING", "SCANSENSE_WAREHOUSE"} <= exported <= set(SCANSENSE_VARIABLES)
    assert "make demo" in recipe and "make airflow" in recipe
    dry = subprocess.run(["make", "-n", "airflow"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "deploy/airflow_local.py --workers 2" in dry
