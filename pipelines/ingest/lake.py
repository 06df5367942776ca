"""The Parquet lake writer and the file registry (docs/ARCHITECTURE.md, "The warehouse directory").

Per input file, under `<warehouse>/lake`:
  events/date=YYYY-MM-DD/<key>.parquet   its events of one UTC day
  quarantine/<key>.parquet               its rejected records (possibly none)
  ingest_files/<key>.parquet             its registry row
`<key>` = first 16 hex digits of the file's sha256 + '-' + 8 hex digits of the sha256 of its
absolute path. Every file is written under a temporary name in its folder and renamed, the
registry row last, so a run killed at any point leaves readable files and a rerun of the same
path replaces that path's parts whole. The same bytes under another path are registered as
`duplicate` with no events, so they are counted once. A path that is not read (symlink, FIFO,
device, unlistable folder, hidden or partial file: `paths.find_inputs`) gets a registry row with
its status and reason. Paths are stored as `names.path_text` gives them (any bytes, losslessly).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from pipelines import catalog
from pipelines.ingest.names import path_text
from pipelines.ingest.paths import Input, find_inputs
from pipelines.ingest.records import Chunk, prefetch
from pipelines.ingest.streams import open_regular
from pipelines.layout import layout
from pipelines.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA, quarantine_row, quarantine_table
from pipelines.settings import Settings

MAX_DAYS_PER_FILE = 400  # more distinct UTC days in one input means damaged timestamps, not traffic

# One registry row per input file: columns, types and comments live in sql/raw/ingest_files.sql.
INGEST_FILES_SCHEMA = catalog.table("ingest_files").schema
INGEST_FILES_COMMENTS = catalog.table("ingest_files").column_comments


@dataclass
class IngestSummary:
    """What one ingestion did; `to_dict()` is what `scansense ingest --json` prints."""

    files: int = 0
    rows: int = 0
    quarantined: int = 0
    errors: list[str] = field(default_factory=list)
    days: set[date] = field(default_factory=set)
    duplicates: int = 0
    skipped: int = 0
    refused: int = 0  # paths not read (symlinks, special files, unlistable folders): registry rows, in errors
    skipped_files: int = 0  # hidden and partial files not read: registry rows (status skipped), not errors
    missing: list[str] = field(default_factory=list)  # paths given that do not exist (in errors too)
    refused_arguments: list[str] = field(default_factory=list)  # of those refused, the ones named by the caller

    def to_dict(self) -> dict:
        """The summary as JSON-ready values (days as ISO dates, sorted)."""
        return {
            "files": self.files,
            "rows": self.rows,
            "quarantined": self.quarantined,
            "errors": list(self.errors),
            "days": sorted(d.isoformat() for d in self.days),
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "refused": self.refused,
            "skipped_files": self.skipped_files,
            "missing": list(self.missing),
        }


def sha256_of(path: Path, regular_only: bool = False) -> str:
    """SHA-256 hex digest of a file's bytes, read in 1 MiB blocks (`regular_only`: never through a link or a FIFO)."""
    h = hashlib.sha256()
    with open_regular(path) if regular_only else open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def path_hash(path: str) -> str:
    """8 hex digits naming an input path inside lake keys."""
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def file_key(sha256: str, path: Path | str) -> str:
    """Lake file key of an input: its content hash plus a hash of its absolute path's stored text (`path_text`)."""
    return f"{sha256[:16]}-{path_hash(str(path))}"


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _publish(tmp: Path, final: Path) -> None:
    os.replace(tmp, final)


@dataclass
class Registry:
    """What the lake already holds: sha256 -> path that owns those bytes, path -> its keys."""

    owner: dict[str, str] = field(default_factory=dict)
    keys: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    content: dict[str, str] = field(default_factory=dict)  # path -> sha256 it held when last ingested

    def register(self, path: str, sha: str | None, key: str, duplicate: bool) -> None:
        """Record that `path` now holds `sha` under `key` (bytes it held before are no longer owned)."""
        old = self.content.get(path)
        if old and old != sha and self.owner.get(old) == path:
            del self.owner[old]
        self.keys[path] = {key}
        if sha:
            self.content[path] = sha
            if not duplicate:
                self.owner.setdefault(sha, path)

    @classmethod
    def load(cls, lake: Path) -> Registry:
        """Every registry row, oldest first (a damaged registry file is skipped: its input is re-ingested)."""
        token = _read_token(lake)
        cached = _REGISTRY_CACHE.get(str(lake))
        if cached is not None and token is not None and cached[0] == token:
            return cached[1]
        reg = cls()
        folder = lake / "ingest_files"
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        columns = ["sha256", "path", "status", "ingested_at"]
        try:
            tables = [pads.dataset(files, format="parquet").to_table(columns=columns)] if files else []
        except (OSError, pa.ArrowException):  # one damaged file: read them one by one, skipping it
            tables = []
            for f in files:
                try:
                    tables.append(pq.read_table(f, columns=columns))
                except (OSError, pa.ArrowException):
                    continue
        rows = sorted(
            (r for t in tables for r in t.to_pylist()),
            key=lambda r: r["ingested_at"] or datetime.min.replace(tzinfo=UTC),
        )
        for r in rows:
            sha, p = r["sha256"], r["path"]
            reg.keys[p].add(file_key(sha, p) if sha else f"unreadable-{path_hash(p)}")
            if sha:
                reg.content[p] = sha
                if r["status"] != "duplicate":
                    reg.owner.setdefault(sha, p)
        return reg

    def remember(self, lake: Path) -> None:
        """Mark the lake's registry as changed and keep this copy for the next call in this process."""
        token = uuid.uuid4().hex
        final = lake / "ingest_files" / ".token"
        final.parent.mkdir(parents=True, exist_ok=True)
        _tmp(final).write_text(token)
        _publish(_tmp(final), final)
        _REGISTRY_CACHE[str(lake)] = (token, self)


# lake path -> (token, registry): a later ingestion in the same process skips re-reading the
# registry when no process has ingested since (each ingestion writes a new token under the lock).
_REGISTRY_CACHE: dict[str, tuple[str, Registry]] = {}


def _read_token(lake: Path) -> str | None:
    try:
        return (lake / "ingest_files" / ".token").read_text()
    except OSError:
        return None


@contextmanager
def _lake_lock(lock: Path) -> Iterator[None]:
    """One ingesting process per lake at a time: the duplicate check must see every registration."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class _DayWriters:
    """Streams a file's events into one temporary Parquet per UTC day; publishes them at the end."""

    def __init__(self, lake: Path, key: str) -> None:
        self.lake, self.key = lake, key
        self.writers: dict[int, pq.ParquetWriter] = {}

    def final(self, day: int) -> Path:
        d = date.fromordinal(date(1970, 1, 1).toordinal() + day)
        return self.lake / "events" / f"date={d.isoformat()}" / f"{self.key}.parquet"

    def write(self, events: pa.Table, overflow: list[dict]) -> int:
        """Write events; returns how many were refused because the file spans too many days."""
        days = events["event_date"].combine_chunks().cast(pa.int32()).to_numpy(zero_copy_only=False)
        if (days == days[0]).all():
            parts = [(int(days[0]), events)]
        else:
            order = np.argsort(days, kind="stable")
            sorted_days = days[order]
            events = events.take(pa.array(order))
            cuts = np.flatnonzero(np.diff(sorted_days)) + 1
            bounds = [0, *cuts.tolist(), len(sorted_days)]
            parts = [(int(sorted_days[a]), events.slice(a, b - a)) for a, b in zip(bounds, bounds[1:], strict=False)]
        refused = 0
        for day, part in parts:
            writer = self.writers.get(day)
            if writer is None:
                if len(self.writers) >= MAX_DAYS_PER_FILE:
                    locations = part["source_location"].to_pylist()
                    files = part["source_file"].to_pylist()
                    for f, loc in zip(files, locations, strict=True):
                        reason = f"event on a UTC day beyond the first {MAX_DAYS_PER_FILE} of this file (damaged time?)"
                        overflow.append(quarantine_row(f, loc or "", reason, b""))
                    refused += part.num_rows
                    continue
                final = self.final(day)
                final.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(_tmp(final), EVENTS_SCHEMA, compression="zstd")
                self.writers[day] = writer
            writer.write_table(part)
        return refused

    def publish(self) -> list[date]:
        """Close and rename every day's file into place; return the days written."""
        days = []
        for day, writer in sorted(self.writers.items()):
            writer.close()
            final = self.final(day)
            _publish(_tmp(final), final)
            days.append(date.fromordinal(date(1970, 1, 1).toordinal() + day))
        self.writers.clear()
        return days

    def abandon(self) -> None:
        for day, writer in self.writers.items():
            writer.close()
            _tmp(self.final(day)).unlink(missing_ok=True)
        self.writers.clear()


def _remove_parts(lake: Path, keys: set[str], keep: set[Path]) -> None:
    """Delete the lake files of earlier ingestions of a path (other than the ones just written)."""
    for key in keys:
        for f in [*(lake / "events").glob(f"date=*/{key}.parquet"), lake / "quarantine" / f"{key}.parquet"]:
            if f not in keep:
                f.unlink(missing_ok=True)
        reg = lake / "ingest_files" / f"{key}.parquet"
        if reg not in keep:
            reg.unlink(missing_ok=True)


def _write_table(table: pa.Table, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, _tmp(final), compression="zstd")
    _publish(_tmp(final), final)


def ingest_paths(
    paths: list[Path],
    settings: Settings,
    year: int | None = None,
    on_rows: Callable[[Path, int], None] | None = None,
    walked: bool = False,
) -> IngestSummary:
    """Ingest files and folders into `<warehouse>/lake`; every file gets one registry row.

    `on_rows(path, n)` hears of each chunk's records (events and quarantined) as they land: a
    progress display for long captures. `walked`: the paths are ones a day's walk found (see
    `paths.find_inputs`), judged as the walk judges them.
    """
    lake = layout(settings).lake
    summary = IngestSummary()
    inputs = find_inputs(paths, settings, walked=walked)
    with _lake_lock(layout(settings).ingest_lock):
        registry = Registry.load(lake)
        try:
            for found in inputs:
                if found.read is not None:
                    summary.files += 1
                    ingest_one(found.read, settings, year, lake, registry, summary, on_rows)
                elif found.status == "missing":
                    summary.missing.append(path_text(found.path))
                    summary.errors.append(f"{path_text(found.path)}: {found.problem}")
                else:
                    summary.files += found.status != "skipped"
                    not_read(found, lake, registry, summary)
        finally:
            registry.remember(lake)
    return summary


def not_read(found: Input, lake: Path, registry: Registry, summary: IngestSummary) -> dict:
    """Register a path that is not read (status refused, skipped or error, with the reason); nothing else is written."""
    name = path_text(found.path)
    row = _row(name) | {"status": found.status, "error": found.problem}
    if found.status == "skipped":  # expected (rsync's temporary names, open dumps): counted, not an error
        summary.skipped_files += 1
    else:
        summary.refused += 1
        summary.errors.append(f"{name}: {found.problem}")
    if found.argument and found.status != "skipped":
        summary.refused_arguments.append(name)
    key = f"unreadable-{path_hash(name)}"
    _finish(lake, key, row, [], set(registry.keys.get(name, set())), registry, summary)
    return row


def _row(name: str) -> dict:
    """A registry row for path `name` before anything is known of its content."""
    return {
        "path": name,
        "sha256": None,
        "format": None,
        "source_kind": None,
        "rows": 0,
        "quarantined": 0,
        "status": "ok",
        "error": None,
        "ingested_at": datetime.now(UTC),
        "days": [],
        "skipped": 0,
        "undercounts": False,
        "undercount_reason": None,
    }


def ingest_one(
    path: Path,
    settings: Settings,
    year: int | None,
    lake: Path,
    registry: Registry,
    summary: IngestSummary,
    on_rows: Callable[[Path, int], None] | None = None,
) -> dict:
    """Ingest one file into the lake, update `registry` and `summary`; returns its registry row."""
    from pipelines.ingest import iter_file

    path = Path(path).resolve()
    name = path_text(path)
    row = _row(name)
    old_keys = set(registry.keys.get(name, set()))
    try:
        sha = sha256_of(path, regular_only=True)
    except OSError as exc:
        row.update(status="error", error=f"cannot read: {exc.strerror or exc}")
        summary.errors.append(f"{name}: {row['error']}")
        key = f"unreadable-{path_hash(name)}"
        _finish(lake, key, row, [quarantine_row(name, "byte:0", row["error"], b"")], old_keys, registry, summary)
        return row
    row["sha256"] = sha
    key = file_key(sha, name)
    owner = registry.owner.get(sha)
    if owner is not None and owner != name:
        row.update(status="duplicate", error=f"same bytes as {owner}")
        summary.duplicates += 1
        _finish(lake, key, row, [], old_keys, registry, summary)
        return row

    writers = _DayWriters(lake, key)
    qfinal = lake / "quarantine" / f"{key}.parquet"
    qfinal.parent.mkdir(parents=True, exist_ok=True)
    qwriter = pq.ParquetWriter(_tmp(qfinal), QUARANTINE_SCHEMA, compression="zstd")
    error = None
    # Parsing the next chunk overlaps with compressing and writing this one.
    chunks = prefetch(iter_file(path, settings, year))
    try:
        chunk: Chunk
        for chunk in chunks:
            row["format"] = row["format"] or chunk.format
            row["skipped"] += chunk.skipped
            if chunk.undercounts:  # the latest evidence: a parser's reason may grow with the file (counts so far)
                row.update(undercounts=True, undercount_reason=chunk.undercounts)
            bad = list(chunk.quarantine)
            if chunk.events.num_rows:
                refused = writers.write(chunk.events, bad)
                row["rows"] += chunk.events.num_rows - refused
            if bad:
                qwriter.write_table(quarantine_table(bad))
                row["quarantined"] += sum(r.get("records", 1) for r in bad)
            error = error or chunk.error
            if on_rows is not None:
                on_rows(path, chunk.events.num_rows + len(bad))
        days = writers.publish()
    except Exception as exc:  # writing failed (disk full, permissions): the file is marked, the run goes on
        chunks.close()
        writers.abandon()
        qwriter.close()
        _tmp(qfinal).unlink(missing_ok=True)
        row.update(status="error", error=f"{type(exc).__name__}: {exc}", rows=0, days=[])
        summary.errors.append(f"{name}: {row['error']}")
        bad = [quarantine_row(name, "byte:0", f"ingestion failed: {row['error']}", b"")]
        _finish(lake, key, row, bad, old_keys, registry, summary)
        return row
    qwriter.close()
    _publish(_tmp(qfinal), qfinal)
    row["days"] = days
    from pipelines.ingest.formats import FORMAT_KIND

    row["source_kind"] = FORMAT_KIND.get(row["format"] or "")
    if error:
        row.update(status="error", error=error)
    elif row["rows"] == 0 and (row["quarantined"] == 0 or row["format"] is None):
        row["status"] = "empty"
    elif row["rows"] == 0:
        row["status"] = "error"
        first = pq.read_table(qfinal, columns=["reason"])["reason"][0].as_py()
        row["error"] = f"no usable record; first problem: {first}"
    elif row["quarantined"]:
        row["status"] = "partial"
    if row["status"] == "error":
        summary.errors.append(f"{name}: {row['error']}")
    keep = {writers.final((d - date(1970, 1, 1)).days) for d in days} | {qfinal}
    _finish(lake, key, row, None, old_keys, registry, summary, keep)
    return row


def _finish(
    lake: Path,
    key: str,
    row: dict,
    quarantine: list[dict] | None,
    old_keys: set[str],
    registry: Registry,
    summary: IngestSummary,
    keep: set[Path] | None = None,
) -> None:
    """Write the quarantine (unless already streamed) and registry files, drop the path's stale parts."""
    qfinal = lake / "quarantine" / f"{key}.parquet"
    reg = lake / "ingest_files" / f"{key}.parquet"
    if quarantine is not None:
        row["quarantined"] = len(quarantine)
        _write_table(quarantine_table(quarantine) if quarantine else QUARANTINE_SCHEMA.empty_table(), qfinal)
        keep = {qfinal}
        # A file that now gives nothing drops the events an earlier ingestion of its path wrote.
    _remove_parts(lake, old_keys | {key}, (keep or set()) | {reg})
    _write_table(pa.Table.from_pylist([row], schema=INGEST_FILES_SCHEMA), reg)
    registry.register(row["path"], row["sha256"], key, row["status"] == "duplicate")
    summary.rows += row["rows"]
    summary.quarantined += row["quarantined"]
    summary.skipped += row["skipped"]
    summary.days |= set(row["days"])
