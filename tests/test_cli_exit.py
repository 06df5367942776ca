"""The installed `scansense` script (`pipelines.cli.console`) runs the command with fewer garbage
collections, returns its exit code and freezes the loaded objects first, so the interpreter's last
garbage collections skip them."""

from __future__ import annotations

import gc
import sys

from pipelines import cli


def test_the_console_script_keeps_the_exit_code_and_freezes_objects(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no warehouse here: `query` refuses with one line and exit code 1
    for name in ("SCANSENSE_CONFIG", "SCANSENSE_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", ["scansense", "query", "SELECT 1"])
    gc.unfreeze()
    try:
        assert cli.console() == 1
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual


def test_the_console_script_runs_the_command_with_fewer_garbage_collections(monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(cli, "main", lambda: seen.append(gc.get_threshold()) or 3)
    saved = gc.get_threshold()
    gc.unfreeze()
    try:
        assert cli.console() == 3
        assert seen == [(cli.GC_YOUNG_THRESHOLD, *saved[1:])]  # only the young generation's threshold changes
    finally:
        gc.set_threshold(*saved)
        gc.unfreeze()
