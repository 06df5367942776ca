"""Which offline geolocation databases a run uses, and where they are: one data directory that
every warehouse shares (`[geo] data_dir`), so a new `--warehouse` geolocates as the default one.

Order: explicit `[geo] mmdb` / `asn_csv` files; else the data directory (`make setup` fills it);
else databases left in a warehouse's old `<warehouse>/geo/` folder (used, with a warning saying
how to move them); else none, and countries come from the registry data of `iptocc`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.layout import layout
from pipelines.settings import Settings

log = logging.getLogger(__name__)

# Where the files came from (OfflineFiles.origin).
CONFIGURED, DATA_DIR, LEGACY, NONE = "configured", "data_dir", "legacy", "none"


def data_dir(settings: Settings) -> Path:
    """The shared folder of the offline databases: `[geo] data_dir`, else the XDG data home's `scansense/geo`."""
    if settings.geo.data_dir:
        return Path(settings.geo.data_dir)
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share"  # XDG: a relative value is ignored
    return root / "scansense" / "geo"


def legacy_dir(settings: Settings) -> Path:
    """The folder of one warehouse where `scansense geo fetch` used to put the databases."""
    return layout(settings).geo


def _mmdbs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.mmdb") if p.is_file()) if folder.is_dir() else []


def _asns(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("asn*.csv") if p.is_file()) if folder.is_dir() else []


@dataclass(frozen=True)
class OfflineFiles:
    """The city databases and ASN range files in use, the folder they were found in, and why there."""

    mmdb: list[Path] = field(default_factory=list)
    asn: list[Path] = field(default_factory=list)
    folder: Path | None = None  # None when explicit files were configured
    origin: str = NONE

    @property
    def city(self) -> bool:
        """True when a city database places addresses (else only the country registry does)."""
        return bool(self.mmdb)


def offline_files(settings: Settings) -> OfflineFiles:
    """The offline databases of `settings`, looked for in the order of the module docstring."""
    geo = settings.geo
    if geo.mmdb or geo.asn_csv:
        shared = data_dir(settings)  # an explicit file overrides its kind only; the other comes from the data dir
        mmdb = [Path(geo.mmdb)] if geo.mmdb else _mmdbs(shared)
        asn = [Path(geo.asn_csv)] if geo.asn_csv else _asns(shared)
        return OfflineFiles([p for p in mmdb if p.is_file()], [p for p in asn if p.is_file()], None, CONFIGURED)
    shared = data_dir(settings)
    if _mmdbs(shared):
        return OfflineFiles(_mmdbs(shared), _asns(shared), shared, DATA_DIR)
    old = legacy_dir(settings)
    if _mmdbs(old):
        _warn_legacy(old, shared)
        return OfflineFiles(_mmdbs(old), _asns(old), old, LEGACY)
    return OfflineFiles([], _asns(shared), shared, NONE)


_WARNED: set[Path] = set()


def _warn_legacy(old: Path, shared: Path) -> None:
    """Say once per process how to move databases found in a warehouse's old geo folder."""
    if old not in _WARNED:
        _WARNED.add(old)
        log.warning(
            "offline geo databases found in the old per-warehouse folder %s and used; other warehouses do not "
            "see them: run `scansense geo fetch` (copies them to the shared data directory %s)",
            old,
            shared,
        )


def prepared_dir(settings: Settings, files: OfflineFiles) -> Path:
    """Where the databases' range tables are kept: beside the databases when that folder is writable
    (`<data_dir>/.prepared`, shared by every warehouse), else in `<warehouse>/geo/.prepared`.

    They are keyed by each source file's path, size and time (`ranges.prepared`), so a cache made
    for other files is never read, and a warehouse's own copy is rebuilt from the shared files.
    """
    folder = files.folder if files.folder is not None else data_dir(settings)
    target = folder / ".prepared"
    try:
        target.mkdir(parents=True, exist_ok=True)
        if os.access(target, os.W_OK):
            return target
    except OSError:
        pass
    return legacy_dir(settings) / ".prepared"


def signature(files: OfflineFiles) -> str:
    """What decides the offline answers: the databases' names and sizes (not their folder), '' for none.

    The geo cache records it; cached offline answers made with other databases are looked up again.
    """
    parts = [f"{p.name}:{p.stat().st_size}" for p in (*files.mmdb, *files.asn)]
    return ",".join(sorted(parts))
