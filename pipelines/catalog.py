"""The table catalog: every warehouse table's one home is `sql/<layer>/<table>.sql`.

A file's header gives the table's comment, grain, key, every column with its DuckDB type and
comment, and its checks (`-- check critical|warning: ExpectX(...)`, run by Great Expectations; a
stored table's `-- key:` adds a critical uniqueness check of its own, so a key is never only words);
tables that Python writes have a header-only file naming their builder (`-- built by:`). Warehouse
comments, the quality suites, the run's step order and the docs all read this catalog.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.sqlfiles import SQL_DIR, header_entries, split_header

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from pipelines.settings import Settings

# Layers in the order data flows through them; a table reads only tables of its layer or earlier ones.
LAYERS = ("raw", "staging", "detect", "score", "orgs", "history", "marts", "meta")
# What a file holds: a warehouse table (default), SQL that Python runs without storing it, or a
# query whose rows only the checks read (cross-table agreement).
KINDS = ("table", "intermediate", "check")

# DuckDB column type -> its Arrow type, built from the pyarrow module (imported when first needed).
_ARROW: dict[str, Callable] = {
    "VARCHAR": lambda pa: pa.string(),
    "BIGINT": lambda pa: pa.int64(),
    "INTEGER": lambda pa: pa.int32(),
    "DOUBLE": lambda pa: pa.float64(),
    "BOOLEAN": lambda pa: pa.bool_(),
    "DATE": lambda pa: pa.date32(),
    "TIMESTAMP WITH TIME ZONE": lambda pa: pa.timestamp("us", tz="UTC"),
}


def arrow_type(sql_type: str) -> pa.DataType:
    """The Arrow type the lake stores for a DuckDB column type (`X[]` is a list of X).

    pyarrow is imported here, not with the module: the DAG file reads the catalog at parse time in
    every task process, and pyarrow's import (with numpy) was most of that (issue 27).
    """
    import pyarrow as pa

    if sql_type.endswith("[]"):
        return pa.list_(arrow_type(sql_type[:-2]))
    return _ARROW[sql_type](pa)


@dataclass(frozen=True)
class Column:
    """One documented column."""

    name: str
    type: str
    comment: str


@dataclass(frozen=True)
class Check:
    """One expectation guarding a table: the GX expectation call as written, and whether it is critical."""

    expectation: str
    critical: bool


@dataclass(frozen=True)
class Table:
    """One catalog file: a table, an intermediate or a check query, with its header and SQL."""

    name: str
    layer: str
    path: Path
    kind: str
    comment: str
    grain: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    checks: tuple[Check, ...]
    checked_rows: str
    built_by: str
    findings: str
    reads: frozenset[str]
    sql: str
    # `-- sharded by: src_ip`: a source's rows depend only on the events it sent or received, so the
    # step can run per shard of sources (pipelines/steps.py). Empty: the step sees the whole day.
    sharded_by: str = ""
    # `-- combined by: module:phase1, combine, phase2`: a sharded table with a statistic over every
    # source: phase1 per shard, combine once over all phase1 rows, phase2 per shard.
    combined_by: str = ""
    # `-- built at: publish`: not a step of the day; publish builds it from what the steps stored
    # (source_history, from the latest day's source_history_state). Empty: a step of the day.
    built_at: str = ""
    # `-- stored as: <table>` (an intermediate): a day's steps read the stored table's rows in its place,
    # so a table reading this intermediate waits for that table's step instead of evaluating it again.
    stored_as: str = ""
    # `-- read as: view`: a step reads the table's day partition where it lies (a view over its files),
    # not copied into its connection: its rows grow with the day's events.
    read_as: str = ""

    @property
    def column_comments(self) -> dict[str, str]:
        """Column name -> comment."""
        return {c.name: c.comment for c in self.columns}

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the table's lake files."""
        import pyarrow as pa

        return pa.schema([(c.name, arrow_type(c.type)) for c in self.columns])


def _column(qualifier: str, text: str) -> Column:
    name, _, sql_type = qualifier.partition(" ")
    return Column(name, sql_type.strip(), " ".join(text.split()))


@cache
def references(sql: str) -> frozenset[str]:
    """Names of the tables and views a query reads (its `$parameters` do not matter here)."""
    import duckdb  # only to order the catalog: reading a table's columns must not load DuckDB

    text = re.sub(r"\$[A-Za-z_]\w*", "NULL", sql)
    try:
        return frozenset(n.split(".")[-1] for n in duckdb.get_table_names(text))
    except duckdb.Error:  # a query the parser cannot bind alone (USING over temp tables): read it plainly
        return frozenset(re.findall(r"(?:FROM|JOIN)\s+([A-Za-z_]\w*)", text, flags=re.IGNORECASE))


def key_check(key: tuple[str, ...]) -> Check:
    """The critical uniqueness check a table's `-- key:` stands for (one column, or the columns together)."""
    if len(key) == 1:
        return Check(f'ExpectColumnValuesToBeUnique(column="{key[0]}")', critical=True)
    listed = ", ".join(f'"{k}"' for k in key)
    return Check(f"ExpectCompoundColumnsToBeUnique(column_list=[{listed}])", critical=True)


def parse(path: Path, layer: str) -> Table:
    """Read one catalog file."""
    text = path.read_text(encoding="utf-8")
    header, body = split_header(text)
    fields: dict[str, str] = {}
    columns, checks = [], []
    for key, qualifier, value in header_entries(header):
        if key == "column":
            columns.append(_column(qualifier, value))
        elif key == "check":
            if qualifier not in ("critical", "warning"):
                raise ValueError(f"{path}: a check is critical or warning, not {qualifier!r}")
            checks.append(Check(" ".join(value.split()), qualifier == "critical"))
        else:
            fields[key] = value
    kind = fields.get("kind", "table").split()[0]
    if kind not in KINDS:
        raise ValueError(f"{path}: kind must be one of {KINDS}, not {kind!r}")
    reads = {r.strip() for r in fields.get("reads", "").split(",") if r.strip()}
    key = tuple(k.strip() for k in fields.get("key", "").split(",") if k.strip())
    if key and kind == "table" and key_check(key) not in checks:
        checks.append(key_check(key))  # a stored table's key is checked like its other checks
    return Table(
        name=path.stem,
        layer=layer,
        path=path,
        kind=kind,
        comment=" ".join(fields.get("table", path.stem).split()),
        grain=" ".join(fields.get("grain", "").split()),
        key=key,
        columns=tuple(columns),
        checks=tuple(checks),
        checked_rows=" ".join(fields.get("checked rows", "event_date = $day").split()),
        built_by=fields.get("built by", ""),
        findings=fields.get("findings", ""),
        reads=frozenset(reads),
        sql=body,
        sharded_by=fields.get("sharded by", "").strip(),
        combined_by=" ".join(fields.get("combined by", "").split()),
        built_at=fields.get("built at", "").split(" ")[0].strip(),
        stored_as=fields.get("stored as", "").strip(),
        read_as=fields.get("read as", "").strip(),
    )


def _deps(t: Table, by_name: dict[str, Table], follow_stored: bool = True) -> set[str]:
    """Names of the catalog entries `t` reads, directly or through intermediates.

    With `follow_stored`, an intermediate with `-- stored as: X` is read from X instead, unless X
    itself reads `t` (a stored table's own inputs are evaluated, not read from it).
    """
    found, todo = set(), list(_inputs(t))
    if t.name == "findings":  # the findings table gathers what every detector emits
        todo += [x.name for x in by_name.values() if x.findings]
    while todo:
        name = todo.pop()
        stored = by_name[name].stored_as if follow_stored and name in by_name else ""
        if stored and stored != t.name and t.name not in _deps(by_name[stored], by_name, follow_stored=False):
            name = stored  # read from the stored day table, not evaluated again
        if name in by_name and name not in found and name != t.name:
            found.add(name)
            if by_name[name].kind == "intermediate":
                todo += list(_inputs(by_name[name]))
    return found


def _inputs(t: Table) -> frozenset[str]:
    """What `t` reads: the names its SQL mentions and those its header declares (`-- reads:`)."""
    return t.reads | (references(t.sql) if t.sql.strip() else frozenset())


def _ordered(entries: list[Table]) -> list[Table]:
    """Layer by layer; inside a layer, every table after the tables it reads (ties by name)."""
    by_name = {t.name: t for t in entries}

    out: list[Table] = []
    for layer in LAYERS:
        pending = sorted((t for t in entries if t.layer == layer), key=lambda t: t.name)
        while pending:
            done = {t.name for t in out}
            ready = next((t for t in pending if _deps(t, by_name) & {p.name for p in pending} <= done), pending[0])
            out.append(ready)
            pending.remove(ready)
    return out


@cache
def _files(sql_dir: Path = SQL_DIR) -> tuple[Table, ...]:
    return tuple(parse(p, layer) for layer in LAYERS for p in sorted((sql_dir / layer).glob("*.sql")))


@cache
def entries(sql_dir: Path = SQL_DIR) -> tuple[Table, ...]:
    """Every catalog file (tables, intermediates, check queries) in the order data flows."""
    return tuple(_ordered(list(_files(sql_dir))))


def tables(*layers: str) -> tuple[Table, ...]:
    """The warehouse tables, in the order a run builds them; only those of `layers` when given."""
    return tuple(t for t in entries() if t.kind == "table" and (not layers or t.layer in layers))


def names(*layers: str) -> tuple[str, ...]:
    """Names of the warehouse tables of `layers` (every layer when none), in build order."""
    return tuple(t.name for t in tables(*layers))


def table(name: str) -> Table:
    """One catalog entry by name."""
    for t in _files():
        if t.name == name:
            return t
    raise KeyError(f"no sql/<layer>/{name}.sql in the catalog")


def depends_on(name: str) -> set[str]:
    """Catalog tables that `name` reads, directly or through intermediates."""
    return _deps(table(name), {t.name: t for t in entries()})


_BUILT_BY = re.compile(r"^([\w.]+):(\w+)\(settings(?:\.(\w+))?\)")


def builder(name: str) -> Callable[[duckdb.DuckDBPyConnection, date, Settings], pa.Table]:
    """The function a per-day table's `-- built by: module:function(settings[.section])` names, as f(con, day, settings)."""
    m = _BUILT_BY.match(table(name).built_by)
    if not m:
        raise ValueError(f"{name}: '-- built by:' must read module:function(settings) or (settings.section)")
    module, function, section = m.groups()
    fn = getattr(importlib.import_module(module), function)
    return lambda con, day, settings: fn(con, day, getattr(settings, section) if section else settings)
