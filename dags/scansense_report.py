"""
### scansense_report

Runs whenever `scansense_daily` publishes the warehouse (the `scansense_warehouse` asset) and emails
the report that the daily DAG's `report` task wrote for the published day (`<warehouse>/reports/<day>/`;
nothing is rendered here): the day comes from the asset event, so catching up on several days mails
one report per day, each for its own day. A day whose report files are missing fails the task (and
is retried). Triggered by hand (no asset event), it mails the newest day of the warehouse. SMTP
comes from the Airflow connection `scansense_smtp` when it exists (host, port, login, password,
extra `{"to": "...", "from": "...", "starttls": true}`), else from settings. The DAG starts
unpaused, so a new installation mails its first report unattended.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, dag, task

from pipelines.alerts import on_failure

WAREHOUSE_ASSET = Asset("scansense_warehouse")


@dag(
    dag_id="scansense_report",
    schedule=[WAREHOUSE_ASSET],
    catchup=False,
    is_paused_upon_creation=False,
    default_args={
        "owner": "scansense",
        # A mail server down for a while: retry after about 2 minutes, then about twice as long each time.
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": on_failure,
    },
    tags=["scansense"],
    doc_md=__doc__,
)
def scansense_report():
    @task(execution_timeout=timedelta(minutes=30))
    def email_report(triggering_asset_events=None) -> list[str]:
        """
        Mail the report the daily DAG's `report` task wrote for each day named by the triggering
        `scansense_warehouse` events (the newest day of the warehouse when triggered by hand); nothing
        is rendered here. A day without its report files fails the task. Returns `day: Message-ID` lines.
        """
        from datetime import date

        import duckdb
        from scansense_smtp import with_smtp_connection

        from dashboards.report import read_report
        from pipelines.layout import layout
        from pipelines.notify import send_report
        from pipelines.settings import load_settings

        settings = with_smtp_connection(load_settings())
        where = layout(settings.warehouse)
        events = [e for evs in (triggering_asset_events or {}).values() for e in evs]
        days = sorted({date.fromisoformat(e.extra["day"]) for e in events if (e.extra or {}).get("day")})
        if not days:
            with duckdb.connect(str(where.db), read_only=True) as con:
                days = [con.execute("SELECT max(event_date) FROM daily_summary").fetchone()[0]]
        reports = [(day, read_report(where.report(day), day)) for day in days]  # every day's files, before any mail
        return [f"{day.isoformat()}: {send_report(report, settings, day)}" for day, report in reports]

    email_report()


scansense_report()
