"""One day end to end: ingest, enrich, detect, score, cluster, marts, quality, publish, report, email.

Each stage is a function of (day, settings) so the CLI, the Airflow DAG and the tests call the same
code. Per-day outputs go to the Parquet lake (replaced whole on rerun); the analyst-facing DuckDB
file (views over the lake and source_history) is built anew and swapped in atomically only when
the critical checks pass.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import catalog, duck, steps
from pipelines import warehouse as wh
from pipelines.layout import layout
from pipelines.schema import check_day  # the days a run accepts, the same as the events ingest keeps
from pipelines.settings import Settings
from pipelines.settings_check import validate
from pipelines.terminal import escape_controls

log = logging.getLogger(__name__)

# Every timed step of a day, in the order a run takes them (`scansense run --json` "seconds"); the
# table steps are `steps.table_steps()`, the DAG's tasks between `record` and `publish`.
RUN_STEPS = (
    "ingest",
    *(s.table for s in steps.table_steps()),
    "load",
    *(t.name for t in catalog.tables() if t.built_at == "publish"),
    "marts",
    "quality",
    "publish",
    "report",
    "email",
)


class Stopwatch:
    """Seconds per step of a run, and the process's peak RSS as each ends; `on_step(name)` hears each start."""

    def __init__(self, on_step: Callable[[str], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, int] = {}
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
            # The peak only grows: the step where it jumps is the one that holds it (Linux: kB).
            self.peak_rss_mb[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


RUNS_SCHEMA = catalog.table("runs").schema


@dataclass
class DayResult:
    """What a run did, printed by `scansense run --json` and returned to the DAG."""

    date: str
    files: int = 0
    rows: int = 0
    quarantined: int = 0
    errors: list[str] = field(default_factory=list)
    skipped_files: int = 0  # hidden and partial files recorded in ingest_files (status skipped), not read
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
    refreshed_days: list[str] = field(default_factory=list)
    site: dict = field(default_factory=dict)  # the site settings in force (`pipelines.in_force.site`)
    geo: dict = field(default_factory=dict)  # the geolocation source and its answers (`pipelines.geo.source.summary`)
    seconds: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, int] = field(default_factory=dict)  # the process's peak RSS as each step ended

    def to_dict(self) -> dict:
        return asdict(self)


def day_files(landing: Path, day: date, settings: Settings | None = None) -> list[Path]:
    """Every path the walk of `<landing>/<day>/` finds (`ingest.paths.find_inputs`), and the day's closed sensor dumps.

    Paths that are not read (links, FIFOs, devices, hidden and partial files, folders that cannot
    be listed) are returned too: `ingest_file` gives each a registry row with the reason. A linked
    folder is one such path, never descended.
    """
    from pipelines.ingest.paths import find_inputs
    from pipelines.layout import landing_layout

    settings = settings or Settings().replace("paths", landing=str(landing))
    where = landing_layout(landing)
    folder = where.day_dir(day)
    files = [i.path for i in find_inputs([folder], settings)] if folder.is_dir() else []
    # The sensor's hourly dumps of the day, closed ones only (the DAG waits for the open ones: `open_sensor_dumps`).
    files += where.closed_dumps(day)
    return sorted(Path(p) for p in files)


def day_file_names(landing: Path, day: date, settings: Settings | None = None) -> list[str]:
    """`day_files` as stored texts (`ingest.names.path_text`): JSON-safe whatever the names' bytes (the DAG's list)."""
    from pipelines.ingest.names import path_text

    return [path_text(p) for p in day_files(landing, day, settings)]


def open_sensor_dumps(landing: Path, day: date) -> list[Path]:
    """Sensor dumps of the day still being written (the DAG waits until there are none)."""
    from pipelines.layout import landing_layout

    return landing_layout(landing).open_dumps(day)


def ingest_file(path: Path | str, settings: Settings, year: int | None = None) -> dict:
    """Ingest one path a day's walk found, judged as the walk judges it (a batch of one)."""
    return ingest_batch([path], settings, year=year)


def ingest_batch(paths: Sequence[Path | str], settings: Settings, year: int | None = None) -> dict:
    """Ingest a batch of the paths a day's walk found (the DAG maps this over a day's batches, `pipelines.batches`).

    A `str` is a stored text (`day_file_names`), a `Path` the path itself. A path that became a
    link or a folder since the walk is refused, never followed.
    """
    from pipelines.ingest import ingest_paths
    from pipelines.ingest.names import path_of

    found = [Path(path_of(p)) if isinstance(p, str) else Path(p) for p in paths]
    summary = ingest_paths(found, settings, year=year, walked=True)
    return {
        "files": summary.files,
        "rows": summary.rows,
        "quarantined": summary.quarantined,
        "errors": list(summary.errors),
        "skipped_files": summary.skipped_files,
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
    return total | {"skipped_files": sum(s.get("skipped_files", 0) for s in summaries)}


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
    from pipelines.ingest.names import path_text

    registry = wh.lake_dir(warehouse, "ingest_files")
    if not files or not any(registry.glob("*.parquet")):
        return {}
    con = duckdb.connect()
    try:
        rows = con.execute(
            """SELECT regexp_extract(filename, '([^/]+)[.]parquet$', 1) AS key, unnest(days) AS d
               FROM read_parquet($glob, filename = true) WHERE list_contains($paths, path)""",
            {"glob": str(registry / "*.parquet"), "paths": [path_text(Path(p).resolve()) for p in files]},
        ).fetchall()
    finally:
        con.close()
    counts: dict[str, int] = {}
    for key, d in rows:
        part = wh.lake_dir(warehouse, "events") / f"date={d.isoformat()}" / f"{key}.parquet"
        if d != day and part.is_file():
            counts[d.isoformat()] = counts.get(d.isoformat(), 0) + pq.read_metadata(part).num_rows
    return dict(sorted(counts.items()))


def stage_analyze(day: date, settings: Settings, watch: Stopwatch | None = None, refresh_later: bool = True) -> dict:
    """Run the day's table steps (`steps.table_steps`) in this process, in order; each writes its day partition.

    A day run after later days (a backfill, or a rerun) changes what they read (slow scans across
    days, the organizations' window, the history's fold): with `refresh_later` the later days are
    brought up to date (`pipelines.refresh`, which the DAG's `refresh_later` task runs too), and the
    lake ends the same whatever order the days ran in.

    Unsharded and unbounded, the steps share one in-memory connection (the day's events a view
    over its lake files, every step's table kept in it); sharded, or under `scale.memory_limit`, each step and shard runs on a fresh connection
    from the lake, as the DAG's tasks do, holding only its own inputs. (A shared connection holds
    every table of the day at once: on a 50 M-event day under a 2 GB limit it stopped with an error
    after seven steps; the rest then ran alone within 2.5 GB each; bench/bench_scale.py, docs/SCALING.md.)
    """
    watch = watch or Stopwatch()
    shards = settings.scale.shards
    counts: dict[str, int] = {}
    if shards == 1 and not settings.scale.memory_limit:
        counts = steps.run_shared(day, settings, watch=watch.step)  # as the DAG's `analyze` runs a small day
    else:
        for step in steps.table_steps(shards):
            with watch.step(step.table):
                rows = [steps.run_step(step, day, settings, shard=i) for i in range(shards if step.sharded else 1)]
            if step.phase in ("table", "finish"):
                counts[step.table] = sum(rows)
    counts.pop("geo_ip", None)  # cached over days, not a day partition
    refreshed = []
    if refresh_later:
        from pipelines.refresh import refresh_later_days

        def again(other: date, settings: Settings) -> None:
            stage_analyze(other, settings, refresh_later=False)

        refreshed = [d.isoformat() for d in refresh_later_days(day, settings, analyze=again)]
    return {"rows_by_table": counts, "refreshed_days": refreshed}


# The run's headline counts (DayResult field -> daily_summary column): one definition of each
# figure, the mart's, so `scansense run` says what the warehouse and the report say (allow-listed
# sources left out, as findings leave them out).
SUMMARY_COUNTS = {
    "events": "events",
    "sources": "sources",
    "fast_scans": "fast_scans",
    "slow_scans": "slow_scans",
    "malicious": "abnormal_sources",
}


def summary_counts(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, int]:
    """The day's row of `daily_summary` in `con` as the run's counts (zeros when the day has no row)."""
    columns = ", ".join(SUMMARY_COUNTS.values())
    row = con.execute(f"SELECT {columns} FROM daily_summary WHERE event_date = $day", {"day": day}).fetchone()
    return {key: int(v) for key, v in zip(SUMMARY_COUNTS, row or [0] * len(SUMMARY_COUNTS), strict=True)}


def stage_publish(
    day: date,
    settings: Settings,
    send_email: bool = False,
    email_on_dq_failure: bool = False,
    watch: Stopwatch | None = None,
    with_report: bool = True,
    recheck: Sequence[date] = (),
) -> dict:
    """Load the day's partitions, build source_history and the marts, check quality, publish the views, report, email.

    The published file is views over the lake plus `source_history` (pipelines/publishing.py): what
    publishing a day costs does not grow with the days before it (issue 27). Every other table,
    organizations, tags and the history state included, is a step's (`steps.table_steps`).

    `email_on_dq_failure` mails the marked report only when critical checks failed (the DAG's
    report DAG mails published days). `with_report=False` leaves a published day's report to
    `stage_report` (the DAG's own task); a rejected build's report is always made here, from it.
    `recheck`: later days whose partitions this run rewrote (a refresh) are checked again too.
    """
    from dashboards.report import build_report
    from pipelines import lake_blocks, publishing, quality
    from pipelines.history import export_published

    validate(settings)  # export formats and the rest, before anything is written
    watch = watch or Stopwatch()
    warehouse = settings.warehouse
    build_file = wh.new_build_path(warehouse)
    con = duck.connect(settings, build_file)
    try:
        # Issue 27: the published file holds views over the lake's files and source_history; the
        # day's steps stored its partitions, organizations, tags and history state included.
        with watch.step("load"):
            publishing.day_views(con, settings, day)
        parts = publishing.day_marts(con, day, settings, step=watch.step)  # source_history, the marts
        counts = summary_counts(con, day)  # the rows the warehouse publishes
        later_parts = {}
        with watch.step("quality"):
            results = quality.run_checks(con, day, settings, docs_dir=layout(warehouse).dq)
            wh.write_day_partition(warehouse, "dq_results", day, quality.dq_results_table(results, day))
            dq_failed = [f"{r.table_name}: {r.expectation}" for r in results if r.critical and not r.success]
            # Later days whose partitions this run rewrote (a refresh) are checked again: their stored
            # results described rows that no longer exist, and their marts are published too.
            for other in recheck:
                again, later_parts[other] = publishing.check_day(other, settings)
                wh.write_day_partition(warehouse, "dq_results", other, quality.dq_results_table(again, other))
                dq_failed += [
                    f"{other}: {r.table_name}: {r.expectation}" for r in again if r.critical and not r.success
                ]
        with watch.step("publish"):
            if dq_failed:  # the rejected build keeps the day alone, for its report; no mart is stored
                publishing.rejected_views(con, settings)
            else:
                publishing.store_parts(parts, day, settings)
                for other, other_parts in later_parts.items():
                    publishing.store_parts(other_parts, other, settings)
                view_files = publishing.publish_views(con, settings)
            for entry in catalog.tables():
                wh.apply_comments(con, entry.name, entry.comment, entry.column_comments)
            missing = wh.missing_comments(con)
            if missing:
                log.warning("columns without a COMMENT: %s", ", ".join(missing))
            con.execute("CHECKPOINT")
    finally:
        con.close()
    report_dir = layout(warehouse).report_dir(day)
    if dq_failed:
        # The previous warehouse stays; the report is built from the rejected build, marked as such.
        with watch.step("report"):
            report = build_report(build_file, day, report_dir, settings, dq_failed=dq_failed)
        build_file.unlink(missing_ok=True)
        published = None
    else:
        with watch.step("publish"):
            from pipelines.history import restore_exports, withdraw_exports

            withdrawn = withdraw_exports(day, settings)  # a crash after the swap must not leave the old ones
            replaced = lake_blocks.named_by(wh.db_path(warehouse))  # its block files stay one publish more
            try:
                published = wh.publish(build_file, warehouse)
            except BaseException:
                restore_exports(withdrawn)  # not swapped: the previous warehouse and its exports stay
                raise
            export_published(published, day, settings)  # only a published day gets exports
            if replaced is not None:  # block files neither this file nor the one it replaced names
                lake_blocks.prune(warehouse, view_files + replaced)
        if not with_report:
            done = {"published": True, "dq_failed": [], "warehouse": str(published), "report": ""}
            return counts | done | {"seconds": dict(watch.seconds)}  # the DAG's publish task shows where its time went
        with watch.step("report"):
            report = build_report(published, day, report_dir, settings)
            rebuild_reports(recheck, settings)
    result = counts | {
        "published": published is not None,
        "dq_failed": dq_failed,
        "warehouse": str(wh.db_path(warehouse)),
        "report": str(report.html),
    }
    if send_email or (email_on_dq_failure and dq_failed):
        with watch.step("email"):
            result["email"] = stage_email(report, settings, day, dq_failed)
    return result


def stage_report(day: date, settings: Settings, later: Sequence[date] = ()) -> str:
    """Write the day's report from the published warehouse, and again those of `later` days; returns the day's HTML path."""
    from dashboards.report import build_report

    report = build_report(wh.db_path(settings.warehouse), day, layout(settings.warehouse).report_dir(day), settings)
    rebuild_reports(later, settings)
    return str(report.html)


def rebuild_reports(days: Sequence[date], settings: Settings) -> list[date]:
    """Write again, from the published warehouse, the reports of `days` that have one (later days a refresh changed)."""
    from dashboards.report import build_report

    rebuilt = [d for d in days if layout(settings.warehouse).report_dir(d).is_dir()]
    for other in rebuilt:
        build_report(wh.db_path(settings.warehouse), other, layout(settings.warehouse).report_dir(other), settings)
    return rebuilt


def stage_email(report, settings: Settings, day: date, dq_failed: list[str] | None = None) -> str:
    """Send the report; a failed send is reported, never fatal to the published data."""
    from pipelines.notify import send_report

    try:
        return f"sent {send_report(report, settings, day, dq_failed=dq_failed)}"
    except Exception as exc:  # the report stays on disk whatever the mail server does
        log.error("email for %s failed: %s", day, exc)
        return f"failed: {exc}"


def run_day(
    day: date, settings: Settings, send_email: bool = True, on_step: Callable[[str], None] | None = None
) -> DayResult:
    """Run every step for one day under the warehouse's single-writer lock.

    `on_step(name)` is told as each of RUN_STEPS starts (the CLI's progress display).
    """
    check_day(day)
    validate(settings)  # settings built in code (not by load_settings) are checked too, before any work
    result = DayResult(date=day.isoformat())
    watch = Stopwatch(on_step)
    with wh.writer_lock(settings.warehouse):
        wh.clean_stale_temp(settings.warehouse)
        with watch.step("ingest"):
            outputs = [stage_ingest(day, settings)]
        outputs.append(stage_analyze(day, settings, watch))
        try:
            refreshed = [date.fromisoformat(d) for d in outputs[-1]["refreshed_days"]]
            outputs.append(stage_publish(day, settings, send_email=send_email, watch=watch, recheck=refreshed))
        except BaseException:
            wh.discard_builds(settings.warehouse)  # a full disk must not keep a half build's space
            raise
    for out in outputs:
        for key, value in out.items():
            if hasattr(result, key):
                setattr(result, key, value)
    result.site, result.geo = settings_in_force(day, settings)
    result.seconds = watch.seconds
    result.peak_rss_mb = watch.peak_rss_mb
    return result


def settings_in_force(day: date, settings: Settings) -> tuple[dict, dict]:
    """The site settings and the geolocation source that judged the day (printed with every run)."""
    from pipelines import in_force
    from pipelines.geo import source

    return in_force.site(settings.site), source.summary(settings, source.lake_answers(settings, day))


def summary_text(result: DayResult) -> str:
    """A few lines for people: what the run did and where the report is."""
    lines = [
        f"ScanSense run {result.date}: {result.files} files, {result.rows} events ingested, {result.quarantined} quarantined",
        f"  {result.events} events, {result.sources} sources, {result.fast_scans} fast scanners, "
        f"{result.slow_scans} slow scanners, {result.malicious} malicious",
        f"  warehouse {'published' if result.published else 'NOT published (' + '; '.join(result.dq_failed) + ')'}: {result.warehouse}",
        f"  report: {result.report}",
    ]
    for said in (result.site, result.geo):  # paths and settings of the operator: no control characters either
        if said.get("line"):
            lines.append("  " + escape_controls(said["line"]))
    if result.other_days:
        counts = ", ".join(f"{d} ({n})" for d, n in result.other_days.items())
        runs = " ".join(f"--date {d}" for d in result.other_days)
        lines.append(
            f"  {sum(result.other_days.values())} events of these files fell on other UTC days: {counts}; "
            f"they count on those days: run `scansense run` with {runs}"
        )
    if result.refreshed_days:
        lines.append(
            f"  later days brought up to date (they read this day): {', '.join(result.refreshed_days)}; "
            "their checks, marts, exports and reports were written again"
        )
    if result.skipped_files:
        lines.append(
            f"  {result.skipped_files} hidden or partial files skipped, not read "
            "(ingest_files rows with status skipped; rename a file to ingest it)"
        )
    if result.errors:  # file names and parser messages may hold attacker text: no raw control characters
        lines.append("  errors: " + escape_controls(json.dumps(result.errors[:5], ensure_ascii=False)))
    if result.email:
        lines.append(f"  email: {result.email}")
    return "\n".join(lines)
