"""
### scansense_daily

Every day: wait for the sensor's dumps to close, ingest the day's landing files (one mapped task
per batch of files of about `[airflow] ingest_batch_mb` MB), record the day's counts, then the
day's analysis: one task per step of the table catalog (`pipelines/steps.py`): geography
(`geo_ip`), each detector of the `detect` layer, `findings`, risk (`source_risk`), organizations
(`scanner_orgs`), tags (`source_tags`) and the history's state (`source_history_state`), each
waiting for the tables it reads. Every such task reads its inputs from the lake and replaces its own
day partition, so any one can be cleared and retried alone. With `[scale] shards` = N > 1, the
per-source steps are N mapped tasks over a hash of src_ip, and the fast threshold's global
statistics are combined in a task between its two sharded phases.

**Small days in one task.** Each task starts a process (1.5-2 s) and reads the day's events again;
on a small day that is most of the cost. So `analyze`, between `record` and the per-table tasks,
looks at the day's event count: under `[airflow] group_steps_below_events` (default 2 M) it builds
every table itself on one connection, as `scansense run` does (`steps.run_shared`), and marks the
per-table tasks skipped, so none of them starts; a larger day is left to them, and `analyze` ends
at once. The per-table retry survives both ways:
- `analyze` failing is retried by Airflow and resumes at the table that failed (what an unfinished
  try built since the day's `record` is loaded from the lake); cleared after it finished, it builds
  every table again.
- A per-table task of a grouped day can be cleared and run alone: it waits for the tables it reads
  with trigger rule `none_failed` (skipped is as good as done: `analyze` built them), and nothing
  re-skips it. That is why `analyze` is not a `@task.branch`: a branch stores the tasks it did not
  follow, and Airflow's `NotPreviouslySkippedDep` skips such a task again each time it is cleared
  (nor would a skipped upstream let it run under the default `all_success`). `analyze` instead
  raises `DownstreamTasksSkipped` for them: they are marked skipped once, and no decision is kept.
  (With shards > 1 a grouped day ran unsharded, so a combined table such as `scan_fast` is cleared
  together with its phase tasks, whose files its last phase reads.)

`refresh_later` brings later days up to date when this day ran after them (a backfill or a rerun).
Then `publish`, the one writer of `scansense.duckdb` (load, marts, quality gates, comments, swap),
and `report`, whose `scansense_warehouse` asset event names the day for `scansense_report` to mail.
A new catalog table becomes a task with no change here.

Nothing has to be created in Airflow first. The first day, the last day and catchup come from the
`[airflow]` section of `scansense.toml` (or `SCANSENSE_AIRFLOW_*` variables) as the dag-processor
sees them: by default the earliest day of the landing folder, no end, catchup on, so the DAG runs
every day it has data for. One day runs at a time (`max_active_runs=1`), which serializes the
warehouse writer (`publish`); `[airflow] pool` may name a one-slot pool (which must exist) to
serialize it with other writers too. Each day is idempotent (its partitions are replaced whole).

Workers read their settings from `scansense.toml` / `SCANSENSE_*` variables; the DAG starts unpaused.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, TriggerRule, dag, task

from pipelines.alerts import on_failure
from pipelines.settings import airflow_days, load_settings
from pipelines.steps import RECORD, table_steps

WAREHOUSE_ASSET = Asset("scansense_warehouse")

# Parse-time settings: cheap (a TOML file and a folder listing), no database, no heavy imports.
_settings = load_settings()
_first_day, _last_day = airflow_days(_settings)
WRITER_POOL = _settings.airflow.pool or "default_pool"
# The day's table steps, from the catalog (a new table is a new task); shards as the workers see them.
SHARDS = _settings.scale.shards
STEPS = table_steps(SHARDS)
# What `analyze` skips when it built a small day itself: every per-table task (each shard of a mapped one).
GROUPED = [(s.name, i) for s in STEPS for i in ([-1, *range(SHARDS)] if s.sharded else [-1])]

default_args = {
    "owner": "scansense",
    # A full disk, a killed worker or a locked file clears up by itself more often than not: retry
    # after about a minute, then about twice as long (Airflow adds jitter), then fail and call on_failure.
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=2),
    "on_failure_callback": on_failure,
}


def _utc_midnight(day):
    return pendulum.datetime(day.year, day.month, day.day, tz="UTC")


@dag(
    dag_id="scansense_daily",
    schedule="@daily",
    start_date=_utc_midnight(_first_day),
    end_date=_utc_midnight(_last_day) if _last_day else None,
    catchup=_settings.airflow.catchup,
    max_active_runs=1,
    is_paused_upon_creation=False,
    default_args=default_args,
    on_failure_callback=on_failure,
    tags=["scansense"],
    doc_md=__doc__,
)
def scansense_daily():
    @task.sensor(poke_interval=300, timeout=6 * 3600, mode="reschedule", execution_timeout=timedelta(minutes=5))
    def sensor_dumps_closed(ds: str | None = None) -> bool:
        """
        Wait until the sensor has closed (renamed) every hourly dump of the day: a `.jsonl.part`
        file in `<landing>/sensor/` is still being written. Gives up after 6 hours.
        """
        from datetime import date

        from pipelines.run import open_sensor_dumps

        return not open_sensor_dumps(load_settings().landing, date.fromisoformat(ds))

    @task(execution_timeout=timedelta(minutes=5))
    def list_files(ds: str | None = None) -> list[list[str]]:
        """
        List every path of the day's landing folder (`<landing>/<day>/`, sensor dumps) as the one
        walk `scansense run` and `scansense ingest` share finds it (links, special, hidden and
        partial files included, so that each gets its registry row; names as stored texts), grouped
        into batches of about `[airflow] ingest_batch_mb` MB: one ingest task per batch.
        """
        from datetime import date

        from pipelines.batches import ingest_batches, sizes
        from pipelines.ingest.names import path_of
        from pipelines.run import day_file_names

        settings = load_settings()
        names = day_file_names(settings.landing, date.fromisoformat(ds), settings)
        measured = [size for _, size in sizes(path_of(n) for n in names)]
        return ingest_batches(list(zip(names, measured, strict=True)), settings.airflow.ingest_batch_mb)

    @task(execution_timeout=timedelta(hours=1))
    def ingest(paths: list[str], ds: str | None = None) -> dict:
        """
        Ingest a batch of the day's paths into the lake's `events` and `quarantine` tables (one
        mapped task per batch; paths are independent), or record why one is not read. Re-running
        it replaces the files' rows, never doubles them.
        """
        from pipelines.run import ingest_batch

        return ingest_batch(paths, load_settings(), year=int(ds[:4]))

    @task(execution_timeout=timedelta(minutes=10))
    def record(summaries: list[dict], ds: str | None = None) -> dict:
        """Store the day's ingestion counts (files, rows, quarantined, errors) as its `runs` partition."""
        from datetime import date

        from pipelines.run import record_run

        return record_run(date.fromisoformat(ds), list(summaries), load_settings())

    @task(execution_timeout=timedelta(hours=2))
    def analyze(recorded: dict, ds: str | None = None) -> dict:
        """
        A small day (fewer events than `[airflow] group_steps_below_events`): build every catalog
        table of the day here, on one connection, and mark the per-table tasks skipped; a retry
        resumes at the table that failed. A larger day: nothing, the per-table tasks build it.
        """
        from datetime import date

        from airflow.sdk.exceptions import DownstreamTasksSkipped

        from pipelines import steps

        settings = load_settings()
        events = int(recorded["rows"])
        if not steps.grouped(events, settings):
            return {"events": events, "grouped": False}
        rows = steps.run_shared(date.fromisoformat(ds), settings, resume=True)
        print(f"{events} events: every table built in this task ({rows}); the per-table tasks are skipped")
        raise DownstreamTasksSkipped(tasks=GROUPED)  # not a branch: a cleared per-table task must run (see the DAG doc)

    @task(execution_timeout=timedelta(hours=2), trigger_rule=TriggerRule.NONE_FAILED)
    def table_step(name: str, shard: int = 0, ds: str | None = None) -> int:
        """
        Build one catalog table's day partition (or one phase or shard of it) from the lake; the
        task's own doc says which table, what it reads and whether it is sharded.
        """
        from datetime import date

        from pipelines import steps

        settings = load_settings()
        if settings.scale.shards != SHARDS:  # the DAG was parsed with another shard count: re-parse first
            raise ValueError(f"[scale] shards is {settings.scale.shards} on this worker, {SHARDS} in the DAG")
        return steps.run_step(steps.step(name, SHARDS), date.fromisoformat(ds), settings, shard=shard)

    @task(execution_timeout=timedelta(hours=2), trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def refresh_later(ds: str | None = None) -> list[str]:
        """
        Bring the days after this one up to date when this day ran after them (a backfill, or a day
        cleared and run again): their slow scans across days, organizations and history read this
        day (`pipelines.refresh`, the same function `scansense run` uses). None for the latest day.
        """
        from datetime import date

        from pipelines.refresh import refresh_later_days

        return [d.isoformat() for d in refresh_later_days(date.fromisoformat(ds), load_settings())]

    @task(pool=WRITER_POOL, execution_timeout=timedelta(hours=2))
    def publish(refreshed: list[str], ds: str | None = None) -> dict:
        """
        Load the day's partitions as views, build `source_history` and the marts, run the quality
        gates (on the later days `refresh_later` changed too) and swap the new `scansense.duckdb` in:
        the one writer of the warehouse. A day failing a critical check is not published: the report
        marked "DQ FAILED" is mailed and the task fails at once (no retry: the data would fail again).
        """
        from datetime import date

        from airflow.sdk.exceptions import AirflowFailException
        from scansense_smtp import with_smtp_connection

        from pipelines import warehouse
        from pipelines.run import stage_publish

        settings = with_smtp_connection(load_settings())
        with warehouse.writer_lock(settings.warehouse):
            # A day that fails its critical checks emits no asset (no report email from
            # scansense_report), so the marked report is mailed from here before the task fails.
            result = stage_publish(
                date.fromisoformat(ds),
                settings,
                send_email=False,
                email_on_dq_failure=True,
                with_report=False,
                recheck=[date.fromisoformat(d) for d in refreshed],
            )
        result["refreshed"] = list(refreshed)
        if result["dq_failed"]:
            raise AirflowFailException(
                f"critical data-quality checks failed, previous warehouse kept: {result['dq_failed']}"
            )
        return result

    @task(outlets=[WAREHOUSE_ASSET], execution_timeout=timedelta(minutes=30))
    def report(published: dict, ds: str | None = None, outlet_events=None) -> str:
        """
        Write the day's report (HTML and chart PNGs) from the published warehouse, and again those
        of the later days `refresh_later` changed, then emit the `scansense_warehouse` asset event
        naming the day, which `scansense_report` mails.
        """
        from datetime import date

        from pipelines.run import stage_report

        later = [date.fromisoformat(d) for d in published.get("refreshed", [])]
        path = stage_report(date.fromisoformat(ds), load_settings(), later=later)
        outlet_events[WAREHOUSE_ASSET].extra = {"day": ds}  # scansense_report mails this day's report
        return path

    files = list_files()
    sensor_dumps_closed() >> files
    # A mapped task does not take its docstring as doc_md by itself (Airflow 3.3): given here.
    summaries = ingest.override(doc_md=ingest.function.__doc__).expand(paths=files)
    grouping = analyze(record(summaries))
    tasks = {RECORD: grouping}  # the per-table tasks wait for `analyze`, which comes after `record`
    for step in STEPS:  # dependencies from the catalog's reads (steps.table_steps), none written here
        one = table_step.override(task_id=step.name, doc_md=step.doc)
        tasks[step.name] = (
            one.partial(name=step.name).expand(shard=list(range(SHARDS))) if step.sharded else one(step.name)
        )
        for before in step.after:
            tasks[before] >> tasks[step.name]
    refreshed = refresh_later()
    [grouping, *(tasks[step.name] for step in STEPS)] >> refreshed
    published = publish(refreshed)
    report(published)


scansense_daily()
