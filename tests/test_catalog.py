"""The table catalog (`sql/<layer>/<table>.sql`): every table documented once, and the warehouse agrees."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import duckdb
import pytest
from generated import generated_settings

from pipelines import catalog
from pipelines.generate import generate
from pipelines.run import DAY_TABLES, RUN_STEPS, run_day

DAY = date(2025, 11, 26)
TABLES = catalog.names()
CHECKED = [t.name for t in catalog.entries() if t.checks]


def test_layers_are_folders_in_data_flow_order() -> None:
    # history/ and export/ (issue 18) are read by pipelines.history and pipelines.export, not yet catalog layers.
    folders = {p.name for p in catalog.SQL_DIR.iterdir() if p.is_dir()} - {"examples", "history", "export"}
    assert folders == set(catalog.LAYERS)
    assert len(TABLES) == len(set(TABLES)) and len(TABLES) >= 16
    assert DAY_TABLES == catalog.names("detect", "score")
    assert RUN_STEPS[0] == "ingest" and RUN_STEPS.index("load") > RUN_STEPS.index("source_risk")


@pytest.mark.parametrize("name", TABLES)
def test_header_gives_grain_key_and_every_column_with_type_and_comment(name: str) -> None:
    t = catalog.table(name)
    assert t.path == catalog.SQL_DIR / t.layer / f"{name}.sql"
    assert t.comment and t.comment != name and t.grain, name
    assert t.columns and all(c.type and c.comment for c in t.columns), name
    assert {c.type for c in t.columns} <= set(catalog._ARROW) | {f"{k}[]" for k in catalog._ARROW}
    assert set(t.key) <= {c.name for c in t.columns}
    assert t.sql.strip() or t.built_by, f"{name}: no SQL and no '-- built by:'"


@pytest.mark.parametrize("name", TABLES)
def test_a_table_reads_only_tables_built_before_it(name: str) -> None:
    order = [t.name for t in catalog.entries()]
    assert all(order.index(d) < order.index(name) for d in catalog.depends_on(name)), name


@pytest.mark.parametrize("name", CHECKED)
def test_checks_are_expectation_calls_on_the_tables_columns(name: str) -> None:
    import great_expectations.expectations as gxe

    from pipelines.quality import expectation

    t = catalog.table(name)
    columns = {c.name for c in t.columns}
    for check in t.checks:
        built = expectation(gxe, check.expectation, DAY)
        call = ast.parse(check.expectation, mode="eval").body
        named = {kw.value.value for kw in call.keywords if kw.arg.startswith("column")}
        assert named <= columns, (name, check.expectation)
        assert type(built).__name__ == call.func.id


def test_python_writers_use_the_catalog_shapes() -> None:
    from pipelines import geo, orgs, quality, risk, run, schema
    from pipelines.ingest.lake import INGEST_FILES_SCHEMA

    for name, shape in {
        "events": schema.EVENTS_SCHEMA,
        "quarantine": schema.QUARANTINE_SCHEMA,
        "ingest_files": INGEST_FILES_SCHEMA,
        "runs": run.RUNS_SCHEMA,
        "geo_ip": geo.GEO_SCHEMA,
        "source_risk": risk.SOURCE_RISK_SCHEMA,
        "scanner_orgs": orgs.SCANNER_ORGS_SCHEMA,
        "dq_results": quality.DQ_SCHEMA,
    }.items():
        assert shape == catalog.table(name).schema, name


def test_header_parser_joins_continuations_and_stops_at_the_sql(tmp_path: Path) -> None:
    path = tmp_path / "t.sql"
    path.write_text(
        "-- table: One row.\n-- grain: one row per x\n-- key: x\n-- column x BIGINT: The x,\n--   continued.\n"
        '-- check warning: ExpectColumnValuesToNotBeNull(column="x")\nSELECT 1 AS x -- column y: not a header\n'
    )
    t = catalog.parse(path, "marts")
    assert t.columns == (catalog.Column("x", "BIGINT", "The x, continued."),)
    assert t.checks == (catalog.Check('ExpectColumnValuesToNotBeNull(column="x")', critical=False),)
    assert t.key == ("x",) and t.sql.startswith("SELECT 1")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("catalog")
    generate(base / "gen", days=1, start=DAY, seed=7, scale=0.1)
    result = run_day(DAY, generated_settings(base / "gen", base / "wh"), send_email=False)
    assert result.published, result.dq_failed
    return base / "wh" / "scansense.duckdb"


@pytest.mark.parametrize("name", TABLES)
def test_warehouse_table_has_the_catalog_columns_types_and_comments(warehouse: Path, name: str) -> None:
    t = catalog.table(name)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (comment,) = con.execute(  # a table, or a view over the lake's files (issue 27)
            "SELECT comment FROM duckdb_tables() WHERE table_name = $t"
            " UNION ALL SELECT comment FROM duckdb_views() WHERE view_name = $t AND NOT internal",
            {"t": name},
        ).fetchone()
        columns = con.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE table_name = $t ORDER BY column_index",
            {"t": name},
        ).fetchall()
    assert comment == t.comment
    assert columns == [(c.name, c.type, c.comment) for c in t.columns]
