"""Read the project's SQL files (`sql/<layer>/<name>.sql`), one file per table or view."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


@cache
def read_sql(name: str) -> str:
    """Return the text of `sql/<name>.sql`, e.g. read_sql("detect/scan_fast")."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
