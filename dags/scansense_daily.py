"""
### scansense_daily

Every day: ingest the day's landing files (one mapped task per file), then enrich, detect and score
the day, then rebuild and publish the warehouse with its marts, quality gates and report. Writes to
the warehouse are serialized by the one-slot pool `scansense_warehouse`; the publish task emits the
`scansense_warehouse` asset that `scansense_report` consumes to send the email.

Settings come from `scansense.toml` / `SCANSENSE_*` variables of the workers. Catchup is on, so
unpausing the DAG backfills past days; each day is idempotent (its partitions are replaced whole).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

WAREHOUSE_ASSET = Asset("scansense_warehouse")
WAREHOUSE_POOL = "scansense_warehouse"

default_args = {
    "owner": "scansense",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "execution_timeout": timedelta(hours=2),
}


def _on_failure(context) -> None:
    """Log a one-line alert naming the failed task and day (hook for paging)."""
    import logging

    ti = context.get("task_instance")
    logging.getLogger("scansense").error(
        "scansense task failed: %s for %s", getattr(ti, "task_id", "?"), context.get("ds")
    )


@dag(
    dag_id="scansense_daily",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 11, 26, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    default_args=default_args,
    on_failure_callback=_on_failure,
    tags=["scansense"],
    doc_md=__doc__,
)
def scansense_daily():
    @task
    def list_files(ds: str | None = None) -> list[str]:
        """Files waiting in the day's landing folder (closed sensor dumps only)."""
        from datetime import date

        from pipelines.run import day_files
        from pipelines.settings import load_settings

        return [str(p) for p in day_files(load_settings().landing, date.fromisoformat(ds))]

    @task(on_failure_callback=_on_failure)
    def ingest(path: str, ds: str | None = None) -> dict:
        """Ingest one file into the lake (files are independent, so this task is mapped)."""
        from pathlib import Path

        from pipelines.run import ingest_file
        from pipelines.settings import load_settings

        return ingest_file(Path(path), load_settings(), year=int(ds[:4]))

    @task(pool=WAREHOUSE_POOL, on_failure_callback=_on_failure)
    def record(summaries: list[dict], ds: str | None = None) -> dict:
        """Store the day's ingestion counts."""
        from datetime import date

        from pipelines.run import record_run
        from pipelines.settings import load_settings

        return record_run(date.fromisoformat(ds), list(summaries), load_settings())

    @task(pool=WAREHOUSE_POOL, on_failure_callback=_on_failure)
    def analyze(ingested: dict, ds: str | None = None) -> dict:
        """Enrich, detect and score the day."""
        from datetime import date

        from pipelines.run import stage_analyze
        from pipelines.settings import load_settings

        return stage_analyze(date.fromisoformat(ds), load_settings())

    @task(pool=WAREHOUSE_POOL, outlets=[WAREHOUSE_ASSET], on_failure_callback=_on_failure)
    def publish(analyzed: dict, ds: str | None = None) -> dict:
        """Rebuild the warehouse from the lake, check it, publish it and write the report."""
        from datetime import date

        from scansense_smtp import with_smtp_connection

        from pipelines import warehouse
        from pipelines.run import stage_publish
        from pipelines.settings import load_settings

        settings = with_smtp_connection(load_settings())
        with warehouse.writer_lock(settings.warehouse):
            # A day that fails its critical checks emits no asset (no report email from
            # scansense_report), so the marked report is mailed from here before the task fails.
            result = stage_publish(date.fromisoformat(ds), settings, send_email=False, email_on_dq_failure=True)
        if result["dq_failed"]:
            raise RuntimeError(f"critical data-quality checks failed, previous warehouse kept: {result['dq_failed']}")
        return result

    @task.sensor(poke_interval=300, timeout=6 * 3600, mode="reschedule")
    def sensor_dumps_closed(ds: str | None = None) -> bool:
        """Wait until the sensor has closed (renamed) every hourly dump of the day."""
        from datetime import date

        from pipelines.run import open_sensor_dumps
        from pipelines.settings import load_settings

        return not open_sensor_dumps(load_settings().landing, date.fromisoformat(ds))

    files = list_files()
    sensor_dumps_closed() >> files
    summaries = ingest.expand(path=files)
    publish(analyze(record(summaries)))


scansense_daily()
