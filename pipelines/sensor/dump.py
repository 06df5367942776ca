"""Hourly JSON-lines dump files: `sensor-YYYYMMDDTHH.jsonl.part` while open, renamed when closed.

A record goes to the file of the hour of its `ts` (the connect time). A connection that opened at
03:59:59 is written when it ends, so the 03 file stays open for `grace_s` after 04:00 (the longest
a connection may live, plus a margin) and only then is renamed. A name is never reused: when the
hour's file was already closed (a restart within the hour, a clock step) the next one is
`sensor-YYYYMMDDTHH-1.jsonl`, so a file the DAG has ingested never changes under it.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

PREFIX = "sensor-"
STATS_NAME = "sensor-stats.json"
LOCK_NAME = ".sensor.lock"


class DumpFolderBusy(RuntimeError):
    """Another sensor process already writes to this folder."""


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


@dataclass
class _Open:
    hour: str
    end: datetime  # when the hour closes (UTC)
    part: Path
    final: Path
    fh: IO[str]
    records: int = 0


@dataclass
class DumpWriter:
    """Write records into hourly `.part` files and rename each once its hour (plus grace) is over."""

    out: Path
    grace_s: float = 35.0
    files_closed: list[Path] = field(default_factory=list)
    records: int = 0
    recovered: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, _Open] = {}
        self._lock_fh: IO[str] | None = open(self.out / LOCK_NAME, "a")  # noqa: SIM115 - held for the writer's life
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.close()
            self._lock_fh = None
            raise DumpFolderBusy(f"another sensor is writing to {self.out}") from None
        self.recovered = self._recover()

    def _recover(self) -> list[Path]:
        """Close `.part` files a killed sensor left behind: cut a torn last line, then rename."""
        done = []
        for part in sorted(self.out.glob(f"{PREFIX}*.jsonl.part")):
            data = part.read_bytes()
            keep = data[: data.rfind(b"\n") + 1]  # a SIGKILL can leave half a line
            if len(keep) != len(data):
                with open(part, "r+b") as fh:
                    fh.truncate(len(keep))
            hour = part.name[len(PREFIX) :].split(".", 1)[0].split("-", 1)[0]
            if not keep:
                part.unlink()
                continue
            final = self._free_name(hour, ignore=part)
            os.replace(part, final)
            done.append(final)
        return done

    def _free_name(self, hour: str, ignore: Path | None = None) -> Path:
        """First unused final name for the hour: the plain one, else -1, -2, ..."""
        n = 0
        while True:
            stem = f"{PREFIX}{hour}" if n == 0 else f"{PREFIX}{hour}-{n}"
            final = self.out / f"{stem}.jsonl"
            part = self.out / f"{stem}.jsonl.part"
            if not final.exists() and (not part.exists() or part == ignore):
                return final
            n += 1

    def write(self, record: dict, ts: datetime) -> None:
        """Append one record (already holding its formatted `ts`) to the file of its hour."""
        if self._lock_fh is None:
            raise RuntimeError("the dump writer is closed")
        hour = hour_key(ts)
        f = self._open.get(hour)
        if f is None:
            final = self._free_name(hour)
            part = final.with_name(final.name + ".part")
            start = ts.replace(minute=0, second=0, microsecond=0)
            f = _Open(hour, start + timedelta(hours=1), part, final, open(part, "a", encoding="utf-8"))  # noqa: SIM115
            self._open[hour] = f
        f.fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.records += 1
        self.records += 1

    def flush(self) -> None:
        """Push buffered lines to the open `.part` files (bounds what a crash can lose)."""
        for f in self._open.values():
            f.fh.flush()

    def roll(self, now: datetime | None = None) -> list[Path]:
        """Close and rename every file whose hour ended more than `grace_s` ago."""
        now = now or datetime.now(UTC)
        closed = []
        for hour, f in list(self._open.items()):
            if now >= f.end + timedelta(seconds=self.grace_s):
                closed.append(self._close(hour))
        return closed

    def _close(self, hour: str) -> Path:
        f = self._open.pop(hour)
        f.fh.flush()
        os.fsync(f.fh.fileno())
        f.fh.close()
        os.replace(f.part, f.final)
        self.files_closed.append(f.final)
        return f.final

    @property
    def open_parts(self) -> list[Path]:
        """The `.part` files currently being written."""
        return [f.part for f in self._open.values()]

    def close(self) -> list[Path]:
        """Close and rename every open file and release the folder lock (on shutdown)."""
        closed = [self._close(hour) for hour in list(self._open)]
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None
        return closed
