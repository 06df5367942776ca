"""Issue 28 finding 3: `scansense export --out` writes only a new regular file in a folder the user
owns, or standard output (`--out -`); a symlink (`/dev/stdout` is one), a folder, a FIFO, a device, a
folder of someone else's or a place that takes no new file is refused in one line before any work,
and nothing is left behind. Relative paths from the cwd the user is in."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from test_export_formats import DAY, _fill

from pipelines.cli import main


@pytest.fixture
def here(tmp_path: Path, monkeypatch) -> Path:
    """A published warehouse at `wh/` and the cwd beside it."""
    monkeypatch.chdir(tmp_path)
    Path("wh").mkdir()
    with duckdb.connect("wh/scansense.duckdb") as con:
        _fill(con)
    return tmp_path


def export(*out: str) -> list[str]:
    return ["export", "--date", DAY.isoformat(), "--format", "csv", "--warehouse", "wh", *out]


def everything(root: Path) -> dict[str, bytes | str]:
    """Every name under `root` with a file's bytes or a link's target (what a refusal must not change)."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            out[str(p)] = os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
    return out


def refused(capsys, *args: str) -> str:
    code = main(export(*args))
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_an_out_that_is_not_a_new_regular_file_of_ours_is_refused_and_nothing_changes(here, capsys) -> None:
    Path("victim.txt").write_text("keep me")
    os.symlink("victim.txt", "link.csv")
    os.symlink("/dev/stdout", "stdout.csv")
    Path("folder").mkdir()
    os.mkfifo("pipe.csv")
    before = everything(here)
    for out, why in (
        ("link.csv", "symlink"),
        ("stdout.csv", "symlink"),
        ("folder", "folder"),
        ("pipe.csv", "FIFO"),
        ("/dev/null", "character device"),
        ("/proc/scansense-export.csv", "cannot create"),
    ):
        assert why in refused(capsys, "--out", out), out
    assert everything(here) == before  # no temp file, no replaced link, the link's target unchanged


def test_a_refused_out_is_refused_before_any_work(here, capsys) -> None:
    Path("folder").mkdir()
    code = main(["export", "--date", DAY.isoformat(), "--format", "csv", "--warehouse", "nowhere", "--out", "folder"])
    assert code == 2 and "--out folder" in capsys.readouterr().err  # not "no published warehouse"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_folder_owned_by_someone_else_is_refused(here, capsys) -> None:
    Path("theirs").mkdir()
    os.chown("theirs", 12345, 12345)
    assert "not owned" in refused(capsys, "--out", "theirs/x.csv")
    assert list(Path("theirs").iterdir()) == []


def test_out_writes_new_files_replaces_its_own_and_dash_is_stdout(here, capsys) -> None:
    assert main(export("--out", "exports/2025/sources.csv")) == 0
    first = Path("exports/2025/sources.csv").read_text()
    assert "203.0.113.5" in first
    Path("exports/2025/sources.csv").write_text("old")
    assert main(export("--out", "exports/2025/sources.csv")) == 0  # a regular file of ours: replaced whole
    assert Path("exports/2025/sources.csv").read_text() == first
    assert sorted(p.name for p in Path("exports/2025").iterdir()) == ["sources.csv"]
    capsys.readouterr()
    assert main(export("--out", "-")) == 0
    assert capsys.readouterr().out == first


def test_a_failed_export_leaves_no_temp_file_nor_folder(here, capsys) -> None:
    code = main(["export", "--date", "2024-01-01", "--format", "csv", "--warehouse", "wh", "--out", "new/x.csv"])
    assert code == 2 and not Path("new").exists()
