"""`scansense query` is SQL over the warehouse and nothing else; its text output never sends raw control characters."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.warehouse import db_path

ROOT = Path(__file__).resolve().parents[1]
SECRET = "TOP-SECRET-0xC0FFEE"
HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07\rfake\x00\x7f\x9b31m\u202egnp.exe"


@pytest.fixture
def box(tmp_path: Path) -> dict[str, Path]:
    """A tiny published warehouse, a lake file inside it, and a secret and a Parquet file outside it."""
    wh = tmp_path / "warehouse"
    (wh / "lake" / "events").mkdir(parents=True)
    con = duckdb.connect(str(db_path(wh)))
    con.execute("CREATE TABLE events AS SELECT * FROM (VALUES ('10.0.0.1', 22), ('10.0.0.2', 23)) t(src_ip, dst_port)")
    con.execute("CREATE TABLE notes (id INTEGER, text VARCHAR)")
    con.execute("INSERT INTO notes VALUES (1, ?)", [HOSTILE])
    con.close()
    pq.write_table(pa.table({"x": [1]}), wh / "lake" / "events" / "part.parquet")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"user,password\nroot,{SECRET}\n")
    pq.write_table(pa.table({"secret": [SECRET]}), outside / "secret.parquet")
    return {"wh": wh, "db": db_path(wh), "out": outside}


def _query(box: dict[str, Path], sql: str, *flags: str, capsys) -> tuple[int, str, str]:
    code = main(["query", "--warehouse", str(box["wh"]), sql, *flags])
    out, err = capsys.readouterr()
    return code, out, err


ESCAPES = [
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_text('{out}/secret.txt')",
    "SELECT * FROM read_csv('{out}/secret.txt')",
    "SELECT * FROM read_csv_auto('/etc/passwd', sep = ':')",
    "SELECT * FROM read_blob('{out}/secret.txt')",
    "SELECT * FROM read_parquet('{out}/secret.parquet')",
    "SELECT * FROM read_parquet('{wh}/lake/../../outside/secret.parquet')",
    "COPY events TO '{wh}/lake/events/overwritten.parquet'",
    "COPY events TO '{wh}/lake/events/part.parquet'",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM glob('{out}/*')",
    "COPY events TO '{out}/copied.csv'",
    "COPY (SELECT 1) TO '{db}'",
    "EXPORT DATABASE '{out}/exported'",
    "ATTACH '{out}/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET lock_configuration = false",
    "SET allowed_directories = ['/']",
    "SET autoinstall_known_extensions = true",
    "PRAGMA enable_profiling = 'json'",
    "PRAGMA profiling_output = '{out}/profile.json'",
    "SELECT 1; COPY events TO '{out}/second.csv'",
    "CREATE TABLE stolen AS SELECT 1",
    "DROP TABLE events",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_every_escape_is_refused_with_one_line(box, template: str, capsys) -> None:
    sql = template.format(out=box["out"], wh=box["wh"], db=box["db"])
    before = hashlib.sha256(box["db"].read_bytes()).hexdigest()

    code, out, err = _query(box, sql, capsys=capsys)
    assert code != 0
    assert out == "" and err.count("\n") == 1 and err.startswith("scansense query: refused: "), err
    assert "Traceback" not in err and SECRET not in err

    code, out, err = _query(box, sql, "--json", capsys=capsys)
    assert code != 0 and err == ""
    result = json.loads(out.strip().splitlines()[-1])
    assert result["refused"] is True and result["error"].startswith("refused: ") and "\n" not in result["error"]

    assert hashlib.sha256(box["db"].read_bytes()).hexdigest() == before  # the warehouse is untouched
    assert sorted(p.name for p in box["out"].iterdir()) == ["secret.parquet", "secret.txt"]  # nothing written


def test_ordinary_selects_still_work(box, capsys) -> None:
    code, out, _ = _query(box, "SELECT src_ip, dst_port FROM events ORDER BY src_ip", "--json", capsys=capsys)
    assert code == 0
    assert json.loads(out.strip().splitlines()[-1]) == {
        "columns": ["src_ip", "dst_port"],
        "rows": [["10.0.0.1", 22], ["10.0.0.2", 23]],
    }
    sql = "SELECT count(*) AS n, max(dst_port) AS top FROM events JOIN (SELECT 1 AS one) ON true"
    code, out, _ = _query(box, sql, capsys=capsys)
    assert code == 0 and out.split() == ["n", "top", "2", "23"]
    code, out, _ = _query(box, "SELECT table_name FROM duckdb_tables() ORDER BY 1", "--json", capsys=capsys)
    assert json.loads(out.strip().splitlines()[-1])["rows"] == [["events"], ["notes"]]


def test_the_lake_is_read_through_the_views_and_never_written(box, capsys) -> None:
    """The published history tables are views over the lake's Parquet (issue 27): reading it is allowed."""
    part = box["wh"] / "lake" / "events" / "part.parquet"
    with duckdb.connect(str(box["db"])) as con:
        con.execute(f"CREATE VIEW lake_events AS SELECT * FROM read_parquet(['{part.resolve()}'])")
    code, out, _ = _query(box, "SELECT x FROM lake_events", "--json", capsys=capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["rows"] == [[1]]
    before = part.read_bytes()
    code, _, err = _query(box, f"COPY (SELECT 2 AS x) TO '{part}'", capsys=capsys)
    assert code != 0 and err.startswith("scansense query: refused: ") and part.read_bytes() == before


def test_a_plain_sql_error_is_one_line_and_not_refused(box, capsys) -> None:
    code, out, err = _query(box, "SELECT nope FROM events", capsys=capsys)
    assert code == 1 and out == "" and err.count("\n") == 1 and "refused" not in err and "nope" in err
    code, out, _ = _query(box, "SELECT nope FROM events", "--json", capsys=capsys)
    assert code == 1 and json.loads(out.strip().splitlines()[-1])["refused"] is False


def test_the_command_exits_cleanly_without_a_traceback(box) -> None:
    for flags in ((), ("--json",)):
        proc = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "query", "--warehouse", str(box["wh"]), *flags]
            + [f"SELECT * FROM read_text('{box['out']}/secret.txt')"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and SECRET not in proc.stdout + proc.stderr
        assert "refused" in (proc.stdout if flags else proc.stderr)


def test_text_output_escapes_control_characters_and_json_stays_exact(box, capsys) -> None:
    sql = 'SELECT text AS "col\x1b[1m", id FROM notes'
    code, out, _ = _query(box, sql, capsys=capsys)
    assert code == 0
    for raw in ("\x1b", "\x07", "\r", "\x00", "\x7f", "\x9b", "\u202e"):
        assert raw not in out
    assert "col\\x1b[1m" in out.splitlines()[0]
    assert out.splitlines()[1].startswith("evil\\x1b[2J\\x1b]0;pwned\\x07\\rfake\\x00\\x7f\\x9b31m\\u202egnp.exe  1"), (
        out
    )
    code, out, _ = _query(box, sql, "--json", capsys=capsys)
    assert json.loads(out.strip().splitlines()[-1]) == {"columns": ["col\x1b[1m", "id"], "rows": [[HOSTILE, 1]]}
    # an error quoting hostile data is escaped too
    code, out, err = _query(box, "SELECT CAST(text AS INTEGER) FROM notes", capsys=capsys)
    assert code == 1 and "\x1b" not in err and err.count("\n") == 1


def test_escape_lines_keeps_report_lines_and_escapes_the_rest() -> None:
    from pipelines.terminal import escape_controls, escape_lines

    assert escape_lines("a\x1b[31m\tb\nAS\x07 x\u2028y") == "a\\x1b[31m\\tb\nAS\\x07 x\\u2028y"
    assert escape_controls("plain ünïcode, 中文 and \\ stay") == "plain ünïcode, 中文 and \\ stay"


# Issue 28 finding 10: DuckDB lets file logging through the lock and then aborts the process when it
# cannot write the log; each form is refused before it runs, in a process of its own (an abort
# before the fix would take pytest down with it).
STATEFUL_CALLS = [
    "CALL enable_logging(storage = 'file', storage_path = '{out}/logs')",
    "SELECT * FROM enable_logging(storage = 'file', storage_path = '{out}/logs')",
    "CALL enable_logging(level = 'trace', storage = 'file', storage_config = {{'path': '{out}/logs'}}); SELECT 1",
    "SELECT 1 FROM events WHERE 1 IN (SELECT 1 FROM enable_profiling())",
    "SELECT * FROM query('CALL enable_logging()')",
    "SELECT * FROM force_checkpoint()",
    "CALL truncate_duckdb_logs()",
]


@pytest.mark.parametrize("template", STATEFUL_CALLS)
def test_query_sandbox_refuses_stateful_calls_without_aborting(box, template: str) -> None:
    sql = template.format(out=box["out"])
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "query", "--warehouse", str(box["wh"]), sql],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-500:])  # not an abort (-6)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("scansense query: refused: "), proc.stderr
    assert sorted(p.name for p in box["out"].iterdir()) == ["secret.parquet", "secret.txt"]  # no log written


def test_query_sandbox_has_its_own_memory_temp_and_time_bounds(box, monkeypatch, capsys) -> None:
    """`[query]` bounds memory and spill space (not DuckDB's 80% of RAM and 90% of the disk) and time."""
    monkeypatch.setenv("SCANSENSE_QUERY_MEMORY_LIMIT", "64MiB")
    monkeypatch.setenv("SCANSENSE_QUERY_MAX_TEMP_DIRECTORY_SIZE", "128MiB")
    sql = "SELECT current_setting('memory_limit') AS m, current_setting('max_temp_directory_size') AS t"
    code, out, _ = _query(box, sql, "--json", capsys=capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["rows"] == [["64.0 MiB", "128.0 MiB"]]

    monkeypatch.setenv("SCANSENSE_QUERY_TIMEOUT_S", "0.5")
    endless = "SELECT sum(hash(i)) FROM range(1000000000000) t(i)"  # hours of work, whatever the machine
    code, out, err = _query(box, endless, capsys=capsys)
    assert code == 1 and out == "" and err == "scansense query: stopped after 0.5 s ([query] timeout_s)\n"
    code, out, _ = _query(box, endless, "--json", capsys=capsys)
    assert code == 1 and json.loads(out.strip().splitlines()[-1])["refused"] is False
