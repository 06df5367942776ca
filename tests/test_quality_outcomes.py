"""The quality step runs every catalog check and gets GX's own outcomes: each table's suite run the
documented way (one `ValidationDefinition.run` on all of the table's checked rows) gives the same
expectations, verdicts and observed values as `run_checks`, on a day with failures in it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest
from generated import generated_settings
from hashing import materialize

from pipelines import quality
from pipelines.generate import generate
from pipelines.run import run_day

DAY = date(2025, 11, 26)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    """A published generated day, copied, with bad events (regex, null, range) and a geo_ip address twice."""
    base = tmp_path_factory.mktemp("outcomes")
    generate(base / "gen", days=1, start=DAY, seed=5, scale=0.1)
    settings = generated_settings(base / "gen", base / "wh")
    assert run_day(DAY, settings, send_email=False).published
    db = base / "copy.duckdb"
    db.write_bytes((settings.warehouse / "scansense.duckdb").read_bytes())
    with duckdb.connect(str(db)) as con:
        materialize(con, "events", "geo_ip")  # views over the lake in the published file: copied in to be damaged
        con.execute(
            "UPDATE events SET src_ip = 'not-an-ip-' || rowid, dst_port = 70000, proto = NULL "
            "WHERE rowid IN (SELECT rowid FROM events WHERE event_date = $day LIMIT 25)",
            {"day": DAY},
        )
        twice = "SELECT * FROM geo_ip WHERE ip IN (SELECT dst_ip FROM events WHERE event_date = $day) LIMIT 1"
        con.execute(f"INSERT INTO geo_ip {twice}", {"day": DAY})  # an address the day's checks see, twice
    return settings, db


def _reference(con: duckdb.DuckDBPyConnection, day: date) -> dict:
    """Every checked table's suite validated through GX's public API, one validation definition each."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = quality._gx_context(None)  # ephemeral, progress bars off
    source = context.data_sources.add_pandas("reference")
    outcomes = {}
    for entry in quality.checked_entries():
        batch = source.add_dataframe_asset(name=entry.name).add_batch_definition_whole_dataframe("day")
        suite = context.suites.add(
            gx.ExpectationSuite(name=entry.name, expectations=quality._suite_expectations(gxe, entry, day))
        )
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=entry.name, data=batch, suite=suite)
        )
        if entry.kind == "check":
            frame = con.execute(entry.sql, {"day": day}).df()
        else:  # every column, not only those the checks name
            query = f'SELECT * FROM "{entry.name}" WHERE {entry.checked_rows}'
            frame = quality._to_frame(con.execute(query, quality._day(entry, day)).to_arrow_table())
        outcomes[entry.name] = validation.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")
    return outcomes


def test_every_catalog_check_runs_with_gx_own_outcome(damaged, tmp_path: Path) -> None:
    settings, db = damaged
    with duckdb.connect(str(db), read_only=True) as con:
        results = quality.run_checks(con, DAY, settings, docs_dir=tmp_path / "dq")
        reference = _reference(con, DAY)

    # One result per check of every checked table (the catalog's lines and its keys), in suite order.
    expected = [
        (table, quality._expectation_name(item.expectation_config), bool(item.success))
        for table, outcome in reference.items()
        for item in outcome.results
    ]
    assert [(r.table_name, r.expectation, r.success) for r in results] == expected
    assert sum(len(t.checks) for t in quality.checked_entries()) == len(results)
    failed = {(r.table_name, r.expectation) for r in results if not r.success}
    assert {
        ("events", "expect_column_values_to_match_regex(src_ip)"),
        ("events", "expect_column_values_to_not_be_null(proto)"),
        ("geo_ip", "expect_column_values_to_be_unique(ip)"),
    } <= failed

    # The same observed values, the way dq_results stores them.
    by_key = {(r.table_name, i): r for i, r in enumerate(results)}
    position = 0
    for table, outcome in reference.items():
        for item in outcome.results:
            observed = json.loads(by_key[(table, position)].details)
            for key, value in (item.result or {}).items():
                if key in quality._OBSERVED_KEYS:
                    assert observed[key] == json.loads(json.dumps(value, default=str)), (table, key)
            position += 1

    # What Data Docs render: one stored result per suite, with GX's verdicts and statistics.
    for table, outcome in reference.items():
        stored = list((tmp_path / "dq" / ".gx" / "validations" / table).rglob("*.json"))
        assert len(stored) == 1, stored
        saved = json.loads(stored[0].read_text(encoding="utf-8"))
        assert saved["success"] == outcome.success and saved["statistics"] == outcome.statistics, table
        assert [r["success"] for r in saved["results"]] == [r.success for r in outcome.results], table
        assert saved["meta"]["run_id"]["run_name"] == DAY.isoformat()
