"""Exports of a day's malicious sources for the tools security teams run: STIX, MISP, nft, ipset, CSV, JSON.

One module per format (cowrie's output plugins): `render(rows, day, settings) -> str`. Every format
gets the same rows (`day_rows`): the sources `source_risk` judged malicious that day, minus the
allow-list; block lists also leave out known research scanners unless asked. See README.md here.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.allow import allowed_table, read_allow_file
from pipelines.layout import layout
from pipelines.settings import Settings
from pipelines.sqlfiles import read_sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Format:
    """One export format: its module under pipelines.export, its file name, whether it is a block list."""

    module: str
    file: str
    block_list: bool = False


FORMATS: dict[str, Format] = {
    "stix": Format("stix", "stix-bundle.json"),
    "misp": Format("misp", "misp-event.json"),
    "nft": Format("blocklists", "blocklist.nft", block_list=True),
    "ipset": Format("blocklists", "blocklist.ipset", block_list=True),
    "csv": Format("tabular", "sources.csv"),
    "json": Format("tabular", "sources.json"),
}
# Tables a warehouse older than the exports may lack: empty stand-ins keep the query whole.
_STAND_INS = {
    "source_tags": pa.schema([("event_date", pa.date32()), ("src_ip", pa.string()), ("tag", pa.string())]),
}


def canonical_ip(text: str) -> str | None:
    """The address in canonical text, or None when `text` is not exactly one IP address."""
    try:
        return str(ipaddress.ip_address(text))
    except (ValueError, TypeError):
        return None


def day_rows(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> list[dict]:
    """The malicious, non-allow-listed sources of `day` with their evidence, one dict each."""
    from pipelines.tags import existing_tables

    present = existing_tables(con)
    registered = [name for name in _STAND_INS if name not in present]
    for name in registered:
        con.register(name, _STAND_INS[name].empty_table())
    ips = [
        r[0]
        for r in con.execute("SELECT DISTINCT src_ip FROM source_risk WHERE event_date = $d", {"d": day}).fetchall()
    ]
    con.register("export_allowed", allowed_table(ips, read_allow_file(settings.site.allow)))
    registered.append("export_allowed")
    try:
        rows = con.execute(read_sql("export/malicious_sources"), {"day": day}).fetch_arrow_table().to_pylist()
    finally:
        for name in registered:
            con.unregister(name)
    kept = []
    for row in rows:
        ip = canonical_ip(row["src_ip"])
        if ip is None:  # ingestion keeps addresses canonical; anything else never reaches a rule
            log.warning("not exported: source %r is not an IP address", row["src_ip"][:64])
            continue
        kept.append(row | {"src_ip": ip, "ip_version": ipaddress.ip_address(ip).version})
    return kept


def block_rows(rows: list[dict], include_research: bool) -> list[dict]:
    """The rows a block list carries: known research scanners only when asked."""
    return [r for r in rows if include_research or r["research_org"] is None]


def render(fmt: str, rows: list[dict], day: date, settings: Settings, include_research: bool | None = None) -> str:
    """The text of one export format for `day`'s rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: one of {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    module = importlib.import_module(f"pipelines.export.{spec.module}")
    if spec.block_list:
        include = settings.export.block_research_orgs if include_research is None else include_research
        return module.render(fmt, block_rows(rows, include), day, settings, include)
    return module.render(fmt, rows, day, settings)


def write_exports(
    con: duckdb.DuckDBPyConnection,
    day: date,
    settings: Settings,
    formats: tuple[str, ...] | list[str],
    folder: Path | None = None,
) -> Path:
    """Write `formats` for `day` to `<warehouse>/exports/<day>/` (whole folder replaced atomically)."""
    rows = day_rows(con, day, settings)
    folder = Path(folder or layout(settings).export_dir(day))
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{folder.name}.*"):  # left by a killed run (runs hold the writer lock)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    tmp.mkdir()
    for fmt in formats:
        (tmp / FORMATS[fmt].file).write_text(render(fmt, rows, day, settings), encoding="utf-8")
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://scansense.invalid/exports")


def stable_uuid(*parts: object) -> str:
    """A UUID fixed by `parts` (site, day, address...), so rerunning a day writes the same ids."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def site_name(settings: Settings) -> str:
    """The producing site's name in exports."""
    return f"ScanSense sensor {settings.site.sensor_name}"
