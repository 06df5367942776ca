"""PostgreSQL and Redis on 127.0.0.1, locked as in production, for `make airflow` and its tests.

Issue 28: the throw-away PostgreSQL trusted every local user (one became superuser and ran a
program with `COPY ... TO PROGRAM`) and Redis had no password. Here PostgreSQL takes TCP only, with
scram-sha-256 for every line of pg_hba.conf (no trust), and Airflow logs in as a role that owns its
database and nothing else (no superuser, no role or database creation, so no COPY TO PROGRAM).
Redis requires a password, binds 127.0.0.1 in protected mode, and reads both from a config file.
The secrets are generated at first start into a JSON file only its owner can read (0600); no
password is ever on a command line, where every local user could read it in /proc.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

AIRFLOW_ROLE = "airflow"  # the metadata database's owner and Airflow's only login
AIRFLOW_DB = "airflow"
SUPERUSER = "postgres"  # used by the launcher alone, to create the role and its database

Spawn = Callable[[str, list[str]], subprocess.Popen]


@dataclass(frozen=True)
class Secrets:
    """Passwords of one deployment; `repr` shows none of them."""

    postgres: str  # the superuser's: creating the role and database at start, nothing else
    airflow: str  # the airflow role's: in Airflow's connection strings
    redis: str  # Redis' requirepass: in the Celery broker URL
    admin: str  # the Airflow UI's admin (simple auth manager)

    def __repr__(self) -> str:
        return "Secrets(...)"


def load_secrets(path: Path) -> Secrets:
    """The deployment's secrets from `path`, generated there (mode 0600) at first start.

    An existing file that others can read, or that another user owns, is refused: its passwords
    would be anybody's.
    """
    path = Path(path)
    if path.exists():
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
            raise PermissionError(
                f"secrets file {path} must be a regular file of uid {os.geteuid()} with mode 0600 "
                f"(it is mode {stat.S_IMODE(info.st_mode):04o} of uid {info.st_uid}): fix it or remove it"
            )
        data = json.loads(path.read_text())
        return Secrets(**{k: str(data[k]) for k in Secrets.__dataclass_fields__})
    made = Secrets(**{k: secrets.token_urlsafe(24) for k in Secrets.__dataclass_fields__})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(asdict(made)))
    return made


def write_private(path: Path, text: str) -> None:
    """Write `text` to a new file at `path` that only its owner can read or write (0600 from the start)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def airflow_urls(pg_port: int, redis_port: int, keys: Secrets) -> dict[str, str]:
    """Airflow's metadata database, Celery result backend and broker settings, passwords url-quoted."""
    db = f"{AIRFLOW_ROLE}:{quote(keys.airflow, safe='')}@127.0.0.1:{pg_port}/{AIRFLOW_DB}"
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{db}",  # not psycopg 3
        "AIRFLOW__CELERY__BROKER_URL": f"redis://:{quote(keys.redis, safe='')}@127.0.0.1:{redis_port}/0",
    }


def postgres_bin(name: str) -> str | None:
    """Debian keeps initdb and postgres off PATH, in /usr/lib/postgresql/<version>/bin (newest wins)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]))
    return found[-1] if found else shutil.which(name)


def as_postgres(cmd: list[str]) -> list[str]:
    """`cmd` run as the postgres user when we are root (postgres refuses to run as root)."""
    if os.geteuid() != 0:
        return cmd
    return ["setpriv", f"--reuid={SUPERUSER}", f"--regid={SUPERUSER}", "--init-groups", *cmd]


def wait_until(what: str, ready, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    """Poll `ready()` until it is true; raise when `proc` exits first (with its log's end) or after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.is_file() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail}")
        try:
            if ready():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


PG_HBA = f"""# Written by deploy/locked_services.py: TCP on 127.0.0.1 only, a password for every connection.
# TYPE  DATABASE     USER          ADDRESS        METHOD
host    {AIRFLOW_DB:<12} {AIRFLOW_ROLE:<13} 127.0.0.1/32   scram-sha-256
host    all          {SUPERUSER:<13} 127.0.0.1/32   scram-sha-256
"""


def start_postgres(folder: Path, port: int, keys: Secrets, spawn: Spawn, log: Path | None = None) -> subprocess.Popen:
    """Create a cluster in `folder`, start it on 127.0.0.1:`port` and create the airflow role and database.

    `folder` must be reachable by the postgres user (a pytest tmp_path under /tmp/pytest-of-root is not).
    """
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, SUPERUSER, SUPERUSER)
    folder.chmod(0o700)
    pwfile = folder / "superuser.pw"
    write_private(pwfile, keys.postgres)
    if os.geteuid() == 0:
        shutil.chown(pwfile, SUPERUSER, SUPERUSER)
    try:
        initdb = [postgres_bin("initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}"]
        initdb += ["--auth=scram-sha-256", "--no-sync"]
        subprocess.run(as_postgres(initdb), check=True, capture_output=True, cwd=folder)
    finally:
        pwfile.unlink(missing_ok=True)
    (data / "pg_hba.conf").write_text(PG_HBA)
    # TCP on 127.0.0.1 only (no Unix socket); a throw-away cluster: no durability settings worth their cost.
    cmd = [postgres_bin("postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port)]
    cmd += ["-c", "unix_socket_directories=", "-c", "password_encryption=scram-sha-256"]
    cmd += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    proc = spawn("postgres", as_postgres(cmd))
    wait_until("postgres", lambda: connect(port, SUPERUSER, keys.postgres, "postgres").close() or True, 60, proc, log)
    con = connect(port, SUPERUSER, keys.postgres, "postgres")
    try:
        cur = con.cursor()
        cur.execute(
            f"CREATE ROLE {AIRFLOW_ROLE} LOGIN PASSWORD %s NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
            (keys.airflow,),
        )
        cur.execute(f"CREATE DATABASE {AIRFLOW_DB} OWNER {AIRFLOW_ROLE}")
        cur.execute("REVOKE ALL ON DATABASE postgres, template1 FROM PUBLIC")
    finally:
        con.close()
    return proc


def connect(port: int, user: str, password: str, dbname: str = AIRFLOW_DB):
    """A psycopg2 connection (autocommit) to the local cluster as `user`."""
    import psycopg2

    con = psycopg2.connect(host="127.0.0.1", port=port, user=user, password=password, dbname=dbname)
    con.autocommit = True
    return con


def start_redis(folder: Path, port: int, keys: Secrets, spawn: Spawn) -> subprocess.Popen:
    """Start redis-server on 127.0.0.1:`port` with a password and protected mode, from a 0600 config file."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "redis.conf"
    lines = [
        "bind 127.0.0.1",
        "protected-mode yes",
        f"port {port}",
        f"dir {folder}",
        f'requirepass "{keys.redis}"',  # token_urlsafe: no quote or backslash to escape
        'save ""',
        "appendonly no",
        "daemonize no",
    ]
    write_private(conf, "\n".join(lines) + "\n")
    proc = spawn("redis", ["redis-server", str(conf)])
    import redis

    wait_until("redis", lambda: redis.Redis(host="127.0.0.1", port=port, password=keys.redis).ping(), 30, proc)
    return proc


class LockedServices:
    """PostgreSQL and Redis alone, started and stopped together (the lock-down's own test drives this)."""

    def __init__(self, home: Path, pg_port: int, redis_port: int) -> None:
        self.home = Path(home)
        self.pg_port, self.redis_port = pg_port, redis_port
        self.secrets_file = self.home / "secrets.json"
        self.procs: list[subprocess.Popen] = []
        self.pg_dir = Path(tempfile.mkdtemp(prefix="scansense-pg-"))

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = self.home / f"{name}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def __enter__(self) -> LockedServices:
        self.home.mkdir(parents=True, exist_ok=True)
        self.secrets = load_secrets(self.secrets_file)
        try:
            start_postgres(self.pg_dir, self.pg_port, self.secrets, self._spawn, self.home / "postgres.log")
            start_redis(self.home / "redis", self.redis_port, self.secrets, self._spawn)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.pg_dir, ignore_errors=True)
