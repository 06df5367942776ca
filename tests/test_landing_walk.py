"""Issue 28 findings 1, 2 and 10 (dotfiles): one walk of a landing day, shared by `scansense run`,
`scansense ingest` and the DAG. Regular files only; links (to files or folders) and special files
refused with a registry row, never followed; hidden and partial files recorded as skipped; a name
that is not UTF-8 stored losslessly and its file still ingested. Relative paths, as users give them."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest
from hostile import sensor

from pipelines.ingest import ingest_paths
from pipelines.ingest.names import path_bytes, path_of, path_text
from pipelines.run import day_file_names, day_files, ingest_file, stage_ingest
from pipelines.settings import load_settings

DAY = date(2025, 11, 26)
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----"


@pytest.fixture
def landing(tmp_path: Path, monkeypatch):
    """A landing day with one good dump, settings with relative paths, the cwd the user works in."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={"SCANSENSE_WAREHOUSE": "warehouse", "SCANSENSE_LANDING": "landing"})
    folder = Path("landing") / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "good.jsonl").write_text(sensor([{}, {}]))
    secrets = Path("home") / ".ssh"
    secrets.mkdir(parents=True)
    (secrets / "id_ed25519").write_text(KEY + "\nAAAA\n")
    (secrets / "dump.jsonl").write_text(sensor([{"src_ip": "203.0.113.99"}]))
    return folder, settings


def lake(settings, table: str) -> list[dict]:
    pattern = {"events": "events/*/*.parquet"}.get(table, f"{table}/*.parquet")
    files = str(Path(settings.warehouse) / "lake" / pattern)
    if not list(Path("/").glob(files.lstrip("/"))):
        return []
    return duckdb.sql(f"SELECT * FROM read_parquet('{files}')").df().to_dict("records")


def lake_text(settings) -> str:
    return "\n".join(str(r) for t in ("events", "quarantine") for r in lake(settings, t))


def by_path(settings) -> dict[str, dict]:
    return {r["path"]: r for r in lake(settings, "ingest_files")}


def dag_ingest(settings) -> list[dict]:
    """What the DAG's tasks do: list the day's names, then one mapped `ingest` per name."""
    return [ingest_file(name, settings, year=DAY.year) for name in day_file_names(settings.landing, DAY, settings)]


RUNNERS = {
    "run": lambda s: stage_ingest(DAY, s),
    "ingest": lambda s: ingest_paths([Path("landing") / DAY.isoformat()], s),
    "dag": dag_ingest,
}


@pytest.mark.parametrize("how", list(RUNNERS))
def test_linked_folders_in_a_landing_day_are_refused_never_descended(landing, how: str) -> None:
    folder, settings = landing
    (folder / "keys").symlink_to(Path("../../home/.ssh"), target_is_directory=True)
    (folder / "self").symlink_to("/proc/self")
    (folder / "dump.jsonl").symlink_to(Path("../../home/.ssh/dump.jsonl"))
    os.mkfifo(folder / "pipe.log")
    RUNNERS[how](settings)
    reg = by_path(settings)
    root = folder.resolve()
    for name in ("keys", "self"):
        row = reg[str(root / name)]
        assert row["status"] == "refused" and "symlink to a folder" in row["error"], row
    assert reg[str(root / "dump.jsonl")]["status"] == "refused"
    assert reg[str(root / "pipe.log")]["status"] == "refused" and "FIFO" in reg[str(root / "pipe.log")]["error"]
    assert reg[str(root / "good.jsonl")]["rows"] == 2
    text = lake_text(settings)
    assert KEY not in text and "203.0.113.99" not in text and "SCANSENSE" not in text
    assert not any("/proc/" in p or ".ssh" in p for p in reg), sorted(reg)


def test_a_linked_folder_handed_to_one_ingest_task_is_refused_not_walked(landing) -> None:
    """The DAG's mapped task gets one path: a folder link there (put after the listing) is not walked."""
    folder, settings = landing
    (folder / "later").symlink_to(Path("../../home/.ssh"), target_is_directory=True)
    out = ingest_file(str(folder / "later"), settings)
    assert out["rows"] == 0 and "symlink to a folder" in out["errors"][0]
    summary = ingest_paths([folder / "later"], settings)  # `scansense ingest landing/<day>/later`
    assert summary.rows == 0 and summary.refused_arguments
    assert KEY not in lake_text(settings)


def test_follow_links_still_reads_a_file_link_inside_the_landing_root_only(landing) -> None:
    folder, settings = landing
    settings = settings.replace("ingest", follow_links=True)
    other = folder.parent / "2025-11-25"
    other.mkdir()
    (other / "late.jsonl").write_text(sensor([{"src_ip": "203.0.113.50"}]))
    (folder / "late.jsonl").symlink_to(Path("../2025-11-25/late.jsonl"))
    (folder / "keys").symlink_to(Path("../../home/.ssh"), target_is_directory=True)
    out = dag_ingest(settings)
    assert sum(o["rows"] for o in out) == 3
    assert by_path(settings)[str(folder.resolve() / "keys")]["status"] == "refused"
    assert KEY not in lake_text(settings)


@pytest.mark.parametrize("how", list(RUNNERS))
def test_file_names_that_are_not_utf8_are_stored_losslessly_and_ingested(landing, how: str) -> None:
    folder, settings = landing
    raw = os.fsencode(folder.resolve()) + b"/caf\xe9 \xff\\x41.jsonl"
    with open(raw, "w") as fh:
        fh.write(sensor([{"src_ip": "192.0.2.77"}] * 3) + "not json\n")
    for _ in range(2):  # a rerun replaces the file's rows, never doubles them
        RUNNERS[how](settings)
    text = path_text(raw)
    assert text.endswith("/caf\\xe9 \\xff\\\\x41.jsonl") and path_bytes(text) == raw
    row = by_path(settings)[text]
    assert row["status"] == "partial" and row["rows"] == 3 and row["quarantined"] == 1
    events = [e for e in lake(settings, "events") if e["src_ip"] == "192.0.2.77"]
    assert len(events) == 3 and {e["source_file"] for e in events} == {text}
    assert [q["source_file"] for q in lake(settings, "quarantine") if q["source_file"] != row["path"]] == []
    assert os.fsencode(path_of(text)) == raw


@pytest.mark.parametrize("how", list(RUNNERS))
def test_hidden_and_partial_files_are_recorded_never_silently_skipped(landing, how: str) -> None:
    folder, settings = landing
    (folder / ".hidden.jsonl").write_text(sensor([{"src_ip": "192.0.2.10"}] * 10))
    (folder / "upload.jsonl.part").write_text(sensor([{}]))
    (folder / ".git").mkdir()
    (folder / ".git" / "inner.jsonl").write_text(sensor([{}]))
    out = RUNNERS[how](settings)
    reg = by_path(settings)
    root = folder.resolve()
    for name, why in ((".hidden.jsonl", "hidden file"), ("upload.jsonl.part", "partial file"), (".git", "hidden")):
        row = reg[str(root / name)]
        assert row["status"] == "skipped" and why in row["error"], row
    assert str(root / ".git" / "inner.jsonl") not in reg
    outs = out if isinstance(out, list) else [out if isinstance(out, dict) else out.to_dict()]
    assert sum(o["skipped_files"] for o in outs) == 3 and not any(e for o in outs for e in o["errors"])


def test_a_hidden_file_named_on_the_command_line_is_ingested(landing) -> None:
    folder, settings = landing
    (folder / ".named.jsonl").write_text(sensor([{}] * 4))
    summary = ingest_paths([folder / ".named.jsonl"], settings)
    assert summary.rows == 4 and summary.skipped_files == 0
    assert [p.name for p in day_files(settings.landing, DAY, settings)] == [".named.jsonl", "good.jsonl"]
