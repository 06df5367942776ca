"""Quality checks on large tables: row-wise expectations validated chunk by chunk give what one
validation of the whole day gives; the others (uniqueness, row counts) still see every row."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from generated import generated_settings
from hashing import materialize

from pipelines import catalog
from pipelines.generate import generate
from pipelines.quality import combine_map_results, referenced_columns, row_wise, run_checks
from pipelines.run import run_day

DAY = date(2025, 11, 26)
CHUNK = 4000  # events of the generated day span ~11 chunks, geo_ip ~1


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    base = tmp_path_factory.mktemp("chunks")
    generate(base / "gen", days=1, start=DAY, seed=7, scale=0.1)
    settings = generated_settings(base / "gen", base / "wh")
    assert run_day(DAY, settings, send_email=False).published
    return settings


def _damaged_copy(warehouse, tmp_path: Path) -> Path:
    """A copy of the warehouse with bad events in many chunks and a geo_ip address twice, far apart."""
    db = tmp_path / "copy.duckdb"
    shutil.copy(warehouse.warehouse / "scansense.duckdb", db)
    with duckdb.connect(str(db)) as con:
        materialize(con, "events", "geo_ip")  # views over the lake in the published file: copied in to be damaged
        n = con.execute("SELECT count(*) FROM events WHERE event_date = $day", {"day": DAY}).fetchone()[0]
        assert n > 8 * CHUNK, n
        # 30 bad rows (more than GX's 20 partial values) spread over the day, 3 per 1/10 of it.
        picks = sorted({int(n * k / 10) + j for k in range(10) for j in (0, 1, CHUNK // 2)})
        con.execute(
            "CREATE TEMP TABLE bad AS SELECT rowid AS r FROM "
            "(SELECT rowid, row_number() OVER () - 1 AS pos FROM events WHERE event_date = $day) "
            "WHERE pos IN (SELECT unnest($picks))",
            {"day": DAY, "picks": picks},
        )
        con.execute(
            "UPDATE events SET src_ip = 'not-an-ip-' || rowid, dst_port = 70000 + rowid, proto = NULL, "
            "packets = -1 WHERE rowid IN (SELECT r FROM bad)"
        )
        checked = catalog.table("geo_ip").checked_rows
        geo = con.execute(f"SELECT count(*) FROM geo_ip WHERE {checked}", {"day": DAY}).fetchone()[0]
        assert geo > 1, geo
        con.execute("INSERT INTO geo_ip SELECT * FROM geo_ip LIMIT 1")  # the first address again, last
    return db


def _stored(docs: Path, suite: str) -> dict:
    files = list((docs / ".gx" / "validations" / suite).rglob("*.json"))
    assert len(files) == 1, files  # one validation result per suite and day, chunked or not
    return json.loads(files[0].read_text(encoding="utf-8"))


def test_chunked_validation_equals_whole_validation(warehouse, tmp_path: Path) -> None:
    db = _damaged_copy(warehouse, tmp_path)
    with duckdb.connect(str(db), read_only=True) as con:
        events = con.execute("SELECT count(*) FROM events WHERE event_date = $day", {"day": DAY}).fetchone()[0]
        whole = run_checks(con, DAY, warehouse.replace("quality", chunk_rows=10 * events), docs_dir=tmp_path / "a")
        chunked = run_checks(con, DAY, warehouse.replace("quality", chunk_rows=CHUNK), docs_dir=tmp_path / "b")

    assert chunked == whole
    failed = {r.expectation: r for r in chunked if r.table_name == "events" and not r.success}
    assert set(failed) == {
        "expect_column_values_to_match_regex(src_ip)",
        "expect_column_values_to_not_be_null(proto)",
        "expect_column_values_to_be_between(dst_port)",
        "expect_column_values_to_be_between(packets)",
    }
    for result in failed.values():
        details = json.loads(result.details)
        assert details["unexpected_count"] == 30 and details["element_count"] == events
        assert len(details["partial_unexpected_list"]) == 20
    assert not failed["expect_column_values_to_be_between(packets)"].critical  # a warning stays a warning

    # The stored GX results (what Data Docs render) agree too, item by item.
    for suite in ("events", "geo_ip", "source_risk"):
        a, b = _stored(tmp_path / "a", suite), _stored(tmp_path / "b", suite)
        assert a["success"] == b["success"] and a["statistics"] == b["statistics"]
        for x, y in zip(a["results"], b["results"], strict=True):
            assert (x["success"], x["result"], x["exception_info"]) == (y["success"], y["result"], y["exception_info"])
            assert x["expectation_config"]["kwargs"] == y["expectation_config"]["kwargs"]
    bad = next(
        r
        for r in _stored(tmp_path / "b", "events")["results"]
        if r["expectation_config"]["kwargs"].get("column") == "dst_port"
    )
    labels = bad["result"]["partial_unexpected_index_list"]
    assert labels == sorted(labels) and labels[-1] > 4 * CHUNK  # row positions in the day, across chunks
    pages = list((tmp_path / "b" / "validations" / "events" / DAY.isoformat()).rglob("*.html"))
    assert len(pages) == 1, pages


def test_a_uniqueness_check_sees_every_row_of_a_chunked_table(warehouse, tmp_path: Path) -> None:
    db = _damaged_copy(warehouse, tmp_path)
    with duckdb.connect(str(db), read_only=True) as con:
        query = f"SELECT ip FROM geo_ip WHERE {catalog.table('geo_ip').checked_rows}"
        ips = [r[0] for r in con.execute(query, {"day": DAY}).fetchall()]
        twice = [i for i, ip in enumerate(ips) if ips.count(ip) > 1]
        assert len(twice) == 2, twice  # the address _damaged_copy inserted again
        # Chunks end right before the second copy: the two are never in one chunk.
        settings = warehouse.replace("quality", chunk_rows=twice[1])
        assert len(ips) > settings.quality.chunk_rows
        results = run_checks(con, DAY, settings, docs_dir=tmp_path / "dq")
    unique = next(
        r for r in results if r.table_name == "geo_ip" and r.expectation == "expect_column_values_to_be_unique(ip)"
    )
    assert not unique.success and unique.critical
    details = json.loads(unique.details)
    assert details["element_count"] == len(ips) and details["unexpected_count"] == 2
    stored = next(
        r
        for r in _stored(tmp_path / "dq", "geo_ip")["results"]
        if r["expectation_config"]["type"] == "expect_column_values_to_be_unique"
    )
    assert stored["result"]["partial_unexpected_index_list"] == twice
    # The row-wise checks of the same table ran in chunks and pass.
    assert all(r.success for r in results if r.table_name == "geo_ip" and "unique" not in r.expectation)


def _gx_batch(frame: pd.DataFrame):
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    asset = context.data_sources.add_pandas("t").add_dataframe_asset(name="t")
    return asset.add_batch_definition_whole_dataframe("b")


@pytest.mark.parametrize("mostly", [1.0, 0.8])
def test_combined_results_follow_gx_mostly_and_missing_values(mostly: float) -> None:
    import great_expectations.expectations as gxe

    # Chunk 2 alone fails `mostly` = 0.8 (2 of 4 bad), the whole passes it (2 of 11 considered bad);
    # the nulls are missing values, not considered.
    frame = pd.DataFrame({"v": [1, 2, 3, None, 99, 98, 4, 5, None, 6, 7, 8, 9]}, dtype="Int64")
    definition = _gx_batch(frame)

    def run(part: pd.DataFrame):
        expect = gxe.ExpectColumnValuesToBeBetween(column="v", min_value=0, max_value=10, mostly=mostly)
        return definition.get_batch(batch_parameters={"dataframe": part}).validate(expect, result_format="SUMMARY")

    whole = run(frame)
    parts = [run(frame.iloc[i : i + 4]) for i in range(0, len(frame), 4)]
    assert any(not p.success for p in parts)
    combined = combine_map_results(parts, mostly)
    assert combined.success == whole.success == (mostly < 1)
    assert combined.result == whole.result
    assert combined.result["missing_count"] == 2 and combined.result["unexpected_count"] == 2


def test_referenced_columns_and_row_wise_families() -> None:
    import great_expectations.expectations as gxe

    pair = gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="a", column_B="b")
    unique = gxe.ExpectColumnValuesToBeUnique(column="c")
    rows = gxe.ExpectTableRowCountToEqual(value=1)
    multi = gxe.ExpectMulticolumnSumToEqual(column_list=["d", "a"], sum_total=3)
    assert referenced_columns([pair, unique, rows, multi]) == ["a", "b", "c", "d"]
    assert referenced_columns([rows]) == []
    # A check of the table's shape needs every column.
    assert referenced_columns([pair, gxe.ExpectTableColumnsToMatchSet(column_set=["a"])]) is None
    assert row_wise(pair) and row_wise(multi) and row_wise(gxe.ExpectColumnValuesToNotBeNull(column="a"))
    assert not row_wise(unique) and not row_wise(rows)
    assert not row_wise(gxe.ExpectColumnValuesToBeIncreasing(column="a"))  # compares neighbouring rows
    assert not row_wise(gxe.ExpectCompoundColumnsToBeUnique(column_list=["a", "b"]))


def test_uniqueness_on_a_chunked_table_is_judged_on_its_repeated_values_with_the_whole_result(
    warehouse, tmp_path: Path
) -> None:
    """Uniqueness checks of a large table group the values in DuckDB and validate only the repeated ones
    (a 48 M-row key held whole took 13 GB): the result, first unexpected rows included, is the whole table's."""
    db = _damaged_copy(warehouse, tmp_path)
    with duckdb.connect(str(db)) as con:
        # 15 more addresses twice, spread over the table: 32 unexpected rows, more than GX's 20 partial values
        con.execute("INSERT INTO geo_ip SELECT * FROM geo_ip WHERE rowid % 7 = 3 LIMIT 15")
    with duckdb.connect(str(db), read_only=True) as con:
        geo = con.execute(
            f"SELECT count(*) FROM geo_ip WHERE {catalog.table('geo_ip').checked_rows}", {"day": DAY}
        ).fetchone()[0]
        whole = run_checks(con, DAY, warehouse.replace("quality", chunk_rows=10 * geo), docs_dir=tmp_path / "a")
        chunked = run_checks(
            con, DAY, warehouse.replace("quality", chunk_rows=max(1, geo // 5)), docs_dir=tmp_path / "b"
        )
    assert chunked == whole
    unique = next(r for r in chunked if r.expectation == "expect_column_values_to_be_unique(ip)")
    assert not unique.success and json.loads(unique.details)["unexpected_count"] == 32
    a, b = _stored(tmp_path / "a", "geo_ip"), _stored(tmp_path / "b", "geo_ip")
    for x, y in zip(a["results"], b["results"], strict=True):
        assert (x["success"], x["result"]) == (y["success"], y["result"])
    labels = next(r for r in b["results"] if r["expectation_config"]["type"] == "expect_column_values_to_be_unique")
    assert len(labels["result"]["partial_unexpected_index_list"]) == 20


UNIQUENESS = [
    ("ExpectColumnValuesToBeUnique", {"column": "a"}),
    ("ExpectColumnValuesToBeUnique", {"column": "a", "mostly": 0.5}),
    ("ExpectColumnValuesToBeUnique", {"column": "c"}),  # no value twice, one null
    ("ExpectCompoundColumnsToBeUnique", {"column_list": ["a", "b"]}),
    ("ExpectCompoundColumnsToBeUnique", {"column_list": ["a", "b"], "ignore_row_if": "any_value_is_missing"}),
    ("ExpectCompoundColumnsToBeUnique", {"column_list": ["a", "b"], "ignore_row_if": "never"}),
]


@pytest.mark.parametrize(("kind", "kwargs"), UNIQUENESS)
def test_uniqueness_from_repeated_values_equals_gx_on_the_whole_table(kind: str, kwargs: dict) -> None:
    """DuckDB finds the repeated values, GX judges only their rows: the result is GX's on every row,
    nulls (missing as GX counts them for each `ignore_row_if`) and partial lists by position included."""
    from types import SimpleNamespace

    import great_expectations as gx
    import great_expectations.expectations as gxe

    from pipelines.quality import _to_frame, _validate_keyed

    # 40 rows: a repeats (also as null), (a, b) repeats with and without nulls, c is unique with one null.
    a = [i % 13 if i % 5 else None for i in range(40)]
    b = [None if i % 7 == 0 else f"b{i % 3}" for i in range(40)]
    c = [None if i == 3 else i for i in range(40)]
    rows = pd.DataFrame({"a": pd.array(a, dtype="Int64"), "b": b, "c": pd.array(c, dtype="Int64")})
    con = duckdb.connect()
    con.register("rows", rows)
    con.execute("CREATE TABLE t AS SELECT * FROM rows")
    entry = SimpleNamespace(name="t", checked_rows="true")
    expected = getattr(gxe, kind)(**kwargs)
    definition = _gx_batch(rows)
    keyed, _ = _validate_keyed(con, entry, DAY, definition, expected)
    frame = _to_frame(con.execute("SELECT * FROM t").to_arrow_table())
    suite = gx.ExpectationSuite(name="t", expectations=[getattr(gxe, kind)(**kwargs)])
    whole = definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format="SUMMARY")
    whole = whole.results[0]
    assert (keyed.success, keyed.result) == (whole.success, whole.result)
    if kwargs.get("column") == "a" and "mostly" not in kwargs:
        assert not keyed.success and keyed.result["unexpected_count"] > 20 and keyed.result["missing_count"] == 8
    if kwargs.get("column") == "c":
        assert keyed.success and keyed.result["missing_count"] == 1 and keyed.result["element_count"] == 40
