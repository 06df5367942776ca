"""Block lists ready to load: `nft -f blocklist.nft` and `ipset restore < blocklist.ipset`.

Only addresses (checked by `ipaddress` and re-printed canonically) and our own constant text go
into them: no attacker-controlled string can become part of a rule. IPv4 and IPv6 in their own sets.
"""

from __future__ import annotations

import ipaddress
from datetime import date

from pipelines.settings import Settings

NFT_TABLE = "scansense"
IPSET_V4, IPSET_V6 = "scansense-v4", "scansense-v6"


def _addresses(rows: list[dict], version: int) -> list[str]:
    """Canonical addresses of one IP version, sorted, each checked again (a non-address raises)."""
    found = {ipaddress.ip_address(r["src_ip"]) for r in rows}
    return [str(a) for a in sorted(a for a in found if a.version == version)]


def _header(day: date, v4: list[str], v6: list[str], include_research: bool) -> list[str]:
    left_out = "the allow-list" + ("" if include_research else " and known research scanners")
    return [
        f"# ScanSense block list of {day.isoformat()}: {len(v4)} IPv4 and {len(v6)} IPv6 malicious sources",
        f"# ({left_out} left out).",
    ]


def render_nft(day: date, v4: list[str], v6: list[str], include_research: bool) -> str:
    """An nftables script: table inet scansense, sets blocked_v4/blocked_v6, an input chain dropping them."""
    lines = _header(day, v4, v6, include_research)
    lines += [
        "# Load with: nft -f blocklist.nft (replaces the previous day's table).",
        f"table inet {NFT_TABLE}",  # declaring it first makes the delete below safe on a first load
        f"delete table inet {NFT_TABLE}",
        f"table inet {NFT_TABLE} {{",
    ]
    for name, kind, addrs in (("blocked_v4", "ipv4_addr", v4), ("blocked_v6", "ipv6_addr", v6)):
        lines += [f"    set {name} {{", f"        type {kind}"]
        if addrs:  # nft refuses an empty element list
            lines += ["        elements = {", *(f"            {a}," for a in addrs), "        }"]
        lines.append("    }")
    lines += [
        "    chain input {",
        "        type filter hook input priority filter - 10; policy accept;",
        "        ip saddr @blocked_v4 drop",
        "        ip6 saddr @blocked_v6 drop",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def render_ipset(day: date, v4: list[str], v6: list[str], include_research: bool) -> str:
    """An `ipset restore` file: sets scansense-v4 (inet) and scansense-v6 (inet6), created or emptied."""
    lines = _header(day, v4, v6, include_research)
    lines.append("# Load with: ipset restore < blocklist.ipset (empties and refills both sets).")
    for name, family, addrs in ((IPSET_V4, "inet", v4), (IPSET_V6, "inet6", v6)):
        lines.append(f"create {name} hash:ip family {family} maxelem {max(65536, len(addrs))} -exist")
        lines.append(f"flush {name}")
        lines += [f"add {name} {a} -exist" for a in addrs]
    return "\n".join(lines) + "\n"


def render(fmt: str, rows: list[dict], day: date, settings: Settings, include_research: bool) -> str:
    """The nft or ipset block list of `rows`."""
    v4, v6 = _addresses(rows, 4), _addresses(rows, 6)
    return (render_nft if fmt == "nft" else render_ipset)(day, v4, v6, include_research)
