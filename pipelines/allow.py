"""The site's allow-list: sources whose scanning is expected, so no detector's finding names them.

One place decides (Zeek's notice policy, not each detector): the addresses and networks of the file
`site.allow` (one a line, `#` starts a comment) and, with `site.allow_research_orgs`, the sources on
the research organizations' lists (`orgs.dir`).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pyarrow as pa

from pipelines.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def read_allow_file(path: str | Path) -> list[Network]:
    """Networks of an allow-list file: an address or CIDR per line, `#` comments; a bad line is an error."""
    networks = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not an address or network: {text!r}") from exc
    return networks


def _in(ip: str, networks: list[Network]) -> bool:
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in networks)


def allowed(ips: list[str], settings: Settings) -> set[str]:
    """The addresses among `ips` that the site allows to scan."""
    site = settings.site
    networks = read_allow_file(site.allow) if site.allow else []
    out = {ip for ip in ips if _in(ip, networks)}
    if site.allow_research_orgs and ips:
        from pipelines.orgs.reference import load_reference

        out |= set(load_reference(settings.orgs.dir).match(pa.array(ips, pa.string()))["ip"].to_pylist())
    return out
