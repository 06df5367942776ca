"""The span model from stored day rows (issue 27): scan_slow_span combines the lookback's `slow_span_day`
partitions instead of judging the lookback's events again, and must give the rows the model gives over
those events, whatever order the days run in and whether a day's partition was stored or not."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from generated import generated_settings

from pipelines import catalog, steps
from pipelines import warehouse as wh
from pipelines.detect import slow
from pipelines.run import stage_ingest
from pipelines.settings import Settings

DAYS = [date(2025, 11, 26) + timedelta(days=k) for k in range(3)]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Settings:
    """Three generated small days, ingested: events only, no derived partition."""
    from pipelines.generate import generate

    base = tmp_path_factory.mktemp("span_stored")
    generate(base / "gen", days=len(DAYS), start=DAYS[0], seed=7, scale=0.02)
    settings = generated_settings(base / "gen", base / "warehouse")
    for day in DAYS:
        stage_ingest(day, settings)
    return settings


def _over_events(settings: Settings, day: date) -> list[dict]:
    """The model over the lookback's events judged together: every event of the days in one `events`."""
    files = [f for d in slow.lookback_days(day, settings.slow) for f in wh.lake_files(settings.warehouse, "events", d)]
    with duckdb.connect() as con:
        con.execute(
            "CREATE TABLE events AS SELECT * FROM read_parquet($f, union_by_name = true, hive_partitioning = false)",
            {"f": files},
        )
        rows = slow.slow_span_day(con, day, settings.slow).to_arrow_table()
    with duckdb.connect() as model:
        model.register("_day_rows", rows)
        return _canonical(slow.judge_span(model, day, settings.slow))


def _canonical(rows: pa.Table) -> list[dict]:
    if "event_date" in rows.column_names:
        rows = rows.drop_columns(["event_date"])
    return sorted(rows.to_pylist(), key=repr)


def _stored(settings: Settings, table: str, day: date) -> list[dict]:
    with duckdb.connect() as con:
        wh.load_lake_table(con, settings.warehouse, table, catalog.table(table).schema, day=day)
        return _canonical(con.execute(f'SELECT * FROM "{table}"').to_arrow_table())


def _run(settings: Settings, day: date) -> None:
    for name in ("slow_span_day", "scan_slow_span"):
        steps.run_step(steps.step(name), day, settings)


def test_span_from_stored_day_rows_equals_span_over_the_lookbacks_events(lake: Settings) -> None:
    expected = {day: _over_events(lake, day) for day in DAYS}
    assert expected[DAYS[-1]], "the generated days hold no scan slower than a day: the comparison would be empty"
    # the last day first: its span finds the earlier days without stored rows and computes them from
    # their events; then the earlier days, each run after a later one
    for day in (DAYS[-1], DAYS[0], DAYS[1]):
        _run(lake, day)
        assert _stored(lake, "scan_slow_span", day) == expected[day]
    assert _stored(lake, "scan_slow_span", DAYS[0]) == []  # nothing before the first day to span from


def test_a_day_stored_before_the_day_rows_existed_gets_them_from_its_events(lake: Settings) -> None:
    _run(lake, DAYS[1])
    by_step = _stored(lake, "slow_span_day", DAYS[1])
    assert by_step
    folder = Path(wh.lake_files(lake.warehouse, "slow_span_day", DAYS[1])[0]).parent
    for f in folder.glob("*.parquet"):
        f.unlink()  # as a lake written before slow_span_day existed
    with duckdb.connect() as con:
        rows = _canonical(slow.scan_slow_span(con, DAYS[-1], lake))
    assert rows == _over_events(lake, DAYS[-1])
    assert _stored(lake, "slow_span_day", DAYS[1]) == by_step


def test_a_day_without_events_has_no_day_rows_and_no_span(lake: Settings) -> None:
    later = DAYS[-1] + timedelta(days=1)
    with duckdb.connect() as con:
        assert slow.scan_slow_span(con, later, lake).num_rows == 0
    assert wh.lake_files(lake.warehouse, "slow_span_day", later) == []
