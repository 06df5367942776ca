"""Data-quality gates with Great Expectations 1.x over one day of the warehouse being built.

Each table's checks live in its catalog file (`-- check critical|warning: ExpectX(...)` in
`sql/<layer>/<table>.sql`, read by `pipelines.catalog`); one GX suite per checked table.
Critical expectations stop publication (the previous warehouse stays); the others only report.
Every result lands in `dq_results` and in GX Data Docs under `<warehouse>/dq/` (`index.html`), with
a one-page summary of each day beside them (`dq-<day>.html`).
"""

from __future__ import annotations

import ast
import html
import json
import os
import re
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
    """The rows a table's checks judge: its day (`-- checked rows:`), or a check query's result."""
    if entry.kind == "check":
        return con.execute(entry.sql, {"day": day}).df()
    return con.execute(f'SELECT * FROM "{entry.name}" WHERE {entry.checked_rows}', {"day": day}).df()


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


def run_checks(
    con: duckdb.DuckDBPyConnection, day: date, settings: Settings, docs_dir: Path | None = None
) -> list[DQResult]:
    """Validate the day's rows of every checked table, one GX suite per table.

    With `docs_dir`, the results are stored there and rendered as GX Data Docs (`index.html`),
    beside a one-page summary of the day (`dq-<day>.html`).
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.metadata_types import FailureSeverity

    docs_dir = Path(docs_dir) if docs_dir is not None else None
    context = _gx_context(docs_dir)
    source = context.data_sources.add_pandas("scansense")
    # The run is named after the day it checks, so a rerun replaces that day's results.
    run_id = RunIdentifier(run_name=day.isoformat(), run_time=datetime(day.year, day.month, day.day, tzinfo=UTC))
    results: list[DQResult] = []
    for entry in (t for t in catalog.entries() if t.checks):
        table = entry.name
        frame = _frame(con, entry, day)
        batch_definition = source.add_dataframe_asset(name=table).add_batch_definition_whole_dataframe("day")
        suite = context.suites.add(gx.ExpectationSuite(name=table))
        for check in entry.checks:
            expected = expectation(gxe, check.expectation, day)
            expected.severity = FailureSeverity.CRITICAL if check.critical else FailureSeverity.WARNING
            suite.add_expectation(expected)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=table, data=batch_definition, suite=suite)
        )
        outcome = validation.run(batch_parameters={"dataframe": frame}, run_id=run_id, result_format="SUMMARY")
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


def _store_escaped(context, outcome, suite_name: str, run_id) -> None:
    """Overwrite the stored result of `suite_name` in this run by a copy with escaped observed values."""
    store = context.validation_results_store
    for item in outcome.results:
        item.result = _escaped(item.result or {})
        if item.exception_info:
            item.exception_info = _escaped(item.exception_info)
    for key in store.list_keys():
        if key.expectation_suite_identifier.name == suite_name and key.run_id.run_name == run_id.run_name:
            store.set(key, outcome)


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
