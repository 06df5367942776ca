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
from pipelines.run import RUN_STEPS, run_day

DAY = date(2025, 11, 26)
TABLES = catalog.names()
CHECKED = [t.name for t in catalog.entries() if t.checks]


def test_layers_are_folders_in_data_flow_order() -> None:
    # examples/ holds analysts' queries; export/ is read by pipelines.export: neither is a layer of tables.
    folders = {p.name for p in catalog.SQL_DIR.iterdir() if p.is_dir()} - {"examples", "export"}
    assert folders == set(catalog.LAYERS)
    assert len(TABLES) == len(set(TABLES)) and len(TABLES) >= 16
    assert RUN_STEPS[0] == "ingest" and RUN_STEPS.index("load") > RUN_STEPS.index("source_risk")
    assert RUN_STEPS.index("scanner_orgs") < RUN_STEPS.index("source_history") < RUN_STEPS.index("marts")


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
        named = set()
        for kw in (kw for kw in call.keywords if kw.arg.startswith("column")):
            named |= {e.value for e in kw.value.elts} if isinstance(kw.value, ast.List) else {kw.value.value}
        assert named <= columns, (name, check.expectation)
        assert type(built).__name__ == call.func.id


def test_every_key_is_a_critical_uniqueness_check_run_with_the_tables_checks() -> None:
    import great_expectations.expectations as gxe

    from pipelines.quality import _suite_expectations, checked_entries

    keyed = [t for t in catalog.tables() if t.key and t.name != "dq_results"]
    assert len(keyed) >= 20
    run = {t.name for t in checked_entries()}
    for t in keyed:
        assert t.name in run, t.name
        made = [
            (type(e).__name__, e.severity.value, getattr(e, "column", None) or list(getattr(e, "column_list", [])))
            for e in _suite_expectations(gxe, t, DAY)
        ]
        if len(t.key) == 1:
            assert ("ExpectColumnValuesToBeUnique", "critical", t.key[0]) in made, t.name
        else:
            assert ("ExpectCompoundColumnsToBeUnique", "critical", list(t.key)) in made, t.name


def test_every_stored_table_has_a_check() -> None:
    from pipelines.quality import checked_entries

    run = {t.name for t in checked_entries()}
    # dq_results holds the checks' results, written after them (pipelines.quality.checked_entries)
    assert [t.name for t in catalog.tables() if t.name not in run] == ["dq_results"]


def test_a_key_names_the_tables_columns_and_is_checked_once(tmp_path: Path) -> None:
    path = tmp_path / "t.sql"
    path.write_text(
        "-- table: One row.\n-- grain: one row per (a, b)\n-- key: a, b\n-- column a BIGINT: A.\n-- column b BIGINT: B.\n"
        "SELECT 1 AS a, 2 AS b\n"
    )
    t = catalog.parse(path, "marts")
    assert t.checks == (catalog.Check('ExpectCompoundColumnsToBeUnique(column_list=["a", "b"])', critical=True),)
    path.write_text(
        "-- table: One row.\n-- grain: one row per a\n-- key: a\n-- column a BIGINT: A.\n"
        '-- check critical: ExpectColumnValuesToBeUnique(column="a")\nSELECT 1 AS a\n'
    )
    assert catalog.parse(path, "marts").checks == (catalog.key_check(("a",)),)


def test_header_parser_joins_continuations_and_stops_at_the_sql(tmp_path: Path) -> None:
    path = tmp_path / "t.sql"
    path.write_text(
        "-- table: One row.\n-- grain: one row per x\n-- key: x\n-- column x BIGINT: The x,\n--   continued.\n"
        '-- check warning: ExpectColumnValuesToNotBeNull(column="x")\nSELECT 1 AS x -- column y: not a header\n'
    )
    t = catalog.parse(path, "marts")
    assert t.columns == (catalog.Column("x", "BIGINT", "The x, continued."),)
    assert t.checks == (
        catalog.Check('ExpectColumnValuesToNotBeNull(column="x")', critical=False),
        catalog.Check('ExpectColumnValuesToBeUnique(column="x")', critical=True),  # the key's
    )
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


@pytest.mark.parametrize("name", [t.name for t in catalog.tables("raw", "detect", "score", "orgs", "meta")])
def test_lake_files_python_writes_have_the_catalog_schema(warehouse: Path, name: str) -> None:
    import pyarrow.parquet as pq

    from pipelines import warehouse as wh

    files = wh.lake_files(warehouse.parent, name)
    if name in ("events", "ingest_files", "runs", "source_risk", "scan_fast", "findings", "scanner_orgs", "dq_results"):
        assert files, name  # written on every run of a day with scans
    want = catalog.table(name).schema
    for f in files:
        got = pq.read_schema(f)
        assert got.names == want.names, f
        for a, b in zip(got.types, want.types, strict=True):
            # the same zone (DuckDB writes 'Etc/UTC'), the same list (Parquet names its items 'element')
            assert str(a).replace("Etc/UTC", "UTC").replace("<element:", "<item:") == str(b), (f, a, b)


def test_a_duplicated_key_row_fails_its_uniqueness_check(warehouse: Path, tmp_path: Path) -> None:
    import shutil

    from hashing import materialize

    from pipelines.quality import run_checks
    from pipelines.settings import Settings

    def failed(db: Path) -> set[tuple[str, str]]:
        with duckdb.connect(str(db)) as con:
            return {
                (r.table_name, r.expectation) for r in run_checks(con, DAY, Settings()) if r.critical and not r.success
            }

    copy = tmp_path / "copy.duckdb"
    shutil.copy(warehouse, copy)
    assert failed(copy) == set()
    with duckdb.connect(str(copy)) as con:  # one row of a one-column key, one of a compound key, again
        materialize(con, "scanner_orgs", "findings")
        con.execute("INSERT INTO scanner_orgs SELECT * FROM scanner_orgs WHERE event_date = $d LIMIT 1", {"d": DAY})
        con.execute("INSERT INTO findings SELECT * FROM findings WHERE event_date = $d LIMIT 1", {"d": DAY})
    assert failed(copy) == {
        ("scanner_orgs", "expect_compound_columns_to_be_unique(['event_date', 'src_ip'])"),
        (
            "findings",
            "expect_compound_columns_to_be_unique(['detector', 'kind', 'src_ip', 'window_start', 'evidence'])",
        ),
    }
