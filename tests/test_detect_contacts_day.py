"""The day's contacts judged once (`contacts_day`, issue 27): every detector reads its probes from the stored
rows and must give the rows it gives when it judges the day's events itself; a step run alone on a lake
without the day's `contacts_day` (written before the table existed) computes and stores it first."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from generated import generated_settings

from pipelines import catalog, steps
from pipelines import warehouse as wh
from pipelines.run import stage_analyze, stage_ingest
from pipelines.settings import Settings

DAY = date(2025, 11, 26)
# the day's tables whose builders read probes or contacts
DETECTORS = ("port_ratio", "scan_distributed", "scan_trw", "slow_span_day", "scan_slow", "window_entropy")


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Settings:
    """One generated day (scanners, clients with failed lookups, conversations), run end to end."""
    from pipelines.generate import generate

    base = tmp_path_factory.mktemp("contacts_day")
    generate(base / "gen", days=1, start=DAY, seed=11, scale=0.05)
    settings = generated_settings(base / "gen", base / "warehouse")
    stage_ingest(DAY, settings)
    stage_analyze(DAY, settings, refresh_later=False)
    return settings


def _canonical(rows: pa.Table) -> list[dict]:
    if "event_date" in rows.column_names:
        rows = rows.drop_columns(["event_date"])
    return sorted(rows.to_pylist(), key=repr)


def _stored(settings: Settings, table: str) -> list[dict]:
    with duckdb.connect() as con:
        wh.load_lake_table(con, settings.warehouse, table, catalog.table(table).schema, day=DAY)
        return _canonical(con.execute(f'SELECT * FROM "{table}"').to_arrow_table())


def _over_events(settings: Settings, table: str) -> list[dict]:
    """The table's builder on a connection that holds the day's events only: it judges them itself."""
    with duckdb.connect() as con:
        wh.lake_view(con, settings.warehouse, "events", catalog.table("events").schema, DAY)
        rows = catalog.builder(table)(con, DAY, settings)
        return _canonical(rows if isinstance(rows, pa.Table) else rows.to_arrow_table())  # a relation: streamed


def test_the_day_stores_its_judged_contacts_once(lake: Settings) -> None:
    with duckdb.connect() as con:
        files = wh.lake_files(lake.warehouse, "contacts_day", DAY)
        assert files
        kinds = dict(
            con.execute("SELECT contact_outcome, count(*) FROM read_parquet($f) GROUP BY ALL", {"f": files}).fetchall()
        )
        events = con.execute(
            "SELECT count(*) FROM read_parquet($f)", {"f": wh.lake_files(lake.warehouse, "events", DAY)}
        ).fetchone()[0]
    assert set(kinds) <= {"succeeded", "failed", "unknown"}
    assert kinds.get("succeeded") and kinds.get("failed"), kinds  # clients' conversations and scanners' misses
    assert 0 < sum(kinds.values()) < events  # the answering side's records are not stored


@pytest.mark.parametrize("table", DETECTORS)
def test_detectors_read_the_stored_contacts_as_they_judge_events(lake: Settings, table: str) -> None:
    stored = _stored(lake, table)
    assert stored or table == "scan_distributed", f"{table}: no rows on the generated day, nothing compared"
    assert stored == _over_events(lake, table)


def test_a_step_run_alone_computes_a_missing_contacts_partition(lake: Settings) -> None:
    before = _stored(lake, "port_ratio")
    folder = Path(wh.lake_files(lake.warehouse, "contacts_day", DAY)[0]).parent
    judged = _stored(lake, "contacts_day")
    for f in folder.glob("*.parquet"):
        f.unlink()  # as a lake written before contacts_day existed
    steps.run_step(steps.step("port_ratio"), DAY, lake)
    assert _stored(lake, "port_ratio") == before
    assert _stored(lake, "contacts_day") == judged  # and stored, for the next step to read


def test_a_day_without_events_has_no_contacts_to_compute(lake: Settings) -> None:
    later = date(2025, 11, 30)
    assert steps.stored_partition(lake, "contacts_day", later) == []


def test_a_step_that_stages_its_rows_drops_them_once_they_are_stored(lake: Settings) -> None:
    """On a run's shared connection the staged temporary tables would hold a day's rows (spilled) to its end."""
    from pipelines.duck import STAGED

    with duckdb.connect() as con:
        steps.load_inputs(con, "contacts_day", DAY, lake)
        for name in ("contacts_day", "source_features_day"):
            assert steps.run_step(steps.step(name), DAY, lake, con=con) > 0
        temporary = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()]
    assert not [t for t in temporary if t.startswith(STAGED)], temporary
