"""Closed months and weeks of the lake read as one file each by the published views (issue 27, `lake_blocks`).

The views must show what the day files hold, whatever was rerun, backfilled or written by older
code: a rewritten day of a closed month, a day added to it, a file without a newer column, and a
warehouse named by a relative path. The end-to-end test runs generated days across a month's end
and checks that rerunning a day of the closed month, or running it last, publishes the same tables.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from generated import generated_settings
from hashing import table_hashes

from pipelines import catalog, lake_blocks
from pipelines import warehouse as wh

TABLE = "demo_table"
SCHEMA = pa.schema([("event_date", pa.date32()), ("src_ip", pa.string()), ("n", pa.int64())])
LATEST = date(2025, 3, 10)  # February is closed; March 1-7 is a closed week; 8-10 are open days
DAYS = [date(2025, 2, 1) + timedelta(days=k) for k in range((LATEST - date(2025, 2, 1)).days + 1)]


def _rows(day: date, n: int = 1, sources: int = 2) -> pa.Table:
    return pa.table(
        {"event_date": [day] * sources, "src_ip": [f"198.51.100.{i}" for i in range(sources)], "n": [n] * sources},
        schema=SCHEMA,
    )


def _lake(warehouse: Path, days: list[date] = DAYS) -> None:
    for day in days:
        wh.write_day_partition(warehouse, TABLE, day, _rows(day))


def _view(warehouse: Path) -> tuple[list[str], list[tuple]]:
    """Publish the view over every day into a fresh file; the files it reads and its rows."""
    db = Path(warehouse) / f"view-{len(list(Path(warehouse).glob('view-*')))}.duckdb"
    con = duckdb.connect(str(db))
    try:
        files = wh.lake_relation(con, Path(warehouse), TABLE, SCHEMA)
        rows = con.execute(f"SELECT event_date, src_ip, n FROM {TABLE} ORDER BY ALL").fetchall()
    finally:
        con.close()
    return files, rows


def _expected(days: list[date], n: dict[date, int] | None = None) -> list[tuple]:
    n = n or {}
    return sorted((d, f"198.51.100.{i}", n.get(d, 1)) for d in days for i in range(2))


def test_block_of_closes_months_before_the_latest_and_weeks_it_is_past() -> None:
    assert lake_blocks.block_of(date(2025, 2, 14), LATEST) == "month=2025-02"
    assert lake_blocks.block_of(date(2025, 3, 7), LATEST) == "week=2025-03-01"
    assert lake_blocks.block_of(date(2025, 3, 8), LATEST) is None  # the week of the latest day is open
    assert lake_blocks.block_of(LATEST, LATEST) is None
    assert lake_blocks.block_of(date(2025, 1, 30), date(2025, 1, 31)) is None  # days 29-31: no week
    assert lake_blocks.block_of(date(2024, 12, 31), date(2025, 1, 1)) == "month=2024-12"


def test_closed_blocks_are_one_file_each_and_show_every_day_once(tmp_path: Path) -> None:
    _lake(tmp_path)
    files, rows = _view(tmp_path)
    assert rows == _expected(DAYS)
    blocks = [f for f in files if lake_blocks.BLOCKS in Path(f).parts]
    assert len(blocks) == 2 and len(files) == 2 + 3  # February, March 1-7, and March 8, 9, 10
    again, _ = _view(tmp_path)
    assert again == files  # nothing changed: the same block files, not written again


def test_a_rerun_day_of_a_closed_month_shows_its_new_rows_only(tmp_path: Path) -> None:
    _lake(tmp_path)
    before, _ = _view(tmp_path)
    rerun = date(2025, 2, 12)
    wh.write_day_partition(tmp_path, TABLE, rerun, _rows(rerun, n=5))  # the day run again, other results
    files, rows = _view(tmp_path)
    assert rows == _expected(DAYS, {rerun: 5})  # no stale row of the first run, none twice
    assert set(files) != set(before)


def test_a_backfilled_day_of_a_closed_month_and_week_is_seen(tmp_path: Path) -> None:
    missing = [date(2025, 2, 20), date(2025, 3, 3)]
    _lake(tmp_path, [d for d in DAYS if d not in missing])
    _, rows = _view(tmp_path)
    assert rows == _expected([d for d in DAYS if d not in missing])
    _lake(tmp_path, missing)
    _, rows = _view(tmp_path)
    assert rows == _expected(DAYS)


def test_a_removed_day_partition_leaves_the_block(tmp_path: Path) -> None:
    _lake(tmp_path)
    _view(tmp_path)
    gone = date(2025, 2, 3)
    for f in wh.lake_files(tmp_path, TABLE, gone):
        Path(f).unlink()
    _, rows = _view(tmp_path)
    assert rows == _expected([d for d in DAYS if d != gone])


def test_an_older_file_without_a_newer_column_still_reads(tmp_path: Path) -> None:
    newer = SCHEMA.append(pa.field("outcome", pa.string()))
    for day in DAYS:
        old = day in (date(2025, 2, 5), date(2025, 3, 2), date(2025, 3, 9))  # in the month, the week, the open days
        rows = _rows(day)
        if not old:
            rows = rows.append_column("outcome", pa.array(["open"] * len(rows), pa.string()))
        wh.write_day_partition(tmp_path, TABLE, day, rows)
    con = duckdb.connect()
    wh.lake_relation(con, tmp_path, TABLE, newer)
    got = dict(con.execute(f"SELECT event_date, count(outcome) FROM {TABLE} GROUP BY ALL").fetchall())
    assert sorted(got) == DAYS
    assert {d for d, n in got.items() if n == 0} == {date(2025, 2, 5), date(2025, 3, 2), date(2025, 3, 9)}


def test_a_relative_warehouse_path_gives_views_that_answer_from_elsewhere(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _lake(Path("wh"))
    db = tmp_path / "wh" / "views.duckdb"
    con = duckdb.connect(str(db))
    files = wh.lake_relation(con, Path("wh"), TABLE, SCHEMA)
    con.close()
    assert all(Path(f).is_absolute() for f in files)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with duckdb.connect(str(db), read_only=True) as ro:
        assert sorted(ro.execute(f"SELECT event_date, src_ip, n FROM {TABLE}").fetchall()) == _expected(DAYS)


def _latest_db(warehouse: Path) -> Path:
    return max(Path(warehouse).glob("view-*.duckdb"), key=lambda p: int(p.stem[5:]))


def test_prune_keeps_the_block_files_of_this_publish_and_the_one_it_replaced(tmp_path: Path) -> None:
    _lake(tmp_path)
    first, _ = _view(tmp_path)
    assert sorted(lake_blocks.named_by(_latest_db(tmp_path))) == sorted(f for f in first if "/.blocks/" in f)
    wh.write_day_partition(tmp_path, TABLE, date(2025, 2, 12), _rows(date(2025, 2, 12), n=2))
    replaced = lake_blocks.named_by(_latest_db(tmp_path))
    second, _ = _view(tmp_path)
    lake_blocks.prune(tmp_path, second + replaced)
    assert all(Path(f).is_file() for f in first + second)  # an analyst holding the previous file still reads
    wh.write_day_partition(tmp_path, TABLE, date(2025, 2, 12), _rows(date(2025, 2, 12), n=3))
    replaced = lake_blocks.named_by(_latest_db(tmp_path))
    third, rows = _view(tmp_path)
    lake_blocks.prune(tmp_path, third + replaced)
    assert rows == _expected(DAYS, {date(2025, 2, 12): 3})
    stale = set(first) - set(second) - set(third)
    assert stale and not any(Path(f).exists() for f in stale)
    assert all(Path(f).is_file() for f in second + third)


def test_a_published_file_that_cannot_be_read_names_nothing_to_prune(tmp_path: Path) -> None:
    assert lake_blocks.named_by(tmp_path / "none.duckdb") == []
    (tmp_path / "bad.duckdb").write_bytes(b"not a database")
    assert lake_blocks.named_by(tmp_path / "bad.duckdb") is None


# --- end to end: generated days across a month's end --------------------------------------------

RUN_DAYS = [date(2025, 11, 29), date(2025, 11, 30), date(2025, 12, 1)]  # November closes on December 1


def _published(settings) -> dict[str, str]:
    tables = [t for t in catalog.names() if t not in ("ingest_files", "runs", "dq_results")]
    return table_hashes(wh.db_path(settings.warehouse), tables)


@pytest.fixture(scope="module")
def month_end(tmp_path_factory) -> dict:
    from pipelines.generate import generate
    from pipelines.run import run_day

    base = tmp_path_factory.mktemp("month-end")
    generate(base / "gen", days=len(RUN_DAYS), start=RUN_DAYS[0], seed=5, scale=0.02)
    out = {}
    for name, order in (("in_order", RUN_DAYS), ("backfill", [RUN_DAYS[1], RUN_DAYS[2], RUN_DAYS[0]])):
        settings = generated_settings(base / "gen", base / name)
        for day in order:
            assert run_day(day, settings, send_email=False).published
        out[name] = {"settings": settings, "tables": _published(settings)}
    settings = out["in_order"]["settings"]
    with duckdb.connect(str(wh.db_path(settings.warehouse)), read_only=True) as con:
        (sql,) = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'events'").fetchone()
    out["events_view"] = sql
    assert run_day(RUN_DAYS[1], settings, send_email=False).published  # a day of the closed month, again
    out["rerun"] = _published(settings)
    return out


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a hang, not a speed limit: seven small days
def test_the_published_views_read_the_closed_month_as_one_file(month_end) -> None:
    assert f"/{lake_blocks.BLOCKS}/events/month=2025-11/" in month_end["events_view"]
    assert "/date=2025-11-29/" not in month_end["events_view"]


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_rerunning_or_backfilling_a_closed_months_day_publishes_the_same_tables(month_end) -> None:
    expected = month_end["in_order"]["tables"]
    assert month_end["rerun"] == expected
    assert month_end["backfill"]["tables"] == expected
