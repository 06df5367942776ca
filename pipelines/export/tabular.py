"""CSV and JSON: the export rows as they are, for anything else (spreadsheets, scripts, SIEMs)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

from pipelines.settings import Settings
from pipelines.terminal import escape_controls

COLUMNS = (
    "event_date", "src_ip", "ip_version", "risk", "probes", "first_seen", "last_seen", "country_code",
    "research_org", "tags", "reasons", "sample_uri", "sample_user_agent",
)  # fmt: skip
# A cell starting with one of these is a formula to Excel and LibreOffice (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: object) -> str:
    """A cell's text: lists joined with '; ', timestamps in ISO 8601, null as empty."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def csv_cell(value: object) -> str:
    """A CSV cell shown as text, never run: formula starts get a leading quote, controls are escaped (\\x1b)."""
    text = _text(value)
    text = "'" + text if text.startswith(_FORMULA_START) else text
    return escape_controls(text)


def render(fmt: str, rows: list[dict], day: date, settings: Settings) -> str:
    """`rows` as CSV (header, one line per source) or as one JSON document (ASCII only)."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([csv_cell(row[c]) for c in COLUMNS])
        return out.getvalue()
    doc = {
        "date": day.isoformat(),
        "producer": "ScanSense",
        "sources": [{c: row[c] for c in COLUMNS} for row in rows],
    }
    # ensure_ascii: control characters and any non-ASCII attacker text come out as \u escapes.
    return json.dumps(doc, default=_text, ensure_ascii=True, indent=1) + "\n"
