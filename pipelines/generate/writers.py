"""Render synthetic probes into the input formats ScanSense reads: classic pcap (built with struct,
far faster than scapy per packet), CIDDS-001 flow CSV, UFW firewall log, sensor JSONL, honeypot JSON."""

from __future__ import annotations

import ipaddress
import json
import struct
from datetime import UTC, datetime
from pathlib import Path

CIDDS_HEADER = "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,class,attackType,attackID,attackDescription"
TCP_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}
MONTH = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def packet_bytes(p: dict) -> bytes:
    """One Ethernet frame for a probe record (IPv4 or IPv6; TCP, UDP or ICMP)."""
    src, dst = ipaddress.ip_address(p["src"]), ipaddress.ip_address(p["dst"])
    proto = p["proto"]
    payload = p.get("payload", b"")
    if proto == "tcp":
        flags = sum(TCP_BITS[c] for c in p["flags"])
        l4 = (
            struct.pack(
                "!HHIIBBHHH",
                p["sport"],
                p["dport"],
                p.get("seq", 1),
                p.get("ack", 0),
                0x50,
                flags,
                p.get("window", 64240),
                0,
                0,
            )
            + payload
        )
        num = 6
    elif proto == "udp":
        l4 = struct.pack("!HHHH", p["sport"], p["dport"], 8 + len(payload), 0) + payload
        num = 17
    else:
        l4 = struct.pack("!BBHI", p["dport"], p.get("code", 0), 0, 0) + payload
        num = 1 if src.version == 4 else 58
    if src.version == 4:
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(l4),
            p.get("ip_id", 1),
            0x4000,
            p.get("ttl", 64),
            num,
            0,
            src.packed,
            dst.packed,
        )
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        ethertype = 0x0800
    else:
        ip = struct.pack("!IHBB16s16s", 0x60000000, len(l4), num, p.get("ttl", 64), src.packed, dst.packed)
        ethertype = 0x86DD
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01" + struct.pack("!H", ethertype) + ip + l4


def write_pcap(path: Path, packets: list[dict]) -> int:
    """Write packets sorted by time as a little-endian microsecond pcap (Ethernet)."""
    packets = sorted(packets, key=lambda p: p["ts"])
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for p in packets:
            frame = packet_bytes(p)
            us = int(round(p["ts"] * 1_000_000))
            fh.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(frame), len(frame)))
            fh.write(frame)
    return len(packets)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def write_cidds(path: Path, flows: list[dict]) -> int:
    """Write flows in CIDDS-001's CSV columns (flags as 6 positions UAPRSF, '.' for unset)."""
    flows = sorted(flows, key=lambda f: f["ts"])
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(CIDDS_HEADER + "\n")
        for f in flows:
            flags = "".join(c if c in f.get("flags", "") else "." for c in "UAPRSF")
            first = _utc(f["ts"]).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            fh.write(
                f"{first},{f.get('duration', 0.0):.3f},{f['proto'].upper():<5},{f['src']},{f['sport']},{f['dst']},{f['dport']},"
                f"{f.get('packets', 1)},{f.get('bytes', 60)},1,{flags},0,{f.get('cls', 'normal')},{f.get('attack_type', '---')},"
                f"{f.get('attack_id', '---')},{f.get('attack_desc', '---')}\n"
            )
    return len(flows)


def write_ufw(path: Path, probes: list[dict]) -> int:
    """Write blocked probes as UFW kernel log lines (syslog: no year, local clock taken as UTC)."""
    probes = sorted(probes, key=lambda p: p["ts"])
    with open(path, "w", encoding="utf-8") as fh:
        for p in probes:
            t = _utc(p["ts"])
            uptime = p["ts"] - 1_700_000_000
            head = f"{MONTH[t.month - 1]} {t.day:2d} {t:%H:%M:%S} vps kernel: [{uptime:.6f}] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:7c:d8:0f:fe:54:00:7c:d8:0f:08:00"
            body = f" SRC={p['src']} DST={p['dst']} LEN={p.get('size', 40)} TOS=0x00 PREC=0x00 TTL={p.get('ttl', 64)} ID={p.get('ip_id', 1)}"
            if p["proto"] == "tcp":
                body += (
                    f" PROTO=TCP SPT={p['sport']} DPT={p['dport']} WINDOW={p.get('window', 1024)} RES=0x00 SYN URGP=0 "
                )
            else:
                body += f" PROTO=UDP SPT={p['sport']} DPT={p['dport']} LEN={p.get('size', 40) - 20} "
            fh.write(head + body + "\n")
    return len(probes)


def write_sensor(path: Path, probes: list[dict], sensor: str) -> int:
    """Write probes as the sensor's JSON lines dump."""
    probes = sorted(probes, key=lambda p: p["ts"])
    with open(path, "w", encoding="utf-8") as fh:
        for p in probes:
            payload = p.get("payload", b"")
            fh.write(
                json.dumps(
                    {
                        "ts": _utc(p["ts"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "event": "connect" if p["proto"] == "tcp" else "datagram",
                        "transport": p["proto"],
                        "src_ip": p["src"],
                        "src_port": p["sport"],
                        "dst_ip": p["dst"],
                        "dst_port": p["dport"],
                        "sent_data": bool(payload),
                        "payload_hex": payload[:64].hex(),
                        "bytes": len(payload),
                        "duration_s": round(p.get("duration", 0.05), 3),
                        "sensor": sensor,
                    }
                )
                + "\n"
            )
    return len(probes)


def write_honeypot(path: Path, hits: list[dict]) -> int:
    """Write honeypot hits in the organization paper's JSON shape (its Table 1)."""
    hits = sorted(hits, key=lambda h: h["ts"])
    with open(path, "w", encoding="utf-8") as fh:
        for h in hits:
            rec = {
                "ip": h["src"],
                "port": h["sport"],
                "dst_ip": h["dst"],
                "dst_port": h["dport"],
                "utc": _utc(h["ts"]).strftime("%Y-%m-%d %H:%M:%S"),
                "transport_protocol": "tcp",
                "proto": h.get("app", "http"),
                "action": h.get("action", "request"),
            }
            if h.get("app", "http") == "http":
                rec |= {
                    "method": h.get("method", "GET"),
                    "uri": h.get("uri", "/"),
                    "headers": {"User-Agent": h.get("ua", ""), "Host": h["dst"]},
                }
            if h.get("payload"):
                rec |= {"pack_datagram": h["payload"].hex(), "data_length": len(h["payload"])}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return len(hits)
