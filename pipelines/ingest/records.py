"""What every parser yields: a bounded `Chunk` of events plus the records it had to reject."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from pipelines.schema import EVENTS_SCHEMA, empty_events, quarantine_row

CHUNK_ROWS = 262_144  # upper bound of events per chunk for the line-oriented parsers
RAW_PREVIEW = 64  # bytes of a rejected binary record kept in quarantine.raw


@dataclass
class Chunk:
    """A bounded piece of one input file: good events (EVENTS_SCHEMA) and rejected records.

    `format` is the detected format (set on every chunk, the first included); `skipped` counts
    records that are well formed but carry no probe (ARP frames, syslog lines from other
    programs, a netfilter summary trailer): neither events nor damage; `error` is set when the
    file could not be parsed at all, or the parser stopped early.
    """

    events: pa.Table = field(default_factory=empty_events)
    quarantine: list[dict] = field(default_factory=list)
    format: str | None = None
    skipped: int = 0
    error: str | None = None  # set when the file could not be parsed (further): why
    # Set when the input shows that it logged fewer probes than arrived (rate-limited logging, a
    # sensor's drops over its rate): why. Counts of records from it are lower bounds.
    undercounts: str | None = None
    # True when src_ip/dst_ip were written only by the canonical writers (arrowtext.dotted_quads,
    # csvfast.ipv4_text, schema.ip_text/canonical_ip): `valid.check_events` then skips re-reading them.
    canonical_ips: bool = False


def meta_columns(source_kind: str, source_format: str, source_file: str, sensor: str) -> dict[str, str]:
    """The constant columns every event of one input file carries."""
    return {
        "source_kind": source_kind,
        "source_format": source_format,
        "source_file": source_file,
        "sensor": sensor,
    }


def prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """Run an iterator `depth` items ahead in a background thread.

    Reading and parsing the next block (polars, outside the GIL) overlaps with converting the
    current one, which uses both cores; `depth` bounds the blocks held in memory.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put((end, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put((end, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # the producing generator's files are closed in this thread

    worker = threading.Thread(target=run, name="ingest-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, tuple) and len(item) == 2 and item[0] is end:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()
        worker.join()


def rows_table(rows: list[dict], bad: list[dict]) -> pa.Table:
    """Events rows as an EVENTS_SCHEMA table; a row Arrow refuses (a value out of its type's range) goes to `bad`."""
    try:
        return pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        pass
    good = []
    for row in rows:
        try:
            pa.Table.from_pylist([row], schema=EVENTS_SCHEMA)
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
            reason = f"value out of range for its column: {exc}"[:300]
            bad.append(
                quarantine_row(row.get("source_file") or "", row.get("source_location") or "", reason, repr(row))
            )
            continue
        good.append(row)
    return pa.Table.from_pylist(good, schema=EVENTS_SCHEMA)
