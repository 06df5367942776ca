"""The services `make airflow` starts are locked (issue 28 finding 5): an unprivileged local user
gets nothing from PostgreSQL or Redis without the secrets, and Airflow's role cannot run programs.

PostgreSQL and Redis are started by the same helper as `deploy/airflow_local.py`
(`deploy/locked_services.py`), on free ports of 127.0.0.1, and stopped at the end. The hostile
user is `nobody`, through `runuser`, with a clean environment: no secret in hand.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_launcher import load_launcher

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


launcher = load_launcher()
from deploy import locked_services as locked  # noqa: E402  (ROOT put on sys.path above)


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    missing = launcher.missing_programs() + [p for p in ("psql", "redis-cli", "runuser") if not shutil.which(p)]
    if missing or os.geteuid() != 0:
        pytest.skip(f"needs root and {', '.join(missing) or 'nothing more'} (`make test` installs them as root)")
    home = tmp_path_factory.mktemp("services")
    with locked.LockedServices(home, launcher.free_port(), launcher.free_port()) as running:
        yield running


def _as_nobody(*cmd: str) -> subprocess.CompletedProcess:
    """`cmd` run as the unprivileged user nobody, with no environment but PATH (no PGPASSWORD, no REDISCLI_AUTH)."""
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", "env", "-i", "PATH=/usr/bin:/bin", *cmd],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


def test_locked_services_refuse_an_unprivileged_local_user_without_the_secret(services) -> None:
    for user, db in (("postgres", "postgres"), ("airflow", "airflow"), ("nobody", "airflow")):
        psql = _as_nobody(
            "psql", "-w", "-h", "127.0.0.1", "-p", str(services.pg_port), "-U", user, "-d", db, "-c", "SELECT 1"
        )
        assert psql.returncode != 0, psql.stdout
        assert "password" in psql.stderr or "no pg_hba.conf entry" in psql.stderr, psql.stderr
        wrong = _as_nobody(
            "psql", "-w", f"postgresql://{user}:guess@127.0.0.1:{services.pg_port}/{db}", "-c", "SELECT 1"
        )
        refused = ("password authentication failed", "no pg_hba.conf entry")  # nobody is no role at all
        assert wrong.returncode != 0 and any(r in wrong.stderr for r in refused), wrong.stderr
    for command in (["PING"], ["SET", "injected", "1"], ["KEYS", "*"], ["FLUSHALL"]):
        cli = _as_nobody("redis-cli", "-h", "127.0.0.1", "-p", str(services.redis_port), *command)
        assert "NOAUTH" in cli.stdout + cli.stderr, cli.stdout + cli.stderr  # redis-cli exits 0 on a server error
    # ... and the secrets are not theirs to read: a 0600 file of root's.
    info = services.secrets_file.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == 0
    assert _as_nobody("cat", str(services.secrets_file)).returncode != 0


def test_locked_services_airflow_role_is_no_superuser_and_cannot_run_programs(services, tmp_path) -> None:
    import psycopg2
    import redis

    keys = services.secrets
    con = locked.connect(services.pg_port, locked.AIRFLOW_ROLE, keys.airflow)
    try:
        cur = con.cursor()
        cur.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user")
        assert cur.fetchone() == (False, False, False)
        cur.execute("SELECT pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER')")
        assert cur.fetchone() == (False,)
        marker = tmp_path / "ran"
        for sql in (
            f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
            "ALTER ROLE airflow SUPERUSER",
            "CREATE ROLE intruder LOGIN SUPERUSER",
            "CREATE TABLE t (x text); COPY t FROM PROGRAM 'id'",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(sql)
        assert not marker.exists()
        cur.execute("CREATE TABLE owned_here (x int)")  # what it may do: its own database's tables
    finally:
        con.close()
    admin = locked.connect(services.pg_port, locked.SUPERUSER, keys.postgres, "postgres")
    try:
        cur = admin.cursor()
        cur.execute("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
        assert {m for (m,) in cur.fetchall()} == {"scram-sha-256"}  # no trust line, no md5
        cur.execute("SELECT count(*) FROM pg_authid WHERE rolname = 'airflow' AND rolpassword LIKE 'SCRAM-SHA-256$%'")
        assert cur.fetchone() == (1,)
    finally:
        admin.close()
    assert redis.Redis(host="127.0.0.1", port=services.redis_port, password=keys.redis).ping()
    config = redis.Redis(host="127.0.0.1", port=services.redis_port, password=keys.redis).config_get("*")
    assert config["bind"] == "127.0.0.1" and config["protected-mode"] == "yes" and config["requirepass"]


def test_locked_services_airflow_urls_carry_the_quoted_secrets() -> None:
    keys = locked.Secrets(postgres="p", airflow="a/b@c:d%", redis="r#s?t", admin="x")
    urls = locked.airflow_urls(5432, 6379, keys)
    assert (
        urls["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        == "postgresql+psycopg2://airflow:a%2Fb%40c%3Ad%25@127.0.0.1:5432/airflow"
    )
    assert urls["AIRFLOW__CELERY__BROKER_URL"] == "redis://:r%23s%3Ft@127.0.0.1:6379/0"
    assert "a/b@c:d%" not in repr(keys)


def test_locked_services_secrets_file_is_made_0600_and_a_readable_one_is_refused(tmp_path) -> None:
    path = tmp_path / "home" / "secrets.json"
    first = locked.load_secrets(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert locked.load_secrets(path) == first  # kept for the next start
    path.chmod(0o644)
    with pytest.raises(PermissionError, match="mode 0600"):
        locked.load_secrets(path)


def test_locked_services_are_what_make_airflow_starts(tmp_path) -> None:
    """The launcher (and so the Celery test) logs Airflow in with the helper's role and secrets, never as postgres."""
    stack = launcher.LocalAirflow(tmp_path / "airflow")
    try:
        keys = locked.load_secrets(tmp_path / "airflow" / "secrets.json")
        assert stack.secrets == keys and stack.password == keys.admin
        assert {k: stack.env[k] for k in locked.airflow_urls(0, 0, keys)} == locked.airflow_urls(
            stack.pg_port, stack.redis_port, keys
        )
        assert stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
            f"postgresql+psycopg2://airflow:{keys.airflow}@"
        )
        assert launcher.start_postgres is locked.start_postgres and launcher.start_redis is locked.start_redis
    finally:
        stack.stop()
