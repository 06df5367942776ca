"""
### scansense_report

Runs whenever `scansense_daily` publishes the warehouse (the `scansense_warehouse` asset): emails the
latest day's report. SMTP comes from the Airflow connection `scansense_smtp` when it exists (host,
port, login, password, extra `{"to": "...", "from": "...", "starttls": true}`), else from settings.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

WAREHOUSE_ASSET = Asset("scansense_warehouse")


@dag(
    dag_id="scansense_report",
    schedule=[WAREHOUSE_ASSET],
    start_date=pendulum.datetime(2025, 11, 26, tz="UTC"),
    catchup=False,
    default_args={"owner": "scansense", "retries": 3, "retry_delay": timedelta(minutes=5)},
    tags=["scansense"],
    doc_md=__doc__,
)
def scansense_report():
    @task
    def email_latest() -> str:
        """Send the report of the newest day in the published warehouse."""
        import duckdb
        from scansense_smtp import with_smtp_connection

        from dashboards.report import build_report
        from pipelines.notify import send_report
        from pipelines.settings import load_settings
        from pipelines.warehouse import db_path

        settings = with_smtp_connection(load_settings())
        path = db_path(settings.warehouse)
        with duckdb.connect(str(path), read_only=True) as con:
            day = con.execute("SELECT max(event_date) FROM daily_summary").fetchone()[0]
        report = build_report(path, day, settings.warehouse / "reports" / day.isoformat(), settings)
        return send_report(report, settings, day)

    email_latest()


scansense_report()
