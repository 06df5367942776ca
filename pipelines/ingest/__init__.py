"""Ingestion: detect each input's format from its content, parse it in bounded chunks into the one
events shape, and write the Parquet lake with a registry row per file.

Public API (used by run.py, the DAG, detect/orgs evaluation, tests):
  detect_format(path) -> str | None
  iter_file(path, settings, year=None) -> Iterator[Chunk]
  ingest_paths(paths, settings, year=None) -> IngestSummary
  INGEST_FILES_COMMENTS, INGEST_FILES_SCHEMA, sha256_of, file_key
Modules: formats (the registry: every format's name, kind, signature and reader), signatures
(content tests), detect (format sniffing), streams (gzip, encodings), captures + packets (pcap/pcapng,
numpy fast path) + slowpath (scapy), flows (CIDDS, CICFlowMeter, nfdump, Zeek), firewall
(netfilter/UFW), jsonlogs (sensor, honeypot, Cowrie), lake (writer, registry).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipelines.ingest.detect import detect_format
from pipelines.ingest.formats import BY_NAME, FORMAT_KIND, NO_ANSWER
from pipelines.ingest.lake import (
    INGEST_FILES_COMMENTS,
    INGEST_FILES_SCHEMA,
    IngestSummary,
    file_key,
    ingest_paths,
    sha256_of,
)
from pipelines.ingest.names import path_text
from pipelines.ingest.outcome import unanswerable
from pipelines.ingest.records import Chunk, meta_columns
from pipelines.ingest.streams import Limits, head
from pipelines.ingest.valid import check_events
from pipelines.schema import quarantine_row
from pipelines.settings import Settings

__all__ = [
    "FORMAT_KIND",
    "INGEST_FILES_COMMENTS",
    "INGEST_FILES_SCHEMA",
    "Chunk",
    "IngestSummary",
    "detect_format",
    "file_key",
    "ingest_paths",
    "iter_file",
    "sha256_of",
]


def iter_file(path: Path, settings: Settings, year: int | None = None) -> Iterator[Chunk]:
    """Parse one input file into bounded chunks of events (EVENTS_SCHEMA) and quarantine rows.

    Never raises on bad content: an unrecognised or empty file yields one chunk with one
    quarantine row (`error` set when unrecognised); a parser failure ends the file with a
    quarantine row and `error` set, after the chunks already produced. `year` is for syslog
    lines, which carry none. Every event yielded is valid (`valid.check_events`); the rows that
    are not are quarantined with the rule they break. Only regular files are read.
    """
    path = Path(path)
    src = path_text(path)  # stored losslessly whatever its bytes (names.py)
    limits = Limits.of(settings)
    try:
        fmt = detect_format(path, limits)
        sample = head(path, 256, limits) if fmt is None else b""
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
        yield Chunk(quarantine=[quarantine_row(src, "byte:0", reason, b"")], error=reason)
        return
    if fmt is None:
        if not sample:
            yield Chunk(quarantine=[quarantine_row(src, "byte:0", "empty file", b"")])
            return
        reason = "unrecognised format (not a capture, flow CSV, firewall log or known JSON log)"
        first = sample.split(b"\n", 1)[0][:64]  # the record that failed is the file: a glimpse only
        yield Chunk(quarantine=[quarantine_row(src, "byte:0", reason, first)], error=reason)
        return
    meta = meta_columns(FORMAT_KIND[fmt], fmt, src, settings.site.sensor_name)
    no_answer = BY_NAME[fmt].directions == NO_ANSWER  # the source sees no answer: every outcome unknown
    try:
        for chunk in BY_NAME[fmt].read(path, meta, year, limits):
            chunk.format = fmt
            if no_answer and chunk.events.num_rows:
                chunk.events = unanswerable(chunk.events)
            chunk.events, rejected = check_events(chunk.events, limits.max_field, not chunk.canonical_ips)
            chunk.quarantine.extend(rejected)
            yield chunk
    except Exception as exc:  # a parser bug must not stop the run: the file is marked, good chunks kept
        reason = f"parser error: {type(exc).__name__}: {exc}"
        yield Chunk(quarantine=[quarantine_row(src, "unknown", reason, b"")], format=fmt, error=reason)
