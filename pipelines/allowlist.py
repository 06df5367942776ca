"""The site's allow-list (`site.allow`): addresses and CIDRs whose sources are never exported as malicious."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_list(text: str, origin: str = "allow-list") -> list[Network]:
    """Parse one address or CIDR a line; `#` starts a comment; a bad line raises ValueError naming it."""
    networks: list[Network] = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{origin}:{number}: not an address or CIDR: {entry[:80]!r}") from None
    return networks


def read_allow_list(path: str | Path) -> list[Network]:
    """The networks of the allow-list file at `path`; an empty path means no allow-list."""
    if not str(path):
        return []
    return parse_allow_list(Path(path).read_text(encoding="utf-8"), origin=str(path))


def is_allowed(ip: str, networks: list[Network]) -> bool:
    """True when `ip` lies in one of `networks` (IPv4-mapped IPv6 compares as IPv4); bad text is not."""
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr.version == net.version and addr in net for net in networks)


def allowed_table(ips: Iterable[str], networks: list[Network]) -> pa.Table:
    """An `(ip, is_allow_listed)` table for `ips`, to join in SQL."""
    ips = [ip for ip in ips if ip is not None]
    flags = [is_allowed(ip, networks) for ip in ips] if networks else [False] * len(ips)
    return pa.table({"ip": pa.array(ips, pa.string()), "is_allow_listed": pa.array(flags, pa.bool_())})
