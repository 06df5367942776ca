"""Airflow with the Celery executor on this machine, without Docker (`make airflow`).

Debian's `postgresql` (metadata database) and `redis-server` (Celery broker) start on 127.0.0.1
with throw-away data folders, locked as in production (deploy/locked_services.py: passwords in
`$AIRFLOW_HOME/secrets.json`, mode 0600; Airflow's role is no superuser), then `airflow db migrate`,
the scheduler, the dag-processor, the api-server and N `airflow celery worker` processes, all
reading `dags/` of this checkout. Every port is a free one on 127.0.0.1; Ctrl-C (or
`LocalAirflow.stop`) ends every process group and removes the data folders. tests/test_airflow_celery.py drives the same class.

    python deploy/airflow_local.py --workers 2 [--port 8080] [--home DIR]

ScanSense reads its paths from the environment as usual (SCANSENSE_LANDING, SCANSENSE_WAREHOUSE,
SCANSENSE_AIRFLOW_START_DATE, ...): set them before starting.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, or loaded from its file by the tests
    sys.path.insert(0, str(ROOT))

from deploy.locked_services import (  # noqa: E402
    AIRFLOW_ROLE,
    airflow_urls,
    connect,
    load_secrets,
    postgres_bin,
    start_postgres,
    start_redis,
    wait_until,
    write_private,
)

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
USER = "admin"

# A one-machine deployment whose dags/ do not change under it: scheduling latency over idle CPU.
# These apply to `make airflow` and to the test alike (see docs: Airflow's configuration reference).
QUICK = {
    # The scheduler sleeps up to this long after a loop that found nothing to do (default 1 s): a
    # finished task's downstream is queued sooner, for a few more cheap queries to a local Postgres.
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
    # An unchanged DAG file is parsed again every 30 s by default (about a core-second for
    # scansense_daily.py on a busy 2-core machine); a changed file and a callback are parsed at once anyway.
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
    # A task's supervisor waits on its sockets at most this long per loop (default 5 s). A task process
    # that closes them just before it can be reaped is noticed only at the next timeout, so a finished
    # task held its worker slot up to 5 s more (measured: about 5 s after half of a day's tasks); the
    # next task waited for that slot. Running tasks also heartbeat this often: a request a second each.
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
}

# What every task of ScanSense imports (pipelines.steps, through the DAG file): loaded once per process.
PRELOAD = ("duckdb", "pyarrow", "pyarrow.parquet")

# What a day's tasks import when they run, loaded once in each Celery worker before it forks its pool
# (about 0.3-1 s for ingest, 1.5 s for analyze, 2-3 s for publish per task otherwise), and only there:
# the scheduler, api-server and dag-processor never need them. None of them starts a thread at import
# (tests/test_airflow_celery.py), so the forked task processes inherit no lock held by a thread.
WORKER_PRELOAD = (
    "pipelines.ingest",  # ingest: numba, polars, pandas, pyarrow.dataset
    "pipelines.orgs.cluster",  # analyze, scanner_orgs: scipy.sparse
    "sklearn.cluster",  # analyze, scanner_orgs (imported where it clusters)
    "great_expectations",  # publish: the quality gates (imported where they run)
    "dashboards.report",  # report
)

# A worker that dies is noticed in seconds, not minutes, and its task is retried at once: for a
# throw-away deployment that kills workers on purpose (the test). A real one keeps Airflow's 5
# minutes: a long pause of a healthy task (a swapping machine) must not count as a dead worker.
FAILOVER = {
    # Running tasks report to the api-server every second (QUICK's `min_heartbeat_interval`) ...
    # ... a task silent for 30 s (15 missed heartbeats) is failed by the scheduler (default 300 s) ...
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    # ... which looks for such tasks every 2 s (default 10 s).
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    # A task waiting for a free worker slot is not a lost one: catchup queues three days' tasks on
    # four slots of a busy machine, longer than the default 600 s would let them wait.
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "3600",
}


def free_port() -> int:
    """A TCP port nobody listens on at 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_hostname() -> str:
    """The hostname a task instance records: the Celery name of a worker started here (worker1@host).

    Airflow records the machine's name by default, the same for every worker on one machine; this
    (`[core] hostname_callable`) tells the workers apart in the UI and in the test.
    """
    return os.environ.get("SCANSENSE_CELERY_HOSTNAME") or socket.getfqdn()


def missing_programs() -> list[str]:
    """Programs this needs that are not installed (Debian: apt-get install postgresql redis-server)."""
    wanted = {"initdb": postgres_bin("initdb"), "postgres": postgres_bin("postgres")}
    wanted["redis-server"] = shutil.which("redis-server")
    if os.geteuid() == 0:  # postgres refuses to run as root: it runs as the postgres user
        wanted["setpriv"] = shutil.which("setpriv")
    missing = [name for name, path in wanted.items() if not path]
    try:
        import airflow.providers.celery  # noqa: F401
        import psycopg2  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        missing.append(f"python module {exc.name}")
    return missing


_wait = wait_until


def local_settings_text(retry_delay: float | None = None) -> str:
    """The text of `airflow_local_settings.py`: PRELOAD everywhere, WORKER_PRELOAD in `airflow celery worker`."""
    text = '"""Written by deploy/airflow_local.py for this throw-away deployment."""\n\n'
    text += "import sys\n\n"
    text += "".join(f"import {module}  # noqa: F401 (preloaded)\n" for module in PRELOAD)
    text += '\nif sys.argv[1:3] == ["celery", "worker"]:  # what the tasks import, before the pool forks\n'
    text += "".join(f"    import {module}  # noqa: F401\n" for module in WORKER_PRELOAD)
    # The tasks collect garbage as the `scansense` command does (pipelines/cli.py), and never walk the
    # millions of objects the preloads made: frozen before the pool forks, as gc.freeze's docs advise.
    text += "\n    import gc\n\n    from pipelines.cli import GC_YOUNG_THRESHOLD\n\n"
    text += "    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])\n    gc.freeze()\n"
    if retry_delay is not None:
        text += "\nfrom datetime import timedelta\n\n\n"
        text += f"def task_policy(task):\n    task.retry_delay = timedelta(seconds={float(retry_delay)!r})\n"
    return text


class LocalAirflow:
    """Postgres, Redis and Airflow's processes, started in order and stopped together."""

    def __init__(
        self,
        home: Path,
        workers: int = 2,
        concurrency: int = 2,
        api_port: int | None = None,
        config: dict[str, str] | None = None,
        retry_delay: float | None = None,
    ) -> None:
        """`config`: more AIRFLOW__SECTION__KEY settings (e.g. FAILOVER); `retry_delay`: seconds every
        task waits before a retry, instead of its DAG's (a cluster policy, for a throw-away deployment)."""
        self.home = Path(home)
        self.workers = workers
        self.concurrency = concurrency
        self.retry_delay = retry_delay
        self.killed: set[str] = set()
        self.api_port = api_port or free_port()
        self.pg_port, self.redis_port = free_port(), free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        # Generated at first start into $AIRFLOW_HOME/secrets.json (0600), kept for the next start.
        self.secrets = load_secrets(self.home / "secrets.json")
        self.password = self.secrets.admin
        self._token: str | None = None
        # The postgres user must reach its folder: a pytest tmp_path under /tmp/pytest-of-root is 0700.
        self.pg_dir = Path(tempfile.mkdtemp(prefix="scansense-pg-"))
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.env = dict(os.environ)
        self.env.update(
            AIRFLOW_HOME=str(self.home),
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
            AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
            AIRFLOW__CORE__LOAD_EXAMPLES="false",
            AIRFLOW__CORE__UNIT_TEST_MODE="false",
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.url}/execution/",
            AIRFLOW__API__BASE_URL=self.url,
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.api_port),
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API__SECRET_KEY=secrets.token_hex(16),
            AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_hex(32),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:admin",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(self.home / "passwords.json"),
            AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="false",
            AIRFLOW__CORE__HOSTNAME_CALLABLE="deploy.airflow_local.worker_hostname",
            # Tasks call the api-server's execution API; on a busy 2-core machine 5 s is too short.
            AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="30",
        )
        self.env.update(airflow_urls(self.pg_port, self.redis_port, self.secrets))
        self.env.update(QUICK)
        self.env.update(config or {})

    # -- processes -------------------------------------------------------------------------------

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.home / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                env={**self.env, **(env or {})},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def start_postgres(self) -> None:
        """PostgreSQL on 127.0.0.1:pg_port, scram passwords only, Airflow's database owned by a plain role."""
        start_postgres(self.pg_dir, self.pg_port, self.secrets, self._spawn, self.home / "logs" / "postgres.log")

    def start_redis(self) -> None:
        """Redis on 127.0.0.1:redis_port with requirepass and protected mode."""
        start_redis(self.home / "redis", self.redis_port, self.secrets, self._spawn)

    def metadata_db(self):
        """A connection to Airflow's metadata database as Airflow's own role (autocommit)."""
        return connect(self.pg_port, AIRFLOW_ROLE, self.secrets.airflow)

    def write_local_settings(self) -> None:
        """`$AIRFLOW_HOME/config/airflow_local_settings.py`, which each Airflow process imports first.

        It imports PRELOAD, so that a Celery worker's pool processes, and each task process forked
        from them, start with DuckDB and Arrow loaded (about half a second less per task; the
        dag-processor's parsing processes are forked the same way), and in a Celery worker alone
        WORKER_PRELOAD too. With `retry_delay`, a cluster policy gives every task that delay before
        a retry; the DAG's retries, backoff and maximum delay stay as they are.
        """
        folder = self.home / "config"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "airflow_local_settings.py").write_text(local_settings_text(self.retry_delay))

    def start(self) -> LocalAirflow:
        """Start everything and return when the api-server answers and every process is alive."""
        self.home.mkdir(parents=True, exist_ok=True)
        write_private(self.home / "passwords.json", json.dumps({USER: self.password}))  # 0600: the UI's admin
        self.write_local_settings()
        self.start_postgres()
        self.start_redis()
        migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=self.env, cwd=ROOT, capture_output=True, text=True)
        if migrate.returncode:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout[-2000:]}{migrate.stderr[-3000:]}")
        api = self._spawn("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(self.api_port)])
        # Everything else starts while the api-server does: the scheduler and the dag-processor need
        # only the database, and a task's calls to the execution API retry a refused connection
        # (`[workers] execution_api_retries`), so a worker ready first waits for it.
        self._spawn("scheduler", [AIRFLOW, "scheduler"])
        self._spawn("dag-processor", [AIRFLOW, "dag-processor"])
        for i in range(1, self.workers + 1):
            self.start_worker(f"worker{i}")
        ready = lambda: self.api("GET", "/api/v2/monitor/health") is not None  # noqa: E731
        _wait("api-server", ready, 180, api, self.home / "logs" / "api-server.log")
        # The api-server builds its task-execution API on the first request to it (3.8-5.9 s measured),
        # which would otherwise be the first task's: a started deployment has paid it already.
        self._request("GET", "/execution/health", None, token=None)
        self.check_alive()
        return self

    def start_worker(self, name: str) -> subprocess.Popen:
        """Start (or start again) the Celery worker `name` (worker1, worker2, ...)."""
        # The hostname names the worker in each task instance; the log server is not needed
        # (task logs are files under AIRFLOW_HOME/logs on this one machine) and is not started.
        hostname = f"{name}@{socket.gethostname()}"
        cmd = [AIRFLOW, "celery", "worker", "--celery-hostname", hostname, "--skip-serve-logs"]
        cmd += ["--concurrency", str(self.concurrency)]
        self.killed.discard(name)
        return self._spawn(name, cmd, env={"SCANSENSE_CELERY_HOSTNAME": hostname})

    def kill_worker(self, name: str) -> set[int]:
        """SIGKILL every process of worker `name` at once, as a machine that dies; return their pids.

        That is the Celery worker, its pool processes, and each running task's supervisor and task
        process, which Airflow puts in process groups of their own (so not the worker's group).
        """
        import psutil

        root = psutil.Process(self.procs[name].pid)
        tree = [root, *root.children(recursive=True)]
        for proc in tree:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        self.procs[name].wait(timeout=10)  # our child: reaped here, so its returncode is -9
        psutil.wait_procs(tree[1:], timeout=10)
        self.killed.add(name)
        return {p.pid for p in tree}

    def check_alive(self) -> None:
        """Raise naming the first process that has exited, with the end of its log."""
        for name, proc in self.procs.items():
            if proc.poll() is not None and name not in self.killed:
                log = self.home / "logs" / f"{name}.log"
                tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def stop(self) -> None:
        """End every process group (SIGTERM, then SIGKILL after 20 s) and remove the database folder."""
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # the group too: a worker's task processes outlive it otherwise
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        shutil.rmtree(self.pg_dir, ignore_errors=True)

    def __enter__(self) -> LocalAirflow:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- clients ---------------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run one `airflow` command against this installation."""
        return subprocess.run([AIRFLOW, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def api(self, method: str, path: str, body: dict | None = None):
        """Call the REST API (JSON in, JSON out) as the admin user of the simple auth manager."""
        if self._token is None:
            login = {"username": USER, "password": self.password}
            self._token = self._request("POST", "/auth/token", login, token=None)["access_token"]
        return self._request(method, path, body, token=self._token)

    def _request(self, method: str, path: str, body: dict | None, token: str | None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="Celery workers to start (default 2)")
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per worker (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="api-server and UI port on 127.0.0.1")
    parser.add_argument("--home", type=Path, help="AIRFLOW_HOME (default: a new temporary folder)")
    args = parser.parse_args(argv)
    missing = missing_programs()
    if missing:
        print(f"missing: {', '.join(missing)} (Debian: apt-get install postgresql redis-server)", file=sys.stderr)
        return 2
    home = args.home or Path(tempfile.mkdtemp(prefix="scansense-airflow-"))
    stack = LocalAirflow(home, workers=args.workers, concurrency=args.concurrency, api_port=args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with stack:
        print(f"Airflow UI: {stack.url} (user {USER}; its password and the services' are in {home / 'secrets.json'})")
        print(f"AIRFLOW_HOME={home}; logs in {home / 'logs'}; Ctrl-C stops everything")
        try:
            while True:
                stack.check_alive()
                time.sleep(5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
