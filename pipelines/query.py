"""`scansense query`: SQL over the published warehouse and nothing else.

The file is opened read-only with DuckDB's own lock-down set before the first user statement: no
file system (read_csv, read_text, glob, COPY, ATTACH, EXPORT) but the warehouse's lake, no
extension install or load, and the configuration locked so SET, RESET and PRAGMA cannot undo it.
The warehouse's history tables are views over the lake's Parquet files (issue 27), so the lake is
the one allowed directory; DuckDB would let COPY write there, so only statements that read (SELECT,
EXPLAIN) are run at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.layout import layout
from pipelines.terminal import escape_controls

# Given at connect time: nothing can be downloaded or loaded even by the statements below.
SANDBOX_AT_CONNECT: dict[str, Any] = {
    "autoinstall_known_extensions": False,  # never download an extension
    "autoload_known_extensions": False,  # never load one behind a function call
    "allow_community_extensions": False,
}
# Set right after connecting, before the user's SQL (allowed_directories cannot be given at connect
# time, and must be set before external access is turned off); lock_configuration comes last.
SANDBOX: dict[str, Any] = {
    "enable_external_access": False,  # no files but the lake, no network, no Python replacement scans
    "lock_configuration": True,  # SET / RESET / PRAGMA of any setting fail from here on
}
REFUSED_HINT = "scansense query reads the warehouse's tables only: no files, extensions or settings"
READING = ("SELECT", "EXPLAIN")  # statement types run; anything else (COPY, EXPORT, SET, ...) is refused


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
        con = duckdb.connect(str(path), read_only=True, config=dict(SANDBOX_AT_CONNECT))
        lake = str(layout(warehouse).lake.resolve()) + "/"
        con.execute("SET allowed_directories = $dirs", {"dirs": [lake]})
        for name, value in SANDBOX.items():  # lock_configuration last
            con.execute(f"SET {name} = {str(value).lower()}")
    except duckdb.Error as exc:
        raise QueryError(f"cannot open {path}: {_first_line(exc)}") from None
    try:
        kinds = {s.type.name for s in con.extract_statements(sql)}
        if kinds - set(READING):
            raise duckdb.PermissionException(f"statement {', '.join(sorted(kinds - set(READING)))} is not allowed")
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
