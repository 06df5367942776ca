"""Warehouse building blocks: atomic Parquet writes, comments, marts SQL on tiny tables, publishing."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines import warehouse as wh
from pipelines.sqlfiles import read_sql


def test_sql_header_comments_parse_table_and_columns() -> None:
    text = "-- table: One row per day.\n-- column event_date: UTC day.\n-- column sources: Distinct sources.\nSELECT 1"
    table, cols = wh.sql_header_comments(text)
    assert table == "One row per day."
    assert cols == {"event_date": "UTC day.", "sources": "Distinct sources."}


def _tiny_inputs(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE events AS SELECT * FROM (VALUES
          (TIMESTAMPTZ '2025-11-26 14:30:00+00', DATE '2025-11-26', '1.2.3.4', '10.0.0.1', 40000, 22, 'tcp'),
          (TIMESTAMPTZ '2025-11-26 14:31:00+00', DATE '2025-11-26', '1.2.3.4', '10.0.0.1', 40000, 23, 'tcp'),
          (TIMESTAMPTZ '2025-11-26 02:00:00+00', DATE '2025-11-26', '8.8.8.8', '10.0.0.1', 53, 5353, 'udp')
        ) t(ts, event_date, src_ip, dst_ip, src_port, dst_port, proto)
        """
    )
    con.execute(
        """
        CREATE TABLE source_risk AS SELECT * FROM (VALUES
          (DATE '2025-11-26', '1.2.3.4', 50, 30, 20, 100.0, true, 'US', 2),
          (DATE '2025-11-26', '8.8.8.8', 0, 0, 20, 20.0, false, 'US', 1)
        ) t(event_date, src_ip, traffic_score, time_score, geo_score, risk, malicious, country_code, probes)
        """
    )
    con.execute(
        "CREATE TABLE findings AS SELECT DATE '2025-11-26' AS event_date, '1.2.3.4' AS src_ip, 'scan_fast' AS detector"
    )
    con.execute("CREATE TABLE runs AS SELECT DATE '2025-11-26' AS run_date, 3 AS quarantined")
    con.execute(
        "CREATE TABLE geo_ip AS SELECT * FROM (VALUES ('1.2.3.4', 'US', 'United States', 'US-CA', 37.0, -122.0, 'public'),"
        " ('8.8.8.8', 'US', 'United States', 'US-CA', 37.0, -122.0, 'public')) t(ip, country_code, country, region, lat, lon, ip_class)"
    )


def test_marts_compute_shares_hours_geography_ports() -> None:
    con = duckdb.connect()
    _tiny_inputs(con)
    built = wh.build_marts(con, {"tz": "Asia/Shanghai"})
    assert set(built) == {"daily_summary", "hourly_abnormal", "geo_abnormal", "port_abnormal"}
    summary = con.execute(
        "SELECT sources, suspected_sources, abnormal_sources, abnormal_share, events, fast_scans, slow_scans, quarantined FROM daily_summary"
    ).fetchone()
    assert summary == (2, 1, 1, 0.5, 3, 1, 0, 3)
    # 14:30 UTC is 22:30 in Asia/Shanghai: the abnormal source lands in the night hour 22.
    assert con.execute("SELECT hour, abnormal_sources FROM hourly_abnormal WHERE abnormal_sources > 0").fetchall() == [
        (22, 1)
    ]
    assert con.execute("SELECT dst_port, sources FROM port_abnormal ORDER BY dst_port").fetchall() == [(22, 1), (23, 1)]
    assert con.execute("SELECT country_code, sources, abnormal_sources FROM geo_abnormal").fetchall() == [("US", 2, 1)]
    # The inputs here are uncommented fixtures; the marts themselves must be fully commented.
    mart_missing = [m for m in wh.missing_comments(con) if m.split(".")[0] in built]
    assert mart_missing == []


def test_write_parquet_atomic_leaves_no_temporary_files(tmp_path: Path) -> None:
    wh.write_day_partition(tmp_path, "scan_fast", date(2025, 11, 26), pa.table({"a": [1]}))
    wh.write_day_partition(tmp_path, "scan_fast", date(2025, 11, 26), pa.table({"a": [2]}))
    files = list((tmp_path / "lake" / "scan_fast").rglob("*"))
    assert [p.name for p in files if p.is_file()] == ["part.parquet"]
    part = [p for p in files if p.is_file()][0]
    assert duckdb.execute("SELECT a FROM read_parquet($f)", {"f": str(part)}).fetchall() == [(2,)]
    assert wh.lake_files(tmp_path, "scan_fast", date(2025, 11, 26))


def _reader(path: str, stop, errors) -> None:
    seen = set()
    while not stop.is_set():
        try:
            with duckdb.connect(path, read_only=True) as con:
                seen.add(con.execute("SELECT v FROM version_marker").fetchone()[0])
        except Exception as exc:  # any error here is a broken reader
            errors.put(repr(exc))
            return
    errors.put(sorted(seen))


def test_publish_swaps_atomically_while_a_reader_reads(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"

    def build(version: int) -> Path:
        path = wh.new_build_path(warehouse)
        with duckdb.connect(str(path)) as con:
            con.execute("CREATE TABLE version_marker AS SELECT $v AS v FROM range(1000)", {"v": version})
        return path

    wh.publish(build(0), warehouse)
    ctx = mp.get_context("spawn")
    stop, errors = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_reader, args=(str(wh.db_path(warehouse)), stop, errors))
    proc.start()
    try:
        for version in range(1, 30):
            wh.publish(build(version), warehouse)
    finally:
        stop.set()
        proc.join(30)
    result = errors.get(timeout=10)
    assert isinstance(result, list), f"reader failed: {result}"
    assert set(result) <= set(range(30))
    assert not list((warehouse / ".build").glob("*.duckdb"))


def test_lock_serializes_writers(tmp_path: Path) -> None:
    with wh.writer_lock(tmp_path):
        assert (tmp_path / ".lock").exists()


def test_missing_lake_table_without_schema_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        wh.load_lake_table(duckdb.connect(), tmp_path, "nothing")


def test_sql_files_are_readable() -> None:
    assert "SELECT" in read_sql("marts/daily_summary")


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "lake" / "events" / "date=2025-11-26"
    folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = folder / f".abc.parquet.{dead.pid}.tmp"
    live = folder / f".def.parquet.{os.getpid()}.tmp"
    stale.write_bytes(b"x")
    live.write_bytes(b"x")
    assert wh.clean_stale_temp(tmp_path) == 1
    assert not stale.exists() and live.exists()


def test_comments_of_a_table_land_together_and_skip_absent_columns() -> None:
    """A table's comments are committed in one go; a failing one leaves none of them; quotes are kept."""
    con = duckdb.connect()
    columns = {"a": "it's a", "b": "the b", "gone": "a column the table lacks is skipped"}
    con.execute("CREATE TABLE t (a INTEGER, b VARCHAR)")
    wh.apply_comments(con, "t", "table t", columns)
    con.execute("CREATE VIEW v AS SELECT a FROM t")
    wh.apply_comments(con, "v", "view v", {"a": "v's a"})
    got = con.execute(
        "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE table_name IN ('t', 'v') ORDER BY ALL"
    ).fetchall()
    assert got == [("t", "a", "it's a"), ("t", "b", "the b"), ("v", "a", "v's a")]
    assert con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 't'").fetchone()[0] == "table t"
    assert con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'v'").fetchone()[0] == "view v"
    # a column only a same-named table of another schema has: its comment fails, none of the batch stays
    con.execute("CREATE TABLE u (a INTEGER)")
    con.execute("CREATE SCHEMA s")
    con.execute("CREATE TABLE s.u (a INTEGER, z INTEGER)")
    with pytest.raises(duckdb.Error):
        wh.apply_comments(con, "u", "table u", {"a": "u's a", "z": "only in s.u"})
    assert con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'u'").fetchone()[0] is None
    wh.apply_comments(con, "u", "table u", {"a": "u's a"})  # the connection is usable afterwards
    assert con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'u'").fetchone()[0] == "table u"
