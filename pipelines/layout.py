"""The warehouse folder's layout: every path under `<warehouse>/` is named here and only here.

    <warehouse>/scansense.duckdb        the published warehouse (read-only for everyone but publish)
    <warehouse>/.lock                   the single writer's lock (one run at a time)
    <warehouse>/.build/                 the next warehouse file while it is built and checked
    <warehouse>/.spill/                 DuckDB's temporary files when a step outgrows its memory limit
    <warehouse>/lake/<table>/           the Parquet lake, one folder a table (`date=<day>/` partitions)
    <warehouse>/lake/.ingest.lock       one ingesting process per lake
    <warehouse>/lake/.blocks/<table>/   closed months and weeks of a table as one file each, which the
                                        published views read (`pipelines.lake_blocks`; derived data)
    <warehouse>/lake/geo_ip/geo_ip.parquet   the geolocation cache
    <warehouse>/geo/                    the old place of the offline geolocation databases, still read
                                        when the shared data directory has none (`pipelines.geo.files`)
    <warehouse>/geo/.prepared/          range tables of them, or of databases in a read-only data directory
    <warehouse>/dq/                     Great Expectations Data Docs and validation results
    <warehouse>/reports/<day>/          the day's report: report.html, a PNG a chart, and report.json
                                        (its figures and charts, which the report email reads)
    <warehouse>/exports/<day>/          the day's exports for security tools

The landing folder, where input arrives (`paths.landing`), is named by `Landing`:

    <landing>/<YYYY-MM-DD>/             a day's input files (any names, walked by `ingest.paths`)
    <landing>/sensor/                   the sensor's hourly dumps (`SensorDumps`; `[sensor] out` by default):
        sensor-YYYYMMDDTHH[-n].jsonl        a closed hour (`-n`: the hour's file was closed already)
        sensor-YYYYMMDDTHH[-n].jsonl.part   an hour still being written (the DAG waits for none)
        sensor-stats.json, dump-cuts.jsonl, .sensor.lock   the sensor's counters, cut summaries, lock

Modules ask a `Layout` or a `Landing` for a path instead of joining names by hand, so moving a
folder is one edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from pipelines.settings import Settings

DB_NAME = "scansense.duckdb"


@dataclass(frozen=True)
class Layout:
    """The paths of one warehouse folder (nothing is created or checked: these are names)."""

    root: Path

    @property
    def db(self) -> Path:
        """The published warehouse file."""
        return self.root / DB_NAME

    @property
    def lock(self) -> Path:
        """The single-writer lock file of runs."""
        return self.root / ".lock"

    @property
    def builds(self) -> Path:
        """Folder of unfinished warehouse builds."""
        return self.root / ".build"

    @property
    def spill(self) -> Path:
        """Where DuckDB spills what does not fit its memory limit (`scale.memory_limit`)."""
        return self.root / ".spill"

    @property
    def lake(self) -> Path:
        """The Parquet lake."""
        return self.root / "lake"

    def lake_table(self, table: str) -> Path:
        """Folder of one table in the lake."""
        return self.lake / table

    @property
    def lake_blocks(self) -> Path:
        """Folder of the closed months' and weeks' block files the published views read."""
        return self.lake / ".blocks"

    @property
    def ingest_lock(self) -> Path:
        """The lock that keeps one ingesting process per lake."""
        return self.lake / ".ingest.lock"

    @property
    def geo_cache(self) -> Path:
        """The geo_ip cache, one Parquet file in the lake."""
        return self.lake_table("geo_ip") / "geo_ip.parquet"

    @property
    def geo(self) -> Path:
        """The old per-warehouse folder of the offline geolocation databases (now `[geo] data_dir`)."""
        return self.root / "geo"

    @property
    def geo_prepared(self) -> Path:
        """Folder of the databases' prepared range tables."""
        return self.geo / ".prepared"

    @property
    def dq(self) -> Path:
        """Folder of the data-quality Data Docs and stored validation results."""
        return self.root / "dq"

    @property
    def reports(self) -> Path:
        """Folder of the daily reports."""
        return self.root / "reports"

    def report_dir(self, day: date) -> Path:
        """Folder of one day's report."""
        return self.reports / day.isoformat()

    def report(self, day: date) -> ReportFolder:
        """The files of one day's report."""
        return ReportFolder(self.report_dir(day))

    @property
    def exports(self) -> Path:
        """Folder of the daily exports."""
        return self.root / "exports"

    def export_dir(self, day: date) -> Path:
        """Folder of one day's exports."""
        return self.exports / day.isoformat()


@dataclass(frozen=True)
class ReportFolder:
    """The files of one report folder: the page, its charts' PNGs and the manifest the email reads."""

    root: Path

    @property
    def html(self) -> Path:
        """The self-contained interactive report."""
        return self.root / "report.html"

    @property
    def manifest(self) -> Path:
        """The report's key figures, failed checks and chart names (JSON), written last."""
        return self.root / "report.json"

    def chart(self, name: str) -> Path:
        """The PNG of one chart."""
        return self.root / f"{name}.png"


def layout(warehouse: Path | str | Settings) -> Layout:
    """The layout of a warehouse folder, given as a path or as the settings that name it."""
    root = warehouse.warehouse if isinstance(warehouse, Settings) else warehouse
    return Layout(Path(root))


DUMP_PREFIX = "sensor-"
# sensor-20251126T03.jsonl, sensor-20251126T03-1.jsonl.part: the hour a dump holds, in its name
_DUMP_NAME = re.compile(rf"{DUMP_PREFIX}(\d{{8}}T\d{{2}})(?:-\d+)?\.jsonl(?:\.part)?")
_DAY_NAME = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class SensorDumps:
    """The files of a sensor's dump folder: hourly `sensor-YYYYMMDDTHH[-n].jsonl` dumps (`.part` while open)."""

    root: Path

    def dump(self, start: datetime, n: int = 0) -> Path:
        """The closed dump of the hour starting at `start` (UTC); `n` > 0: that hour's n-th later file."""
        return self.root / f"{DUMP_PREFIX}{start:%Y%m%dT%H}{f'-{n}' if n else ''}.jsonl"

    @staticmethod
    def part_of(dump: Path) -> Path:
        """The name a dump has while it is written."""
        return dump.with_name(dump.name + ".part")

    @staticmethod
    def closed_of(part: Path) -> Path:
        """The name an open (`.part`) dump gets when it is closed."""
        return part.with_name(part.name.removesuffix(".part"))

    @staticmethod
    def start_of(path: Path) -> datetime | None:
        """The start of the hour a dump (closed or open) holds, from its name; None for another name."""
        match = _DUMP_NAME.fullmatch(path.name)
        if not match:
            return None
        try:
            return datetime.strptime(match.group(1), "%Y%m%dT%H").replace(tzinfo=UTC)
        except ValueError:  # 20251326T03 is no hour
            return None

    @staticmethod
    def day_of(path: Path) -> date | None:
        """The UTC day of a dump from its name's `YYYYMMDD` (what `Landing.days` counts); None when it is none."""
        try:
            return datetime.strptime(path.name[len(DUMP_PREFIX) : len(DUMP_PREFIX) + 8], "%Y%m%d").date()
        except ValueError:
            return None

    def _glob(self, day: date | None, suffix: str) -> list[Path]:
        hours = f"{day:%Y%m%d}T*" if day else "*"
        return sorted(self.root.glob(f"{DUMP_PREFIX}{hours}{suffix}"))

    def closed(self, day: date | None = None) -> list[Path]:
        """The closed dumps of `day` (every day's when None), sorted."""
        return self._glob(day, ".jsonl")

    def open(self, day: date | None = None) -> list[Path]:
        """The dumps of `day` (every day's when None) still being written, sorted."""
        return self._glob(day, ".jsonl.part")

    def every(self) -> list[Path]:
        """Every dump named for an hour, closed or open, sorted."""
        return sorted(self.root.glob(f"{DUMP_PREFIX}*T*.jsonl*"))

    @property
    def stats(self) -> Path:
        """The sensor's counters, rewritten every `stats_interval_s`."""
        return self.root / "sensor-stats.json"

    @property
    def cuts(self) -> Path:
        """One summary line per hour in which the dump caps cut records."""
        return self.root / "dump-cuts.jsonl"

    @property
    def lock(self) -> Path:
        """The lock that keeps one sensor process per dump folder."""
        return self.root / ".sensor.lock"


@dataclass(frozen=True)
class Landing:
    """The paths of one landing folder (names only, nothing is created or checked)."""

    root: Path

    def day_dir(self, day: date) -> Path:
        """The folder of one day's input files."""
        return self.root / day.isoformat()

    def folder_days(self) -> list[date]:
        """Days that have a `YYYY-MM-DD` folder (a name that is no day, 2025-13-01, is not one), sorted."""
        days = []
        if self.root.is_dir():
            for path in self.root.iterdir():
                if path.is_dir() and _DAY_NAME.fullmatch(path.name):
                    try:
                        days.append(date.fromisoformat(path.name))
                    except ValueError:
                        pass
        return sorted(days)

    @property
    def sensor_dir(self) -> Path:
        """The sensor's dump folder inside the landing folder."""
        return self.root / "sensor"

    @property
    def sensor(self) -> SensorDumps:
        """The sensor's dumps inside the landing folder."""
        return SensorDumps(self.sensor_dir)

    def closed_dumps(self, day: date) -> list[Path]:
        """The day's closed sensor dumps (ingested with the day's folder)."""
        return self.sensor.closed(day)

    def open_dumps(self, day: date) -> list[Path]:
        """The day's sensor dumps still being written (the DAG waits until there are none)."""
        return self.sensor.open(day)

    def days(self) -> list[date]:
        """Days that have input: their folders and the sensor's hourly dumps, sorted."""
        days = set(self.folder_days())
        days.update(d for d in map(SensorDumps.day_of, self.sensor.every()) if d)
        return sorted(days)


def landing_layout(root: Path | str | Settings) -> Landing:
    """The layout of a landing folder, given as a path or as the settings that name it."""
    return Landing(Path(root.landing if isinstance(root, Settings) else root))
