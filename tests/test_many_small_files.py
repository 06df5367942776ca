"""Issue 28 finding 7: a day of many small input files is read as few lake files. Ingest writes
one lake file per input; a folder holding at least `COMPACT_MIN_FILES` is read from one compacted
file (derived, named by the folder's contents), so a step's memory and time follow the records,
not the number of files. Timings are in docs/RELIABILITY.md (bench/bench_many_files.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
from hostile import sensor

from pipelines import warehouse as wh
from pipelines.compact import COMPACT_MIN_FILES
from pipelines.ingest import ingest_paths
from pipelines.settings import load_settings

DAY = date(2025, 11, 26)


def _day(folder: Path, n: int, first: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + n):
        (folder / f"r{i:04d}.jsonl").write_text(sensor([{"src_ip": f"203.0.113.{i % 250 + 1}", "dst_port": i}]))


def test_many_small_input_files_are_read_as_one_lake_file_per_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={"SCANSENSE_WAREHOUSE": "warehouse", "SCANSENSE_LANDING": "landing"})
    folder = Path("landing") / DAY.isoformat()
    n = COMPACT_MIN_FILES + 6
    _day(folder, n)
    assert ingest_paths([folder], settings).rows == n
    lake = Path(settings.warehouse) / "lake"
    assert len(list((lake / "events" / f"date={DAY}").glob("*.parquet"))) == n  # ingest: one per input

    files = wh.lake_files(settings.warehouse, "events", DAY)
    assert len(files) == 1 and "/.compact/" in files[0]
    for table in ("quarantine", "ingest_files"):  # folders without days too
        assert len(wh.lake_files(settings.warehouse, table)) == 1, table
    con = duckdb.connect()
    wh.lake_view(con, settings.warehouse, "events", wh.catalog.table("events").schema, DAY)
    assert con.execute("SELECT count(*), count(DISTINCT dst_port) FROM events").fetchone() == (n, n)
    assert wh.lake_files(settings.warehouse, "events", DAY) == files  # unchanged folder: the same file, not rewritten

    _day(folder, 1, first=n)  # one more input: a new compacted file, the old one gone
    ingest_paths([folder], settings)
    again = wh.lake_files(settings.warehouse, "events", DAY)
    assert len(again) == 1 and again != files and not Path(files[0]).exists()
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{again[0]}')").fetchone()[0] == n + 1


def test_few_files_are_read_where_they_lie(tmp_path: Path, settings) -> None:
    _day(settings.landing / DAY.isoformat(), 3)
    ingest_paths([settings.landing], settings)
    files = wh.lake_files(settings.warehouse, "events", DAY)
    assert len(files) == 3 and not any("/.compact/" in f for f in files)
