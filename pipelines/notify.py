"""The report email: HTML body with key figures and inline PNG charts (Content-ID), the interactive
report attached, a plain-text alternative; sent over SMTP with retries.

The report arrives as plain data (`ReportFiles`: its files, figures and the folder of the email
templates), so the pipelines never import the report package (`dashboards/`) that sits above them.
"""

from __future__ import annotations

import logging
import smtplib
import time
from datetime import date
from email.message import EmailMessage
from email.utils import make_msgid
from functools import cache
from pathlib import Path
from typing import Protocol

from jinja2 import Environment, FileSystemLoader, select_autoescape

from pipelines.settings import Settings

log = logging.getLogger(__name__)


class ReportFiles(Protocol):
    """What the email needs of a built report (`dashboards.report.Report` is one)."""

    html: Path  # the interactive report, attached
    pngs: dict[str, Path]  # chart name -> PNG, shown inline
    figures: dict  # key figures the templates print
    dq_failed: list[str]  # critical checks that failed (the subject says so)
    templates: Path  # folder holding email.txt.j2 and email.html.j2


@cache
def _environments(templates: Path) -> tuple[Environment, Environment]:
    """The HTML (autoescaped) and plain-text template environments of one templates folder."""
    loader = FileSystemLoader(templates)
    return Environment(loader=loader, autoescape=select_autoescape(["html", "j2"])), Environment(
        loader=loader, autoescape=False
    )


def build_message(
    report: ReportFiles, settings: Settings, day: date, dq_failed: list[str] | None = None
) -> EmailMessage:
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
    html_env, text_env = _environments(Path(report.templates))
    msg.set_content(text_env.get_template("email.txt.j2").render(**context))
    msg.add_alternative(html_env.get_template("email.html.j2").render(**context), subtype="html")
    html_part = msg.get_payload()[1]
    for name, path in report.pngs.items():
        html_part.add_related(
            path.read_bytes(), maintype="image", subtype="png", cid=f"<{cids[name]}>", filename=f"{name}.png"
        )
    msg.add_attachment(report.html.read_bytes(), maintype="text", subtype="html", filename="report.html")
    return msg


def send_report(report: ReportFiles, settings: Settings, day: date, dq_failed: list[str] | None = None) -> str:
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
