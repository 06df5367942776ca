"""Days users meet: a quiet day, a capture crossing midnight, a typo in --date; and progress that
shows only on a terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from datetime import date
from pathlib import Path

import duckdb

from pipelines.run import check_day, run_day

SCANSENSE = str(Path(sys.executable).with_name("scansense"))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SCANSENSE_")}


def _cowrie(path: Path, stamps: list[str]) -> None:
    """Honeypot connect records, one source each, at the given times (UTC)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"eventid": "cowrie.session.connect", "src_ip": f"203.0.113.{i + 1}", "src_port": 40000 + i,
                    "dst_ip": "192.0.2.10", "dst_port": 22, "protocol": "ssh", "timestamp": ts, "session": f"s{i}"})
        for i, ts in enumerate(stamps)
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_quiet_day_on_a_new_warehouse_publishes_a_report_that_says_so(settings) -> None:
    day = date(2025, 11, 27)
    result = run_day(day, settings, send_email=False)
    assert result.published, result.dq_failed
    assert (result.files, result.events, result.sources) == (0, 0, 0)
    page = Path(result.report).read_text(encoding="utf-8")
    assert "A quiet day" in page
    with duckdb.connect(result.warehouse, read_only=True) as con:
        assert con.execute(
            "SELECT events, sources FROM daily_summary WHERE event_date = $d", {"d": day}
        ).fetchall() == [(0, 0)]
    again = run_day(date(2025, 11, 28), settings, send_email=False)  # and the next run is not hurt by it
    assert again.published


def test_a_capture_crossing_midnight_says_which_days_to_run(settings) -> None:
    day = date(2025, 11, 26)
    stamps = ["2025-11-26T23:58:00Z", "2025-11-26T23:59:30Z", "2025-11-27T00:00:10Z", "2025-11-27T00:01:00Z"]
    _cowrie(settings.landing / day.isoformat() / "cowrie.json", [*stamps, "2025-11-28T00:00:00Z"])
    result = run_day(day, settings, send_email=False)
    assert result.rows == 5 and result.events == 2
    assert result.other_days == {"2025-11-27": 2, "2025-11-28": 1}
    from pipelines.run import summary_text

    assert "--date 2025-11-27 --date 2025-11-28" in summary_text(result)
    nxt = run_day(date(2025, 11, 27), settings, send_email=False)  # no landing folder: the lake has its events
    assert nxt.published and nxt.events == 2


def test_dates_outside_a_sane_range_are_refused_in_one_line(tmp_path: Path) -> None:
    check_day(date(1970, 1, 1), today=date(2026, 12, 3))
    check_day(date(2026, 12, 5), today=date(2026, 12, 3))
    for bad in ("0001-01-01", "1969-12-31", "9999-12-31"):
        proc = subprocess.run(
            [SCANSENSE, "run", "--date", bad, "--json"], cwd=tmp_path, env=_env(), capture_output=True, text=True
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert json.loads(proc.stdout.splitlines()[-1])["error"].startswith(f"--date {bad} is outside")
    assert not (tmp_path / "warehouse").exists()  # nothing was left behind to break the next run


def _on_terminal(args: list[str], cwd: Path) -> str:
    """Run a command with a 120-column pseudo-terminal as stdin, stdout and stderr; return what it drew."""
    main, sub = pty.openpty()
    fcntl.ioctl(sub, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(args, cwd=cwd, env=_env(), stdin=sub, stdout=sub, stderr=sub)
    os.close(sub)
    out = b""
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the terminal closes when the command exits
            break
        if not data:
            break
        out += data
    os.close(main)
    assert proc.wait(timeout=600) == 0, out[-2000:]
    return out.decode("utf-8", errors="replace")


def test_progress_is_drawn_on_a_terminal_and_never_into_pipes_or_json(tmp_path: Path) -> None:
    drawn = _on_terminal([SCANSENSE, "generate", "--out", "gen", "--days", "2", "--scale", "0.05"], tmp_path)
    assert "generate:" in drawn and "2/2" in drawn
    drawn = _on_terminal([SCANSENSE, "ingest", "gen/landing", "--warehouse", "wh"], tmp_path)
    assert "ingest:" in drawn and "records" in drawn

    piped = subprocess.run(
        [SCANSENSE, "ingest", "gen/landing", "--warehouse", "wh2"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert piped.returncode == 0 and piped.stderr == "" and len(piped.stdout.splitlines()) == 1
    as_json = _on_terminal([SCANSENSE, "ingest", "gen/landing", "--warehouse", "wh3", "--json"], tmp_path)
    assert "ingest:" not in as_json
    assert json.loads(as_json.strip().splitlines()[-1])["files"] == 10


def test_the_run_summary_never_prints_raw_control_characters() -> None:
    from pipelines.run import DayResult, summary_text

    text = summary_text(DayResult(date="2025-11-26", errors=["landing/\x1b[2J\x07evil\x9b.log: cannot read"]))
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
    assert "\\u001b[2J\\u0007evil\\x9b.log" in text


def test_a_full_disk_stops_the_run_in_one_line_and_keeps_the_previous_warehouse(tmp_path: Path) -> None:
    """A real full file system (a small tmpfs; needs root): JSON line, one-line error, no build left."""
    import shutil

    from hashing import table_hashes

    from pipelines.generate import generate

    if os.geteuid() != 0 or not shutil.which("mount"):
        import pytest

        pytest.skip("mounting a small tmpfs needs root")
    generate(tmp_path / "gen", days=2, seed=5, scale=0.05)
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)]).returncode != 0:
        import pytest

        pytest.skip("tmpfs cannot be mounted here")
    try:
        args = ["--landing", str(tmp_path / "gen" / "landing"), "--warehouse", str(disk / "wh"), "--no-email", "--json"]
        env = dict(_env(), SCANSENSE_ORGS_DIR=str(tmp_path / "gen" / "orgs"))
        first = subprocess.run(
            [SCANSENSE, "run", "--date", "2025-11-26", *args], env=env, capture_output=True, text=True
        )
        assert first.returncode == 0, first.stderr[-2000:]
        db = disk / "wh" / "scansense.duckdb"
        before = table_hashes(db, ["events", "source_risk", "daily_summary"])
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * max(0, free - 256 * 1024))  # leave 256 KiB: far less than a day needs
        second = subprocess.run(
            [SCANSENSE, "run", "--date", "2025-11-27", *args], env=env, capture_output=True, text=True
        )
        assert second.returncode == 1 and "Traceback" not in second.stderr, second.stderr[-2000:]
        lines = second.stdout.strip().splitlines()
        result = json.loads(lines[-1])
        assert result["published"] is False and result["error"]
        assert any(line.startswith("error: run 2025-11-27 stopped") for line in lines)
        assert list((disk / "wh" / ".build").glob("*.duckdb*")) == []  # no failed build left taking space
        (disk / "filler").unlink()
        assert table_hashes(db, ["events", "source_risk", "daily_summary"]) == before  # previous warehouse intact
        again = subprocess.run(
            [SCANSENSE, "run", "--date", "2025-11-27", *args], env=env, capture_output=True, text=True
        )
        assert again.returncode == 0, again.stderr[-2000:]  # and nothing it left breaks the next run
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
