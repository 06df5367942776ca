"""Data-quality gates with Great Expectations 1.x over one day of the warehouse being built.

Critical expectations stop publication (the previous warehouse stays); the others only report.
Every result lands in `dq_results` and in an HTML summary under `<warehouse>/dq/`.
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.settings import Settings

IP_REGEX = r"^(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)$"
PROTO_REGEX = r"^(?:tcp|udp|icmp|icmpv6|\d{1,3})$"

DQ_COLUMNS = [
    ("run_date", pa.date32(), "Day the checks ran for."),
    ("table_name", pa.string(), "Table checked."),
    ("expectation", pa.string(), "Great Expectations expectation and its column(s)."),
    ("success", pa.bool_(), "Whether the expectation held."),
    ("critical", pa.bool_(), "A failed critical expectation stops publication of the day."),
    ("details", pa.string(), "Observed values (JSON): unexpected counts and a sample of offending values."),
    ("checked_at", pa.timestamp("us", tz="UTC"), "When the check ran, UTC."),
]
DQ_SCHEMA = pa.schema([(n, t) for n, t, _ in DQ_COLUMNS])
DQ_RESULTS_COMMENTS = {n: c for n, _, c in DQ_COLUMNS}


@dataclass
class DQResult:
    """One evaluated expectation."""

    table_name: str
    expectation: str
    success: bool
    critical: bool
    details: str


def _suites(gxe, day: date) -> dict[str, list[tuple[object, bool]]]:
    """Expectations per table: (expectation, critical)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1) - timedelta(microseconds=1)
    not_null = [
        gxe.ExpectColumnValuesToNotBeNull(column=c)
        for c in ("ts", "event_date", "src_ip", "proto", "source_kind", "source_file")
    ]
    return {
        "events": [(e, True) for e in not_null]
        + [
            (gxe.ExpectColumnValuesToMatchRegex(column="src_ip", regex=IP_REGEX), True),
            (gxe.ExpectColumnValuesToMatchRegex(column="dst_ip", regex=IP_REGEX), True),
            (gxe.ExpectColumnValuesToBeBetween(column="dst_port", min_value=0, max_value=65535), True),
            (gxe.ExpectColumnValuesToBeBetween(column="src_port", min_value=0, max_value=65535), True),
            (gxe.ExpectColumnValuesToMatchRegex(column="proto", regex=PROTO_REGEX), True),
            (gxe.ExpectColumnValuesToBeBetween(column="ts", min_value=start, max_value=end), True),
            (
                gxe.ExpectColumnValuesToBeInSet(
                    column="source_kind", value_set=["pcap", "flow", "firewall", "honeypot", "sensor"]
                ),
                True,
            ),
            (gxe.ExpectColumnValuesToBeBetween(column="packets", min_value=0), False),
        ],
        "geo_ip": [
            (gxe.ExpectColumnValuesToNotBeNull(column="ip"), True),
            (gxe.ExpectColumnValuesToBeUnique(column="ip"), True),
            (gxe.ExpectColumnValuesToMatchRegex(column="country_code", regex=r"^[A-Z]{2}$"), False),
            (gxe.ExpectColumnValuesToBeBetween(column="lat", min_value=-90, max_value=90), False),
            (gxe.ExpectColumnValuesToBeBetween(column="lon", min_value=-180, max_value=180), False),
        ],
        "scan_fast": [
            (gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="probes", column_B="threshold"), True),
            (gxe.ExpectColumnValuesToNotBeNull(column="src_ip"), True),
        ],
        "scan_slow": [
            (gxe.ExpectColumnValuesToBeBetween(column="cond_entropy", min_value=0, max_value=1.000001), True),
            (gxe.ExpectColumnValuesToBeInSet(column="kind", value_set=["horizontal", "vertical"]), True),
        ],
        "source_risk": [
            (gxe.ExpectColumnValuesToBeBetween(column="risk", min_value=0, max_value=100), True),
            (gxe.ExpectColumnValuesToBeUnique(column="src_ip"), True),
            (gxe.ExpectColumnValuesToBeInSet(column="traffic_score", value_set=[0, 50, 100]), False),
        ],
        "daily_summary": [
            (gxe.ExpectColumnValuesToBeBetween(column="abnormal_share", min_value=0, max_value=1), True),
            (
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="sources", column_B="abnormal_sources", or_equal=True
                ),
                True,
            ),
            (
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="sources", column_B="suspected_sources", or_equal=True
                ),
                True,
            ),
            (gxe.ExpectTableRowCountToEqual(value=1), True),
        ],
        "hourly_abnormal": [
            (gxe.ExpectColumnValuesToBeBetween(column="hour", min_value=0, max_value=23), True),
            (
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A="sources", column_B="abnormal_sources", or_equal=True
                ),
                True,
            ),
        ],
        "agreement": [
            # sums that must agree across layers: mart totals against the detail tables
            (gxe.ExpectColumnPairValuesToBeEqual(column_A="mart", column_B="detail"), True),
        ],
    }


AGREEMENT_SQL = """
SELECT 'daily_summary.events = count(events)' AS check_name,
       (SELECT coalesce(sum(events), 0) FROM daily_summary WHERE event_date = $day) AS mart,
       (SELECT count(*) FROM events WHERE event_date = $day) AS detail
UNION ALL
SELECT 'daily_summary.sources = count(source_risk)',
       (SELECT coalesce(sum(sources), 0) FROM daily_summary WHERE event_date = $day),
       (SELECT count(*) FROM source_risk WHERE event_date = $day)
UNION ALL
SELECT 'sum(hourly_abnormal.events) = count(events)',
       (SELECT coalesce(sum(events), 0) FROM hourly_abnormal WHERE event_date = $day),
       (SELECT count(*) FROM events WHERE event_date = $day)
"""


def _frame(con: duckdb.DuckDBPyConnection, table: str, day: date):
    if table == "agreement":
        return con.execute(AGREEMENT_SQL, {"day": day}).df()
    if table == "geo_ip":
        return con.execute(
            "SELECT * FROM geo_ip WHERE ip IN (SELECT src_ip FROM events WHERE event_date = $day UNION SELECT dst_ip FROM events WHERE event_date = $day)",
            {"day": day},
        ).df()
    return con.execute(f'SELECT * FROM "{table}" WHERE event_date = $day', {"day": day}).df()


def run_checks(
    con: duckdb.DuckDBPyConnection, day: date, settings: Settings, docs_dir: Path | None = None
) -> list[DQResult]:
    """Validate the day's rows of every checked table; write an HTML summary to `docs_dir`."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import logging

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("scansense")
    results: list[DQResult] = []
    for table, expectations in _suites(gxe, day).items():
        frame = _frame(con, table, day)
        batch = (
            source.add_dataframe_asset(name=table)
            .add_batch_definition_whole_dataframe("day")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        for expectation, critical in expectations:
            outcome = batch.validate(expectation)
            cfg = expectation.configuration
            cols = ",".join(str(v) for k, v in cfg.kwargs.items() if k.startswith("column"))
            name = f"{cfg.type}({cols})" if cols else cfg.type
            observed = {
                k: v
                for k, v in (outcome.result or {}).items()
                if k
                in (
                    "element_count",
                    "unexpected_count",
                    "unexpected_percent",
                    "partial_unexpected_list",
                    "observed_value",
                )
            }
            if table == "agreement":
                observed["checks"] = frame.to_dict(orient="records")
            results.append(
                DQResult(table, name, bool(outcome.success), critical, json.dumps(observed, default=str)[:4000])
            )
    if docs_dir is not None:
        write_summary(results, day, Path(docs_dir))
    return results


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
    """An HTML page of the day's results (values escaped: they may hold attacker text)."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f"<tr class='{'ok' if r.success else 'fail'}'><td>{html.escape(r.table_name)}</td><td>{html.escape(r.expectation)}</td>"
        f"<td>{'yes' if r.critical else 'no'}</td><td>{'pass' if r.success else 'FAIL'}</td><td><code>{html.escape(r.details[:500])}</code></td></tr>"
        for r in results
    )
    page = (
        f"<!doctype html><meta charset='utf-8'><title>ScanSense data quality {day}</title>"
        "<style>body{font-family:sans-serif}td{border-bottom:1px solid #ddd;padding:4px}.fail{background:#fdd}</style>"
        f"<h1>Data quality, {day}</h1><p>{sum(r.success for r in results)} of {len(results)} expectations passed.</p>"
        f"<table><tr><th>table</th><th>expectation</th><th>critical</th><th>result</th><th>observed</th></tr>{rows}</table>"
    )
    path = docs_dir / f"dq-{day.isoformat()}.html"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path
