"""Issue 19 class 6 and issue 20 item 2: only regular files are read; everything else is reported
(registry row with status and reason; a missing path on the command line fails the command);
symlinks are recorded and not read unless settings allow links that stay inside the landing root."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hostile import sensor

from pipelines.ingest import ingest_paths

ROOT = Path(__file__).resolve().parents[1]
SECRET = "SCANSENSE_SMTP_PASSWORD=hunter2-secret"


def registry(settings) -> dict[str, dict]:
    lake = Path(settings.warehouse) / "lake"
    rows = duckdb.sql(f"SELECT * FROM read_parquet('{lake}/ingest_files/*.parquet')").fetchall()
    cols = [d[0] for d in duckdb.sql(f"SELECT * FROM read_parquet('{lake}/ingest_files/*.parquet')").description]
    return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}


def lake_text(settings) -> str:
    """Every string the lake holds in events and quarantine (to look for leaked bytes)."""
    lake = Path(settings.warehouse) / "lake"
    out = []
    for table in ("events/*/*.parquet", "quarantine/*.parquet"):
        if list(lake.glob(table)):
            out += [str(r) for r in duckdb.sql(f"SELECT * FROM read_parquet('{lake}/{table}')").fetchall()]
    return "\n".join(out)


@pytest.fixture
def day(tmp_path: Path, settings):
    """A landing day folder holding one good sensor dump; settings point their landing root at it."""
    landing = tmp_path / "landing"
    folder = landing / "2025-11-26"
    folder.mkdir(parents=True)
    (folder / "good.jsonl").write_text(sensor([{}, {}]))
    return folder, settings.replace("paths", landing=str(landing))


def run_cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "pipelines.cli", "ingest", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def test_fifo_socket_and_device_are_reported_never_read(day, tmp_path: Path) -> None:
    folder, settings = day
    os.mkfifo(folder / "pipe.log")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock.log"))
    try:
        summary = ingest_paths([folder, Path("/dev/zero")], settings)
    finally:
        sock.close()
    reg = registry(settings)
    assert reg[str(folder / "good.jsonl")]["rows"] == 2
    for name, kind in (("pipe.log", "FIFO"), ("sock.log", "socket")):
        row = reg[str(folder / name)]
        assert row["status"] == "refused" and kind in row["error"], row
    assert reg["/dev/zero"]["status"] == "refused" and "character device" in reg["/dev/zero"]["error"]
    assert summary.rows == 2 and summary.refused == 3 and summary.refused_arguments == ["/dev/zero"]


def test_cli_fifo_dev_zero_and_missing_path_fail_with_a_message_and_never_hang(day, tmp_path: Path) -> None:
    folder, settings = day
    os.mkfifo(tmp_path / "fifo")
    wh = str(tmp_path / "wh")
    out = run_cli(str(tmp_path / "fifo"), "/dev/zero", "--warehouse", wh, "--json")
    assert out.returncode == 1 and "not read" in out.stderr
    out = run_cli(str(folder), str(tmp_path / "nowhere"), "--warehouse", wh, "--json")
    assert out.returncode == 1
    assert f"no such file or folder: {tmp_path / 'nowhere'}" in out.stderr
    assert '"rows": 2' in out.stdout.splitlines()[-1]  # the path that exists is still ingested
    assert run_cli(str(folder), "--warehouse", wh).returncode == 0


def test_unlistable_sub_folder_is_reported(day, monkeypatch) -> None:
    folder, settings = day
    locked = folder / "locked"
    locked.mkdir()
    (locked / "x.jsonl").write_text(sensor([{}]))
    real = os.scandir

    def scandir(path):  # tests run as root, whom chmod cannot lock out
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    summary = ingest_paths([folder], settings)
    row = registry(settings)[str(locked)]
    assert row["status"] == "error" and row["error"] == "cannot list folder: Permission denied"
    assert any(str(locked) in e for e in summary.errors) and summary.rows == 2


def test_symlinks_are_recorded_and_not_read(day, tmp_path: Path) -> None:
    folder, settings = day
    outside = tmp_path / "secrets"
    outside.mkdir()
    (outside / "environ").write_text(SECRET + "\n")
    (outside / "dump.jsonl").write_text(sensor([{"src_ip": "203.0.113.99"}]))
    (folder / "environ").symlink_to(outside / "environ")
    (folder / "dump.jsonl").symlink_to(outside / "dump.jsonl")
    (folder / "inside.jsonl").symlink_to(folder / "good.jsonl")
    (folder / "dir").symlink_to(outside)
    (folder / "dangling").symlink_to(tmp_path / "nothing")
    summary = ingest_paths([folder], settings)
    reg = registry(settings)
    for name in ("environ", "dump.jsonl", "inside.jsonl", "dir", "dangling"):
        row = reg[str(folder / name)]
        assert row["status"] == "refused" and "symlink" in row["error"] and row["sha256"] is None, row
    assert summary.rows == 2
    assert SECRET not in lake_text(settings) and "203.0.113.99" not in lake_text(settings)


def test_paths_through_a_symlinked_folder_are_not_read(day, tmp_path: Path) -> None:
    """`scansense run` lists the day with rglob, which follows folder links: such a path is refused."""
    folder, settings = day
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "shadow").write_text(SECRET + "\n")
    (folder / "etc").symlink_to(outside)
    ingest_paths([folder / "etc" / "shadow", folder / "good.jsonl"], settings)
    row = registry(settings)[str(folder / "etc" / "shadow")]
    assert row["status"] == "refused" and "symlinked folder" in row["error"]
    assert SECRET not in lake_text(settings)


def test_follow_links_reads_only_links_that_stay_inside_the_landing_root(day, tmp_path: Path) -> None:
    folder, settings = day
    settings = settings.replace("ingest", follow_links=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "dump.jsonl").write_text(sensor([{"src_ip": "203.0.113.99"}]))
    other = folder.parent / "2025-11-25"
    other.mkdir()
    (other / "late.jsonl").write_text(sensor([{"src_ip": "203.0.113.50"}]))
    (folder / "late.jsonl").symlink_to(other / "late.jsonl")
    (folder / "out.jsonl").symlink_to(outside / "dump.jsonl")
    (folder / "fifo").symlink_to("/dev/zero")
    summary = ingest_paths([folder], settings)
    reg = registry(settings)
    assert reg[str(other / "late.jsonl")]["rows"] == 1  # read where it really is
    for name in ("out.jsonl", "fifo"):
        assert reg[str(folder / name)]["status"] == "refused", name
    assert summary.rows == 3 and "203.0.113.99" not in lake_text(settings)


def test_quarantine_raw_never_holds_more_than_the_failed_record(day, tmp_path: Path) -> None:
    folder, settings = day
    (folder / "notes.txt").write_text(SECRET + "\n" + "x" * 5000)
    (folder / "bad.jsonl").write_text(sensor([{}]) + '{"ts": 1, "src_ip": "' + "é" * 3000 + '"}\n')
    ingest_paths([folder], settings)
    lake = Path(settings.warehouse) / "lake"
    raws = duckdb.sql(f"SELECT source_file, raw FROM read_parquet('{lake}/quarantine/*.parquet')").fetchall()
    by_file = {Path(f).name: r for f, r in raws}
    assert len(by_file["notes.txt"].encode()) <= 64
    assert 0 < len(by_file["bad.jsonl"].encode()) <= 1024
    assert all(len(r.encode()) <= 1024 for _, r in raws)


def test_a_path_swapped_for_a_fifo_after_the_walk_is_not_read(day, tmp_path: Path) -> None:
    """Opening checks again (O_NOFOLLOW, O_NONBLOCK, fstat): the walk's verdict cannot be raced."""
    from pipelines.ingest import iter_file
    from pipelines.ingest.lake import IngestSummary, Registry, ingest_one

    folder, settings = day
    os.mkfifo(tmp_path / "swapped")
    (tmp_path / "link").symlink_to(folder / "good.jsonl")
    lake = Path(settings.warehouse) / "lake"
    row = ingest_one(tmp_path / "swapped", settings, None, lake, Registry(), IngestSummary())
    assert row["status"] == "error" and "not a regular file but a FIFO" in row["error"]
    chunks = list(iter_file(tmp_path / "link", settings))
    assert chunks[0].error and "cannot read" in chunks[0].error and chunks[0].events.num_rows == 0
