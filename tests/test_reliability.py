"""DESIGN section 2 under failure: killed runs, readers during writes, reruns and backfill order.

The days are small (scale 0.1: every kind of scan, a tenth of the background), since what is
tested is the writing, not the detection; `test_end_to_end` keeps a full-size day.
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import struct
import subprocess
import sys
import termios
import time
from datetime import date
from pathlib import Path

import pytest
from generated import generated_settings
from hashing import table_hashes

from pipelines import catalog
from pipelines.generate import generate
from pipelines.run import RUN_STEPS, run_day

SCANSENSE = str(Path(sys.executable).with_name("scansense"))
DAYS = [date(2025, 11, 26), date(2025, 11, 27), date(2025, 11, 28)]
KILL_AT = ("ingest", "geo_ip", "source_risk", "load", "scanner_orgs", "quality", "publish", "report")
assert set(KILL_AT) <= set(RUN_STEPS)
# Every table of the catalog but the quality results: what a day's checks saw depends on the days
# run before it (checks over every day's rows: ingest_files, scanner_orgs, source_history, ...).
STABLE_TABLES = tuple(name for name in catalog.names() if name != "dq_results")
# What the published file shows of a day being run must be the previous warehouse or the new one,
# but for the geolocation cache: its view reads the one cache file, which the day's geo step
# replaces atomically with more addresses (looked up, never a half file) before the publish.
PUBLISHED_TABLES = tuple(name for name in STABLE_TABLES if name != "geo_ip")


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, days=3, start=DAYS[0], seed=5, scale=0.1)
    return out


def _run(landing: Path, warehouse: Path, day: date, **popen) -> subprocess.Popen:
    env = dict(os.environ, SCANSENSE_ORGS_DIR=str(landing / "orgs"))
    return subprocess.Popen(
        [
            SCANSENSE,
            "run",
            "--date",
            day.isoformat(),
            "--landing",
            str(landing / "landing"),
            "--warehouse",
            str(warehouse),
            "--no-email",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **popen,
    )


def _run_ok(landing: Path, warehouse: Path, day: date) -> None:
    proc = _run(landing, warehouse, day)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-2000:] + err[-3000:]


def _run_in_process(landing: Path, warehouse: Path, day: date) -> None:
    """The same run without a new process (what the DAG's tasks and `scansense run` call)."""
    settings = generated_settings(landing, warehouse)
    assert run_day(day, settings, send_email=False).published


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_backfill_in_any_order_gives_identical_tables(tmp_path: Path, landing: Path) -> None:
    forward, backward = tmp_path / "forward", tmp_path / "backward"
    for day in DAYS:
        _run_in_process(landing, forward, day)
    for day in (DAYS[2], DAYS[0], DAYS[1], DAYS[0]):  # another order, and day 1 twice
        _run_in_process(landing, backward, day)
    assert table_hashes(forward / "scansense.duckdb", STABLE_TABLES) == table_hashes(
        backward / "scansense.duckdb", STABLE_TABLES
    )


def _kill_when_step_starts(landing: Path, warehouse: Path, day: date, step: str) -> bool:
    """Run the day on a terminal, SIGKILL it as soon as its progress display names `step`.

    Returns whether the step was reached (a run that finishes first was not killed). The step
    names come from the run's own progress bar, so the kill follows the run, not a clock.
    """
    main, sub = os.openpty()
    fcntl.ioctl(sub, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    args = ["--date", day.isoformat(), "--landing", str(landing / "landing"), "--warehouse", str(warehouse)]
    env = dict(os.environ, SCANSENSE_ORGS_DIR=str(landing / "orgs"))
    proc = subprocess.Popen(
        [SCANSENSE, "run", *args, "--no-email"], stdin=sub, stdout=sub, stderr=sub, env=env, start_new_session=True
    )
    os.close(sub)
    seen, killed = b"", False
    try:
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:
                break
            if not data:
                break
            seen += data
            if f"{step}]".encode() in seen:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
    finally:
        os.close(main)
        proc.wait(timeout=600)
    return killed


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_sigkill_at_every_step_and_random_moments_never_breaks_the_published_warehouse(
    tmp_path: Path, landing: Path
) -> None:
    reference, victim = tmp_path / "reference", tmp_path / "victim"
    _run_in_process(landing, reference, DAYS[0])
    started = time.perf_counter()
    _run_in_process(landing, reference, DAYS[1])
    duration = time.perf_counter() - started  # a bound for the random moments, not an assertion
    expected = table_hashes(reference / "scansense.duckdb", PUBLISHED_TABLES)

    _run_in_process(landing, victim, DAYS[0])
    previous = table_hashes(victim / "scansense.duckdb", PUBLISHED_TABLES)
    # Once as each step that writes starts: the lake (ingest, each derived table), the build, the
    # quality results, the swap and the report...
    for step in KILL_AT:
        assert _kill_when_step_starts(landing, victim, DAYS[1], step), step
        state = table_hashes(victim / "scansense.duckdb", PUBLISHED_TABLES)  # opens: never a broken file
        assert state in (previous, expected), step
    # ...and at a few moments inside steps. Any moment is valid: the check holds whenever the kill lands.
    rng = random.Random(20)
    for _ in range(3):
        proc = _run(landing, victim, DAYS[1], start_new_session=True)
        time.sleep(rng.uniform(0.0, duration))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        assert table_hashes(victim / "scansense.duckdb", PUBLISHED_TABLES) in (previous, expected)
    _run_ok(landing, victim, DAYS[1])
    assert table_hashes(victim / "scansense.duckdb", PUBLISHED_TABLES) == expected
    strays = [
        p for p in victim.rglob("*") if p.name.endswith((".tmp", ".wal")) or p.parent.name == ".build" and p.is_file()
    ]
    assert strays == []


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_reader_during_runs_sees_old_or_new_state_and_never_errors(tmp_path: Path, landing: Path) -> None:
    warehouse = tmp_path / "wh"
    _run_in_process(landing, warehouse, DAYS[0])
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(warehouse / "scansense.duckdb")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _run_in_process(landing, warehouse, DAYS[1])
        _run_in_process(landing, warehouse, DAYS[2])
    finally:
        reader.send_signal(signal.SIGTERM)
        out, err = reader.communicate(timeout=60)
    assert "ERROR" not in out + err, err[-2000:]
    counts = sorted({int(x) for x in out.split()})
    assert len(counts) >= 2 and counts == sorted(counts)


READER = r"""
import signal, sys, duckdb
stop = False
def _stop(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, _stop)
seen = []
while not stop:
    try:
        with duckdb.connect(sys.argv[1], read_only=True) as con:
            n = con.execute("SELECT count(DISTINCT event_date) FROM events").fetchone()[0]
            d = con.execute("SELECT count(*) FROM daily_summary").fetchone()[0]
            if n != d:
                print("ERROR inconsistent", n, d)
            if not seen or seen[-1] != n:
                seen.append(n)
                print(n, flush=True)
    except Exception as exc:
        print("ERROR", repr(exc), flush=True)
        break
"""


# --- issue 28, finding 10: full disk, day ranges, refreshed days -------------------------------------


def _cowrie(path: Path, stamps: list[str], first: int = 1) -> None:
    """Honeypot connect records at the given UTC times, one source each (203.0.113.<first + i>)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"eventid": "cowrie.session.connect", "src_ip": f"203.0.113.{first + i}", "src_port": 40000 + i,
                    "dst_ip": "192.0.2.10", "dst_port": 22, "protocol": "ssh", "timestamp": ts, "session": f"s{i}"})
        for i, ts in enumerate(stamps)
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


FULL_DISK = [
    lambda: __import__("duckdb").TransactionException(
        'TransactionException: Failed to commit: could not write to file "scansense-1.duckdb": No space left on device'
    ),
    lambda: OSError(28, "No space left on device"),
]


@pytest.mark.parametrize("fault", FULL_DISK, ids=["duckdb-commit", "oserror"])
def test_full_disk_during_publish_gives_one_line_and_the_json_object(settings, monkeypatch, capsys, fault) -> None:
    """A write failing for want of space while the build is published: exit 1, one line, the --json object."""
    import json

    from pipelines import history
    from pipelines.cli import main

    day = date(2025, 11, 26)
    _cowrie(settings.landing / day.isoformat() / "cowrie.json", ["2025-11-26T10:00:00Z"])
    assert run_day(day, settings, send_email=False).published
    db = settings.warehouse / "scansense.duckdb"
    before = table_hashes(db, ["events", "source_history"])

    def full_disk(*args, **kwargs):
        raise fault()

    monkeypatch.setattr(history, "history_rows", full_disk)
    monkeypatch.setenv("SCANSENSE_WAREHOUSE", str(settings.warehouse))
    monkeypatch.setenv("SCANSENSE_LANDING", str(settings.landing))
    capsys.readouterr()
    code = main(["run", "--date", day.isoformat(), "--no-email", "--json"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["published"] is False and "No space left on device" in result["error"]
    assert "\n" not in result["error"] and "Traceback" not in out + err
    assert table_hashes(db, ["events", "source_history"]) == before  # the previous warehouse stays
    assert not list((settings.warehouse / ".build").glob("*.duckdb*"))  # the half build's space is given back


def test_day_range_events_run_refuses_are_quarantined_not_advised(settings) -> None:
    """Events dated past the days `run` accepts are quarantined by ingest: no run advises a refused --date."""
    from datetime import UTC, datetime, timedelta

    from pipelines.run import check_day, summary_text

    day = date(2025, 11, 26)
    late = datetime.now(UTC).date() + timedelta(days=10)  # past today + 2, the last day `run` accepts
    stamps = ["2025-11-26T10:00:00Z", "2025-11-27T00:00:10Z", f"{late}T00:00:00Z"]
    _cowrie(settings.landing / day.isoformat() / "cowrie.json", [*stamps, "2199-06-01T12:00:00Z"])
    result = run_day(day, settings, send_email=False)
    assert result.published and result.events == 1 and result.quarantined == 2
    assert result.other_days == {"2025-11-27": 1}
    for advised in result.other_days:
        check_day(date.fromisoformat(advised))  # every day the run advises, run accepts
    assert "2199" not in summary_text(result)


def test_refreshed_days_are_quality_checked_again(settings) -> None:
    """A rerun of an earlier day rewrites later days' partitions; their stored quality results are recomputed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines import warehouse as wh

    first, second = date(2025, 11, 26), date(2025, 11, 27)
    _cowrie(settings.landing / first.isoformat() / "cowrie.json", ["2025-11-26T10:00:00Z"])
    _cowrie(settings.landing / second.isoformat() / "cowrie.json", ["2025-11-27T10:00:00Z"], first=50)
    assert run_day(second, settings, send_email=False).published
    (part,) = wh.lake_files(settings.warehouse, "dq_results", second)
    checked = pq.read_table(part)
    stale = pa.Table.from_pylist([checked.to_pylist()[0] | {"expectation": "stale result of rows since rewritten"}])
    pq.write_table(stale.cast(checked.schema), part)

    result = run_day(first, settings, send_email=False)
    assert result.published and result.refreshed_days == [second.isoformat()]
    (part,) = wh.lake_files(settings.warehouse, "dq_results", second)
    again = pq.read_table(part)
    assert "stale result of rows since rewritten" not in again["expectation"].to_pylist()
    assert sorted(again["expectation"].to_pylist()) == sorted(checked["expectation"].to_pylist())
