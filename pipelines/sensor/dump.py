"""Hourly JSON-lines dump files: `sensor-YYYYMMDDTHH.jsonl.part` while open, renamed when closed
(the names come from `pipelines.layout.SensorDumps`).

A record goes to the file of the hour of its `ts` (the connect time). A connection that opened at
03:59:59 is written when it ends, so the 03 file stays open for `grace_s` after 04:00 (the longest
a connection may live, plus a margin) and only then is renamed. A name is never reused: when the
hour's file was already closed (a restart within the hour, a clock step) the next one is
`sensor-YYYYMMDDTHH-1.jsonl`, so a file the DAG has ingested never changes under it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from pipelines.layout import SensorDumps

log = logging.getLogger("pipelines.sensor")


class DumpFolderBusy(RuntimeError):
    """Another sensor process already writes to this folder."""


def _hour_end(hour: str) -> datetime:
    """End of an hour key: 20251126T03 -> 2025-11-26 04:00 UTC."""
    return datetime.strptime(hour, "%Y%m%dT%H").replace(tzinfo=UTC) + timedelta(hours=1)


def hour_key(ts: datetime) -> str:
    """Return the file stem hour of a UTC time: 20251126T03."""
    return ts.strftime("%Y%m%dT%H")


def format_ts(ts: datetime) -> str:
    """Format a UTC time the way the dump format wants it: 2025-11-26T03:04:05.123456Z."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_json_atomic(path: Path, obj: object) -> None:
    """Write a small JSON file under a temporary name and rename it, so readers never see half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


FLUSH_AT = 1 << 20  # buffered bytes that trigger a flush before the housekeeping one (bounds memory)


@dataclass
class _Open:
    hour: str
    end: datetime  # when the hour closes (UTC)
    part: Path
    final: Path
    fh: IO[bytes]  # unbuffered: a byte counts only once os.write returned it
    size: int = 0  # bytes that reached the file (whole lines only)
    records: int = 0  # lines that reached the file
    pending: list[tuple[bytes, str]] = field(default_factory=list)  # (line, transport) not yet written
    pending_bytes: int = 0
    torn: bool = False  # a failed write may have left part of a line past `size`: cut it before writing


@dataclass
class DumpWriter:
    """Write records into hourly `.part` files and rename each once its hour (plus grace) is over.

    Counters (`records`, `counts`) count lines that reached the file. Past `max_hour_bytes` in an
    hour's file or `max_total_bytes` in the folder's dumps a record is counted in `cut` instead and
    each such hour gets a summary line in `dump-cuts.jsonl`. A write error loses the lines being
    written (counted in `lost`), is logged once until writing works again, and is never raised.
    """

    out: Path
    grace_s: float = 35.0
    max_hour_bytes: int = 0  # 0: no cap
    max_total_bytes: int = 0  # closed and open sensor-*.jsonl files of the folder together; 0: no cap
    name: str = ""  # the sensor's name, in the cut summaries
    write_bytes: Callable[[int, bytes], int] = os.write  # where bytes reach the disk (tests fill a fake disk)
    files_closed: list[Path] = field(default_factory=list)
    records: int = 0
    recovered: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.dumps = SensorDumps(self.out)
        self._open: dict[str, _Open] = {}
        self.counts: Counter[str] = Counter()  # lines that reached the file, by transport
        self.cut: Counter[str] = Counter()  # records not written: hour_cap, total_cap, bytes
        self.lost = 0  # records lost to write errors
        self.write_errors = 0
        self._cuts: dict[str, Counter[str]] = {}  # hour -> what was cut, until its summary line is written
        self._failing = False
        self._lock_fh: IO[str] | None = open(self.dumps.lock, "a")  # noqa: SIM115 - held for the writer's life
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.close()
            self._lock_fh = None
            raise DumpFolderBusy(f"another sensor is writing to {self.out}") from None
        self.recovered = self._recover()
        self.refresh()

    def _recover(self) -> list[Path]:
        """Close `.part` files a killed sensor left behind: cut a torn last line, then rename."""
        done = []
        for part in self.dumps.open():
            data = part.read_bytes()
            keep = data[: data.rfind(b"\n") + 1]  # a SIGKILL can leave half a line
            if len(keep) != len(data):
                with open(part, "r+b") as fh:
                    fh.truncate(len(keep))
            if not keep:
                part.unlink()
                continue
            start = self.dumps.start_of(part)  # None: a name the sensor does not write, closed as it is
            final = self._free_name(start, ignore=part) if start else self.dumps.closed_of(part)
            if final.exists():  # only an odd name can clash: never written over
                continue
            os.replace(part, final)
            done.append(final)
        return done

    def _free_name(self, start: datetime, ignore: Path | None = None) -> Path:
        """First unused final name for the hour starting at `start`: the plain one, else -1, -2, ..."""
        n = 0
        while True:
            final = self.dumps.dump(start, n)
            part = self.dumps.part_of(final)
            if not final.exists() and (not part.exists() or part == ignore):
                return final
            n += 1

    def refresh(self) -> None:
        """Measure the closed dumps on disk again (files the DAG moved away free room under the total cap)."""
        total = 0
        for p in self.dumps.closed():
            try:
                total += p.stat().st_size
            except OSError:  # moved away between the listing and the stat
                pass
        self._closed_bytes = total

    @property
    def total_bytes(self) -> int:
        """Bytes of the folder's dumps, counting lines accepted but not yet written."""
        return self._closed_bytes + sum(f.size + f.pending_bytes for f in self._open.values())

    def write(self, record: dict, ts: datetime) -> bool:
        """Queue one record (already holding its formatted `ts`) for the file of its hour; False when cut."""
        if self._lock_fh is None:
            raise RuntimeError("the dump writer is closed")
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        # A drop summary (server.RATE_SUMMARY) stands for many probes: counted apart from the probe lines.
        kind = "rate_summary" if record.get("event") == "dropped_rate" else str(record.get("transport", ""))
        hour = hour_key(ts)
        f = self._open.get(hour)
        reason = None
        if self.max_hour_bytes and (f.size + f.pending_bytes if f else 0) + len(line) > self.max_hour_bytes:
            reason = "hour_cap"
        elif self.max_total_bytes and self.total_bytes + len(line) > self.max_total_bytes:
            reason = "total_cap"
        if reason:
            cut = self._cuts.setdefault(hour, Counter())
            for c in (cut, self.cut):
                c.update({reason: 1, "bytes": len(line)})
            cut[kind] += 1
            return False
        if f is None:
            start = ts.replace(minute=0, second=0, microsecond=0)
            final = self._free_name(start)
            part = self.dumps.part_of(final)
            try:
                fh = open(part, "ab", buffering=0)  # noqa: SIM115 - closed by _close
            except OSError as exc:  # no inode left, permissions: the record is lost, counted
                self._failed(f"creating {part.name}", exc)
                self.lost += 1
                return False
            f = _Open(hour, start + timedelta(hours=1), part, final, fh)
            self._open[hour] = f
        f.pending.append((line, kind))
        f.pending_bytes += len(line)
        if f.pending_bytes >= FLUSH_AT:
            self._flush(f)
        return True

    def flush(self) -> None:
        """Write the queued lines to the open `.part` files (bounds what a crash can lose); never raises."""
        for f in self._open.values():
            self._flush(f)

    def _flush(self, f: _Open) -> None:
        if not f.pending:
            return
        data = b"".join(line for line, _ in f.pending)
        done = 0
        failed = False
        try:
            if f.torn:  # cut what a failed write left of a line, so the next line starts clean
                os.ftruncate(f.fh.fileno(), f.size)
                f.torn = False
            while done < len(data):
                n = self.write_bytes(f.fh.fileno(), memoryview(data)[done:])
                if n <= 0:
                    raise OSError(errno.ENOSPC, "short write")
                done += n
        except OSError as exc:
            failed = True
            self._failed(f"writing {f.part.name}", exc)
        whole = written = 0
        for line, kind in f.pending:  # count only the whole lines that reached the file
            if whole + len(line) > done:
                break
            whole += len(line)
            written += 1
            self.counts[kind] += 1
        f.records += written
        self.records += written
        self.lost += len(f.pending) - written
        f.size += whole
        f.torn = f.torn or done > whole
        f.pending.clear()
        f.pending_bytes = 0
        if not failed and self._failing:
            self._failing = False
            log.warning("sensor dump: writes work again (%d records lost so far)", self.lost)

    def _failed(self, what: str, exc: OSError) -> None:
        """Count a write error; log only the first of a run of them."""
        self.write_errors += 1
        if not self._failing:
            self._failing = True
            log.error("sensor dump: %s failed (%s); records are counted as lost until writing works again", what, exc)

    def roll(self, now: datetime | None = None) -> list[Path]:
        """Close and rename every file whose hour ended more than `grace_s` ago; write its cut summary."""
        now = now or datetime.now(UTC)
        closed = []
        for hour, f in list(self._open.items()):
            if now >= f.end + timedelta(seconds=self.grace_s):
                path = self._close(hour)
                if path is not None:
                    closed.append(path)
        due = [h for h in self._cuts if h not in self._open and now >= _hour_end(h) + timedelta(seconds=self.grace_s)]
        self._write_cuts(due)
        return closed

    def _write_cuts(self, hours: list[str]) -> None:
        """Append one summary line per hour in which records were cut (kept for a retry if that fails)."""
        if not hours:
            return
        lines = []
        for hour in sorted(hours):
            c = self._cuts[hour]
            lines.append(
                {
                    "hour": hour,
                    "sensor": self.name,
                    "records_cut": c["hour_cap"] + c["total_cap"],
                    "bytes_cut": c["bytes"],
                    "hour_cap": c["hour_cap"],
                    "total_cap": c["total_cap"],
                    "tcp": c["tcp"],
                    "udp": c["udp"],
                }
            )
        data = "".join(json.dumps(line) + "\n" for line in lines).encode("utf-8")
        try:
            with open(self.dumps.cuts, "ab", buffering=0) as fh:
                done = 0
                while done < len(data):
                    n = self.write_bytes(fh.fileno(), memoryview(data)[done:])
                    if n <= 0:
                        raise OSError(errno.ENOSPC, "short write")
                    done += n
        except OSError as exc:
            self._failed(self.dumps.cuts.name, exc)
            return
        for hour in hours:
            del self._cuts[hour]

    def _close(self, hour: str) -> Path | None:
        f = self._open.pop(hour)
        self._flush(f)
        try:
            if f.torn:
                os.ftruncate(f.fh.fileno(), f.size)
            os.fsync(f.fh.fileno())
        except OSError as exc:
            self._failed(f"closing {f.part.name}", exc)
        f.fh.close()
        if f.records == 0:  # nothing reached it (every write failed): leave no empty file behind
            f.part.unlink(missing_ok=True)
            return None
        os.replace(f.part, f.final)
        self._closed_bytes += f.size
        self.files_closed.append(f.final)
        return f.final

    @property
    def open_parts(self) -> list[Path]:
        """The `.part` files currently being written."""
        return [f.part for f in self._open.values()]

    def close(self) -> list[Path]:
        """Close and rename every open file and release the folder lock (on shutdown)."""
        closed = [p for p in (self._close(hour) for hour in list(self._open)) if p is not None]
        self._write_cuts(list(self._cuts))
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None
        return closed
