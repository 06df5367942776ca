"""`scansense query`: SQL over the published warehouse and nothing else.

The file is opened read-only with DuckDB's own lock-down given at connect time, so it holds before
the first user statement: no file system (read_csv, read_text, glob, COPY, ATTACH, EXPORT), no
extension install or load, and the configuration locked so SET, RESET and PRAGMA cannot undo it.
Every warehouse table lives inside the DuckDB file, so no allowed_directories / allowed_paths are
needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.layout import layout
from pipelines.terminal import escape_controls

# Order matters only for lock_configuration, which DuckDB applies after the others.
SANDBOX: dict[str, Any] = {
    "enable_external_access": False,  # no files but the warehouse, no network, no Python replacement scans
    "autoinstall_known_extensions": False,  # never download an extension
    "autoload_known_extensions": False,  # never load one behind a function call
    "allow_community_extensions": False,
    "lock_configuration": True,  # SET / RESET / PRAGMA of any setting fail from here on
}
REFUSED_HINT = "scansense query reads the warehouse's tables only: no files, extensions or settings"


class QueryError(Exception):
    """A query that failed (`refused` when the sandbox stopped it); the message is one line."""

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of the last statement."""

    columns: list[str]
    rows: list[tuple]

    def to_dict(self) -> dict[str, Any]:
        """The `--json` shape: exact values, nothing escaped."""
        return {"columns": self.columns, "rows": [list(r) for r in self.rows]}


def _refused(exc: Exception) -> bool:
    import duckdb

    text = str(exc)
    return isinstance(exc, duckdb.PermissionException) or any(
        mark in text for mark in ("configuration has been locked", "read-only mode", "disabled through configuration")
    )


def run_query(warehouse: Path, sql: str) -> QueryResult:
    """Run `sql` on the published warehouse in the sandbox; raise QueryError with a one-line message."""
    import duckdb

    path = layout(warehouse).db
    if not path.is_file():
        raise QueryError(f"no warehouse at {path}: run `scansense run` first")
    try:
        con = duckdb.connect(str(path), read_only=True, config=dict(SANDBOX))
    except duckdb.Error as exc:
        raise QueryError(f"cannot open {path}: {_first_line(exc)}") from None
    try:
        cur = con.execute(sql)
        columns = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall() if columns else []
    except duckdb.Error as exc:
        if _refused(exc):
            raise QueryError(f"refused: {_first_line(exc)} ({REFUSED_HINT})", refused=True) from None
        raise QueryError(_first_line(exc)) from None
    finally:
        con.close()
    return QueryResult(columns, rows)


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def format_table(result: QueryResult) -> str:
    """Aligned text table; control characters in names and values are shown escaped."""
    header = [escape_controls(str(c)) for c in result.columns]
    body = [[escape_controls(str(v)) for v in row] for row in result.rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip() for cells in [header, *body]]
    return "\n".join(lines)
