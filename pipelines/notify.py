"""The report email: HTML body with key figures and inline PNG charts (Content-ID), the interactive
report attached, a plain-text alternative; sent over SMTP with retries."""

from __future__ import annotations

import logging
import smtplib
import time
from datetime import date
from email.message import EmailMessage
from email.utils import make_msgid

from jinja2 import Environment, FileSystemLoader, select_autoescape

from dashboards.report import TEMPLATES, Report
from pipelines.settings import Settings

log = logging.getLogger(__name__)
_HTML = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
_TEXT = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False)


def build_message(report: Report, settings: Settings, day: date, dq_failed: list[str] | None = None) -> EmailMessage:
    """The multipart message: text, HTML with related images, and report.html attached."""
    dq_failed = dq_failed if dq_failed is not None else report.dq_failed
    msg = EmailMessage()
    prefix = "[DQ FAILED] " if dq_failed else ""
    msg["Subject"] = (
        f"{prefix}ScanSense {day.isoformat()}: {int(report.figures.get('abnormal_sources', 0))} abnormal sources"
    )
    msg["From"] = settings.smtp.sender
    msg["To"] = ", ".join(settings.smtp.to)
    msg["Message-ID"] = make_msgid(domain="scansense.local")
    cids = {name: make_msgid(domain="scansense.local")[1:-1] for name in report.pngs}
    context = {
        "day": day.isoformat(),
        "figures": report.figures,
        "dq_failed": dq_failed or [],
        "images": list(cids.items()),
    }
    msg.set_content(_TEXT.get_template("email.txt.j2").render(**context))
    msg.add_alternative(_HTML.get_template("email.html.j2").render(**context), subtype="html")
    html_part = msg.get_payload()[1]
    for name, path in report.pngs.items():
        html_part.add_related(
            path.read_bytes(), maintype="image", subtype="png", cid=f"<{cids[name]}>", filename=f"{name}.png"
        )
    msg.add_attachment(report.html.read_bytes(), maintype="text", subtype="html", filename="report.html")
    return msg


def send_report(report: Report, settings: Settings, day: date, dq_failed: list[str] | None = None) -> str:
    """Send the report email; retry with exponential backoff, then raise. Returns the Message-ID."""
    msg = build_message(report, settings, day, dq_failed)
    smtp = settings.smtp
    last: Exception | None = None
    for attempt in range(max(1, smtp.retries)):
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as server:
                if smtp.starttls:
                    server.starttls()
                if smtp.user:
                    server.login(smtp.user, smtp.password)
                server.send_message(msg)
            return msg["Message-ID"]
        except (OSError, smtplib.SMTPException) as exc:
            last = exc
            log.warning(
                "sending the report to %s:%s failed (attempt %d): %s",
                smtp.host,
                smtp.port,
                attempt + 1,
                type(exc).__name__,
            )
            time.sleep(min(30, 0.5 * 2**attempt))
    raise RuntimeError(f"email not sent after {smtp.retries} attempts: {last}") from last
