"""Detector units on tiny event tables in an in-memory DuckDB."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa

from pipelines.detect import fast, slow
from pipelines.detect.slow import cond_entropy, growth_periods
from pipelines.schema import conform_events
from pipelines.settings import Settings

DAY = date(2025, 11, 26)
T0 = datetime(2025, 11, 26, 10, tzinfo=UTC)


def _con(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    for r in rows:
        r.setdefault("event_date", DAY)
        r.setdefault("source_kind", "firewall")
        r.setdefault("proto", "tcp")
        r.setdefault("tcp_flags", "S")
        r.setdefault("src_port", 40000)
    events = conform_events(pa.Table.from_pylist(rows))  # noqa: F841 (scanned by DuckDB)
    con = duckdb.connect()
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    return con


def test_lone_fast_scanner_is_flagged_but_one_port_of_one_host_is_not() -> None:
    rows = [
        {"ts": T0 + timedelta(seconds=i * 0.05), "src_ip": "5.5.5.5", "dst_ip": "10.0.0.1", "dst_port": i + 1}
        for i in range(500)
    ]
    rows += [
        {"ts": T0 + timedelta(seconds=i * 0.1), "src_ip": "6.6.6.6", "dst_ip": "10.0.0.1", "dst_port": 22}
        for i in range(500)
    ]
    rows += [
        {"ts": T0 + timedelta(seconds=i * 7), "src_ip": f"7.7.7.{i}", "dst_ip": "10.0.0.1", "dst_port": 443}
        for i in range(30)
    ]
    found = set(fast.scan_fast(_con(rows), DAY, Settings().fast)["src_ip"].to_pylist())
    assert found == {"5.5.5.5"}


def test_incremental_filter_and_growth_periods() -> None:
    # growth 1 -> 2 -> 3, then a window adding nothing new restarts the period
    sets = [{"a"}, {"b"}, {"c"}, {"a"}, {"d"}]
    assert growth_periods(sets) == [(0, 2), (3, 4)]
    assert cond_entropy(["a", "b", "c", "d"]) == 1.0
    assert cond_entropy(["a", "a", "a"]) == 0.0


def test_slow_vertical_scan_at_t1_pacing_is_found() -> None:
    rows = [
        {"ts": T0 + timedelta(seconds=15 * i), "src_ip": "8.8.4.4", "dst_ip": "10.0.0.9", "dst_port": 1000 + i}
        for i in range(200)
    ]
    rows += [
        {"ts": T0 + timedelta(seconds=15 * i), "src_ip": "9.9.9.9", "dst_ip": "10.0.0.9", "dst_port": 443}
        for i in range(200)
    ]
    result = slow.scan_slow(_con(rows), DAY, Settings().slow).to_pylist()
    scans = {(r["src_ip"], r["kind"]) for r in result if r["is_scan"]}
    assert scans == {("8.8.4.4", "vertical")}
