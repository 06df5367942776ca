"""Hourly dump files: `.part` while open, renamed after the hour and its grace, names never reused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.sensor import DumpFolderBusy, DumpWriter
from pipelines.sensor.dump import format_ts

T = datetime(2025, 11, 26, 3, 59, 58, 123456, tzinfo=UTC)


def _rec(ts: datetime, n: int) -> dict:
    return {"ts": format_ts(ts), "event": "connect", "n": n}


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("sensor-"))


def test_hour_closes_after_its_grace_and_records_keep_their_hour(tmp_path: Path) -> None:
    w = DumpWriter(tmp_path, grace_s=30)
    w.write(_rec(T, 1), T)
    w.write(_rec(T + timedelta(seconds=3), 2), T + timedelta(seconds=3))  # 04:00:01
    assert _names(tmp_path) == ["sensor-20251126T03.jsonl.part", "sensor-20251126T04.jsonl.part"]
    assert w.roll(datetime(2025, 11, 26, 4, 0, 20, tzinfo=UTC)) == []  # within grace: 03 may still get lines
    w.write(_rec(T + timedelta(seconds=1), 3), T + timedelta(seconds=1))  # a connection from 03:59:59 ending now
    closed = w.roll(datetime(2025, 11, 26, 4, 0, 31, tzinfo=UTC))
    assert [p.name for p in closed] == ["sensor-20251126T03.jsonl"]
    assert [json.loads(x)["n"] for x in closed[0].read_text().splitlines()] == [1, 3]
    assert w.open_parts == [tmp_path / "sensor-20251126T04.jsonl.part"]
    w.close()
    assert _names(tmp_path) == ["sensor-20251126T03.jsonl", "sensor-20251126T04.jsonl"]
    with pytest.raises(RuntimeError):
        w.write(_rec(T, 4), T)


def test_a_closed_hour_is_never_appended_to(tmp_path: Path) -> None:
    w = DumpWriter(tmp_path)
    w.write(_rec(T, 1), T)
    w.close()
    first = (tmp_path / "sensor-20251126T03.jsonl").read_bytes()
    w2 = DumpWriter(tmp_path)  # a restart within the same hour
    w2.write(_rec(T, 2), T)
    w2.close()
    w3 = DumpWriter(tmp_path)
    w3.write(_rec(T, 3), T)
    w3.close()
    assert (tmp_path / "sensor-20251126T03.jsonl").read_bytes() == first
    assert _names(tmp_path) == ["sensor-20251126T03-1.jsonl", "sensor-20251126T03-2.jsonl", "sensor-20251126T03.jsonl"]


def test_parts_left_by_a_killed_sensor_are_repaired_and_closed(tmp_path: Path) -> None:
    (tmp_path / "sensor-20251126T03.jsonl").write_text('{"n": 0}\n')
    (tmp_path / "sensor-20251126T03.jsonl.part").write_text('{"n": 1}\n{"n": 2}\n{"n": 3, "tor')
    (tmp_path / "sensor-20251126T05.jsonl.part").write_text('{"n": 4, "torn')  # nothing whole: removed
    w = DumpWriter(tmp_path)
    assert [p.name for p in w.recovered] == ["sensor-20251126T03-1.jsonl"]
    assert (tmp_path / "sensor-20251126T03-1.jsonl").read_text() == '{"n": 1}\n{"n": 2}\n'
    assert _names(tmp_path) == ["sensor-20251126T03-1.jsonl", "sensor-20251126T03.jsonl"]
    w.close()


def test_one_writer_per_folder(tmp_path: Path) -> None:
    w = DumpWriter(tmp_path)
    with pytest.raises(DumpFolderBusy):
        DumpWriter(tmp_path)
    w.close()
    DumpWriter(tmp_path).close()


def test_the_total_cap_counts_the_folders_dumps_and_cuts_are_summarized(tmp_path: Path) -> None:
    (tmp_path / "sensor-20251126T01.jsonl").write_text("x" * 1000 + "\n")  # an earlier hour, not ingested yet
    line = len(json.dumps(_rec(T, 1)) + "\n")
    w = DumpWriter(tmp_path, max_total_bytes=1001 + 3 * line, name="s1")
    assert [w.write(_rec(T, n), T) for n in range(5)] == [True, True, True, False, False]
    w.flush()
    assert (w.records, w.cut["total_cap"], w.cut["bytes"]) == (3, 2, 2 * line)
    (tmp_path / "sensor-20251126T01.jsonl").unlink()  # the DAG moved the old hour away: room again
    w.refresh()
    assert w.write(_rec(T, 5), T)
    w.close()
    written = (tmp_path / "sensor-20251126T03.jsonl").read_text().splitlines()
    assert [json.loads(x)["n"] for x in written] == [0, 1, 2, 5]
    (cut,) = [json.loads(x) for x in (tmp_path / "dump-cuts.jsonl").read_text().splitlines()]
    assert cut == {
        "hour": "20251126T03", "sensor": "s1", "records_cut": 2, "bytes_cut": 2 * line,
        "hour_cap": 0, "total_cap": 2, "tcp": 0, "udp": 0,
    }  # fmt: skip


def test_the_hour_cap_is_per_hour(tmp_path: Path) -> None:
    line = len(json.dumps(_rec(T, 1)) + "\n")
    w = DumpWriter(tmp_path, max_hour_bytes=2 * line)
    later = T + timedelta(seconds=3)  # the next hour
    assert [w.write(_rec(T, n), T) for n in range(3)] == [True, True, False]
    assert [w.write(_rec(later, n), later) for n in range(3)] == [True, True, False]
    w.close()
    assert w.records == 4 and w.cut["hour_cap"] == 2
    assert [json.loads(x)["hour"] for x in (tmp_path / "dump-cuts.jsonl").read_text().splitlines()] == [
        "20251126T03",
        "20251126T04",
    ]


def test_the_landing_reads_the_dumps_the_sensor_writes_by_day(tmp_path: Path, monkeypatch) -> None:
    """The sensor's names and the day's readers agree (`layout.Landing`): open hours are waited for, closed
    ones are the day's input, an hour past midnight belongs to the next day; a relative landing path."""
    from datetime import date

    from pipelines.layout import landing_layout
    from pipelines.run import day_files, open_sensor_dumps
    from pipelines.settings import landing_days

    monkeypatch.chdir(tmp_path)
    landing = Path("landing")
    day, late = datetime(2025, 11, 26, 23, 59, 59, tzinfo=UTC), datetime(2025, 11, 27, 0, 0, 1, tzinfo=UTC)
    w = DumpWriter(landing_layout(landing).sensor_dir)
    w.write(_rec(day, 1), day)
    w.write(_rec(late, 2), late)
    assert [p.name for p in open_sensor_dumps(landing, day.date())] == ["sensor-20251126T23.jsonl.part"]
    assert day_files(landing, day.date()) == []  # an open hour is not read
    w.close()
    again = DumpWriter(landing / "sensor")  # a restart within the hour: the next file of the hour
    again.write(_rec(day, 3), day)
    again.close()
    (landing / "2025-11-26").mkdir()
    (landing / "2025-11-26" / "flows.csv").write_text("x\n")
    assert open_sensor_dumps(landing, day.date()) == []
    found = [p.resolve().relative_to(tmp_path.resolve()).as_posix() for p in day_files(landing, day.date())]
    assert found == [
        "landing/2025-11-26/flows.csv",
        "landing/sensor/sensor-20251126T23-1.jsonl",
        "landing/sensor/sensor-20251126T23.jsonl",
    ]
    assert [p.name for p in day_files(landing, late.date())] == ["sensor-20251127T00.jsonl"]
    assert landing_days(landing) == [date(2025, 11, 26), date(2025, 11, 27)]
    assert landing_layout(landing).sensor.dump(day, 1) == landing / "sensor" / "sensor-20251126T23-1.jsonl"
