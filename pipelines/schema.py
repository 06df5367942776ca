"""The canonical record shapes every stage agrees on: events and quarantine rows, and what a valid event is."""

from __future__ import annotations

import functools
import ipaddress
import re
from datetime import UTC, date, datetime, time, timedelta

import pyarrow as pa

from pipelines import catalog

# One probe: a packet, a flow, a log line. Parsers fill what their format carries and leave the
# rest null; `ts` is always UTC. Columns, types and comments live in sql/raw/events.sql.
EVENT_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    (c.name, catalog.arrow_type(c.type), c.comment) for c in catalog.table("events").columns
]
EVENTS_SCHEMA = catalog.table("events").schema

# One rejected record; sql/raw/quarantine.sql.
QUARANTINE_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    (c.name, catalog.arrow_type(c.type), c.comment) for c in catalog.table("quarantine").columns
]
QUARANTINE_SCHEMA = catalog.table("quarantine").schema

RAW_LIMIT = 1024  # bytes of UTF-8 (or of hex) kept in quarantine.raw


def empty_events() -> pa.Table:
    """Return an events table with no rows."""
    return EVENTS_SCHEMA.empty_table()


def conform_events(table: pa.Table) -> pa.Table:
    """Return `table` with exactly the events columns, in order, missing ones null, types cast."""
    cols = []
    for name, typ, _ in EVENT_COLUMNS:
        if name in table.column_names:
            col = table.column(name)
            cols.append(col if col.type == typ else col.cast(typ))
        else:
            cols.append(pa.nulls(table.num_rows, typ))
    return pa.Table.from_arrays(cols, schema=EVENTS_SCHEMA)


def quarantine_row(source_file: str, location: str, reason: str, raw: bytes | str, records: int = 1) -> dict:
    """Build one quarantine record, keeping at most RAW_LIMIT bytes of the offending input."""
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw[: RAW_LIMIT // 2 * 2])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            cut = exc.reason == "unexpected end of data"  # a character cut by the limit: drop it
            text = raw[: exc.start].decode("utf-8") if cut else raw[: RAW_LIMIT // 2].hex()
    else:
        text = raw[:RAW_LIMIT].encode("utf-8", "replace")[:RAW_LIMIT].decode("utf-8", "ignore")
    return {"source_file": source_file, "location": location, "reason": reason, "raw": text, "records": records}


def quarantine_table(rows: list[dict]) -> pa.Table:
    """Turn quarantine records into an Arrow table of QUARANTINE_SCHEMA."""
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)


# --- what a valid event is (issue 19, class 1) ------------------------------------------------
# One definition, used by ingest (`check_events`: nothing else enters `events`) and by the critical
# data-quality checks on `events` (pipelines/quality.py), so an input can never block a day.
EVENT_NOT_NULL = ("ts", "event_date", "src_ip", "proto", "source_kind", "source_file")
IPV4_PATTERN = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
IPV6_PATTERN = r"[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}"  # canonical: lower case, compressed, no zone
IP_REGEX = rf"^(?:{IPV4_PATTERN}|{IPV6_PATTERN})$"  # src_ip (never null) and dst_ip (null allowed)
PROTO_REGEX = r"^(?:tcp|udp|icmp|icmpv6|25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
PORT_COLUMNS = ("src_port", "dst_port")  # null allowed
PORT_MIN, PORT_MAX = 0, 65535
SOURCE_KINDS = ("pcap", "flow", "firewall", "honeypot", "sensor")
# The days ScanSense accepts, one definition for the events ingest keeps and the `--date` of `run`
# and `step`: nothing is recorded before the Unix epoch, and nothing far past today (a damaged clock
# or a typo, not a day to run; events dated later are quarantined, so no run advises a refused day).
FIRST_DAY = date(1970, 1, 1)
MAX_DAYS_AHEAD = 2


def accepted_days(today: date | None = None) -> tuple[date, date]:
    """The first and last day accepted, for events and for `--date`: 1970-01-01 .. today (UTC) + 2 days."""
    today = today or datetime.now(UTC).date()
    return FIRST_DAY, today + timedelta(days=MAX_DAYS_AHEAD)


def check_day(day: date, today: date | None = None) -> None:
    """Refuse a day outside `accepted_days()` with a one-line reason naming the range."""
    first, last = accepted_days(today)
    if not first <= day <= last:
        raise ValueError(f"--date {day.isoformat()} is outside {first.isoformat()}..{last.isoformat()}")


# ts in [TS_MIN, TS_MAX) and event_date = UTC date of ts. TS_MAX is the day after the last accepted
# day when the process starts (a run, an ingest, an Airflow task: each a fresh process).
TS_MIN = datetime.combine(FIRST_DAY, time(), UTC)
TS_MAX = datetime.combine(accepted_days()[1] + timedelta(days=1), time(), UTC)
TEXT_LIMIT = 65_536  # bytes of any text value kept in events (longer attacker text is cut)

_PLAIN_IPV4 = re.compile(IPV4_PATTERN)  # already canonical: returned as it is
PROTO_BY_NUMBER = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}
# IANA protocol names (lower case) a log may write instead of the number; stored as the number.
PROTO_NAMES = {
    "hopopt": 0, "igmp": 2, "ggp": 3, "ipencap": 4, "ipv4": 4, "st": 5, "egp": 8, "igp": 9, "pup": 12,
    "xns-idp": 22, "rdp": 27, "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "idrp": 45, "rsvp": 46,
    "gre": 47, "esp": 50, "ah": 51, "skip": 57, "ipv6-nonxt": 59, "ipv6-opts": 60, "vmtp": 81, "eigrp": 88,
    "ospf": 89, "ospfigp": 89, "ipip": 94, "etherip": 97, "encap": 98, "pim": 103, "ipcomp": 108, "vrrp": 112,
    "l2tp": 115, "isis": 124, "sctp": 132, "fc": 133, "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137,
    "hip": 139, "shim6": 140, "wesp": 141, "rohc": 142, "ethernet": 143,
    "icmp6": 58, "ipv6-icmp": 58,
}  # fmt: skip


def canonical_ip(text: str) -> str | None:
    """Canonical text of an address, or None: IPv6 lower-case compressed without zone, IPv4-mapped as IPv4."""
    return text if _PLAIN_IPV4.fullmatch(text) else _canonical_ip(text)


@functools.lru_cache(maxsize=65_536)
def _canonical_ip(text: str) -> str | None:
    s = text.strip()
    if len(s) > 64:
        return None
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1]
    s = s.split("%", 1)[0]  # a zone id names the sensor's interface, not the host
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        return None
    return ip_text(addr)


def address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`ip` parsed (a zone suffix dropped, an IPv4-mapped IPv6 address as its IPv4 one); None for bad text."""
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # IPv4-mapped IPv6 addresses: the IPv4 ones, as `address` reads them


def networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
    """The networks an address or CIDR covers, read as `address` reads an address; None for bad text.

    IPv4-mapped IPv6 (`::ffff:a.b.c.d`, `::ffff:a.b.c.0/120`) is its IPv4 network, since events carry
    such sources as IPv4; an IPv6 network holding all of `::ffff:0:0/96` (`::/0`) covers IPv4 too.
    """
    s = text.strip()
    addr, slash, prefix = s.partition("/")
    try:
        net = ipaddress.ip_network(addr.split("%")[0] + slash + prefix, strict=False)
    except ValueError:
        return None
    if net.version == 4:
        return [net]
    if net.prefixlen >= 96 and net.network_address.ipv4_mapped is not None:
        return [ipaddress.IPv4Network((net.network_address.ipv4_mapped, net.prefixlen - 96))]
    return [net, ipaddress.IPv4Network("0.0.0.0/0")] if _MAPPED.subnet_of(net) else [net]


def ip_text(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Canonical text of a parsed address (the one spelling `canonical_ip` gives)."""
    if addr.version == 6:
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        if addr.scope_id:
            addr = ipaddress.IPv6Address(addr.packed)
    return str(addr)


@functools.lru_cache(maxsize=1024)
def canonical_proto(value: str) -> str | None:
    """tcp, udp, icmp, icmpv6 or the IP protocol number as text; None when not a protocol."""
    s = value.strip().lower()
    if s.isascii() and s.isdigit() and len(s) <= 3:
        n = int(s)
        return PROTO_BY_NUMBER.get(n, str(n)) if n <= 255 else None
    if s in ("tcp", "udp", "icmp", "icmpv6"):
        return s
    n = PROTO_NAMES.get(s)
    return None if n is None else PROTO_BY_NUMBER.get(n, str(n))
