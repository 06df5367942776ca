"""The quality gate: a failed critical expectation keeps the previous warehouse, marks the report and
says so in the email (sent from the publish step the DAG runs, since no asset is emitted)."""

from __future__ import annotations

import email
import socket
from datetime import timedelta
from email import policy
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from generated import generated_settings
from hashing import table_hashes
from test_report_email import DAY, _Sink

from pipelines.generate import generate
from pipelines.run import run_day, stage_publish


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_critical_failure_keeps_previous_warehouse_marks_report_and_emails(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    generate(tmp_path / "gen", days=1, start=DAY, seed=5, scale=0.1)
    settings = generated_settings(tmp_path / "gen", tmp_path / "wh")
    assert run_day(DAY, settings, send_email=False).published
    db = settings.warehouse / "scansense.duckdb"
    before = table_hashes(db, ["events", "source_risk", "daily_summary"])

    # Damage the lake behind the pipeline's back: an event whose time lies three days after its
    # partition's day (what a clock bug upstream would write). The check on `ts` is critical.
    part = next((settings.warehouse / "lake" / "events" / f"date={DAY.isoformat()}").glob("*.parquet"))
    table = pq.read_table(part).slice(0, 1)
    ts_type = table.schema.field("ts").type
    moved = pc.add(table["ts"], pa.scalar(timedelta(days=3), pa.duration(ts_type.unit))).cast(ts_type)
    table = table.set_column(table.schema.get_field_index("ts"), "ts", moved)
    pq.write_table(table, part.with_name("zz-clock-bug.parquet"))

    sink = _Sink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mail_settings = settings.replace("smtp", port=port, to=("soc@example.org",))
        result = stage_publish(DAY, mail_settings, send_email=False, email_on_dq_failure=True)
    finally:
        controller.stop()

    assert not result["published"] and any(f.startswith("events:") for f in result["dq_failed"])
    assert table_hashes(db, ["events", "source_risk", "daily_summary"]) == before  # previous warehouse kept
    html = Path(result["report"]).read_text(encoding="utf-8")
    assert "not published" in html.lower() or "dq failed" in html.lower()
    assert result["email"].startswith("sent")
    assert len(sink.messages) == 1
    msg = email.message_from_bytes(sink.messages[0], policy=policy.default)
    assert "[DQ FAILED]" in msg["Subject"]

    # A clean day mails nothing from the publish step (the report DAG does that).
    pq.write_table(pq.read_table(part).slice(0, 0), part.with_name("zz-clock-bug.parquet"))
    again = stage_publish(DAY, mail_settings, send_email=False, email_on_dq_failure=True)
    assert again["published"] and "email" not in again
