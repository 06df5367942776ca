"""A real scheduler, executor and broker: the DAGs on Postgres, Redis and two Celery workers.

`deploy/airflow_local.py` (also `make airflow`) starts Debian's postgresql and redis-server on
127.0.0.1 with throw-away folders, `airflow db migrate`, the scheduler, the dag-processor, the
api-server and two Celery workers. Nothing else is created in Airflow: the DAGs start unpaused and
take their days from `[airflow]` settings, so three generated days run by catchup alone. The days
are small (under `[airflow] group_steps_below_events`): `analyze` builds every table of each and
the per-table tasks are skipped. Then: every other task instance succeeded, on both workers; the warehouse writers never overlapped;
`scansense_report` mailed one report per day, for that day (the day comes from the asset event);
and the warehouse equals the one `scansense run` builds from the same days (built meanwhile, in a
thread of the test).

Second pass, on the same deployment: an operator clears the middle day, and the worker found running
its `publish` (the one writer, caught while its new warehouse file exists) is SIGKILLed with every
process it has. The scheduler finds the silent task by its heartbeat timeout (`FAILOVER`: 30 s), the
task is retried on the other worker (the DAG's retries; a 1 s delay for this deployment), the run
succeeds, the day is mailed again, and the warehouse still equals the reference: nothing lost or
doubled. The killed worker is not restarted: one worker finishes the day.

Third pass: one table of a grouped day (its per-table task skipped) is cleared alone and runs alone.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from email import message_from_bytes
from pathlib import Path

import pytest
from airflow_launcher import load_launcher
from hashing import table_hashes
from test_reliability import STABLE_TABLES

from pipelines.cli import GC_YOUNG_THRESHOLD

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


launcher = load_launcher()


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


def _wait_for_runs(stack, daily: int, reports: int, what: str) -> list[dict]:
    """Poll the API until `daily` scansense_daily runs and `reports` scansense_report runs succeeded.

    The deadline guards against a hang, not a slow machine: runs end in 2-3 minutes when idle.
    """
    deadline = time.monotonic() + 1500
    runs: list[dict] = []
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            runs = stack.api("GET", "/api/v2/dags/scansense_daily/dagRuns?limit=50")["dag_runs"]
            mailed = stack.api("GET", "/api/v2/dags/scansense_report/dagRuns?limit=50")["dag_runs"]
        except Exception:  # the DAG is not parsed yet (404)
            runs, mailed = [], []
        failed = [r["dag_run_id"] for r in runs + mailed if r["state"] == "failed"]
        assert not failed, f"{what}: failed runs: {failed}; logs in {stack.home / 'logs'}"
        if (
            sum(r["state"] == "success" for r in runs) == daily
            and sum(r["state"] == "success" for r in mailed) >= reports
        ):
            return runs
        time.sleep(0.5)
    pytest.fail(f"{what}: runs not done in time: {[(r['dag_run_id'], r['state']) for r in runs]}")


def _daily_tis(stack) -> list[dict]:
    tis = stack.api("GET", "/api/v2/dags/scansense_daily/dagRuns/~/taskInstances?limit=1000")["task_instances"]
    assert len(tis) < 1000
    return tis


def _metadata_db(stack):
    return stack.metadata_db()  # as Airflow's own role, with its password; autocommit: each poll sees the latest


def _catch_writer(stack, run_id: str, builds: Path) -> tuple[str, int, int]:
    """Wait until the run's `publish` is building its new warehouse file; return (worker, pid, try).

    The event: the metadata DB says the task instance is running on a worker with a process id, and
    that process's build file (`builds/scansense-<pid>.duckdb`) exists, so the writer is mid-write.
    """
    con = _metadata_db(stack)
    sql = (
        "SELECT hostname, pid, try_number FROM task_instance WHERE dag_id = 'scansense_daily'"
        " AND run_id = %s AND task_id = %s AND state = 'running' AND pid IS NOT NULL"
    )
    deadline = time.monotonic() + 900  # a hang guard (the cleared day's tasks run again first)
    try:
        while time.monotonic() < deadline:
            stack.check_alive()
            with con.cursor() as cur:
                cur.execute(sql, (run_id, WRITER))
                row = cur.fetchone()
            if row and (builds / f"scansense-{row[1]}.duckdb").exists():
                return row[0].split("@")[0], row[1], row[2]
            time.sleep(0.1)
    finally:
        con.close()
    pytest.fail(f"{WRITER} of {run_id} was never seen building the warehouse")


def _heartbeat_timeouts(stack, run_id: str | None) -> list[str]:
    """Task ids the scheduler failed for a missing heartbeat in this run, or in any run (its `log` table)."""
    con = _metadata_db(stack)
    try:
        with con.cursor() as cur:
            cur.execute(
                "SELECT task_id FROM log WHERE event = 'heartbeat timeout' AND dag_id = 'scansense_daily'"
                " AND (%s IS NULL OR run_id = %s)",
                (run_id, run_id),
            )
            return [task_id for (task_id,) in cur.fetchall()]
    finally:
        con.close()


def _reference_warehouse(scansense_env: dict[str, str], reference: Path) -> dict[str, str]:
    """The same days through `scansense run` (run_day, as the CLI does): the STABLE_TABLES hashes.

    Runs in a thread at a lower priority (Linux: per thread, inherited by DuckDB's threads), so it
    mostly takes the CPU Airflow leaves idle between tasks. Only mildly lower: at nice 15 a machine
    busy with other work starved it for over ten minutes after Airflow had finished.
    """
    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 5)
    from pipelines.run import run_day
    from pipelines.settings import load_settings

    settings = load_settings(env={**os.environ, **scansense_env, "SCANSENSE_WAREHOUSE": str(reference)})
    for day in DAYS:
        run_day(date.fromisoformat(day), settings, send_email=False)
    return table_hashes(reference / "scansense.duckdb", STABLE_TABLES)


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.timeout(1800)  # a hang, not a speed limit: 4-5 minutes on an idle machine, 11 beside stress-ng
def test_celery_workers_run_three_days_and_survive_a_killed_worker(tmp_path: Path, smtp_sink) -> None:
    missing = launcher.missing_programs()
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (`make test` installs them as root: apt-get)")
    import psutil

    from pipelines.generate import generate
    from pipelines.layout import layout
    from pipelines.steps import table_steps

    started = time.monotonic()
    gen = tmp_path / "gen"
    generate(gen, days=3, seed=5, scale=0.1)
    sink, smtp_port = smtp_sink
    warehouse = tmp_path / "warehouse"
    scansense_env = {
        "SCANSENSE_LANDING": str(gen / "landing"),
        "SCANSENSE_WAREHOUSE": str(warehouse),
        "SCANSENSE_ORGS_DIR": str(gen / "orgs"),
        "SCANSENSE_AIRFLOW_START_DATE": DAYS[0],
        "SCANSENSE_AIRFLOW_END_DATE": DAYS[-1],
        "SCANSENSE_SMTP_HOST": "127.0.0.1",
        "SCANSENSE_SMTP_PORT": str(smtp_port),
    }
    # The reference warehouse is built while Airflow runs: the day's task chain leaves a core idle.
    pool = ThreadPoolExecutor(max_workers=1)
    reference = pool.submit(_reference_warehouse, scansense_env, tmp_path / "reference")
    stack = launcher.LocalAirflow(
        tmp_path / "airflow", workers=2, concurrency=2, config=launcher.FAILOVER, retry_delay=1
    )
    assert set(scansense_env) == set(SCANSENSE_VARIABLES)
    stack.env.update(scansense_env)
    try:
        with stack:
            # -- first pass: the DAGs were neither unpaused nor given a pool; catchup starts by itself.
            runs = _wait_for_runs(stack, daily=len(DAYS), reports=len(DAYS), what="catchup")
            first_pass_seconds = time.monotonic() - started

            assert sorted(r["logical_date"][:10] for r in runs) == DAYS
            for dag_id in ("scansense_daily", "scansense_report"):
                assert stack.api("GET", f"/api/v2/dags/{dag_id}")["is_paused"] is False

            tis = stack.api("GET", "/api/v2/dags/~/dagRuns/~/taskInstances?limit=1000")["task_instances"]
            daily = [t for t in tis if t["dag_id"] == "scansense_daily"]
            steps = {s.name for s in table_steps(1)}  # one task per catalog step, from pipelines/steps.py
            # Small days: `analyze` built every table, the per-table tasks were skipped without starting.
            state_of = {True: "skipped", False: "success"}
            assert daily and all(t["state"] == state_of[t["task_id"] in steps] for t in daily), [
                (t["dag_run_id"], t["task_id"], t["state"])
                for t in daily
                if t["state"] != state_of[t["task_id"] in steps]
            ]
            assert all(t["state"] == "success" for t in tis if t["dag_id"] != "scansense_daily")
            # A task may have been retried: on a busy machine a healthy task's heartbeat can come later
            # than FAILOVER's short timeout. That costs time, never data (every task replaces its own
            # partition; the warehouse check below shows nothing was lost or doubled), so it is reported,
            # not failed: a test must not depend on how busy the machine is.
            retried = [
                (t["dag_run_id"], t["task_id"], t["map_index"], t["try_number"]) for t in tis if t["try_number"] != 1
            ]
            if retried:
                print("retried in the first pass:", retried, _heartbeat_timeouts(stack, None))
            assert {t["task_id"] for t in daily} == {
                "sensor_dumps_closed",
                "list_files",
                "ingest",
                "record",
                "analyze",
                *steps,
                "refresh_later",
                WRITER,
                "report",
            }
            hosts = {t["hostname"].split("@")[0] for t in tis if t["state"] == "success"}
            assert hosts == {"worker1", "worker2"}, hosts  # Celery spread the tasks over both workers

            # One writer at a time, across days: no two publish tasks' run times overlap, and each
            # day's publish starts after every step of its day ended.
            writes = sorted(
                (_at(t["start_date"]), _at(t["end_date"]), t["dag_run_id"]) for t in daily if t["task_id"] == WRITER
            )
            assert len(writes) == len(DAYS)
            for (_, end, a), (start, _, b) in zip(writes, writes[1:], strict=False):
                assert end <= start, f"publish of {a} and of {b} wrote at the same time"
            for start, _, run_id in writes:
                day_steps = [t for t in daily if t["dag_run_id"] == run_id and t["task_id"] in {"analyze", *steps}]
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

            # The warehouse equals the one `scansense run` built (no writer runs now: all runs are done).
            expected = reference.result()  # however busy the machine: the test's own timeout bounds it
            assert table_hashes(warehouse / "scansense.duckdb", STABLE_TABLES) == expected

            # -- second pass: the middle day again, and the worker writing its warehouse dies.
            day = DAYS[1]
            run_id = next(r["dag_run_id"] for r in runs if r["logical_date"][:10] == day)
            before = {(t["task_id"], t["map_index"]): t["try_number"] for t in daily if t["dag_run_id"] == run_id}
            stack.api("POST", f"/api/v2/dags/scansense_daily/dagRuns/{run_id}/clear", {"dry_run": False})
            victim, writer_pid, killed_try = _catch_writer(stack, run_id, layout(warehouse).builds)
            killed = stack.kill_worker(victim)
            assert writer_pid in killed  # the publish process was one of the victim's
            assert stack.procs[victim].returncode == -9
            assert not [p for p in killed if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]

            _wait_for_runs(stack, daily=len(DAYS), reports=len(DAYS) + 1, what="after the kill")
            survivor = ({"worker1", "worker2"} - {victim}).pop()
            after = {(t["task_id"], t["map_index"]): t for t in _daily_tis(stack) if t["dag_run_id"] == run_id}
            assert set(after) == set(before)
            assert all(t["state"] == state_of[k[0] in steps] for k, t in after.items()), after
            # The writer was retried once, on the other worker; every other task ran once more (the clear).
            writer = after[(WRITER, -1)]
            assert writer["try_number"] > killed_try and writer["hostname"].startswith(survivor), writer
            others = {
                k: t["try_number"] - before[k] for k, t in after.items() if k != (WRITER, -1) and k[0] not in steps
            }
            assert min(others.values()) >= 1, others  # more than once only if a heartbeat came late (see above)
            tries = stack.api("GET", f"/api/v2/dags/scansense_daily/dagRuns/{run_id}/taskInstances/{WRITER}/tries")
            lost = [t for t in tries["task_instances"] if t["try_number"] == killed_try]
            assert len(lost) == 1 and lost[0]["hostname"].startswith(victim) and lost[0]["state"] != "success"
            # The scheduler found it by its heartbeat timeout (not the worker saying goodbye).
            assert WRITER in _heartbeat_timeouts(stack, run_id)
            # The killed build was cleared away by the retry; the day was mailed once more.
            assert not list(layout(warehouse).builds.glob("*.duckdb*"))
            subjects = sorted(message_from_bytes(m)["Subject"] for m in sink.messages)
            assert [s.split()[1].rstrip(":") for s in subjects] == sorted([*DAYS, day]), subjects

            # -- third pass: one step cleared alone (the history's tags of the first day) re-runs alone,
            # though `analyze` built that day and skipped its task: nothing skips it again.
            first = next(r["dag_run_id"] for r in runs if r["logical_date"][:10] == DAYS[0])
            states = {(t["task_id"], t["map_index"]): t for t in _daily_tis(stack) if t["dag_run_id"] == first}
            assert states[("source_tags", -1)]["state"] == "skipped"
            tis = {k: t["try_number"] for k, t in states.items()}
            stack.api(
                "POST",
                "/api/v2/dags/scansense_daily/clearTaskInstances",
                {"dry_run": False, "dag_run_id": first, "task_ids": ["source_tags"], "only_failed": False},
            )
            deadline = time.monotonic() + 900  # a hang, not a speed limit
            while time.monotonic() < deadline:
                stack.check_alive()
                again = {(t["task_id"], t["map_index"]): t for t in _daily_tis(stack) if t["dag_run_id"] == first}
                tags = again[("source_tags", -1)]
                if tags["try_number"] > tis[("source_tags", -1)] and tags["state"] == "success":
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"source_tags of {first} was not run again: {again[('source_tags', -1)]}")
            rerun = {k for k, t in again.items() if t["try_number"] != tis[k]}
            assert rerun == {("source_tags", -1)}, rerun
            assert {k: t["state"] for k, t in again.items() if k != ("source_tags", -1)} == {
                k: t["state"] for k, t in states.items() if k != ("source_tags", -1)
            }

            # Everything listened on 127.0.0.1 only.
            pids = _tree([p.pid for p in stack.procs.values()])
            assert _listeners(pids) <= {"127.0.0.1"}
    finally:
        pool.shutdown(wait=True)

    stopped = _tree([p.pid for p in stack.procs.values()])
    assert not stopped, "processes left running after stop"
    # Nothing lost or doubled by the kill: still the warehouse `scansense run` builds.
    assert table_hashes(warehouse / "scansense.duckdb", STABLE_TABLES) == reference.result()
    print(f"first pass {first_pass_seconds:.0f} s, whole test {time.monotonic() - started:.0f} s")


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


@pytest.mark.parametrize("argv", [["celery", "worker", "--concurrency", "2"], ["scheduler"]])
def test_task_imports_are_preloaded_in_celery_workers_alone_and_start_no_thread(tmp_path: Path, argv) -> None:
    """The launcher's `airflow_local_settings.py`, imported as Airflow imports it in each process.

    In `airflow celery worker` it loads what the day's tasks import before the pool forks (so each
    task process starts with them), and none of it leaves a thread running: a thread alive at a fork
    can hold a lock the forked task then waits on forever. Other processes load only PRELOAD.
    """
    import subprocess
    import sys

    settings = tmp_path / "airflow_local_settings.py"
    settings.write_text(launcher.local_settings_text(retry_delay=1))
    probe = (
        "import json, runpy, sys, threading\n"
        f"sys.argv = ['airflow', *{argv!r}]\n"
        f"space = runpy.run_path({str(settings)!r})\n"
        "wanted = json.loads(sys.stdin.read())\n"
        "print(json.dumps({'loaded': [m for m in wanted if m in sys.modules],"
        " 'threads': [t.name for t in threading.enumerate()], 'policy': 'task_policy' in space,"
        " 'gc': [__import__('gc').get_threshold()[0], __import__('gc').get_freeze_count() > 0]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        input=json.dumps([*launcher.PRELOAD, *launcher.WORKER_PRELOAD]),
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=tmp_path,  # a relative path must not be what finds the modules
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    worker = argv[:2] == ["celery", "worker"]
    assert seen["loaded"] == [*launcher.PRELOAD, *(launcher.WORKER_PRELOAD if worker else ())]
    assert seen["threads"] == ["MainThread"]
    assert seen["policy"]  # the retry-delay policy is still defined after the preloads
    # Workers' tasks collect garbage as the `scansense` command does, the preloaded objects frozen.
    assert seen["gc"] == ([GC_YOUNG_THRESHOLD, True] if worker else [700, False])
