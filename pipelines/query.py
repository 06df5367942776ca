"""`scansense query`: SQL over the published warehouse and nothing else.

The file is opened read-only with DuckDB's own lock-down set before the first user statement: no
file system (read_csv, read_text, glob, COPY, ATTACH, EXPORT) but the warehouse's lake, no
extension install or load, and the configuration locked so SET, RESET and PRAGMA cannot undo it.
The warehouse's lake tables are views over the lake's Parquet files (issue 27), so the lake is the
one allowed directory; DuckDB would let COPY write there, so only statements that read run at all.

Only SELECT statements run, and none that calls a function changing the database's state: DuckDB
lets `CALL enable_logging(storage = 'file', ...)` through the lock and then aborts the whole
process when it cannot write its log (issue 28). A query is also bounded by `[query]` settings:
memory, what it may spill to disk, and time (it is interrupted past `timeout_s`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.layout import layout
from pipelines.settings import Query
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
# Functions that change the database's state or run other SQL unchecked (DuckDB's table functions
# minus the readers): logging and profiling (which write files), checkpoints, SQL given as text.
STATEFUL = frozenset(
    {
        "enable_logging",
        "disable_logging",
        "truncate_duckdb_logs",
        "enable_profiling",
        "disable_profiling",
        "checkpoint",
        "force_checkpoint",
        "query",
        "query_table",
        "json_execute_serialized_sql",
    }
)


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


def _functions(node: Any) -> set[str]:
    """Every function name in a serialized statement tree (json_serialize_sql's output)."""
    if isinstance(node, dict):
        found = {node["function_name"].lower()} if isinstance(node.get("function_name"), str) else set()
        return found.union(*(_functions(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_functions(v) for v in node))
    return set()


def check_statements(sql: str) -> None:
    """Refuse (QueryError) anything but SELECT statements free of `STATEFUL` functions, before any runs."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from None
    parser = duckdb.connect()  # a separate in-memory database: parsing only, nothing of the warehouse
    try:
        for statement in statements:
            if statement.type != duckdb.StatementType.SELECT:
                kind = statement.type.name
                raise QueryError(f"refused: a {kind} statement ({REFUSED_HINT}; SELECT only)", refused=True)
            tree = json.loads(parser.execute("SELECT json_serialize_sql($q)", {"q": statement.query}).fetchone()[0])
            if tree.get("error"):
                raise QueryError(f"refused: {tree.get('error_message', 'cannot be checked')} ({REFUSED_HINT})", True)
            called = sorted(_functions(tree) & STATEFUL)
            if called:
                raise QueryError(f"refused: {', '.join(called)}() changes the database ({REFUSED_HINT})", True)
    finally:
        parser.close()


def run_query(warehouse: Path, sql: str, bounds: Query | None = None) -> QueryResult:
    """Run `sql` on the published warehouse in the sandbox, within `bounds`; raise QueryError with one line."""
    import duckdb

    bounds = bounds or Query()
    path = layout(warehouse).db
    if not path.is_file():
        raise QueryError(f"no warehouse at {path}: run `scansense run` first")
    check_statements(sql)
    config = {"memory_limit": bounds.memory_limit, "max_temp_directory_size": bounds.max_temp_directory_size}
    config = {k: v for k, v in config.items() if v}  # "": DuckDB's own default
    try:
        con = duckdb.connect(str(path), read_only=True, config={**config, **SANDBOX_AT_CONNECT})
        lake = str(layout(warehouse).lake.resolve()) + "/"
        con.execute("SET allowed_directories = $dirs", {"dirs": [lake]})
        for name, value in SANDBOX.items():  # lock_configuration last
            con.execute(f"SET {name} = {str(value).lower()}")
    except duckdb.Error as exc:
        raise QueryError(f"cannot open {path}: {_first_line(exc)}") from None
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        con.interrupt()

    timer = threading.Timer(bounds.timeout_s, stop)
    timer.daemon = True
    timer.start()
    try:
        cur = con.execute(sql)
        columns = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall() if columns else []
    except duckdb.Error as exc:
        if expired.is_set():
            raise QueryError(f"stopped after {bounds.timeout_s:g} s ([query] timeout_s)") from None
        if _refused(exc):
            raise QueryError(f"refused: {_first_line(exc)} ({REFUSED_HINT})", refused=True) from None
        raise QueryError(_first_line(exc)) from None
    finally:
        timer.cancel()
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
