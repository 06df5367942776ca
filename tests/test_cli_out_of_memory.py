"""A step that runs out of DuckDB memory ends the command with one line naming the limit, never a traceback."""

from __future__ import annotations

import duckdb
import pytest

from pipelines import cli
from pipelines import run as run_module


def test_out_of_memory_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)

    def exhausted(*args, **kwargs):
        raise duckdb.OutOfMemoryException(
            "Out of Memory Error: failed to pin block of size 256.0 KiB\n\nPossible solutions: ..."
        )

    monkeypatch.setenv("SCANSENSE_SCALE_MEMORY_LIMIT", "2GB")
    monkeypatch.setattr(run_module, "run_day", exhausted)
    code = cli.main(["run", "--date", "2025-11-26", "--no-email"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "memory_limit = 2GB" in lines[0] and "failed to pin block" in lines[0]


def test_other_errors_are_not_taken_for_memory(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not the user's limit")

    monkeypatch.setattr(run_module, "run_day", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["run", "--date", "2025-11-26", "--no-email"])
