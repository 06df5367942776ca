"""One day end to end: ingest, enrich, detect, score, cluster, marts, quality, publish, report, email.

Each stage is a function of (day, settings) so the CLI, the Airflow DAG and the tests call the same
code. Per-day outputs go to the Parquet lake (replaced whole on rerun); the analyst-facing DuckDB
file is rebuilt from the lake and swapped in atomically only when the critical checks pass.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import warehouse as wh
from pipelines.schema import EVENT_COMMENTS, EVENTS_SCHEMA, QUARANTINE_COMMENTS, QUARANTINE_SCHEMA
from pipelines.settings import Settings
from pipelines.terminal import escape_controls

log = logging.getLogger(__name__)

# Per-day derived tables, in the order they are computed.
DAY_TABLES = ("scan_fast", "window_entropy", "scan_slow", "port_ratio", "scan_distributed", "source_risk")
# Every timed step of a day, in the order a run takes them (`scansense run --json` "seconds").
RUN_STEPS = ("ingest", "geo_ip", *DAY_TABLES, "load", "scanner_orgs", "marts", "quality", "publish", "report", "email")


class Stopwatch:
    """Seconds per step of a run; `on_step(name)` hears when each step starts (a progress display)."""

    def __init__(self, on_step: Callable[[str], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.on_step = on_step

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self.on_step is not None:
            self.on_step(name)
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 3)


RUNS_SCHEMA = pa.schema(
    [
        ("run_date", pa.date32()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("files", pa.int64()),
        ("rows", pa.int64()),
        ("quarantined", pa.int64()),
        ("errors", pa.list_(pa.string())),
    ]
)
RUNS_COMMENTS = {
    "run_date": "Day the run processed (the landing folder's date).",
    "started_at": "When the run's ingestion started, UTC.",
    "files": "Input files found in the day's landing folder.",
    "rows": "Events ingested from those files.",
    "quarantined": "Records rejected into quarantine from those files.",
    "errors": "Errors met while ingesting, one message per file.",
}


@dataclass
class DayResult:
    """What a run did, printed by `scansense run --json` and returned to the DAG."""

    date: str
    files: int = 0
    rows: int = 0
    quarantined: int = 0
    errors: list[str] = field(default_factory=list)
    events: int = 0
    sources: int = 0
    fast_scans: int = 0
    slow_scans: int = 0
    malicious: int = 0
    published: bool = False
    dq_failed: list[str] = field(default_factory=list)
    warehouse: str = ""
    report: str = ""
    email: str = ""
    other_days: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def day_files(landing: Path, day: date, settings: Settings | None = None) -> list[Path]:
    """Input paths in `<landing>/<day>/`, recursively, sorted; hidden and partial files skipped.

    Paths that are not regular files (links, FIFOs, devices) and folders that cannot be listed are
    returned too: ingest gives each a registry row with the reason instead of skipping it silently.
    """
    from pipelines.ingest.paths import find_inputs

    settings = settings or Settings().replace("paths", landing=str(landing))
    folder = Path(landing) / day.isoformat()
    files = [i.path for i in find_inputs([folder], settings)] if folder.is_dir() else []
    # The sensor writes hourly dumps to <landing>/sensor/sensor-YYYYMMDDTHH.jsonl (.part while open).
    files += (Path(landing) / "sensor").glob(f"sensor-{day:%Y%m%d}T*.jsonl")
    return sorted(Path(p) for p in files if not p.name.startswith(".") and not p.name.endswith((".part", ".tmp")))


def open_sensor_dumps(landing: Path, day: date) -> list[Path]:
    """Sensor dumps of the day still being written (the DAG waits until there are none)."""
    return sorted((Path(landing) / "sensor").glob(f"sensor-{day:%Y%m%d}T*.jsonl.part"))


def ingest_file(path: Path, settings: Settings, year: int | None = None) -> dict:
    """Ingest one input file into the lake (the DAG maps this over a day's files)."""
    from pipelines.ingest import ingest_paths

    summary = ingest_paths([Path(path)], settings, year=year)
    return {
        "files": summary.files,
        "rows": summary.rows,
        "quarantined": summary.quarantined,
        "errors": list(summary.errors),
    }


def record_run(day: date, summaries: list[dict], settings: Settings, started: datetime | None = None) -> dict:
    """Sum the per-file ingest summaries of a day and store them as the day's `runs` row."""
    total = {
        "files": sum(s["files"] for s in summaries),
        "rows": sum(s["rows"] for s in summaries),
        "quarantined": sum(s["quarantined"] for s in summaries),
        "errors": [e for s in summaries for e in s["errors"]],
    }
    runs = pa.table(
        {"run_date": [day], "started_at": [started or datetime.now(UTC)], **{k: [v] for k, v in total.items()}},
        schema=RUNS_SCHEMA,
    )
    wh.write_day_partition(settings.warehouse, "runs", day, runs)
    return total


def stage_ingest(day: date, settings: Settings) -> dict:
    """Ingest every file of the day's landing folder and record the run's counts.

    A capture or log crossing midnight also writes events of other UTC days: their counts come
    back as `other_days`, so the run can say which `--date` to run for them.
    """
    started = datetime.now(UTC)
    files = day_files(settings.landing, day, settings)
    summaries = [ingest_file(p, settings, year=day.year) for p in files]
    return record_run(day, summaries, settings, started) | {
        "other_days": other_day_events(settings.warehouse, files, day)
    }


def other_day_events(warehouse: Path, files: list[Path], day: date) -> dict[str, int]:
    """Events that `files` put in lake partitions of days other than `day`, per ISO day."""
    registry = wh.lake_dir(warehouse, "ingest_files")
    if not files or not any(registry.glob("*.parquet")):
        return {}
    con = duckdb.connect()
    try:
        rows = con.execute(
            """SELECT regexp_extract(filename, '([^/]+)[.]parquet$', 1) AS key, unnest(days) AS d
               FROM read_parquet($glob, filename = true) WHERE list_contains($paths, path)""",
            {"glob": str(registry / "*.parquet"), "paths": [str(Path(p).resolve()) for p in files]},
        ).fetchall()
    finally:
        con.close()
    counts: dict[str, int] = {}
    for key, d in rows:
        part = wh.lake_dir(warehouse, "events") / f"date={d.isoformat()}" / f"{key}.parquet"
        if d != day and part.is_file():
            counts[d.isoformat()] = counts.get(d.isoformat(), 0) + pq.read_metadata(part).num_rows
    return dict(sorted(counts.items()))


def _with_day(table: pa.Table, day: date) -> pa.Table:
    """Add the partition's event_date column when a stage's output lacks it."""
    if "event_date" in table.column_names:
        return table
    return table.add_column(0, "event_date", pa.array([day] * table.num_rows, pa.date32()))


def stage_analyze(day: date, settings: Settings, watch: Stopwatch | None = None) -> dict:
    """Enrich, detect and score one day's events; write the day's derived partitions."""
    from pipelines import geo, risk
    from pipelines.detect import distributed, entropy, fast, port_ratio, slow

    watch = watch or Stopwatch()
    con = duckdb.connect()
    try:
        with watch.step("geo_ip"):
            wh.load_lake_table(con, settings.warehouse, "events", EVENTS_SCHEMA, day=day)
            geo_rows = geo.enrich(con, settings)
            con.register("geo_ip_rows", geo_rows)
            con.execute("CREATE TABLE geo_ip AS SELECT * FROM geo_ip_rows")
        outputs = {
            "scan_fast": lambda: fast.scan_fast(con, day, settings.fast),
            "window_entropy": lambda: entropy.window_entropy(con, day, settings.entropy),
            "scan_slow": lambda: slow.scan_slow(con, day, settings.slow),
            "port_ratio": lambda: port_ratio.port_ratio(con, day, settings.slow),
            "scan_distributed": lambda: distributed.scan_distributed(con, day, settings.distributed),
            "source_risk": lambda: risk.source_risk(con, day, settings),
        }
        counts = {}
        for name in DAY_TABLES:
            with watch.step(name):
                table = _with_day(outputs[name](), day)
                con.register(f"{name}_rows", table)
                con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM "{name}_rows"')
                wh.write_day_partition(settings.warehouse, name, day, table)
            counts[name] = table.num_rows
        stats = con.execute(
            """
            SELECT (SELECT count(*) FROM events),
                   (SELECT count(DISTINCT src_ip) FROM events),
                   (SELECT count(DISTINCT src_ip) FROM scan_fast),
                   (SELECT count(DISTINCT src_ip) FROM scan_slow WHERE is_scan),
                   (SELECT count(*) FROM source_risk WHERE malicious)
            """
        ).fetchone()
    finally:
        con.close()
    keys = ("events", "sources", "fast_scans", "slow_scans", "malicious")
    return dict(zip(keys, (int(v) for v in stats), strict=True)) | {"rows_by_table": counts}


def _comments_for(table: str) -> tuple[str, dict[str, str]]:
    """The table comment and column comments of a lake-backed warehouse table."""
    from pipelines import geo, risk
    from pipelines.detect import COMMENTS as DETECT_COMMENTS
    from pipelines.detect import TABLE_COMMENTS as DETECT_TABLE_COMMENTS
    from pipelines.ingest import INGEST_FILES_COMMENTS
    from pipelines.orgs import SCANNER_ORGS_COMMENTS
    from pipelines.quality import DQ_RESULTS_COMMENTS

    known: dict[str, tuple[str, dict[str, str]]] = {
        "events": (
            "One probe: a packet, a flow, a firewall log line, a sensor connection or a honeypot record.",
            EVENT_COMMENTS,
        ),
        "quarantine": ("One rejected input record, with the file, its location and the reason.", QUARANTINE_COMMENTS),
        "ingest_files": (
            "One input file seen by ingestion, identified by sha256 (the same bytes are counted once).",
            INGEST_FILES_COMMENTS,
        ),
        "runs": ("One daily run: what its ingestion found.", RUNS_COMMENTS),
        "geo_ip": (
            "One address: where it is (offline database or online provider) and who announces it.",
            geo.GEO_IP_COMMENTS,
        ),
        "scan_fast": (
            "One source in one window whose probe count exceeded the dynamic threshold T = mu + k*sigma (paper 000).",
            DETECT_COMMENTS["scan_fast"],
        ),
        "window_entropy": (
            "One window and feature: normalized entropy and its mu +- k*sigma bounds (paper 002, section 2.1).",
            DETECT_COMMENTS["window_entropy"],
        ),
        "scan_slow": (
            "One growth period of the persistent incremental model (paper 002, section 2.2), horizontal or vertical.",
            DETECT_COMMENTS["scan_slow"],
        ),
        "port_ratio": (
            "One source and day under the port-ratio baseline (distinct targets over records).",
            DETECT_COMMENTS["port_ratio"],
        ),
        "scan_distributed": (DETECT_TABLE_COMMENTS["scan_distributed"], DETECT_COMMENTS["scan_distributed"]),
        "source_risk": (
            "One source and day: traffic, time and geography indicators, the risk and the verdict (paper 000).",
            risk.SOURCE_RISK_COMMENTS,
        ),
        "scanner_orgs": (
            "One source: the organization cluster it belongs to (paper 001 without the neural network).",
            SCANNER_ORGS_COMMENTS,
        ),
        "dq_results": ("One data-quality expectation evaluated for a day.", DQ_RESULTS_COMMENTS),
    }
    comment, columns = known[table]
    columns = dict(columns)
    columns.setdefault("event_date", "UTC day the row belongs to (lake partition).")
    return comment, columns


def stage_publish(
    day: date,
    settings: Settings,
    send_email: bool = False,
    email_on_dq_failure: bool = False,
    watch: Stopwatch | None = None,
) -> dict:
    """Build the warehouse from the lake, cluster, build marts, check quality, publish, report, email.

    `email_on_dq_failure` mails the marked report only when critical checks failed (the DAG's
    report DAG mails published days).
    """
    from dashboards.report import build_report
    from pipelines import orgs, quality
    from pipelines.geo import GEO_SCHEMA
    from pipelines.ingest.lake import INGEST_FILES_SCHEMA

    watch = watch or Stopwatch()
    warehouse = settings.warehouse
    build_file = wh.new_build_path(warehouse)
    con = duckdb.connect(str(build_file))
    try:
        with watch.step("load"):
            wh.load_lake_table(con, warehouse, "events", EVENTS_SCHEMA)
            wh.load_lake_table(con, warehouse, "quarantine", QUARANTINE_SCHEMA)
            wh.load_lake_table(con, warehouse, "runs", RUNS_SCHEMA)
            # A new warehouse whose first day had no input has no registry rows nor addresses yet.
            wh.load_lake_table(con, warehouse, "ingest_files", INGEST_FILES_SCHEMA)
            wh.load_lake_table(con, warehouse, "geo_ip", GEO_SCHEMA)
            for name in DAY_TABLES:
                wh.load_lake_table(con, warehouse, name)
        with watch.step("scanner_orgs"):
            org_rows = orgs.scanner_orgs(con, settings)
            wh.write_parquet_atomic(org_rows, wh.lake_dir(warehouse, "scanner_orgs") / "scanner_orgs.parquet")
            con.register("scanner_orgs_rows", org_rows)
            con.execute("CREATE TABLE scanner_orgs AS SELECT * FROM scanner_orgs_rows")
            con.unregister("scanner_orgs_rows")
        with watch.step("marts"):
            wh.build_marts(con, {"tz": settings.site.timezone})
        with watch.step("quality"):
            results = quality.run_checks(con, day, settings, docs_dir=Path(warehouse) / "dq")
            dq_rows = quality.dq_results_table(results, day)
            wh.write_day_partition(warehouse, "dq_results", day, dq_rows)
            wh.load_lake_table(con, warehouse, "dq_results")
        with watch.step("publish"):
            for name in (
                "events",
                "quarantine",
                "ingest_files",
                "runs",
                "geo_ip",
                *DAY_TABLES,
                "scanner_orgs",
                "dq_results",
            ):
                comment, columns = _comments_for(name)
                wh.apply_comments(con, name, comment, columns)
            missing = wh.missing_comments(con)
            if missing:
                log.warning("columns without a COMMENT: %s", ", ".join(missing))
            dq_failed = [f"{r.table_name}: {r.expectation}" for r in results if r.critical and not r.success]
            # Issue 18: source_tags and source_history, and the day's exports when the day publishes.
            from pipelines.history import publish_day

            publish_day(con, day, settings, write_exports=not dq_failed)
            con.execute("CHECKPOINT")
    finally:
        con.close()
    report_dir = Path(warehouse) / "reports" / day.isoformat()
    if dq_failed:
        # The previous warehouse stays; the report is built from the rejected build, marked as such.
        with watch.step("report"):
            report = build_report(build_file, day, report_dir, settings, dq_failed=dq_failed)
        build_file.unlink(missing_ok=True)
        published = None
    else:
        with watch.step("publish"):
            published = wh.publish(build_file, warehouse)
        with watch.step("report"):
            report = build_report(published, day, report_dir, settings)
    result = {
        "published": published is not None,
        "dq_failed": dq_failed,
        "warehouse": str(wh.db_path(warehouse)),
        "report": str(report.html),
    }
    if send_email or (email_on_dq_failure and dq_failed):
        with watch.step("email"):
            result["email"] = stage_email(report, settings, day, dq_failed)
    return result


def stage_email(report, settings: Settings, day: date, dq_failed: list[str] | None = None) -> str:
    """Send the report; a failed send is reported, never fatal to the published data."""
    from pipelines.notify import send_report

    try:
        return f"sent {send_report(report, settings, day, dq_failed=dq_failed)}"
    except Exception as exc:  # the report stays on disk whatever the mail server does
        log.error("email for %s failed: %s", day, exc)
        return f"failed: {exc}"


# Days a run accepts: nothing is recorded before the Unix epoch, and nothing far past today.
FIRST_DAY = date(1970, 1, 1)
MAX_DAYS_AHEAD = 2


def check_day(day: date, today: date | None = None) -> None:
    """Refuse a day outside [1970-01-01, today + 2 days] with a one-line reason (a typo, not a day to run)."""
    today = today or datetime.now(UTC).date()
    last = date.fromordinal(today.toordinal() + MAX_DAYS_AHEAD)
    if not FIRST_DAY <= day <= last:
        raise ValueError(f"--date {day.isoformat()} is outside {FIRST_DAY.isoformat()}..{last.isoformat()}")


def run_day(
    day: date, settings: Settings, send_email: bool = True, on_step: Callable[[str], None] | None = None
) -> DayResult:
    """Run every step for one day under the warehouse's single-writer lock.

    `on_step(name)` is told as each of RUN_STEPS starts (the CLI's progress display).
    """
    check_day(day)
    result = DayResult(date=day.isoformat())
    watch = Stopwatch(on_step)
    with wh.writer_lock(settings.warehouse):
        wh.clean_stale_temp(settings.warehouse)
        with watch.step("ingest"):
            outputs = [stage_ingest(day, settings)]
        outputs.append(stage_analyze(day, settings, watch))
        outputs.append(stage_publish(day, settings, send_email=send_email, watch=watch))
    for out in outputs:
        for key, value in out.items():
            if hasattr(result, key):
                setattr(result, key, value)
    result.seconds = watch.seconds
    return result


def clean_build_dir(warehouse: Path) -> None:
    """Remove scratch builds left by killed runs."""
    shutil.rmtree(Path(warehouse) / ".build", ignore_errors=True)


def summary_text(result: DayResult) -> str:
    """A few lines for people: what the run did and where the report is."""
    lines = [
        f"ScanSense run {result.date}: {result.files} files, {result.rows} events ingested, {result.quarantined} quarantined",
        f"  {result.events} events, {result.sources} sources, {result.fast_scans} fast scanners, "
        f"{result.slow_scans} slow scanners, {result.malicious} malicious",
        f"  warehouse {'published' if result.published else 'NOT published (' + '; '.join(result.dq_failed) + ')'}: {result.warehouse}",
        f"  report: {result.report}",
    ]
    if result.other_days:
        counts = ", ".join(f"{d} ({n})" for d, n in result.other_days.items())
        runs = " ".join(f"--date {d}" for d in result.other_days)
        lines.append(
            f"  {sum(result.other_days.values())} events of these files fell on other UTC days: {counts}; "
            f"they count on those days: run `scansense run` with {runs}"
        )
    if result.errors:  # file names and parser messages may hold attacker text: no raw control characters
        lines.append("  errors: " + escape_controls(json.dumps(result.errors[:5], ensure_ascii=False)))
    if result.email:
        lines.append(f"  email: {result.email}")
    return "\n".join(lines)
