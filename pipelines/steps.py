"""The day's analysis steps, from the catalog: the one list `scansense run` walks and the DAG turns into tasks.

Between ingest (closed by `record`) and `publish`, a day is one step per catalog table of the
`staging`, `detect` and `score` layers, in catalog order, each waiting for the steps of the tables
it reads (`catalog.depends_on`). A step run alone reads its inputs from the lake (the day's events
partition, the day partitions of the tables it reads; `geo_ip` from its cache) and replaces its own
day partition, so it can run in any process, be retried alone, and give the same rows.

With `[scale] shards` = N > 1, a table marked `-- sharded by: src_ip` runs as N steps, shard i seeing
the events whose source or destination hashes to i (a probe is judged with its reverse conversation,
`sql/detect/probes.sql`) and keeping the rows of its own sources; each writes
`lake/<table>/date=D/shard-<i>-of-<N>.parquet`, read back as one table. A sharded table with a
statistic over every source (`-- combined by: module:phase1, combine, phase2`) runs phase 1 per
shard, the combine once over every shard's phase-1 rows, and phase 2 per shard; the phases hand
each other files under `lake/_work/<step>/date=D/`.

A day can also run every unsharded step in one process on one connection (`run_shared`): the day's
events are read once and each table stays in memory for the steps after it. `scansense run` does so
(unsharded, without `[scale] memory_limit`), and so does the DAG's `analyze` task for a day of fewer events than `[airflow]
group_steps_below_events` (`grouped`); a later call resumes where an unfinished one stopped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import catalog
from pipelines.layout import layout
from pipelines.settings import Settings

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

# duckdb, pyarrow and the modules that use them are imported where a step runs, not with this
# module: the DAG file reads the steps at parse time in every task process (issue 27).

# The step that closes ingest: after it the day's raw partitions (events, quarantine, runs) are complete.
RECORD = "record"
# The folder (in the lake) where the phases of a combined table hand each other their rows.
WORK = "_work"
# Layers whose tables a day's analysis builds; `staging` tables keep their own (cross-day) storage.
LAYERS = ("staging", "detect", "score", "orgs", "history")


@dataclass(frozen=True)
class Step:
    """One step of a day: the task id, the catalog table it builds, its phase, what it waits for."""

    name: str
    table: str
    # "table" (the table's builder), or the phases of a combined table: "split" (phase 1 per
    # shard), "combine" (once), "finish" (phase 2 per shard, writing the table)
    phase: str
    after: tuple[str, ...]
    sharded: bool = False

    @property
    def doc(self) -> str:
        """What the step does, for the task's doc in the Airflow UI."""
        entry = catalog.table(self.table)
        what = {
            "table": f"Build `{self.table}` for the day",
            "split": f"Phase 1 of `{self.table}`, for one shard of sources",
            "combine": f"Combine every shard's phase 1 of `{self.table}` (statistics over all sources)",
            "finish": f"Phase 2 of `{self.table}`, for one shard of sources",
        }[self.phase]
        reads = ", ".join(f"`{t}`" for t in inputs(self.table)) or "nothing"
        shard = " One mapped task per shard of sources (a hash of src_ip)." if self.sharded else ""
        return (
            f"{what}: {entry.comment}\n\nReads {reads} of the day from the lake and replaces its own day "
            f"partition, so it can be retried alone.{shard}"
        )


def inputs(table: str) -> tuple[str, ...]:
    """The warehouse tables a step of `table` loads: every catalog table it reads, directly or through intermediates."""
    return tuple(t for t in catalog.names() if t in catalog.depends_on(table))


def _phases(entry: catalog.Table) -> tuple[str, str, str, str]:
    """(module, phase1, combine, phase2) of a `-- combined by: module:phase1, combine, phase2` table."""
    m = re.fullmatch(r"([\w.]+):(\w+),\s*(\w+),\s*(\w+)", entry.combined_by)
    if not m:
        raise ValueError(f"{entry.name}: '-- combined by:' must read module:phase1, combine, phase2")
    return m.group(1), m.group(2), m.group(3), m.group(4)


def table_steps(shards: int = 1) -> tuple[Step, ...]:
    """The day's table steps between `record` and `publish`, in the order one process runs them."""
    if shards < 1:
        raise ValueError(f"scale.shards must be at least 1, not {shards}")
    made_by = dict.fromkeys(catalog.names("raw"), RECORD)
    out: list[Step] = []
    for entry in catalog.tables(*LAYERS):
        if entry.built_at == "publish":
            continue  # built by publish from what the steps stored
        after = tuple(sorted({made_by[t] for t in inputs(entry.name) if t in made_by}))
        sharded = shards > 1 and entry.sharded_by == "src_ip"
        if sharded and entry.combined_by:
            _, phase1, combine, _ = _phases(entry)
            split = Step(f"{entry.name}.{phase1}", entry.name, "split", after, sharded=True)
            joined = Step(f"{entry.name}.{combine}", entry.name, "combine", (split.name,))
            out += [split, joined, Step(entry.name, entry.name, "finish", (split.name, joined.name), sharded=True)]
        else:
            out.append(Step(entry.name, entry.name, "table", after, sharded=sharded))
        made_by[entry.name] = entry.name
    return tuple(out)


def step(name: str, shards: int = 1) -> Step:
    """One table step by name (a task id)."""
    for s in table_steps(shards):
        if s.name == name:
            return s
    raise KeyError(f"no step {name!r} with {shards} shard(s)")


# --- where a step's rows go ------------------------------------------------------------------


def _partition(warehouse: Path, name: str, day: date) -> Path:
    return layout(warehouse).lake_table(name) / f"date={day.isoformat()}"


def write_output(
    warehouse: Path, name: str, day: date, table: pa.Table | duckdb.DuckDBPyRelation, shard: int = 0, shards: int = 1
) -> Path:
    """Replace the day's file of `name` (`part.parquet`, or `shard-<i>-of-<N>.parquet`), removing files of another layout.

    A DuckDB relation (a builder's rows that grow with the day's events) is written as DuckDB streams
    it, never held whole in memory.
    """
    from pipelines import atomic
    from pipelines import warehouse as wh

    folder = _partition(warehouse, name, day)
    own = "part.parquet" if shards == 1 else f"shard-{shard}-of-{shards}.parquet"
    if hasattr(table, "to_parquet"):
        with atomic.replacing(folder / own) as tmp:
            table.to_parquet(str(tmp), compression="zstd")
        path = folder / own
    else:
        path = wh.write_parquet_atomic(table, folder / own)
    for old in folder.glob("*.parquet"):
        stale = old.name == "part.parquet" or re.fullmatch(r"shard-\d+-of-\d+\.parquet", old.name)
        if stale and old.name != own and not old.name.endswith(f"-of-{shards}.parquet"):
            old.unlink(missing_ok=True)  # a rerun with another shard count: one layout per partition
    return path


def _work_files(warehouse: Path, name: str, day: date, shards: int) -> list[str]:
    """The phase files of step `name` for the day, one per shard; a missing shard is an error, not fewer rows."""
    folder = _partition(warehouse, f"{WORK}/{name}", day)
    files = [folder / f"shard-{i}-of-{shards}.parquet" for i in range(shards)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"{name} for {day}: shard files missing ({', '.join(missing)}); run that step first")
    return [str(f) for f in files]


# --- what a step reads -----------------------------------------------------------------------


# A UDP record to a multicast or broadcast group, as sql/detect/contacts.sql's group_queries reads them
# (the macro of sql/detect/group_macros.sql, installed by pipelines.detect.install_group_macro).
GROUP_QUERY = "(proto = 'udp' AND sent_to_group(dst_ip, proto))"


def shard_of(column: str, shards: int) -> str:
    """SQL: the shard (0..shards-1) of an address column, rows without one in 0 (`duck.install_bucket_macro`)."""
    return f"source_bucket({column}, {int(shards)})"


def load_inputs(
    con: duckdb.DuckDBPyConnection, table: str, day: date, settings: Settings, shard: int = 0, shards: int = 1
) -> None:
    """Create in `con` every table a step of `table` reads, from the lake: the day's partitions, one shard's events."""
    from pipelines import warehouse as wh

    where = ""
    if shards > 1:
        from pipelines.detect import install_group_macro
        from pipelines.duck import install_bucket_macro

        install_group_macro(con)  # the view's filter calls them, at every query
        install_bucket_macro(con)
        # and every UDP query to a group: a member's answer to it is judged against it (contacts.sql)
        where = (
            f"WHERE {shard_of('src_ip', shards)} = {int(shard)} OR {shard_of('dst_ip', shards)} = {int(shard)}"
            f" OR {GROUP_QUERY}"
        )
    if "events" in inputs(table):
        wh.lake_view(con, settings.warehouse, "events", catalog.table("events").schema, day, where)
    load_tables(con, [name for name in inputs(table) if name != "events"], day, settings, where)


def load_tables(
    con: duckdb.DuckDBPyConnection, names: Iterable[str], day: date, settings: Settings, where: str = ""
) -> None:
    """Create in `con` the day partitions of the catalog tables `names` (not `events`), as their steps stored them.

    A `-- read as: view` table (rows that grow with the day's events) is a view over its files, filtered by
    `where` (a shard's filter, our own SQL), and computed first when the day has none (`stored_partition`).
    """
    from pipelines import warehouse as wh

    for name in names:
        entry = catalog.table(name)
        if entry.layer == "staging":
            _load_geo_ip(con, settings)  # needs `events` in `con` first
        elif entry.read_as == "view":
            stored_partition(settings, name, day)  # a lake from before the table, or a step run alone
            wh.lake_view(con, settings.warehouse, name, entry.schema, day, where)
        else:
            wh.load_lake_table(con, settings.warehouse, name, entry.schema, day=day)


def stored_partition(settings: Settings, table: str, day: date) -> list[str]:
    """The lake files of `table`'s day partition, computed by the table's own step and stored when missing.

    A day with events but no partition of a table derived from them (a lake written before the table
    existed, or a later step run alone) gets it from its events, on a connection of its own, so
    whoever reads the table next reads it stored; a day without events has neither.
    """
    from pipelines import duck
    from pipelines import warehouse as wh

    files = wh.lake_files(settings.warehouse, table, day)
    if files or not wh.lake_files(settings.warehouse, "events", day):
        return files
    shards = settings.scale.shards
    own_step = step(table, shards)  # a combined table's phases are not run here: KeyError
    for shard in range(shards if own_step.sharded else 1):
        con = duck.connect(settings)
        try:
            load_inputs(con, table, day, settings, shard, shards if own_step.sharded else 1)
            _run_table(own_step, day, settings, con, shard, shards if own_step.sharded else 1)
        finally:
            con.close()
    return wh.lake_files(settings.warehouse, table, day)


def _load_geo_ip(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """`geo_ip` as the geo step left it for the day: the cached rows of the addresses of `events`."""
    from pipelines import geo

    cache = geo.cache_path(settings)
    if not cache.is_file():
        con.register("_geo_empty", geo.GEO_SCHEMA.empty_table())
        con.execute("CREATE OR REPLACE TABLE geo_ip AS SELECT * FROM _geo_empty")
        con.unregister("_geo_empty")
        return
    con.execute(
        """CREATE OR REPLACE TABLE geo_ip AS SELECT * FROM read_parquet($file) WHERE ip IN
           (SELECT src_ip FROM events WHERE src_ip IS NOT NULL UNION SELECT dst_ip FROM events WHERE dst_ip IS NOT NULL)""",
        {"file": str(cache)},
    )


def _keep_shard(table: pa.Table, shard: int, shards: int) -> pa.Table:
    """The rows of `table` whose src_ip falls in `shard`."""
    if shards == 1:
        return table
    import duckdb

    from pipelines.duck import install_bucket_macro

    con = duckdb.connect()
    try:
        install_bucket_macro(con)
        con.register("rows_in", table)
        return con.execute(f"SELECT * FROM rows_in WHERE {shard_of('src_ip', shards)} = {int(shard)}").to_arrow_table()
    finally:
        con.close()


def _with_day(table: pa.Table, day: date, entry: catalog.Table) -> pa.Table:
    """The builder's rows with the day as `event_date` when the table has that column and the rows do not."""
    if "event_date" in table.column_names or "event_date" not in entry.column_comments:
        return table
    import pyarrow as pa

    return table.add_column(0, "event_date", pa.array([day] * table.num_rows, pa.date32()))


def _params(entry: catalog.Table, settings: Settings) -> object:
    """The settings (or settings section) a table's builder is given, from its `-- built by:`."""
    m = re.search(r"\(settings(?:\.(\w+))?\)", entry.built_by)
    return getattr(settings, m.group(1)) if m and m.group(1) else settings


def _function(module: str, name: str) -> Callable:
    return getattr(import_module(module), name)


# --- running a step --------------------------------------------------------------------------


def build_geo_ip(con: duckdb.DuckDBPyConnection, settings: Settings) -> pa.Table:
    """The geo step: enrich the day's addresses (`events` in `con`), refreshing the lake's geo_ip cache."""
    from pipelines import geo

    return geo.enrich(con, settings)


def run_step(
    step: Step,
    day: date,
    settings: Settings,
    shard: int = 0,
    con: duckdb.DuckDBPyConnection | None = None,
) -> int:
    """Run one step for `day` (one shard of a sharded step) and write its output; returns its row count.

    With `con` (one process, one shard), the step's inputs are the tables already in `con` and its
    output is added to it; without, a fresh connection loads them from the lake.
    """
    shards = settings.scale.shards if step.sharded else 1
    if not 0 <= shard < shards:
        kind = f"a step of {shards} shards" if step.sharded else "not sharded"
        raise ValueError(f"--shard {shard}: {step.name} is {kind}; shards are 0..{shards - 1}")
    from pipelines import warehouse as wh
    from pipelines.schema import check_day

    check_day(day)  # the days `run` accepts, no others
    if con is None and step.phase in ("table", "split") and not wh.lake_files(settings.warehouse, "runs", day):
        raise ValueError(
            f"--date {day.isoformat()}: the day was never ingested (no `runs` record in {settings.warehouse}); "
            "ingest and record it first (`scansense run` or the DAG's ingest and record tasks)"
        )
    if con is not None:
        if step.sharded or step.phase != "table":
            raise ValueError(f"{step.name}: a shared connection runs unsharded table steps only")
        return _run_table(step, day, settings, con, 0, 1)
    from pipelines import duck

    own = duck.connect(settings)
    try:
        if step.phase == "combine":
            return _run_combine(step, day, settings, own)
        load_inputs(own, step.table, day, settings, shard, settings.scale.shards if step.sharded else 1)
        if step.phase == "table":
            return _run_table(step, day, settings, own, shard, shards)
        return _run_phase(step, day, settings, own, shard, shards)
    finally:
        own.close()


def _run_table(
    step: Step, day: date, settings: Settings, con: duckdb.DuckDBPyConnection, shard: int, shards: int
) -> int:
    entry = catalog.table(step.table)
    if entry.layer == "staging":
        rows = build_geo_ip(con, settings)  # its storage is the cache it refreshes, cached over days
    else:
        rows = catalog.builder(step.table)(con, day, settings)
        if not isinstance(rows, _arrow_table()):  # a relation, streamed to the lake: see write_output
            if shards > 1:
                from pipelines.duck import install_bucket_macro

                install_bucket_macro(con)
                rows = rows.filter(f"{shard_of('src_ip', shards)} = {int(shard)}")
            path = write_output(settings.warehouse, step.table, day, rows, shard, shards)
            from pipelines import warehouse as wh
            from pipelines.duck import drop_staged

            drop_staged(con)  # the rows the builder staged are stored now; a run's connection goes on

            wh.lake_view(con, settings.warehouse, step.table, entry.schema, day)  # the next steps read the file
            import pyarrow.parquet as pq

            return pq.read_metadata(path).num_rows
        rows = _keep_shard(_with_day(rows, day, entry), shard, shards)
        write_output(settings.warehouse, step.table, day, rows, shard, shards)
    con.register(f"{step.table}_rows", rows)
    con.execute(f'CREATE OR REPLACE TABLE "{step.table}" AS SELECT * FROM "{step.table}_rows"')
    con.unregister(f"{step.table}_rows")
    return rows.num_rows


def _arrow_table() -> type:
    import pyarrow as pa

    return pa.Table


def _run_phase(
    step: Step, day: date, settings: Settings, con: duckdb.DuckDBPyConnection, shard: int, shards: int
) -> int:
    entry = catalog.table(step.table)
    module, phase1, combine, phase2 = _phases(entry)
    params = _params(entry, settings)
    if step.phase == "split":
        rows = _keep_shard(_function(module, phase1)(con, day, params), shard, shards)
        write_output(settings.warehouse, f"{WORK}/{step.name}", day, rows, shard, shards)
        return rows.num_rows
    import pyarrow.parquet as pq

    split = f"{step.table}.{phase1}"
    counts = pq.read_table(_work_files(settings.warehouse, split, day, shards)[shard])
    combined = pq.read_table(_partition(settings.warehouse, f"{WORK}/{step.table}.{combine}", day) / "part.parquet")
    rows = _with_day(_function(module, phase2)(con, counts, combined, params), day, entry)
    write_output(settings.warehouse, step.table, day, rows, shard, shards)
    return rows.num_rows


def _run_combine(step: Step, day: date, settings: Settings, con: duckdb.DuckDBPyConnection) -> int:
    entry = catalog.table(step.table)
    module, phase1, combine, _ = _phases(entry)
    files = _work_files(settings.warehouse, f"{step.table}.{phase1}", day, settings.scale.shards)
    every = con.execute("SELECT * FROM read_parquet($files)", {"files": files}).to_arrow_table()
    rows = _function(module, combine)(every, _params(entry, settings))
    write_output(settings.warehouse, f"{WORK}/{step.name}", day, rows)
    return rows.num_rows


# --- a day's steps on one connection ---------------------------------------------------------


# `lake/_work/analyze/date=D/progress.json`: the steps `run_shared` built for the day, and after which `record`.
PROGRESS = "analyze"


def grouped(events: int, settings: Settings) -> bool:
    """Whether a day of `events` events runs its table steps in one task (`[airflow] group_steps_below_events`)."""
    return events < settings.airflow.group_steps_below_events


def run_shared(
    day: date,
    settings: Settings,
    watch: Callable[[str], AbstractContextManager] | None = None,
    resume: bool = False,
) -> dict[str, int]:
    """Run the day's table steps in this process, in catalog order, on one connection; rows per table built.

    The day's events are a view over its lake files, read by every step, and each step's table stays
    in the connection for the steps after it (`run_step` with `con`). With `resume`, the steps an
    unfinished earlier call built since the day's `record` are loaded from the lake instead of built
    again (a retry picks up at the table that failed); after a finished call, everything is built again.
    """
    from pipelines import duck
    from pipelines import warehouse as wh

    progress = _partition(settings.warehouse, f"{WORK}/{PROGRESS}", day) / "progress.json"
    recorded = _runs_stamp(settings.warehouse, day)
    done = _unfinished(progress, recorded) if resume else {}
    counts: dict[str, int] = {}
    con = duck.connect(settings)
    try:
        wh.lake_view(con, settings.warehouse, "events", catalog.table("events").schema, day)
        plan = table_steps(1)
        load_tables(con, [s.table for s in plan if s.name in done], day, settings)
        for one in plan:
            if one.name in done:
                continue
            with watch(one.table) if watch else nullcontext():
                counts[one.table] = run_step(one, day, settings, con=con)
            done[one.name] = counts[one.table]
            _save_progress(progress, recorded, done, finished=False)
    finally:
        con.close()
    _save_progress(progress, recorded, done, finished=True)
    return counts


def _runs_stamp(warehouse: Path, day: date) -> list:
    """What identifies the day's `record`: its `runs` files with their sizes and times (a new record, a new stamp)."""
    from pipelines import warehouse as wh

    return [[f, os.stat(f).st_mtime_ns, os.stat(f).st_size] for f in wh.lake_files(warehouse, "runs", day)]


def _unfinished(progress: Path, recorded: list) -> dict[str, int]:
    """The steps (name -> rows) an unfinished `run_shared` of the same `record` built; none otherwise."""
    try:
        saved = json.loads(progress.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(saved, dict) or saved.get("finished", True) or saved.get("record") != recorded:
        return {}
    return dict(saved.get("done", {}))


def _save_progress(progress: Path, recorded: list, done: dict[str, int], finished: bool) -> None:
    from pipelines import atomic

    atomic.write_text(progress, json.dumps({"record": recorded, "done": done, "finished": finished}))
