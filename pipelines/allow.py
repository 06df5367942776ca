"""The site's allow-list: sources whose scanning is expected, decided in this one place.

The file `site.allow` (an address or CIDR a line, `#` starts a comment) and, with
`site.allow_research_orgs`, the sources on the research organizations' lists (`orgs.dir`). Its
sources earn no finding (Zeek's notice policy, not each detector), show as benign in
`source_history` and are never exported as malicious.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from pipelines.schema import address, networks
from pipelines.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_list(text: str, origin: str = "allow-list") -> list[Network]:
    """Parse one address or CIDR a line; `#` starts a comment; a bad line raises ValueError naming it.

    Entries are read as `schema.networks` reads them (the one address parser): an IPv4-mapped IPv6
    entry is its IPv4 network, as the events' sources are.
    """
    out: list[Network] = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        nets = networks(entry)
        if nets is None:
            raise ValueError(f"{origin}:{number}: not an address or network: {entry[:80]!r}")
        out.extend(nets)
    return out


def read_allow_file(path: str | Path) -> list[Network]:
    """The networks of the allow-list file at `path`; an empty path means no allow-list."""
    if not str(path):
        return []
    return parse_allow_list(Path(path).read_text(encoding="utf-8"), origin=str(path))


def is_allowed(ip: str, networks: list[Network]) -> bool:
    """True when `ip` lies in one of `networks` (IPv4-mapped IPv6 compares as IPv4); bad text is not."""
    addr = address(ip)
    return addr is not None and any(addr.version == net.version and addr in net for net in networks)


def allowed(ips: list[str], settings: Settings) -> set[str]:
    """The addresses among `ips` that the site allows to scan (its file, and research orgs by setting)."""
    site = settings.site
    networks = read_allow_file(site.allow)
    out = {ip for ip in ips if is_allowed(ip, networks)}
    if site.allow_research_orgs and ips:
        from pipelines.orgs.reference import load_reference

        out |= set(load_reference(settings.orgs.dir).match(pa.array(ips, pa.string()))["ip"].to_pylist())
    return out


def allowed_table(ips: Iterable[str], networks: list[Network]) -> pa.Table:
    """An `(ip, is_allow_listed)` table for `ips`, to join in SQL."""
    ips = [ip for ip in ips if ip is not None]
    flags = [is_allowed(ip, networks) for ip in ips] if networks else [False] * len(ips)
    return pa.table({"ip": pa.array(ips, pa.string()), "is_allow_listed": pa.array(flags, pa.bool_())})
