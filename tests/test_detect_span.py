"""Slow scans across days (issue 17, item 3): scan_slow_span runs the persistent model over the lake's
last slow.lookback_days days, so a source adding a few ports a day is one scan with its whole span,
and days analyzed in any order leave identical tables."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines import catalog
from pipelines import warehouse as wh
from pipelines.detect import slow
from pipelines.run import stage_analyze, stage_ingest
from pipelines.settings import Settings

WEEK = [date(2025, 11, 20) + timedelta(days=k) for k in range(7)]
SCANNER = "198.51.100.7"  # three new ports of one host a day, each in its own hour
KNOCKER = "198.51.100.8"  # the same port of the same host four times a day: persistent, never growing
VICTIM = "192.0.2.10"


def _record(src: str, port: int, ts: str, n: int) -> str:
    return json.dumps(
        {"eventid": "cowrie.session.connect", "src_ip": src, "src_port": 40000 + n, "dst_ip": VICTIM,
         "dst_port": port, "protocol": "ssh", "timestamp": ts, "session": f"s{n}"}
    )  # fmt: skip


def _land_week(landing: Path) -> None:
    """One honeypot file per day: the slow vertical scanner and the knocker."""
    for k, day in enumerate(WEEK):
        lines = [_record(SCANNER, 1000 + 3 * k + j, f"{day.isoformat()}T{2 + 5 * j:02d}:10:00Z", j) for j in range(3)]
        lines += [_record(KNOCKER, 22, f"{day.isoformat()}T{1 + 6 * j:02d}:30:00Z", 10 + j) for j in range(4)]
        folder = landing / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cowrie.json").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _lake_digests(settings: Settings, tables: tuple[str, ...]) -> dict[str, str]:
    """A hash per lake table over every day's partition, rows in a canonical order."""
    out = {}
    with duckdb.connect() as con:
        for name in tables:
            wh.load_lake_table(con, settings.warehouse, name, catalog.table(name).schema)
            rows = con.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()
            out[name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


def test_lookback_days_end_on_the_day() -> None:
    params = slow.Slow(lookback_days=3)
    assert slow.lookback_days(date(2025, 3, 1), params) == [date(2025, 2, 27), date(2025, 2, 28), date(2025, 3, 1)]


def test_a_scan_adding_three_ports_a_day_is_one_scan_spanning_the_week(settings: Settings) -> None:
    _land_week(settings.landing)
    for day in WEEK:
        stage_ingest(day, settings)
    with duckdb.connect() as con:
        for day in WEEK:  # each day alone: three windows, under the model's persistence (more than 5)
            wh.load_lake_table(con, settings.warehouse, "events", catalog.table("events").schema, day=day)
            assert not [r for r in slow.scan_slow(con, day, settings.slow).to_pylist() if r["is_scan"]]
        rows = slow.scan_slow_span(con, WEEK[-1], settings).to_pylist()
    assert [(r["src_ip"], r["kind"], r["fixed_value"]) for r in rows] == [(SCANNER, "vertical", VICTIM)]
    (scan,) = rows
    assert scan["is_scan"] and scan["cond_entropy"] == 1.0
    assert (scan["first_day"], scan["days_active"], scan["targets"], scan["windows"]) == (WEEK[0], 7, 21, 21)
    assert scan["lookback_days"] == 7
    # a shorter lookback sees a shorter span; a day whose period ended earlier has no row
    with duckdb.connect() as con:
        short = slow.scan_slow_span(con, WEEK[-1], settings.replace("slow", lookback_days=3)).to_pylist()
        assert [(r["first_day"], r["targets"]) for r in short] == [(WEEK[-3], 9)]
        assert slow.scan_slow_span(con, WEEK[-1] + timedelta(days=1), settings).num_rows == 0


def test_days_run_forward_or_in_reverse_leave_identical_tables(tmp_path: Path, settings: Settings) -> None:
    tables = ("scan_slow", "scan_slow_span", "findings", "source_risk")
    forward = settings
    reverse = settings.replace("paths", warehouse=str(tmp_path / "reverse"))
    _land_week(settings.landing)
    for day in WEEK:
        stage_ingest(day, forward)
        assert stage_analyze(day, forward)["refreshed_days"] == []
    refreshed = []
    for day in reversed(WEEK):
        stage_ingest(day, reverse)
        refreshed.append(stage_analyze(day, reverse)["refreshed_days"])
    assert refreshed[1] == [WEEK[-1].isoformat()]  # the sixth day, run after the seventh, refreshes it
    assert refreshed[-1] == [d.isoformat() for d in WEEK[1:]]
    assert _lake_digests(forward, tables) == _lake_digests(reverse, tables)
    with duckdb.connect() as con:
        wh.load_lake_table(con, forward.warehouse, "findings")
        found = con.execute(
            "SELECT event_date, src_ip, kind FROM findings WHERE detector = 'scan_slow_span' ORDER BY ALL"
        ).fetchall()
        wh.load_lake_table(con, forward.warehouse, "source_risk")
        scored = con.execute(
            "SELECT traffic_score, reasons FROM source_risk WHERE event_date = $d AND src_ip = $s",
            {"d": WEEK[-1], "s": SCANNER},
        ).fetchone()
    # found from the second day (six windows over two days: persistent, more than 5) to the last
    assert found == [(d, SCANNER, "vertical") for d in WEEK[1:]]
    assert scored[0] > 0 and any("scan_slow_span" in r for r in scored[1])


@pytest.mark.parametrize("days", [0, -1])
def test_a_lookback_shorter_than_a_day_is_refused(days: int) -> None:
    from pipelines.settings import load_settings

    with pytest.raises(ValueError, match="lookback_days"):
        load_settings(env={"SCANSENSE_SLOW_LOOKBACK_DAYS": str(days)})
