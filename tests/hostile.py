"""Writers of small inputs in every format with chosen addresses and values, for the hostile-input tests."""

from __future__ import annotations

import ipaddress
import json
import re
import struct
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from pipelines.schema import EVENT_NOT_NULL, IP_REGEX, PORT_COLUMNS, PORT_MAX, PORT_MIN, PROTO_REGEX, SOURCE_KINDS

T0 = 1764115200  # 2025-11-26 00:00:00 UTC
DAY = "2025-11-26"


def _ip_bytes(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def frame(src: str, dst: str, dport: int, proto: int = 6) -> bytes:
    """An Ethernet frame: IPv4 or IPv6 (by the addresses) carrying a TCP SYN, a UDP datagram or another protocol."""
    l4 = struct.pack("!HHIIBBHHH", 40000, dport, 0, 0, 0x50, 0x02, 1024, 0, 0) if proto == 6 else b""
    l4 = struct.pack("!HHHH", 40000, dport, 8, 0) if proto == 17 else l4 or b"\x00" * 8
    if ":" in src:
        ip = struct.pack("!IHBB", 6 << 28, len(l4), proto, 64) + _ip_bytes(src) + _ip_bytes(dst)
        return b"\x00" * 12 + b"\x86\xdd" + ip + l4
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, _ip_bytes(src), _ip_bytes(dst))
    return b"\x00" * 12 + b"\x08\x00" + ip + l4


def pcap(frames: list[bytes]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, f in enumerate(frames):
        out += struct.pack("<IIII", T0 + i, 0, len(f), len(f)) + f
    return out


def block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def pcapng(frames: list[bytes], interfaces: list[bytes] | None = None, iface_of=lambda i: 0) -> bytes:
    """A pcapng file; `interfaces` are interface-block option bytes (default: one plain interface)."""
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    for opts in interfaces or [b""]:
        out += block(1, struct.pack("<HHI", 1, 0, 65535) + opts + (struct.pack("<HH", 0, 0) if opts else b""))
    for i, f in enumerate(frames):
        ts = (T0 + i) * 1_000_000
        out += block(6, struct.pack("<IIIII", iface_of(i), ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f)
    return out


def option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


CIDDS_HEAD = "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,class,attackType,attackID,attackDescription\n"


def cidds(rows: list[tuple[str, str, str, str]]) -> str:
    """(proto, src, dst, dst port) per row."""
    lines = [
        f"{DAY} 00:00:{i % 60:02d}.000,0.000,{p},{s},4000,{d},{port},1,60,1,....S.,0,attacker,portScan,1,---\n"
        for i, (p, s, d, port) in enumerate(rows)
    ]
    return CIDDS_HEAD + "".join(lines)


def ufw(rows: list[tuple[str, str, str, str]]) -> str:
    """(PROTO, SRC, DST, rest of the line after PROTO=...) per row."""
    return "".join(
        f"Nov 26 00:00:{i % 60:02d} host kernel: [UFW BLOCK] IN=eth0 OUT= MAC=aa SRC={s} DST={d} LEN=60 TOS=0x00 "
        f"PREC=0x00 TTL=50 ID=1 PROTO={p} {rest}\n"
        for i, (p, s, d, rest) in enumerate(rows)
    )


def sensor(records: list[dict]) -> str:
    base = {"ts": f"{DAY}T00:00:01Z", "event": "connect", "transport": "tcp", "src_ip": "198.51.100.1"}
    base |= {"src_port": 40000, "dst_ip": "10.0.0.1", "dst_port": 2222, "bytes": 0, "sensor": "s1"}
    return "".join(json.dumps(base | r) + "\n" for r in records)


def honeypot(records: list[dict]) -> str:
    base = {"ip": "198.51.100.2", "port": 5000, "dst_port": 80, "utc": f"{DAY} 00:00:01", "transport_protocol": "tcp"}
    return "".join(json.dumps(base | r) + "\n" for r in records)


def cowrie(records: list[dict]) -> str:
    base = {"eventid": "cowrie.session.connect", "src_ip": "198.51.100.3", "src_port": 4000, "dst_ip": "10.0.0.1"}
    base |= {"dst_port": 22, "timestamp": f"{DAY}T00:00:01.000000Z"}
    return "".join(json.dumps(base | r) + "\n" for r in records)


ZEEK_NAMES = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "conn_state"]


def zeek_tsv(rows: list[tuple[str, str, str, str]]) -> str:
    """(proto, orig_h, resp_h, resp_p) per row."""
    head = "#separator \\x09\n#fields\t" + "\t".join(ZEEK_NAMES) + "\n"
    return head + "".join(
        f"{T0 + i}.5\tC{i}\t{s}\t4000\t{d}\t{port}\t{p}\tS0\n" for i, (p, s, d, port) in enumerate(rows)
    )


def zeek_json(rows: list[tuple[str, str, str, str]]) -> str:
    return "".join(
        json.dumps(dict(zip(ZEEK_NAMES, [T0 + i + 0.5, f"C{i}", s, 4000, d, port, p, "S0"], strict=True))) + "\n"
        for i, (p, s, d, port) in enumerate(rows)
    )


NFDUMP_HEAD = "ts,te,td,sa,da,sp,dp,pr,flg,ipkt,ibyt\n"


def nfdump(rows: list[tuple[str, str, str, str]]) -> str:
    return NFDUMP_HEAD + "".join(
        f"{DAY} 00:00:{i % 60:02d},{DAY} 00:00:{i % 60:02d},0.0,{s},{d},4000,{port},{p},......S.,1,60\n"
        for i, (p, s, d, port) in enumerate(rows)
    )


CIC_HEAD = "Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration,Label\n"


def cic(rows: list[tuple[str, str, str, str]]) -> str:
    return CIC_HEAD + "".join(
        f"{s},4000,{d},{port},{p},{DAY} 00:00:{i % 60:02d}.5,10,BENIGN\n" for i, (p, s, d, port) in enumerate(rows)
    )


def critical_failures(events: pa.Table) -> list[str]:
    """What the critical data-quality checks on `events` would reject, checked with their own constants."""
    out = []
    ip, proto = re.compile(IP_REGEX), re.compile(PROTO_REGEX)
    for r in events.to_pylist():
        for c in EVENT_NOT_NULL:
            if r[c] is None:
                out.append(f"{c} null: {r}")
        if r["src_ip"] is not None and not ip.match(r["src_ip"]):
            out.append(f"src_ip {r['src_ip']!r}")
        if r["dst_ip"] is not None and not ip.match(r["dst_ip"]):
            out.append(f"dst_ip {r['dst_ip']!r}")
        for c in PORT_COLUMNS:
            if r[c] is not None and not PORT_MIN <= r[c] <= PORT_MAX:
                out.append(f"{c} {r[c]}")
        if r["proto"] is not None and not proto.match(r["proto"]):
            out.append(f"proto {r['proto']!r}")
        if r["source_kind"] not in SOURCE_KINDS:
            out.append(f"source_kind {r['source_kind']!r}")
        if r["ts"] is not None and r["event_date"] is not None:
            start = datetime(r["event_date"].year, r["event_date"].month, r["event_date"].day, tzinfo=UTC)
            if not start <= r["ts"] < start + timedelta(days=1):
                out.append(f"ts {r['ts']} not on {r['event_date']}")
    return out
