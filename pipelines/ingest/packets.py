"""Packet batches to events: header fields from one compiled pass (`headers.py`), columns with Arrow.

Input: a window of the capture's bytes (zero-padded past its end by `headers.PAD`) and, per
packet, where its record and its data start, its captured length, timestamp and link type.
Packets whose link type the fast path does not know are handed back for the scapy path; non-IP
frames (ARP, LLDP, ...) are counted as skipped; IP packets too short to decode are returned for
quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingest import headers, tcpoptions
from pipelines.ingest.arrowtext import dotted_quads, prefixed_numbers
from pipelines.schema import conform_events, ip_text

PAD = headers.PAD
PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
# Flag bits low to high are F S R P A U E C, which is also the order letters are written in.
FLAG_TABLE = pa.array(["".join(ch for bit, ch in enumerate("FSRPAUEC") if v >> bit & 1) for v in range(256)])
PROTO_TABLE = pa.array([PROTO_NAMES.get(p, str(p)) for p in range(256)])


@dataclass
class Decoded:
    """What `decode_packets` made of a batch: events plus the packets it could not use."""

    events: pa.Table
    bad: np.ndarray  # indices of IP packets too short or malformed to decode (quarantine)
    other_link: np.ndarray  # indices of packets on link types the fast path does not read (scapy)
    skipped: int  # frames that are not IP at all (ARP, LLDP, STP ...): no probe, not damage


def gather(buf: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """Rows of `width` bytes starting at each position (positions clamped into the padded window)."""
    pos = np.minimum(pos, len(buf) - width)
    # Row selection on a strided view copies each row as one block: ~5x faster than 2-D fancy indexing.
    return np.lib.stride_tricks.sliding_window_view(buf, width)[pos]


def ipv6_text(rows: np.ndarray) -> pa.Array:
    """16-byte rows to canonical text (compressed IPv6; IPv4-mapped as IPv4), each distinct address once."""
    import ipaddress

    if len(rows) == 0:
        return pa.array([], pa.string())
    view = np.ascontiguousarray(rows).view(np.dtype((np.void, 16))).ravel()
    uniq, inv = np.unique(view, return_inverse=True)
    text = pa.array([ip_text(ipaddress.IPv6Address(bytes(u))) for u in uniq], pa.string())
    return pc.take(text, pa.array(inv.ravel()))


def _addresses(buf: np.ndarray, is4: np.ndarray, l3: np.ndarray, src4: np.ndarray, dst4: np.ndarray):
    """Source and destination text columns; IPv6 (rare) formatted per distinct address."""
    if is4.all():
        return dotted_quads(src4), dotted_quads(dst4)
    src, dst = np.empty(len(is4), object), np.empty(len(is4), object)
    i4, i6 = np.flatnonzero(is4), np.flatnonzero(~is4)
    src[i4] = dotted_quads(src4[i4]).to_numpy(zero_copy_only=False)
    dst[i4] = dotted_quads(dst4[i4]).to_numpy(zero_copy_only=False)
    ip6 = gather(buf, l3[i6], 40)
    src[i6] = ipv6_text(ip6[:, 8:24]).to_numpy(zero_copy_only=False)
    dst[i6] = ipv6_text(ip6[:, 24:40]).to_numpy(zero_copy_only=False)
    return pa.array(src, pa.string()), pa.array(dst, pa.string())


def _option_layouts(buf: np.ndarray, idx: np.ndarray, layouts: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> pa.Array:
    """TCP option layout text per packet: each of the batch's distinct layouts formatted once.

    Null where the TCP header was not captured whole; layouts the compiled pass did not index
    (`headers.REBUILD`) are rebuilt from their bytes by the reference rule (`tcpoptions.layout`).
    """
    texts = pa.array([tcpoptions.key_text(int(v)) for v in layouts], pa.string())
    column = pc.take(texts, pa.array(idx, pa.int32(), mask=idx < 0))
    rebuild = idx == headers.REBUILD
    if rebuild.any():
        rebuilt = [tcpoptions.layout(bytes(buf[a:b]))[0] for a, b in zip(lo[rebuild], hi[rebuild], strict=True)]
        column = pc.replace_with_mask(column, pa.array(rebuild), pa.array(rebuilt, pa.string()))
    return column


def decode_packets(
    buf: np.ndarray,
    rec_off: np.ndarray,
    data_off: np.ndarray,
    caplen: np.ndarray,
    ts_us: np.ndarray,
    linktype: np.ndarray,
    wire_len: np.ndarray,
    base: int,
    meta: dict[str, str],
) -> Decoded:
    """Decode a batch of packets; `base` is the file offset of buf[0], `meta` the constant columns."""
    (status, k, sel, is4, l3, src4, dst4, proto, sport, dport, dport_ok, ports_ok,
     flags, flags_ok, ip_bytes, ttl, ip_id, window, window_ok, seq, seq_ok,
     opt_idx, layouts, opt_lo, opt_hi, mss) = headers.decode_headers(
        buf, np.ascontiguousarray(data_off, np.int64), np.ascontiguousarray(caplen, np.int64),
        np.ascontiguousarray(linktype, np.int64),
    )  # fmt: skip
    sel, is4, l3, src4, dst4, proto = sel[:k], is4[:k], l3[:k], src4[:k], dst4[:k], proto[:k]
    src, dst = _addresses(buf, is4, l3, src4, dst4)
    ts = ts_us[sel].astype(np.int64)
    table = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "event_date": pa.array((ts // 86_400_000_000).astype(np.int32), pa.date32()),
            "src_ip": src,
            "dst_ip": dst,
            "src_port": pa.array(sport[:k], pa.int32(), mask=~ports_ok[:k]),
            "dst_port": pa.array(dport[:k], pa.int32(), mask=~dport_ok[:k]),
            "proto": pc.take(PROTO_TABLE, pa.array(proto & 0xFF)),
            "tcp_flags": pc.take(FLAG_TABLE, pa.array(flags[:k], mask=~flags_ok[:k])),
            "packets": pa.array(np.ones(k, np.int64)),
            "bytes": pa.array(ip_bytes[:k]),
            "duration_s": pa.array(np.zeros(k)),
            "ttl": pa.array(ttl[:k], pa.int32()),
            "ip_id": pa.array(ip_id[:k], pa.int32(), mask=~is4),
            "tcp_window": pa.array(window[:k], pa.int32(), mask=~window_ok[:k]),
            "tcp_seq": pa.array(seq[:k], pa.int64(), mask=~seq_ok[:k]),
            "tcp_options": _option_layouts(buf, opt_idx[:k], layouts, opt_lo[:k], opt_hi[:k]),
            "tcp_mss": pa.array(mss[:k], pa.int32(), mask=mss[:k] < 0),
            "source_location": prefixed_numbers("byte:", rec_off[sel].astype(np.int64) + base),
            **{name: pa.repeat(value, k) for name, value in meta.items()},
        }
    )
    return Decoded(
        events=conform_events(table),
        bad=np.flatnonzero(status == headers.BAD),
        other_link=np.flatnonzero(status == headers.OTHER_LINK),
        skipped=int((status == headers.NOT_IP).sum()),
    )
