"""The report email's SMTP settings from the Airflow connection `scansense_smtp` (shared by both DAGs).

Host, port, login and password come from the connection; `to`, `from` and `starttls` from its extra.
Without the connection, ScanSense's own settings (file and environment) apply.
"""

from __future__ import annotations

from pipelines.settings import Settings

SMTP_CONN_ID = "scansense_smtp"


def with_smtp_connection(settings: Settings) -> Settings:
    """`settings` with the SMTP section taken from the Airflow connection when it exists."""
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(SMTP_CONN_ID)
    except Exception:  # no connection configured (or not inside a task): settings apply
        return settings
    extra = conn.extra_dejson or {}
    smtp: dict = {
        "host": conn.host,
        "port": int(conn.port or 25),
        "user": conn.login or "",
        "password": conn.password or "",
    }
    if "to" in extra:
        smtp["to"] = tuple(t.strip() for t in str(extra["to"]).split(","))
    if "from" in extra:
        smtp["sender"] = extra["from"]
    if "starttls" in extra:
        smtp["starttls"] = str(extra["starttls"]).lower() in ("1", "true", "yes")
    return settings.replace("smtp", **smtp)
