"""Read the project's SQL files (`sql/<layer>/<name>.sql`) and the header block that documents each."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

# Header keys, `-- <key> [qualifier]: text`; a line of `--` and three or more spaces continues the entry.
HEADER_KEYS = (
    "table",
    "grain",
    "key",
    "kind",
    "built by",
    "built at",
    "reads",
    "sharded by",
    "combined by",
    "stored as",
    "read as",
    "checked rows",
    "findings",
    "column",
    "check",
)
_ENTRY = re.compile(r"^--\s*(" + "|".join(HEADER_KEYS) + r")\b\s*([^:]*?)\s*:\s*(.*)$")
_CONTINUED = re.compile(r"^--\s{3,}(\S.*)$")


@cache
def read_sql(name: str) -> str:
    """Return the text of `sql/<name>.sql`, e.g. read_sql("detect/scan_fast")."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def header_entries(sql_text: str) -> list[tuple[str, str, str]]:
    """(key, qualifier, text) of each entry of the leading comment block, continuation lines joined."""
    entries: list[list[str]] = []
    current: list[str] | None = None
    for raw in sql_text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            current = None
            continue
        if not line.lstrip().startswith("--"):
            break  # the header ends where the SQL starts
        line = line.lstrip()
        cont = _CONTINUED.match(line)
        if cont and current is not None:
            current[2] += "\n" + cont.group(1)
            continue
        m = _ENTRY.match(line)
        current = [m.group(1), m.group(2), m.group(3).strip()] if m else None
        if current is not None:
            entries.append(current)
    return [(k, q, t) for k, q, t in entries]


def split_header(sql_text: str) -> tuple[str, str]:
    """The leading comment block and the SQL after it (empty for a header-only file)."""
    lines = sql_text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("--"):
            return "".join(lines[:i]), "".join(lines[i:])
    return sql_text, ""
