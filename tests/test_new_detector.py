"""docs/HOWTO.md recipe 1 as a new contributor follows it: a toy detector ("one port probed 50 times") added
as its five files to a copy of the project reaches findings, risk, history, tags, exports, the report and
the DAG with no other edit."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.sqlfiles import header_entries

ROOT = Path(__file__).resolve().parents[1]
SCANSENSE = str(Path(sys.executable).with_name("scansense"))  # the console script; PYTHONPATH picks the copy's code
DAY = date(2025, 11, 26)
TOY = "scan_toy"
TOY_TAG = "scan-toy-port"  # <detector>-<kind>, underscores as hyphens (sql/history/source_tags.sql)
# The crafted source: a public address the generator does not use (checked below), knocking on one port.
KNOCKER = "45.148.10.77"

# Recipe step 1: the catalog file, header and SQL.
TOY_SQL = """\
-- table: One source, protocol, port and UTC day with probes: the toy detector of docs/HOWTO.md recipe 1 (a port probed toy.min_probes times or more is a scan).
-- grain: one row per (event_date, src_ip, proto, dst_port) with a probe
-- key: event_date, src_ip, proto, dst_port
-- built by: pipelines.detect.toy:scan_toy(settings.toy)
-- sharded by: src_ip
-- findings: SELECT src_ip, 'port' AS kind, first_seen AS window_start, last_seen AS window_end,
--     to_json({'proto': proto, 'dst_port': dst_port, 'probes': probes, 'hosts': hosts})::VARCHAR AS evidence,
--     to_json({'min_probes': min_probes})::VARCHAR AS parameters
--   FROM scan_toy WHERE is_scan
-- column event_date DATE: UTC day the row belongs to (lake partition).
-- column src_ip VARCHAR: The source.
-- column proto VARCHAR: Transport protocol of the probes.
-- column dst_port INTEGER: The port probed.
-- column probes BIGINT: Probes the source sent to that port that day.
-- column hosts BIGINT: Distinct destination hosts among those probes.
-- column first_seen TIMESTAMP WITH TIME ZONE: First probe to the port that day, UTC.
-- column last_seen TIMESTAMP WITH TIME ZONE: Last probe to the port that day, UTC.
-- column is_scan BOOLEAN: probes >= min_probes.
-- column min_probes BIGINT: The threshold used (toy.min_probes).
-- check critical: ExpectColumnValuesToNotBeNull(column="src_ip")
-- check warning: ExpectColumnValuesToBeBetween(column="probes", min_value=1)
SELECT
    src_ip,
    proto,
    dst_port,
    count(*)::BIGINT AS probes,
    count(DISTINCT dst_ip)::BIGINT AS hosts,
    min(ts) AS first_seen,
    max(ts) AS last_seen,
    count(*) >= $min_probes AS is_scan,
    $min_probes::BIGINT AS min_probes
FROM probes
WHERE event_date = $day AND src_ip IS NOT NULL AND dst_port IS NOT NULL
GROUP BY src_ip, proto, dst_port
ORDER BY src_ip, proto, dst_port
"""

# Recipe step 2: the builder.
TOY_PY = '''\
"""The toy detector: a source that probes one port toy.min_probes times or more in a day."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.settings import Toy
from pipelines.sqlfiles import read_sql


def scan_toy(con: duckdb.DuckDBPyConnection, day: date, params: Toy) -> pa.Table:
    """One row per source, protocol and port probed that day; a scan at min_probes probes or more."""
    ensure_probes(con)
    return con.execute(read_sql("detect/scan_toy"), {"day": day, "min_probes": params.min_probes}).to_arrow_table()
'''

# Recipe step 3: the dataclass (before Settings) and its field of Settings (after trw's).
TOY_SETTINGS_CLASS = """@dataclass(frozen=True)
class Toy:
    min_probes: int = 50  # probes of one port in a day; lower flags clients retrying one service


"""
TOY_SETTINGS_FIELD = "    toy: Toy = field(default_factory=Toy)\n"

# Recipe step 4: the section of scansense.toml, same default and comment.
TOY_TOML = """\
[toy]                          # the toy detector of docs/HOWTO.md recipe 1
min_probes = 50                # probes of one port in a day; lower flags clients retrying one service

"""

# Recipe step 5: its unit tests, run in the copy.
TOY_TEST = '''\
"""The toy detector (sql/detect/scan_toy.sql) on tiny event tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa

from pipelines import catalog
from pipelines.detect.findings import findings
from pipelines.detect.toy import scan_toy
from pipelines.schema import conform_events
from pipelines.settings import Settings

DAY = date(2025, 11, 26)
T0 = datetime(2025, 11, 26, 10, tzinfo=UTC)


def _con(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    for r in rows:
        r.setdefault("event_date", r["ts"].date())
        r.setdefault("source_kind", "firewall")
        r.setdefault("proto", "tcp")
        r.setdefault("tcp_flags", "S")
        r.setdefault("src_port", 40000)
    events = conform_events(pa.Table.from_pylist(rows))  # noqa: F841 (scanned by DuckDB)
    con = duckdb.connect()
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    return con


def _knocks(src: str, port: int, n: int) -> list[dict]:
    return [
        {"ts": T0 + timedelta(seconds=i), "src_ip": src, "dst_ip": "192.168.1.5", "dst_port": port} for i in range(n)
    ]


def test_a_port_probed_min_probes_times_is_a_scan_and_one_fewer_is_not(settings) -> None:
    con = _con(_knocks("45.148.10.77", 2323, 50) + _knocks("45.148.10.78", 22, 49))
    table = scan_toy(con, DAY, Settings().toy)
    assert table.column_names == [c for c in catalog.table("scan_toy").schema.names if c != "event_date"]
    assert [(r["src_ip"], r["dst_port"]) for r in table.to_pylist() if r["is_scan"]] == [("45.148.10.77", 2323)]
    con.register("toy_rows", table)
    con.execute("CREATE TABLE scan_toy AS SELECT * FROM toy_rows")
    found = findings(con, DAY, settings).to_pylist()
    assert [(f["detector"], f["src_ip"], f["kind"]) for f in found] == [("scan_toy", "45.148.10.77", "port")]
'''


def _insert_after(text: str, anchor: str, addition: str, where: str) -> str:
    """`text` with `addition` after the one occurrence of `anchor`."""
    assert text.count(anchor) == 1, f"{where}: {anchor!r} is not there once"
    return text.replace(anchor, anchor + addition)


def _insert_before(text: str, anchor: str, addition: str, where: str) -> str:
    """`text` with `addition` before the one occurrence of `anchor`."""
    assert text.count(anchor) == 1, f"{where}: {anchor!r} is not there once"
    return text.replace(anchor, addition + anchor)


def _add_toy_detector(copy: Path) -> None:
    """Write the five files of HOWTO recipe 1 into `copy`, and nothing else."""
    (copy / "sql" / "detect" / f"{TOY}.sql").write_text(TOY_SQL, encoding="utf-8")
    (copy / "pipelines" / "detect" / "toy.py").write_text(TOY_PY, encoding="utf-8")
    (copy / "tests" / "test_detect_toy.py").write_text(TOY_TEST, encoding="utf-8")
    settings_py = copy / "pipelines" / "settings.py"
    text = settings_py.read_text(encoding="utf-8")
    text = _insert_before(text, "@dataclass(frozen=True)\nclass Settings:", TOY_SETTINGS_CLASS, "pipelines/settings.py")
    text = _insert_after(text, "    trw: Trw = field(default_factory=Trw)\n", TOY_SETTINGS_FIELD, "Settings")
    settings_py.write_text(text, encoding="utf-8")
    toml = copy / "scansense.toml"
    text = toml.read_text(encoding="utf-8")
    assert text.count("\n[risk]") == 1, "scansense.toml has no [risk] section to put [toy] before"
    toml.write_text(text.replace("\n[risk]", "\n" + TOY_TOML + "[risk]"), encoding="utf-8")


def _knocker_log(day: date) -> str:
    """UFW drops: KNOCKER sends 60 SYNs to one host's port 2323 at 14:30 UTC, 22:30 in the default
    site.timezone (Asia/Shanghai), inside the night window 22:00-24:00. One host and one port are no
    fast scan (min_targets), no TRW walk (one first contact) and no port ratio (1/60): only the toy
    finds it. Its risk is then F 50 + T 30 = 80 >= risk.malicious_at 60 whatever its geography, so it is
    malicious and exported."""
    t0 = datetime(day.year, day.month, day.day, 14, 30)
    return "".join(
        f"{(t0 + timedelta(seconds=i)).strftime('%b %d %H:%M:%S')} gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00 "
        f"SRC={KNOCKER} DST=192.168.1.5 LEN=40 TOS=0x00 PREC=0x00 TTL=240 ID=1 PROTO=TCP SPT={41000 + i} "
        "DPT=2323 WINDOW=1024 RES=0x00 SYN URGP=0\n"
        for i in range(60)
    )


def _run(copy: Path, env: dict[str, str], *args: str, timeout: int = 600) -> str:
    """`python <args>` (or `scansense <args>` after "scansense") with the tests' interpreter, the repo's .venv,
    and cwd = the copy: its stdout, or a failure showing its stderr."""
    command = [SCANSENSE, *args[1:]] if args[0] == "scansense" else [sys.executable, *args]
    out = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(args[:4])} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    return out.stdout


def _dag_upstream(copy: Path, env: dict[str, str]) -> dict[str, list[str]]:
    """task id -> upstream task ids of the copy's scansense_daily, parsed by Airflow's DagBag (as tests/test_dags.py)."""
    code = (
        "import json\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder='dags/scansense_daily.py')\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "dag = bag.dags['scansense_daily']\n"
        "print(json.dumps({t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}))\n"
    )
    return json.loads(_run(copy, env, "-c", code).strip().splitlines()[-1])


def _ancestors(upstream: dict[str, list[str]], task: str) -> set[str]:
    seen: set[str] = set()
    todo = list(upstream[task])
    while todo:
        t = todo.pop()
        if t not in seen:
            seen.add(t)
            todo.extend(upstream[t])
    return seen


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's tracked files copied as a contributor's checkout, with the toy detector's five files."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout ({listed.stderr.strip()[:200]}): the copy is of the tracked files")
    copy = tmp_path_factory.mktemp("contributor") / "scansense"
    for name in filter(None, listed.stdout.split("\0")):
        src = ROOT / name
        if src.is_file():  # a tracked file deleted in the working tree is not part of the checkout
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / name, follow_symlinks=False)
    _add_toy_detector(copy)
    return copy


@pytest.fixture(scope="module")
def env(project_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the copy's commands: its own packages ahead of the repo's editable install (whose
    finder comes after PYTHONPATH), no SCANSENSE_* or Airflow settings of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCANSENSE_", "AIRFLOW"))}
    home = tmp_path_factory.mktemp("airflow_home")
    env.update(
        PYTHONPATH=str(project_copy),
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(project_copy / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="false",
        AIRFLOW__CORE__UNIT_TEST_MODE="false",
    )
    return env


@pytest.fixture(scope="module")
def warehouse(project_copy: Path, env: dict[str, str]) -> Path:
    """A generated small day plus the knocker's firewall log, run with `scansense run` in the copy."""
    imported = _run(
        project_copy, env, "-c", "import pipelines, dashboards; print(pipelines.__file__, dashboards.__file__)"
    )
    assert all(Path(p).is_relative_to(project_copy) for p in imported.split()), imported
    # the recipe's own test and the settings test that holds scansense.toml equal to the dataclasses
    tests = ("tests/test_detect_toy.py", "tests/test_settings.py")
    _run(project_copy, env, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider", *tests)
    _run(project_copy, env, "scansense", "generate", "--out", "gen", "--days", "1", "--start", DAY.isoformat(),
         "--scale", "0.05", "--seed", "7")  # fmt: skip
    truth = (project_copy / "gen" / "truth.csv").read_text(encoding="utf-8")
    assert KNOCKER not in truth, "the generator used the knocker's address: pick another"
    (project_copy / "gen" / "landing" / DAY.isoformat() / f"firewall-{DAY}.log").write_text(
        _knocker_log(DAY), encoding="utf-8"
    )
    out = _run(project_copy, env, "scansense", "run", "--date", DAY.isoformat(), "--landing", "gen/landing",
               "--warehouse", "warehouse", "--orgs-dir", "gen/orgs", "--no-email", "--json")  # fmt: skip
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["published"] and summary["dq_failed"] == [] and summary["errors"] == [], summary
    assert TOY in summary["seconds"], "the toy's step is not a step of the run"
    return project_copy / "warehouse"


def _published(warehouse: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse / "scansense.duckdb"), read_only=True)


def _check_table(project_copy: Path, warehouse: Path) -> None:
    """Its table is in the published file with the comments of its header, and has rows."""
    header = header_entries((project_copy / "sql" / "detect" / f"{TOY}.sql").read_text(encoding="utf-8"))
    table_comment = next(text for key, _, text in header if key == "table")
    column_comments = {}
    for key, qualifier, text in header:
        if key == "column":
            column_comments[qualifier.split()[0]] = text
    with _published(warehouse) as con:
        comments = con.execute(
            """SELECT comment FROM duckdb_tables() WHERE table_name = $t
               UNION ALL SELECT comment FROM duckdb_views() WHERE view_name = $t""",
            {"t": TOY},
        ).fetchall()
        assert comments == [(table_comment,)]
        columns = dict(
            con.execute(
                "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = $t", {"t": TOY}
            ).fetchall()
        )
        assert columns == column_comments
        rows = con.execute(
            f"SELECT dst_port, probes, hosts, is_scan FROM {TOY} WHERE event_date = $d AND src_ip = $s",
            {"d": DAY, "s": KNOCKER},
        ).fetchall()
        assert rows == [(2323, 60, 1, True)]
        assert con.execute(f"SELECT count(*) FROM {TOY} WHERE src_ip <> $s", {"s": KNOCKER}).fetchone()[0] > 0


def _check_findings_risk_history_and_tags(warehouse: Path) -> None:
    """The knocker's finding is the toy's alone, and its risk, history and tags name the toy."""
    with _published(warehouse) as con:
        by_source = con.execute(
            "SELECT src_ip, list(DISTINCT detector) FROM findings WHERE event_date = $d GROUP BY src_ip", {"d": DAY}
        ).fetchall()
        toy_sources = {s for s, detectors in by_source if TOY in detectors}
        assert KNOCKER in toy_sources
        assert dict(by_source)[KNOCKER] == [TOY]  # only the toy found it: what follows is the toy's doing
        risk = con.execute(
            "SELECT traffic_score, time_score, malicious, reasons FROM source_risk WHERE event_date = $d AND src_ip = $s",
            {"d": DAY, "s": KNOCKER},
        ).fetchone()
        assert risk[:3] == (50, 30, True), risk
        assert f"found by {TOY} (port)" in risk[3]
        detectors = con.execute("SELECT detectors FROM source_history WHERE src_ip = $s", {"s": KNOCKER}).fetchone()
        assert detectors is not None and TOY in detectors[0], detectors
        tags = con.execute(
            "SELECT list(tag) FROM source_tags WHERE event_date = $d AND src_ip = $s AND kind = 'behaviour'",
            {"d": DAY, "s": KNOCKER},
        ).fetchone()[0]
        assert tags == [TOY_TAG]
        tagged = {r[0] for r in con.execute("SELECT src_ip FROM source_tags WHERE tag = $t", {"t": TOY_TAG}).fetchall()}
        assert tagged == toy_sources


def _check_exports_and_report(warehouse: Path) -> None:
    """The malicious knocker is in every export format of the day; the report has the toy's row."""
    exports = warehouse / "exports" / DAY.isoformat()
    with (exports / "sources.csv").open(encoding="utf-8", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["src_ip"] == KNOCKER)
    assert f"found by {TOY} (port)" in row["reasons"] and TOY_TAG in row["tags"]
    rows = json.loads((exports / "sources.json").read_text(encoding="utf-8"))["sources"]
    assert [r["tags"] for r in rows if r["src_ip"] == KNOCKER] == [[TOY_TAG]]
    written = sorted(p.name for p in exports.iterdir())
    assert len(written) >= 6, written  # every format of [export] formats (stix, misp, nft, ipset, csv, json)
    assert [name for name in written if KNOCKER not in (exports / name).read_text(encoding="utf-8")] == []
    html = (warehouse / "reports" / DAY.isoformat() / "report.html").read_text(encoding="utf-8")
    assert f"<td>{TOY}</td><td>port</td>" in html  # its row of "Findings by detector"


@pytest.mark.slow
def test_new_detector_reaches_every_output_with_no_other_edit(project_copy: Path, warehouse: Path) -> None:
    """One test over the one run (a second xdist worker would run the day again): table, findings, risk,
    history, tags, exports and report."""
    _check_table(project_copy, warehouse)
    _check_findings_risk_history_and_tags(warehouse)
    _check_exports_and_report(warehouse)


@pytest.mark.slow
def test_new_detector_is_a_task_between_record_and_publish(project_copy: Path, env: dict[str, str]) -> None:
    """The copy's scansense_daily, parsed by Airflow, has a task for the toy after `record`, before findings and publish."""
    upstream = _dag_upstream(project_copy, env)
    assert TOY in upstream, sorted(upstream)
    assert "record" in _ancestors(upstream, TOY)
    downstream = {t for t in upstream if TOY in _ancestors(upstream, t)}
    # every reader of findings (risk today; history and tags once they are tasks) and publish come after it
    assert {"findings", "publish"} <= downstream
    assert {"source_risk", "source_history", "source_tags"} & set(upstream) <= downstream
    assert {t for t in upstream if t.startswith("publish")} <= downstream
