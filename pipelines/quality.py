"""Data-quality gates with Great Expectations 1.x over one day of the warehouse being built.

Each table's checks live in its catalog file (`-- check critical|warning: ExpectX(...)` in
`sql/<layer>/<table>.sql`, read by `pipelines.catalog`, which adds a critical uniqueness check for
its `-- key:`); one GX suite per checked table.
Critical expectations stop publication (the previous warehouse stays); the others only report.
Every result lands in `dq_results` and in GX Data Docs under `<warehouse>/dq/` (`index.html`), with
a one-page summary of each day beside them (`dq-<day>.html`).

Scale (issue 16): only the columns a suite's checks name are read, and a table with more than
`[quality] chunk_rows` rows that day has its row-wise checks validated chunk by chunk on pandas,
results combined into the one result per suite and day an unchunked run stores. Measured on a
generated day of 10 M events (docs/BENCHMARKS.md): 176 s and 12.2 GB peak RSS before, 10-15 s and
1.1 GB after. GX's SQL engine was not the alternative: it has no DuckDB dialect (only the
third-party duckdb_engine, not installed, posing as PostgreSQL), so it was not measured; at about
1 s per million events the pandas path is not what a day's 15 minutes hinge on.
"""

from __future__ import annotations

import ast
import html
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines import atomic, catalog
from pipelines.settings import Settings

DQ_SCHEMA = catalog.table("dq_results").schema


@dataclass
class DQResult:
    """One evaluated expectation."""

    table_name: str
    expectation: str
    success: bool
    critical: bool
    details: str


def expectation(gxe, text: str, day: date):
    """Build the GX expectation a catalog check names, e.g. `ExpectColumnValuesToNotBeNull(column="ts")`.

    Arguments are literals, `day_start` / `day_end` (the first and last microsecond of `day`, UTC),
    or a name of the valid-event definition ingest applies (`IP_REGEX`, `PROTO_REGEX`, `SOURCE_KINDS`,
    `PORT_MIN`, `PORT_MAX` of pipelines.schema), so what ingest lets in passes by construction.
    """
    from pipelines import schema

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    names = {"day_start": start, "day_end": start + timedelta(days=1) - timedelta(microseconds=1)}
    names |= {n: getattr(schema, n) for n in ("IP_REGEX", "PROTO_REGEX", "PORT_MIN", "PORT_MAX")}
    names["SOURCE_KINDS"] = list(schema.SOURCE_KINDS)
    call = ast.parse(text, mode="eval").body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id.startswith("Expect")):
        raise ValueError(f"a check is one Expect...(name=value, ...) call, not {text!r}")
    if call.args:
        raise ValueError(f"check arguments are named: {text!r}")
    kwargs = {
        kw.arg: names[kw.value.id] if isinstance(kw.value, ast.Name) else ast.literal_eval(kw.value)
        for kw in call.keywords
    }
    return getattr(gxe, call.func.id)(**kwargs)


def _frame(con: duckdb.DuckDBPyConnection, entry: catalog.Table, day: date):
    """A check query's result (`-- kind: check`): small, and kept whole in the details."""
    return con.execute(entry.sql, {"day": day}).df()


# Map expectations whose verdict on a row depends on that row alone: validated chunk by chunk on
# large tables. The other map metrics look across rows (uniqueness, order, z-scores, outliers) or
# judge the column's type, so like aggregates and row counts they see the whole column(s).
ROW_WISE_METRICS = frozenset(
    {
        "column_values.nonnull",
        "column_values.null",
        "column_values.between",
        "column_values.in_set",
        "column_values.not_in_set",
        "column_values.match_regex",
        "column_values.not_match_regex",
        "column_values.match_regex_list",
        "column_values.not_match_regex_list",
        "column_values.match_like_pattern",
        "column_values.not_match_like_pattern",
        "column_values.match_like_pattern_list",
        "column_values.not_match_like_pattern_list",
        "column_values.value_length.between",
        "column_values.value_length.equals",
        "column_values.json_parseable",
        "column_values.match_json_schema",
        "column_values.dateutil_parseable",
        "column_values.match_strftime_format",
        "column_pair_values.equal",
        "column_pair_values.a_greater_than_b",
        "column_pair_values.in_set",
        "multicolumn_sum.equal",
        "multicolumn_values.equal",
        "select_column_values.unique.within_record",
    }
)
# Map expectations whose verdict on a row depends only on the rows with the same values in its
# columns (uniqueness): validated on large tables in chunks split by the hash of those values, so
# equal values meet in one chunk. Whole, the 50 M-event day's slow_span_day (48 M rows under a
# 7-column key) took pandas to 13 GB of RSS (docs/SCALING.md).
KEYED_METRICS = frozenset({"column_values.unique", "compound_columns.unique"})
# Expectations that need rows but no column in particular.
_ROW_COUNT = ("ExpectTableRowCountToEqual", "ExpectTableRowCountToBeBetween")


def row_wise(expected) -> bool:
    """True when `expected` judges each row on its own, so chunks of a table can be validated apart."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    families = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    return isinstance(expected, families) and getattr(expected, "map_metric", None) in ROW_WISE_METRICS


def keyed(expected) -> bool:
    """True when `expected` judges a row by the rows with the same values (uniqueness): chunked by their hash."""
    from great_expectations.expectations.expectation import ColumnMapExpectation, MulticolumnMapExpectation

    families = (ColumnMapExpectation, MulticolumnMapExpectation)
    return isinstance(expected, families) and getattr(expected, "map_metric", None) in KEYED_METRICS


def referenced_columns(expectations) -> list[str] | None:
    """The columns `expectations` name (column, column_A, column_B, column_list, ...), in order.

    None when one of them judges the table's shape (its column set or count, a custom expectation):
    that one needs every column.
    """
    from great_expectations.expectations.expectation import (
        ColumnAggregateExpectation,
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )

    by_name = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation, ColumnAggregateExpectation)
    columns: dict[str, None] = {}
    for expected in expectations:
        if type(expected).__name__ in _ROW_COUNT:
            continue
        if not isinstance(expected, by_name):
            return None
        for key, value in expected.configuration.kwargs.items():
            if key.startswith("column") and isinstance(value, str):
                columns[value] = None
            elif key.startswith("column") and isinstance(value, list | tuple):
                columns |= dict.fromkeys(v for v in value if isinstance(v, str))
    return list(columns)


def _to_frame(rows: pa.Table | pa.RecordBatch, first_row: int = 0, labels=None):
    """The pandas frame GX validates, built the same way for a whole table and for each chunk.

    Integer columns become numpy int64, which GX's between-check compares vectorized (DuckDB's own
    `.df()` gives int32 or uint16 there, which GX loops over in Python, and is about 5x slower to
    convert: 1.9 s against 0.4 s for 2 M events), or pandas' nullable Int64 where nulls occur: the
    values a result shows are the same ints whichever chunk they come from. Row labels count from
    `first_row` (or are `labels`, the rows' positions), so unexpected rows are named by their position in the day.
    """
    import pandas as pd

    columns = {}
    for name, column in zip(rows.schema.names, rows.columns, strict=True):
        if pa.types.is_integer(column.type) and column.type != pa.uint64():
            column = column.cast(pa.int64())
        nullable = {pa.int64(): pd.Int64Dtype(), pa.uint64(): pd.UInt64Dtype()}.get if column.null_count else None
        columns[name] = column.to_pandas(types_mapper=nullable)
    frame = pd.DataFrame(columns) if columns else pd.DataFrame(index=range(rows.num_rows))
    frame.index = pd.RangeIndex(first_row, first_row + rows.num_rows) if labels is None else pd.Index(labels)
    return frame


def _day(entry: catalog.Table, day: date) -> dict[str, date]:
    """The parameters of a table's `-- checked rows:` filter: `$day` when it names it (`true` checks every row)."""
    return {"day": day} if "$day" in entry.checked_rows else {}


def _select(con: duckdb.DuckDBPyConnection, entry: catalog.Table, columns: list[str] | None) -> str:
    """The query of a table's checked rows with `columns` only (all when None).

    A name the table lacks is left out, so GX reports the missing column on its expectation, as it
    would on the whole table; with no column left, the first one stands in (row counts need rows).
    """
    present = [d[0] for d in con.execute(f'SELECT * FROM "{entry.name}" LIMIT 0').description]
    chosen = present if columns is None else [c for c in columns if c in present] or present[:1]
    listed = ", ".join('"' + c.replace('"', '""') + '"' for c in chosen)
    return f'SELECT {listed} FROM "{entry.name}" WHERE {entry.checked_rows}'


DOCS_SITE = "scansense"
# Values from observed data shown by Data Docs. GX renders some of them (the unexpected-values
# table) into HTML unescaped, so the copy stored for the docs is escaped first; `dq_results` keeps
# the raw values.
_OBSERVED_KEYS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "partial_unexpected_list",
    "observed_value",
)


def import_gx():
    """Import Great Expectations, without SQLAlchemy when this process has not loaded it yet.

    GX imports SQLAlchemy (and psycopg2 through it) whenever it is installed, for SQL data sources
    ScanSense does not use: it validates pandas frames. Airflow installs SQLAlchemy, so every
    `scansense run` paid about 0.2 s of CPU importing it (docs/BENCHMARKS.md). GX treats it as
    absent, as it does on an install without it; the process can still import it afterwards. A
    process that already holds it (an Airflow task) imports GX as usual.
    """
    import sys

    if "great_expectations" not in sys.modules and "sqlalchemy" not in sys.modules:
        sys.modules["sqlalchemy"] = None  # type: ignore[assignment]  # `import sqlalchemy` raises ImportError
        try:
            import great_expectations
        finally:
            if sys.modules.get("sqlalchemy", 0) is None:
                del sys.modules["sqlalchemy"]
    import great_expectations

    return great_expectations


def _gx_context(docs_dir: Path | None):
    """An ephemeral GX context, analytics off; with `docs_dir`, a filesystem Data Docs site there.

    Suites live in code, so only validation results persist: in `<docs_dir>/.gx/validations`, one
    per suite and day (a rerun of the day overwrites its own), which `build_data_docs` renders.
    """
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import logging

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    if docs_dir is not None:
        config.stores[config.validation_results_store_name]["store_backend"] = {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir / ".gx" / "validations"),
        }
        config.data_docs_sites = {
            DOCS_SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        }
    return gx.get_context(project_config=config, mode="ephemeral")


def _escaped(value):
    """`value` with every string HTML-escaped, recursively (keys of dicts too)."""
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(v) for v in value]
    return value


def _expectation_name(cfg) -> str:
    cols = ",".join(str(v) for k, v in cfg.kwargs.items() if k.startswith("column"))
    return f"{cfg.type}({cols})" if cols else cfg.type


def _suite_expectations(gxe, entry: catalog.Table, day: date, keep=None) -> list:
    """The GX expectations of a table's checks (those `keep` accepts), severities set."""
    from great_expectations.expectations.metadata_types import FailureSeverity

    made = []
    for check in entry.checks:
        expected = expectation(gxe, check.expectation, day)
        expected.severity = FailureSeverity.CRITICAL if check.critical else FailureSeverity.WARNING
        if keep is None or keep(expected):
            made.append(expected)
    return made


def checked_entries() -> list[catalog.Table]:
    """The catalog entries whose checks a day runs: every one with a check but `dq_results`.

    `dq_results` holds these checks' results and is written after they ran, so no check can see it:
    the only table without checks (tests/test_catalog.py asserts every other has one).
    """
    return [t for t in catalog.entries() if t.checks and t.name != "dq_results"]


def run_checks(
    con: duckdb.DuckDBPyConnection, day: date, settings: Settings, docs_dir: Path | None = None
) -> list[DQResult]:
    """Validate the day's rows of every checked table, one GX suite per table.

    Only the columns the checks name are read. A table with more than `[quality] chunk_rows` rows
    that day is validated in chunks of that many rows for its row-wise expectations (results
    combined), the whole of the named columns for the others; see `_validate_chunked`.
    With `docs_dir`, the results are stored there and rendered as GX Data Docs (`index.html`),
    beside a one-page summary of the day (`dq-<day>.html`).
    """
    import_gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.metadata_types import FailureSeverity

    docs_dir = Path(docs_dir) if docs_dir is not None else None
    context = _gx_context(docs_dir)
    plans = _plans(context, checked_entries(), day)
    # The run is named after the day it checks, so a rerun replaces that day's results.
    run_id = RunIdentifier(run_name=day.isoformat(), run_time=datetime(day.year, day.month, day.day, tzinfo=UTC))
    chunk_rows = settings.quality.chunk_rows
    results: list[DQResult] = []
    # GX fingerprints (MD5) every pandas batch it validates: 0.9 s of a 1 M-event day's 9.6 s of checks,
    # for a marker nothing reads.
    with _no_fingerprints():
        for entry, batch_definition, validation in plans:
            table = entry.name
            frame = None
            if entry.kind == "check":
                frame = _frame(con, entry, day)
                rows = len(frame)
            else:
                count = f'SELECT count(*) FROM "{table}" WHERE {entry.checked_rows}'
                rows = con.execute(count, _day(entry, day)).fetchone()[0]
            if frame is not None or rows <= chunk_rows:
                if frame is None:
                    query = _select(con, entry, referenced_columns(validation.suite.expectations))
                    frame = _to_frame(con.execute(query, _day(entry, day)).to_arrow_table())
                outcome = _validate(validation, frame, run_id)
            else:
                outcome = _validate_chunked(con, entry, day, chunk_rows, batch_definition, validation, run_id)
            for item in outcome.results:
                cfg = item.expectation_config
                observed = {k: v for k, v in (item.result or {}).items() if k in _OBSERVED_KEYS}
                if item.exception_info and item.exception_info.get("raised_exception"):
                    observed["exception"] = str(item.exception_info.get("exception_message"))[:500]
                if entry.kind == "check":
                    observed["checks"] = frame.to_dict(orient="records")
                results.append(
                    DQResult(
                        table,
                        _expectation_name(cfg),
                        bool(item.success),
                        cfg.severity == FailureSeverity.CRITICAL,
                        json.dumps(observed, default=str)[:4000],
                    )
                )
            if docs_dir is not None:
                _store_escaped(context, outcome, table, run_id)
    if docs_dir is not None:
        build_docs(context, docs_dir, day, results)
    return results


def _plans(context, entries: list[catalog.Table], day: date) -> list:
    """(entry, batch definition, validation definition) of each checked table, built in one go.

    One pandas data source holds one dataframe asset per table (the asset is named after the
    table, as Data Docs show it); the day's frame is a batch parameter. Adding an asset makes an
    ephemeral context serialize its whole configuration to YAML, which it keeps nowhere: with 25
    tables that was 25 growing dumps (about 0.2 s), so `_unsaved` skips them while building.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    plans = []
    with _unsaved(context):
        source = context.data_sources.add_pandas("scansense")
        for entry in entries:
            batch_definition = source.add_dataframe_asset(name=entry.name).add_batch_definition_whole_dataframe("day")
            suite = context.suites.add(
                gx.ExpectationSuite(name=entry.name, expectations=_suite_expectations(gxe, entry, day))
            )
            validation = context.validation_definitions.add(
                gx.ValidationDefinition(name=entry.name, data=batch_definition, suite=suite)
            )
            plans.append((entry, batch_definition, validation))
    return plans


@contextmanager
def _unsaved(context):
    """Skip an ephemeral GX context's saves of its project configuration (it persists nothing)."""
    from great_expectations.data_context import EphemeralDataContext

    if not isinstance(context, EphemeralDataContext):
        yield
        return
    context._save_project_config = lambda: None
    try:
        yield
    finally:
        del context._save_project_config


def _validate(validation, frame, run_id):
    """What `validation.run` returns for `frame`, without storing it: the caller stores it once, escaped.

    GX's `run` stores every result as it is made; ours are stored after their observed values are
    escaped for Data Docs, so storing in `run` wrote each result twice (and found it again by
    listing every stored key of every day).
    """
    from great_expectations.constants import DATAFRAME_REPLACEMENT_STR
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(
        batch_definition=validation.batch_definition,
        batch_parameters={"dataframe": frame},
        result_format="SUMMARY",
    )
    outcome = validator.validate_expectation_suite(validation.suite)
    outcome.meta |= {
        "validation_id": validation.id,
        "checkpoint_id": None,
        "run_id": run_id,
        "validation_time": run_id.run_time,
        "batch_parameters": {"dataframe": DATAFRAME_REPLACEMENT_STR},
    }
    return outcome


def _result_key(suite_name: str, run_id, batch_id: str | None):
    """The store key GX's `ValidationDefinition.run` gives a suite's result: suite, run, batch."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    return ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
        run_id=run_id,
        batch_identifier=batch_id,
    )


def _validate_chunked(con, entry: catalog.Table, day: date, chunk_rows: int, batch_definition, validation, run_id):
    """One suite result for a table too large to hold whole: what `validation.run` would give.

    Row-wise expectations run on chunks of `chunk_rows` rows streamed from DuckDB (an Arrow record
    batch reader) and are combined by `combine_map_results`; the others run once on the whole of the
    columns they name. Row labels are the rows' positions in the day, so the unexpected index lists
    are those of an unchunked run.
    """
    return _validate_in_chunks(con, entry, day, chunk_rows, batch_definition, validation, run_id)


@contextmanager
def _no_fingerprints():
    """Turn off the MD5 fingerprint GX takes of every pandas batch under its size threshold.

    A chunk's fingerprint says nothing about the day's data, and no reader of the results uses a
    whole table's; it cost 0.8 s per 2 M events (10 columns), a sixth of the validation of a chunk.
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine

    saved = engine.HASH_THRESHOLD
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = saved


def _validate_in_chunks(con, entry: catalog.Table, day: date, chunk_rows: int, batch_definition, validation, run_id):
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.constants import DATAFRAME_REPLACEMENT_STR
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

    suite = validation.suite
    flags = [row_wise(e) for e in suite.expectations]
    by_position: dict[int, object] = {}
    meta: dict = {}
    batch_id = None
    rest = _suite_expectations(gxe, entry, day, keep=lambda e: not row_wise(e) and not keyed(e))
    rest_positions = [i for i, e in enumerate(suite.expectations) if not row_wise(e) and not keyed(e)]
    key_positions = [i for i, e in enumerate(suite.expectations) if keyed(e)]
    for position, expected in zip(key_positions, _suite_expectations(gxe, entry, day, keep=keyed), strict=True):
        by_position[position], batch_id = _validate_keyed(con, entry, day, batch_definition, expected)
    if rest:
        query = _select(con, entry, referenced_columns(rest))
        whole = _to_frame(con.execute(query, _day(entry, day)).to_arrow_table())
        batch = batch_definition.get_batch(batch_parameters={"dataframe": whole})
        outcome = batch.validate(gx.ExpectationSuite(name=entry.name, expectations=rest), result_format="SUMMARY")
        batch_id, meta = batch.id, dict(outcome.meta)
        del whole, batch
        for position, item in zip(rest_positions, outcome.results, strict=True):
            by_position[position] = item
    mapped = _suite_expectations(gxe, entry, day, keep=row_wise)
    if mapped:
        chunk_suite = gx.ExpectationSuite(name=entry.name, expectations=mapped)
        parts: list[list] = [[] for _ in mapped]
        query = _select(con, entry, referenced_columns(mapped))
        offset = 0
        for rows in con.execute(query, _day(entry, day)).to_arrow_reader(chunk_rows):
            chunk = _to_frame(rows, offset)
            offset += rows.num_rows
            batch = batch_definition.get_batch(batch_parameters={"dataframe": chunk})
            outcome = batch.validate(chunk_suite, result_format="SUMMARY")
            batch_id, meta = batch.id, meta or dict(outcome.meta)
            for part, item in zip(parts, outcome.results, strict=True):
                part.append(item)
            del chunk, batch, outcome  # one chunk in memory at a time
        for position, expected, part in zip((i for i, f in enumerate(flags) if f), mapped, parts, strict=True):
            by_position[position] = combine_map_results(part, getattr(expected, "mostly", 1.0))
    results = [by_position[i] for i in range(len(flags))]
    for item, expected in zip(results, suite.expectations, strict=True):
        item.expectation_config.id = expected.id  # the stored suite's, as in an unchunked run
    # The fingerprint GX takes of a pandas batch would be one chunk's: left out.
    meta.get("batch_markers", {}).pop("pandas_data_fingerprint", None)
    meta |= {
        "validation_id": validation.id,
        "checkpoint_id": None,
        "run_id": run_id,
        "validation_time": run_id.run_time,
        "batch_parameters": {"dataframe": DATAFRAME_REPLACEMENT_STR},
    }
    passed = sum(bool(r.success) for r in results)
    return ExpectationSuiteValidationResult(
        results=results,
        success=passed == len(results),
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed,
            "unsuccessful_expectations": len(results) - passed,
            "success_percent": 100.0 * passed / len(results) if results else None,
        },
        meta=meta,
        batch_id=batch_id,
    )


def _validate_keyed(con, entry: catalog.Table, day: date, batch_definition, expected):
    """(result, batch id) of a uniqueness expectation over a large table: DuckDB finds the repeated values, GX judges them.

    Only rows whose values occur more than once can be unexpected. DuckDB groups the checked values
    once (spilling past its limit); GX validates the rows of repeated values, labelled with their
    positions in the day; every other row counts as expected, or as missing where GX ignores it
    (`_missing`). Combined, that is the result one validation of the whole table gives
    (tests/test_quality_chunks.py). Held whole in pandas, the 50 M-event day's `slow_span_day` key
    (48 M rows, 7 columns) took 13 GB; validated per bucket of a hash, 48 pandas frames.
    """
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

    query = _select(con, entry, referenced_columns([expected]))
    params = _day(entry, day)
    names = [d[0] for d in con.execute(f"SELECT * FROM ({query}) LIMIT 0", params).description]
    listed = ", ".join('"' + c.replace('"', '""') + '"' for c in names)
    single, single_missing, repeated = con.execute(
        f"""WITH counted AS (SELECT {listed}, count(*) AS _n FROM ({query}) GROUP BY ALL)
            SELECT coalesce(sum(_n) FILTER (WHERE _n = 1), 0), count(*) FILTER (WHERE _n = 1 AND {_missing(expected, names)}),
                   count(*) FILTER (WHERE _n > 1)
            FROM counted""",
        params,
    ).fetchone()
    if repeated:
        same = " AND ".join(f"q.{c} IS NOT DISTINCT FROM r.{c}" for c in listed.split(", "))
        rows = con.execute(
            f"""WITH q AS (SELECT {listed}, row_number() OVER () - 1 AS _row FROM ({query})),
                     r AS (SELECT {listed} FROM ({query}) GROUP BY ALL HAVING count(*) > 1)
                SELECT q.* FROM q SEMI JOIN r ON {same} ORDER BY _row""",
            params,
        ).to_arrow_table()
        frame = _to_frame(rows.drop_columns(["_row"]), labels=rows.column("_row").to_numpy())
    else:
        frame = _to_frame(con.execute(f"SELECT * FROM ({query}) LIMIT 0", params).to_arrow_table())
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    judged = batch.validate(gx.ExpectationSuite(name=entry.name, expectations=[expected]), result_format="SUMMARY")
    judged = judged.results[0]
    if not single:
        return judged, batch.id
    # The rows of values seen once: expected, or missing as GX counts missing for this expectation.
    rest = {"element_count": single, "unexpected_count": 0, "partial_unexpected_list": []}
    rest |= {"missing_count": single_missing} if "missing_count" in (judged.result or {}) else {}
    rest |= {"partial_unexpected_index_list": []} if "partial_unexpected_index_list" in (judged.result or {}) else {}
    expected_rows = ExpectationValidationResult(success=True, result=rest, expectation_config=judged.expectation_config)
    return combine_map_results([judged, expected_rows], getattr(expected, "mostly", 1.0), by_label=True), batch.id


def _missing(expected, names: list[str]) -> str:
    """SQL true for a row GX leaves out of a uniqueness check as missing: a null value; for compound keys, per `ignore_row_if`."""
    quoted = ['"' + c.replace('"', '""') + '"' for c in names]
    if getattr(expected, "column", None) is not None:
        return f"{quoted[0]} IS NULL"
    ignore = str(getattr(expected, "ignore_row_if", None) or "all_values_are_missing")
    if ignore.endswith("never"):
        return "false"
    joined = " AND " if ignore.endswith("all_values_are_missing") else " OR "
    return "(" + joined.join(f"{c} IS NULL" for c in quoted) + ")"


def combine_map_results(parts: list, mostly: float = 1.0, by_label: bool = False):
    """The result of a map expectation over all rows from its results on consecutive chunks (or, `by_label`, on
    chunks split by a hash of the values, `_validate_keyed`).

    Counts are summed; success is GX's (`mostly` of the considered rows as expected, vacuously true
    without any); the partial lists are the first 20 unexpected values (and row labels) over the
    chunks, and their counts GX's `partial_unexpected_counts` of those. A chunk that raised gives
    its failed result.
    """
    from great_expectations.core.result_format import ResultFormat
    from great_expectations.expectations.expectation import _format_map_output, _mostly_success, parse_result_format

    failed = next((p for p in parts if p.exception_info and p.exception_info.get("raised_exception")), None)
    if failed is not None:
        return failed
    first = parts[0]
    results = [p.result or {} for p in parts]
    element_count = sum(r.get("element_count") or 0 for r in results)
    # Expectations on nulls themselves (to be / not to be null) consider every row, report no missing.
    with_missing = any("missing_count" in r for r in results)
    considered = element_count - sum(r.get("missing_count") or 0 for r in results)
    counts = [r.get("unexpected_count") for r in results]
    unexpected = None if any(c is None for c in counts) else sum(counts)
    if unexpected is None or element_count == 0 or considered == 0:
        success = True  # vacuously, as GX says of a table without considered rows
    else:
        success = _mostly_success(considered, unexpected, mostly)
    result_format = parse_result_format(ResultFormat.SUMMARY)
    # GX counts the partial values themselves (the first 20), not all unexpected ones.
    first_values = result_format["partial_unexpected_count"]
    values = [v for r in results for v in r.get("partial_unexpected_list") or []]
    labels = [v for r in results for v in r.get("partial_unexpected_index_list") or []]
    has_labels = any("partial_unexpected_index_list" in r for r in results)
    if by_label and has_labels and len(labels) == len(values):
        # chunks of a hash, not of consecutive rows: the first unexpected rows of the day by position
        # are among each chunk's first, so sorting the chunks' together finds them
        pairs = sorted(zip(labels, range(len(values)), values, strict=True), key=lambda p: p[:2])
        labels, values = [p[0] for p in pairs], [p[2] for p in pairs]
    values, labels = values[:first_values], labels[:first_values]
    formatted = _format_map_output(
        result_format=result_format,
        success=success,
        element_count=element_count,
        nonnull_count=considered if with_missing else None,
        unexpected_count=unexpected,
        unexpected_list=values if any("partial_unexpected_list" in r for r in results) else None,
        unexpected_index_list=labels if has_labels else None,
    )
    first.success = success
    first.result = formatted["result"]
    return first


def _store_escaped(context, outcome, suite_name: str, run_id) -> None:
    """Store the result of `suite_name` in this run, its observed values escaped (a rerun's overwrites it)."""
    for item in outcome.results:
        item.result = _escaped(item.result or {})
        if item.exception_info:
            item.exception_info = _escaped(item.exception_info)
    context.validation_results_store.store_validation_results(
        suite_validation_result=outcome,
        suite_validation_result_identifier=_result_key(suite_name, run_id, outcome.batch_id),
    )


def build_docs(context, docs_dir: Path, day: date, results: list[DQResult]) -> Path:
    """Render the Data Docs site, make its index readable offline, and write the day's summary."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    keys = context.validation_results_store.list_keys()
    today = [k for k in keys if k.run_id.run_name == day.isoformat()]
    suites = sorted({k.expectation_suite_identifier.name for k in keys})
    # Only the day's pages (and the suites') are rendered again; the index lists every stored day.
    context.build_data_docs(
        site_names=[DOCS_SITE],
        resource_identifiers=today + [ExpectationSuiteIdentifier(name=s) for s in suites],
    )
    index = docs_dir / "index.html"
    _offline_index(context, index, keys)
    rebuilt = [index, *(docs_dir / "expectations").glob("*.html")]
    rebuilt += [p for s in suites for p in (docs_dir / "validations" / s / day.isoformat()).rglob("*.html")]
    _offline_tweaks(docs_dir, rebuilt)
    write_summary(results, day, docs_dir)
    return index


def _offline_index(context, index: Path, keys) -> None:
    """Add a static list of the stored runs to GX's index page.

    GX fills its index tables with jQuery and bootstrap-table loaded from CDNs, so with the network
    off they stay empty; this list is plain HTML and shows what failed without any script.
    """
    store = context.validation_results_store
    rows = []
    for key in sorted(keys, key=lambda k: (k.run_id.run_name or "", k.expectation_suite_identifier.name), reverse=True):
        suite = key.expectation_suite_identifier.name
        result = store.get(key)
        failed = [
            f"{_expectation_name(r.expectation_config)} [{r.expectation_config.severity.value}]"
            for r in result.results
            if not r.success
        ]
        link = "/".join(("validations", *key.to_tuple())) + ".html"
        rows.append(
            f"<tr><td>{html.escape(key.run_id.run_name or '')}</td>"
            f"<td><a href='{html.escape(link)}'>{html.escape(suite)}</a></td>"
            f"<td>{'passed' if result.success else 'FAILED'}</td>"
            f"<td>{html.escape('; '.join(failed))}</td></tr>"
        )
    block = (
        "<section id='scansense-offline-index' class='container-fluid' style='padding:1em'>"
        "<h2>ScanSense validation runs</h2>"
        "<p>One row per suite and day; the day's one-page summary is <code>dq-&lt;day&gt;.html</code>.</p>"
        "<table class='table table-sm'><tr><th>day</th><th>suite</th><th>result</th><th>failed expectations</th></tr>"
        + "".join(rows)
        + "</table></section>"
    )
    page = index.read_text(encoding="utf-8")
    page = page.replace("</body>", block + "</body>", 1) if "</body>" in page else page + block
    atomic.write_text(index, page)


# Status words after GX's Font Awesome status icons: the icon font comes from a CDN, so offline the
# icons are blank and a page would not say which expectation failed. Online both show.
_STATUS_CSS = (
    "<style id='scansense-offline'>"
    "i.fa-check-circle::after,i.fa-times::after{font:bold 0.8em sans-serif;margin-left:0.3em}"
    "i.fa-check-circle::after{content:'pass'}i.fa-times::after{content:'FAIL'}</style>"
)


def _offline_tweaks(docs_dir: Path, pages: list[Path]) -> None:
    """Make GX's pages readable with the network off and quiet when viewed.

    The logos point at the copies in `static/` instead of remote URLs fetched on every view; the
    status icons get words. The CDN CSS/JS stay: offline the pages are unstyled but complete.
    """
    remote = re.compile(r"https://great-expectations-web-assets\.s3\.[\w.-]+/[\w.-]+\.png[^\"')\s]*")
    for page in pages:
        text = page.read_text(encoding="utf-8")
        depth = len(page.relative_to(docs_dir).parts) - 1
        text = remote.sub("../" * depth + "static/images/logo-long.png", text)
        if "scansense-offline" not in text:
            text = text.replace("</head>", _STATUS_CSS + "</head>", 1)
        atomic.write_text(page, text)


def dq_results_table(results: list[DQResult], day: date) -> pa.Table:
    """The `dq_results` rows of a day."""
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                "run_date": day,
                "table_name": r.table_name,
                "expectation": r.expectation,
                "success": r.success,
                "critical": r.critical,
                "details": r.details,
                "checked_at": now,
            }
            for r in results
        ],
        schema=DQ_SCHEMA,
    )


def write_summary(results: list[DQResult], day: date, docs_dir: Path) -> Path:
    """An HTML page of the day's results (values escaped: they may hold attacker text).

    It shows what GX's pages do not: which failures are critical, and the observed values of every
    check on one page, readable offline.
    """
    docs_dir.mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f"<tr class='{'ok' if r.success else 'fail'}'><td>{html.escape(r.table_name)}</td><td>{html.escape(r.expectation)}</td>"
        f"<td>{'yes' if r.critical else 'no'}</td><td>{'pass' if r.success else 'FAIL'}</td><td><code>{html.escape(r.details[:500])}</code></td></tr>"
        for r in results
    )
    page = (
        f"<!doctype html><meta charset='utf-8'><title>ScanSense data quality {day}</title>"
        "<style>body{font-family:sans-serif}td{border-bottom:1px solid #ddd;padding:4px}.fail{background:#fdd}</style>"
        f"<h1>Data quality, {day}</h1><p>{sum(r.success for r in results)} of {len(results)} expectations passed. "
        "Every suite and day: <a href='index.html'>Great Expectations Data Docs</a>.</p>"
        f"<table><tr><th>table</th><th>expectation</th><th>critical</th><th>result</th><th>observed</th></tr>{rows}</table>"
    )
    path = docs_dir / f"dq-{day.isoformat()}.html"
    atomic.write_text(path, page)
    return path
