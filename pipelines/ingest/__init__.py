"""Ingestion: detect each input's format from its content, parse it in bounded chunks, and write
the Parquet lake with a registry row per file (by sha256: the same bytes are counted once)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.schema import QUARANTINE_SCHEMA, conform_events, empty_events, quarantine_row, quarantine_table
from pipelines.settings import Settings

FORMAT_KIND = {
    "pcap": "pcap",
    "pcapng": "pcap",
    "cidds": "flow",
    "cicflowmeter": "flow",
    "ufw": "firewall",
    "sensor_jsonl": "sensor",
    "honeypot_json": "honeypot",
    "cowrie": "honeypot",
}

INGEST_FILES_COLUMNS = [
    ("path", pa.string(), "Path of the input file as given to ingestion (data, never opened as anything but input)."),
    ("sha256", pa.string(), "SHA-256 of the file's bytes; the same bytes under two paths are ingested once."),
    (
        "format",
        pa.string(),
        "Format detected from the content (pcap, pcapng, cidds, cicflowmeter, ufw, sensor_jsonl, honeypot_json, cowrie).",
    ),
    ("source_kind", pa.string(), "Input family: pcap, flow, firewall, honeypot, sensor."),
    ("rows", pa.int64(), "Events ingested from the file."),
    ("quarantined", pa.int64(), "Records of the file rejected into quarantine."),
    (
        "status",
        pa.string(),
        "ok, partial (some records quarantined), duplicate (same bytes seen under another path), empty, or error.",
    ),
    ("error", pa.string(), "Why the file could not be ingested (status error), else null."),
    ("ingested_at", pa.timestamp("us", tz="UTC"), "When the file was ingested, UTC."),
    ("days", pa.list_(pa.date32()), "UTC days the file's events fall on (lake partitions written)."),
]
INGEST_FILES_SCHEMA = pa.schema([(n, t) for n, t, _ in INGEST_FILES_COLUMNS])
INGEST_FILES_COMMENTS = {n: c for n, _, c in INGEST_FILES_COLUMNS}


@dataclass
class Chunk:
    """A bounded piece of one input file: good events and rejected records."""

    events: pa.Table
    quarantine: list[dict]
    format: str | None = None


@dataclass
class IngestSummary:
    """What an ingestion did, as printed by `scansense ingest --json`."""

    files: int = 0
    rows: int = 0
    quarantined: int = 0
    errors: list[str] = field(default_factory=list)
    days: set[date] = field(default_factory=set)

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "rows": self.rows,
            "quarantined": self.quarantined,
            "errors": self.errors,
            "days": sorted(d.isoformat() for d in self.days),
        }


def _head(path: Path, n: int = 4096) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(n)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                return gz.read(n)
        except (OSError, EOFError, zlib.error):
            from pipelines.ingest.captures import _partial_gunzip

            return _partial_gunzip(path)[:n]
    return head


def detect_format(path: Path) -> str | None:
    """The input's format from its first bytes (the file name is not trusted)."""
    from pipelines.ingest.captures import PCAP_MAGICS, PCAPNG_MAGIC

    head = _head(Path(path))
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            head = head.decode("utf-16").encode()
        except UnicodeDecodeError:
            return None
    text = head.decode("utf-8", "replace").lstrip("\ufeff")
    first = text.splitlines()[0] if text.strip() else ""
    if "Date first seen" in first and "Src IP Addr" in first:
        return "cidds"
    if "Src IP" in first and "Dst Port" in first and "Timestamp" in first:
        return "cicflowmeter"
    if re.search(r"kernel:.*\bSRC=\S+ DST=", text):
        return "ufw"
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except ValueError:
            obj = {k: 1 for k in re.findall(r'"([a-z_]+)"\s*:', first)}
        if "eventid" in obj and "src_ip" in obj:
            return "cowrie"
        if "transport" in obj and "src_ip" in obj and "dst_port" in obj:
            return "sensor_jsonl"
        if "ip" in obj and "utc" in obj:
            return "honeypot_json"
    return None


def _year_for(path: Path, year: int | None) -> int:
    if year:
        return year
    m = re.search(r"(19|20)\d\d(?=-?\d\d-?\d\d)", Path(path).name)
    if m:
        return int(m.group(0))
    return datetime.fromtimestamp(Path(path).stat().st_mtime, UTC).year


def iter_file(path: Path, settings: Settings, year: int | None = None) -> Iterator[Chunk]:
    """Parse one input file into chunks of events (EVENTS_SCHEMA) and quarantine rows."""
    from pipelines.ingest import captures, textlogs

    path = Path(path)
    fmt = detect_format(path)
    sensor = settings.site.sensor_name
    if fmt is None:
        size = path.stat().st_size
        reason = (
            "empty file"
            if size == 0
            else "unrecognised format (not a capture, flow CSV, firewall log or known JSON log)"
        )
        yield Chunk(empty_events(), [quarantine_row(str(path), "byte:0", reason, _head(path, 256))], None)
        return
    if fmt == "pcap":
        parts = captures.iter_pcap(path, sensor)
    elif fmt == "pcapng":
        parts = captures.iter_pcapng(path, sensor)
    elif fmt in ("cidds", "cicflowmeter"):
        parts = textlogs.iter_csv(path, fmt, sensor)
    elif fmt == "ufw":
        parts = textlogs.iter_firewall(path, _year_for(path, year), sensor)
    else:
        parts = textlogs.iter_jsonl(path, fmt, sensor)
    for events, bad in parts:
        yield Chunk(conform_events(events) if events is not None else empty_events(), bad, fmt)


def file_key(sha256: str, path: Path) -> str:
    """Lake file key of an input: its content hash plus a hash of its path."""
    return f"{sha256[:16]}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _expand(paths: list[Path]) -> list[Path]:
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith("."))
        else:
            out.append(p)
    return out


def _registry(lake: Path) -> dict[str, str]:
    """sha256 -> path of every file already registered."""
    folder = lake / "ingest_files"
    seen: dict[str, str] = {}
    for f in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        try:
            t = pq.read_table(f, columns=["sha256", "path", "status"])
        except (OSError, pa.ArrowInvalid):
            continue
        for sha, p, status in zip(*(t[c].to_pylist() for c in ("sha256", "path", "status")), strict=True):
            if status != "duplicate":
                seen.setdefault(sha, p)
    return seen


def ingest_paths(paths: list[Path], settings: Settings, year: int | None = None) -> IngestSummary:
    """Ingest files and folders into `<warehouse>/lake`; every file gets a registry row."""
    lake = Path(settings.warehouse) / "lake"
    summary = IngestSummary()
    registry = _registry(lake)
    for path in _expand(paths):
        summary.files += 1
        row = _ingest_one(path, settings, year, lake, registry, summary)
        registry.setdefault(row["sha256"], row["path"]) if row["status"] != "duplicate" else None
    return summary


def _ingest_one(
    path: Path, settings: Settings, year: int | None, lake: Path, registry: dict, summary: IngestSummary
) -> dict:
    now = datetime.now(UTC)
    try:
        sha = sha256_of(path)
    except OSError as exc:
        summary.errors.append(f"{path}: {exc}")
        return {"sha256": "", "path": str(path), "status": "error"}
    key = file_key(sha, path)
    row = {
        "path": str(path),
        "sha256": sha,
        "format": None,
        "source_kind": None,
        "rows": 0,
        "quarantined": 0,
        "status": "ok",
        "error": None,
        "ingested_at": now,
        "days": [],
    }
    # Remove this file's earlier parts so a re-ingest replaces them whole.
    for old in (lake / "events").glob(f"date=*/{key}.parquet") if (lake / "events").is_dir() else []:
        old.unlink()
    if registry.get(sha) not in (None, str(path)):
        row.update(status="duplicate", error=f"same content as {registry[sha]}")
        _write_registry(lake, key, row)
        return row
    writers: dict[date, pq.ParquetWriter] = {}
    bad_rows: list[dict] = []
    try:
        for chunk in iter_file(path, settings, year):
            row["format"] = row["format"] or chunk.format
            bad_rows += chunk.quarantine
            if chunk.events.num_rows:
                _write_events(lake, key, chunk.events, writers)
                row["rows"] += chunk.events.num_rows
    except Exception as exc:  # a parser bug must not stop the run; the file is marked and counted
        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
        bad_rows.append(quarantine_row(str(path), "byte:0", f"parser error: {type(exc).__name__}: {exc}", b""))
        summary.errors.append(f"{path}: {row['error']}")
    finally:
        for day, writer in writers.items():
            writer.close()
            final = lake / "events" / f"date={day.isoformat()}" / f"{key}.parquet"
            os.replace(_tmp(final), final)
    row["source_kind"] = FORMAT_KIND.get(row["format"] or "")
    row["quarantined"] = len(bad_rows)
    row["days"] = sorted(writers)
    if row["status"] == "ok":
        if row["format"] is None:
            row["status"] = "empty" if path.stat().st_size == 0 else "error"
            row["error"] = bad_rows[0]["reason"] if bad_rows else None
            if row["status"] == "error":
                summary.errors.append(f"{path}: {row['error']}")
        elif bad_rows:
            row["status"] = "partial"
    qpath = lake / "quarantine" / f"{key}.parquet"
    qpath.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(quarantine_table(bad_rows) if bad_rows else QUARANTINE_SCHEMA.empty_table(), _tmp(qpath))
    os.replace(_tmp(qpath), qpath)
    _write_registry(lake, key, row)
    summary.rows += row["rows"]
    summary.quarantined += row["quarantined"]
    summary.days |= set(row["days"])
    return row


def _write_events(lake: Path, key: str, events: pa.Table, writers: dict) -> None:
    days = pc.unique(events["event_date"]).to_pylist()
    for day in days:
        part = events.filter(pc.equal(events["event_date"], pa.scalar(day, pa.date32()))) if len(days) > 1 else events
        if day not in writers:
            final = lake / "events" / f"date={day.isoformat()}" / f"{key}.parquet"
            final.parent.mkdir(parents=True, exist_ok=True)
            writers[day] = pq.ParquetWriter(_tmp(final), part.schema, compression="zstd")
        writers[day].write_table(part)


def _write_registry(lake: Path, key: str, row: dict) -> None:
    path = lake / "ingest_files" / f"{key}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([row], schema=INGEST_FILES_SCHEMA), _tmp(path))
    os.replace(_tmp(path), path)
