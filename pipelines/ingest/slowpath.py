"""scapy for the packets the numpy path does not cover: link types other than Ethernet, SLL/SLL2,
raw IP and BSD loopback (e.g. PPP, 802.11 radiotap). One Python object per packet, so slow, but
these link types are rare in scan sensing; the fields produced are the same as the fast path's."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from pipelines.ingest.tcpoptions import layout, tcp_header_options
from pipelines.schema import canonical_ip, conform_events, empty_events

FLAG_ORDER = "FSRPAUEC"


@dataclass
class SlowResult:
    """Events of the frames scapy could read, the (index, reason) of those it could not, non-IP count."""

    events: pa.Table
    bad: list[tuple[int, str]] = field(default_factory=list)
    skipped: int = 0


def _flags(value: int) -> str:
    return "".join(ch for bit, ch in enumerate(FLAG_ORDER) if value >> bit & 1)


def decode_frames(
    frames: list[bytes], ts_us: np.ndarray, linktypes: np.ndarray, offsets: np.ndarray, meta: dict[str, str]
) -> SlowResult:
    """Decode frames of any link type scapy knows into events rows."""
    try:
        from scapy.config import conf
        from scapy.layers.inet import ICMP, IP, TCP, UDP
        from scapy.layers.inet6 import IPv6
        from scapy.packet import Raw
    except ImportError:  # scapy missing: these frames cannot be read here
        return SlowResult(
            empty_events(), [(i, "link type needs scapy, which is not installed") for i in range(len(frames))]
        )

    rows, bad, skipped = [], [], 0
    for i, frame in enumerate(frames):
        lt = int(linktypes[i])
        cls = conf.l2types.get(lt)
        if cls is None:
            bad.append((i, f"unsupported link type {lt}"))
            continue
        try:
            pkt = cls(frame)
        except Exception as exc:  # scapy raises many types on damaged frames
            bad.append((i, f"undecodable frame ({type(exc).__name__})"))
            continue
        layer = pkt.getlayer(IP) or pkt.getlayer(IPv6)
        if layer is None:
            skipped += 1
            continue
        if isinstance(layer.payload, Raw) and getattr(layer, "frag", 0) == 0 and layer.proto in (6, 17):
            bad.append((i, "IP packet too short or malformed"))
            continue
        v4 = isinstance(layer, IP)
        proto = layer.proto if v4 else layer.nh
        row = {
            "src_ip": canonical_ip(str(layer.src)),
            "dst_ip": canonical_ip(str(layer.dst)),
            "proto": {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}.get(int(proto), str(proto)),
            "bytes": layer.len if v4 else layer.plen + 40,
            "ttl": layer.ttl if v4 else layer.hlim,
            "ip_id": layer.id if v4 else None,
            "src_port": None,
            "dst_port": None,
            "tcp_flags": None,
            "tcp_window": None,
            "tcp_seq": None,
            "tcp_options": None,
            "tcp_mss": None,
        }
        l4 = layer.payload
        if isinstance(l4, TCP):
            row |= {
                "src_port": l4.sport,
                "dst_port": l4.dport,
                "tcp_flags": _flags(int(l4.flags)),
                "tcp_window": l4.window,
                "tcp_seq": l4.seq,
            }
            # The option layout from the captured bytes, by the rule the compiled path follows.
            raw = bytes(l4.original or b"")
            if len(raw) >= 20:
                row["tcp_options"], row["tcp_mss"] = layout(tcp_header_options(raw))
        elif isinstance(l4, UDP):
            row |= {"src_port": l4.sport, "dst_port": l4.dport}
        elif isinstance(l4, ICMP) or int(proto) == 58 and hasattr(l4, "type"):
            row["dst_port"] = int(l4.type)
        rows.append((i, row))
    if not rows:
        return SlowResult(empty_events(), bad, skipped)
    idx = np.array([i for i, _ in rows])
    ts = ts_us[idx].astype(np.int64)
    table = pa.Table.from_pylist([r for _, r in rows])
    table = table.append_column("ts", pa.array(ts, pa.timestamp("us", tz="UTC")))
    table = table.append_column("event_date", pa.array((ts // 86_400_000_000).astype(np.int32), pa.date32()))
    table = table.append_column("packets", pa.array(np.ones(len(idx), np.int64)))
    table = table.append_column("duration_s", pa.array(np.zeros(len(idx))))
    locations = [f"byte:{int(offsets[i])}" for i in idx]
    table = table.append_column("source_location", pa.array(locations, pa.string()))
    for name, value in meta.items():
        table = table.append_column(name, pa.repeat(value, len(idx)))
    return SlowResult(conform_events(table), bad, skipped)
