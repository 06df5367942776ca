"""The report and its email on a generated day: self-contained HTML that renders in Chromium,
attacker strings escaped, and the email received by a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import socket
import subprocess
from contextlib import contextmanager
from datetime import date
from email import policy
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from generated import generated_settings

from pipelines.generate import generate
from pipelines.run import run_day

DAGS = Path(__file__).resolve().parents[1] / "dags"
DAY = date(2025, 11, 26)
HOSTILE = ["<script>alert(1)</script>", "{{7*7}}", "'; DROP TABLE events; --"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    generate(base / "gen", days=1, start=DAY, seed=2, scale=0.1)
    # A honeypot line full of attacker text, and a reason string that carries it into the report.
    extra = base / "gen" / "landing" / DAY.isoformat() / "hostile.json"
    lines = [
        json.dumps(
            {
                "ip": f"45.33.1.{i % 3 + 1}",
                "port": 4000,
                "dst_port": 80 + i,
                "utc": f"2025-11-26 14:00:{i:02d}",
                "method": "GET",
                "uri": "/<script>alert(1)</script>",
                "headers": {"User-Agent": "{{7*7}}\u202e'; DROP TABLE events; --"},
            }
        )
        for i in range(40)
    ]
    extra.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = generated_settings(base / "gen", base / "wh")
    result = run_day(DAY, settings, send_email=False)
    assert result.published
    return settings, Path(result.report)


def test_attacker_strings_stored_verbatim_and_escaped_in_html(built) -> None:
    settings, report = built
    with duckdb.connect(str(settings.warehouse / "scansense.duckdb"), read_only=True) as con:
        uris = {r[0] for r in con.execute("SELECT DISTINCT uri FROM events WHERE uri LIKE '%script%'").fetchall()}
        assert "/<script>alert(1)</script>" in uris
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] > 0  # the DROP TABLE text did nothing
    page = report.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert not any('src="http' in line for line in page.splitlines() if "<script" in line)


def test_report_is_self_contained_and_has_every_chart(built) -> None:
    _, report = built
    page = report.read_text(encoding="utf-8")
    for chart in ("abnormal_share", "hourly_trend", "by_country", "by_region", "source_map", "top_ports"):
        assert f'id="{chart}"' in page
        assert (report.parent / f"{chart}.png").stat().st_size > 1000
    assert "DB-IP" in page
    assert "<script src=" not in page
    # The world basemap is inlined (no URL to fetch at view time) and the report links the Data Docs.
    assert "topojson" in page and "countries-110m" not in page
    assert 'href="../../dq/index.html"' in page
    assert (report.parent / "../../dq/index.html").resolve().is_file()


@pytest.mark.browser
def test_report_renders_in_headless_chromium(built, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (make browser installs it as root)")
    _, report = built
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=15000",
    ]
    dom = subprocess.run([chromium, *flags, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # vega-embed replaced each placeholder by a rendered SVG, and no embedding error was shown.
    assert html.count("<svg") >= 6, html[:2000]
    assert 'id="errors"></div>' in html
    # The map draws every country of the inlined world atlas (177 in countries-110m) as a path.
    countries = re.search(r'<g class="mark-shape role-mark countries_marks"[^>]*>(.*?)</g>', html, re.S)
    assert countries, "no countries layer in the map"
    assert countries.group(1).count("<path") >= 170
    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, *flags, "--window-size=1300,2400", f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        timeout=180,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
    shutil.copy(shot, report.parent / "screenshot.png")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _smtp_sink(settings, **smtp):
    """A real SMTP server on 127.0.0.1 for one test, and the settings that mail to it."""
    from aiosmtpd.controller import Controller

    sink = _Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, settings.replace("smtp", port=port, to=("lead@example.org",), **smtp)
    finally:
        controller.stop()


class _Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(envelope.content)
        return "250 OK"


def test_email_received_with_inline_charts_attachment_and_escaping(built) -> None:
    from dashboards.report import build_report, read_report
    from pipelines.layout import layout
    from pipelines.notify import send_report

    settings, report_path = built
    with _smtp_sink(settings, password="s3cret-never-logged") as (sink, smtp_settings):
        report = build_report(
            settings.warehouse / "scansense.duckdb",
            DAY,
            report_path.parent,
            smtp_settings,
            dq_failed=["events: <b>injected</b>"],
        )
        send_report(report, smtp_settings, DAY)
    # What the report DAG reads back from disk is what the email was built from here.
    assert read_report(layout(settings.warehouse).report(DAY), DAY) == report
    assert len(sink.messages) == 1
    msg = email.message_from_bytes(sink.messages[0], policy=policy.default)
    assert msg["To"] == "lead@example.org" and "[DQ FAILED]" in msg["Subject"]
    html_part = msg.get_body(("html",))
    text_part = msg.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html = html_part.get_content()
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 6
    for image in images:
        assert f"cid:{image['Content-ID'].strip('<>')}" in html
        assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    attachments = [p for p in msg.iter_attachments() if p.get_filename() == "report.html"]
    assert len(attachments) == 1
    assert "&lt;b&gt;injected&lt;/b&gt;" in html and "<b>injected</b>" not in html
    assert "dq/index.html" in html and "dq/index.html" in text_part.get_content()
    assert b"s3cret-never-logged" not in sink.messages[0]


@pytest.fixture(scope="module")
def email_report(tmp_path_factory):
    """The report DAG's `email_report` task function, parsed by Airflow as the dag-processor does."""
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "scansense_report.py"))
    assert bag.import_errors == {}
    return bag.dags["scansense_report"].get_task("email_report").python_callable


def _run_report_dag(email_report, settings, monkeypatch, *days: date) -> list[str]:
    """Run `email_report` as a worker would for asset events naming `days`, with `settings` in force."""
    import dashboards.report

    def render_again(*args, **kwargs):
        raise AssertionError("scansense_report rendered the report again")

    monkeypatch.setattr(dashboards.report, "build_report", render_again)
    monkeypatch.setattr("pipelines.settings.load_settings", lambda *args, **kwargs: settings)
    monkeypatch.syspath_prepend(str(DAGS))  # a worker imports the DAG folder's scansense_smtp
    events = {"scansense_warehouse": [SimpleNamespace(extra={"day": day.isoformat()}) for day in days]}
    return email_report(triggering_asset_events=events)


def test_report_dag_mails_the_files_the_daily_report_wrote(built, email_report, monkeypatch) -> None:
    """scansense_report renders nothing: the mail carries the daily's report.html and PNGs byte for byte."""
    settings, report_path = built
    with _smtp_sink(settings) as (sink, smtp_settings):
        sent = _run_report_dag(email_report, smtp_settings, monkeypatch, DAY)
    assert len(sent) == 1 and sent[0].startswith(f"{DAY.isoformat()}: <")
    assert len(sink.messages) == 1
    msg = email.message_from_bytes(sink.messages[0], policy=policy.default)
    figures = json.loads((report_path.parent / "report.json").read_text(encoding="utf-8"))["figures"]
    assert f"{DAY.isoformat()}: {int(figures['abnormal_sources'])} abnormal sources" in msg["Subject"]
    attached = [p for p in msg.iter_attachments() if p.get_filename() == "report.html"]
    assert [p.get_payload(decode=True) for p in attached] == [report_path.read_bytes()]
    images = {p.get_filename(): p.get_payload(decode=True) for p in msg.walk() if p.get_content_type() == "image/png"}
    on_disk = {p.name: p.read_bytes() for p in report_path.parent.glob("*.png") if p.stem != "screenshot"}
    assert len(images) == 6 and images == on_disk


def test_report_dag_fails_in_one_line_naming_a_day_without_its_report(
    built, email_report, monkeypatch, tmp_path
) -> None:
    """A day the daily DAG did not report (rejected, or its report task failed): no mail, one clear line."""
    settings, report_path = built
    with _smtp_sink(settings) as (sink, smtp_settings):
        unreported = date(2025, 11, 27)
        with pytest.raises(FileNotFoundError) as missing:
            _run_report_dag(email_report, smtp_settings, monkeypatch, DAY, unreported)
    assert sink.messages == []  # not even the day that has its report: the retry would mail it twice
    line = str(missing.value)
    assert "\n" not in line and "2025-11-27" in line
    assert str(settings.warehouse / "reports" / "2025-11-27" / "report.json") in line
    # A report folder missing one chart (a report step that died half way) names that file.
    from dashboards.report import read_report
    from pipelines.layout import layout

    copy = layout(tmp_path / "wh")
    shutil.copytree(report_path.parent, copy.report_dir(DAY))
    copy.report(DAY).chart("top_ports").unlink()
    with pytest.raises(FileNotFoundError, match=f"^no report for {DAY.isoformat()}: .*top_ports.png is missing"):
        read_report(copy.report(DAY), DAY)
    # Another day's files copied into a day's folder are not that day's report either.
    shutil.copytree(report_path.parent, copy.report_dir(unreported))
    with pytest.raises(FileNotFoundError, match=f"^no report for 2025-11-27: .* is the report of {DAY.isoformat()}$"):
        read_report(copy.report(unreported), unreported)


def _report_on_disk(report_path: Path):
    """A Report for the already built files, with minimal figures (what the email needs)."""
    from dashboards.report import Report

    pngs = {p.stem: p for p in report_path.parent.glob("*.png") if p.stem != "screenshot"}
    figures = {
        "sources": 1,
        "abnormal_sources": 0,
        "abnormal_share": 0.0,
        "events": 1,
        "top_ports": [],
        "top_countries": [],
    }
    return Report(html=report_path, pngs=pngs, figures=figures)


def test_failed_send_retries_then_raises_and_keeps_the_report(built) -> None:
    from pipelines.notify import send_report

    settings, report_path = built
    dead = settings.replace("smtp", port=_free_port(), retries=2)
    with pytest.raises(RuntimeError, match="after 2 attempts"):
        send_report(_report_on_disk(report_path), dead, DAY)
    assert report_path.is_file()


def test_secrets_never_reach_logs_reports_or_warehouse(built, caplog) -> None:
    from pipelines.notify import send_report

    settings, report_path = built
    secret = "s3cret-never-logged"
    report = _report_on_disk(report_path)
    with pytest.raises(RuntimeError):
        send_report(report, settings.replace("smtp", port=_free_port(), retries=1, user="u", password=secret), DAY)
    assert secret not in caplog.text
    for path in Path(settings.warehouse).rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_report_lists_the_inputs_and_says_which_under_count(built) -> None:
    """The generated firewall log is UFW's (rate-limited logging): flagged in ingest_files and in the report."""
    settings, report = built
    with duckdb.connect(str(settings.warehouse / "scansense.duckdb"), read_only=True) as con:
        files = con.execute("SELECT path, format, undercounts, undercount_reason FROM ingest_files").fetchall()
    assert {f for _, f, u, _ in files if u} == {"ufw"}
    assert all(why and "3 lines a minute" in why for _, f, _, why in files if f == "ufw")
    page = report.read_text(encoding="utf-8")
    section = page[page.index("<h2>Inputs</h2>") : page.index("<h2>Scanning organizations</h2>")]
    assert "1 input(s) under-count: fast-scan counts on this input are lower bounds." in section
    for path, *_ in files:
        assert path in section
    assert section.count("fast-scan counts on this input are lower bounds:") == 1
