"""The warehouse folder's layout: every path under `<warehouse>/` is named here and only here.

    <warehouse>/scansense.duckdb        the published warehouse (read-only for everyone but publish)
    <warehouse>/.lock                   the single writer's lock (one run at a time)
    <warehouse>/.build/                 the next warehouse file while it is built and checked
    <warehouse>/.spill/                 DuckDB's temporary files when a step outgrows its memory limit
    <warehouse>/lake/<table>/           the Parquet lake, one folder a table (`date=<day>/` partitions)
    <warehouse>/lake/.ingest.lock       one ingesting process per lake
    <warehouse>/lake/geo_ip/geo_ip.parquet   the geolocation cache
    <warehouse>/geo/                    the old place of the offline geolocation databases, still read
                                        when the shared data directory has none (`pipelines.geo.files`)
    <warehouse>/geo/.prepared/          range tables of them, or of databases in a read-only data directory
    <warehouse>/dq/                     Great Expectations Data Docs and validation results
    <warehouse>/reports/<day>/          the day's report: report.html, a PNG a chart, and report.json
                                        (its figures and charts, which the report email reads)
    <warehouse>/exports/<day>/          the day's exports for security tools

Modules ask a `Layout` for a path instead of joining names by hand, so moving a folder is one edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
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
