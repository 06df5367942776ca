"""Decode link/IP/transport headers of many packets at once with numpy (no object per packet).

Input: the capture's bytes as a numpy uint8 array and, per packet, the offset of its data, the
captured length, the timestamp and the link type. Output: an events table. Fields a packet is too
short to carry are null; the caller quarantines what cannot be decoded at all.
"""

from __future__ import annotations

import ipaddress

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

from pipelines.schema import conform_events

LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_RAW_ALT, LINKTYPE_SLL, LINKTYPE_SLL2 = 1, 101, 12, 113, 276
LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_NULL, LINKTYPE_LOOP = 228, 229, 0, 108
SUPPORTED_LINKTYPES = {
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    LINKTYPE_RAW_ALT,
    LINKTYPE_SLL,
    LINKTYPE_SLL2,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_NULL,
    LINKTYPE_LOOP,
    14,
}
PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
FLAG_LETTERS = ((0x01, "F"), (0x02, "S"), (0x04, "R"), (0x08, "P"), (0x10, "A"), (0x20, "U"), (0x40, "E"), (0x80, "C"))
IPV6_EXT_HEADERS = (0, 43, 60, 51)  # hop-by-hop, routing, destination options, AH (fragment 44 handled apart)


class _Reader:
    """Bounds-checked vectorized byte access: value 0 and valid=False beyond the captured length."""

    def __init__(self, buf: np.ndarray, start: np.ndarray, end: np.ndarray) -> None:
        self.buf, self.start, self.end = buf, start, end
        self.last = len(buf) - 1

    def u8(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ok = pos < self.end
        return self.buf[np.minimum(pos, self.last)].astype(np.int64) * ok, ok

    def u16(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hi, ok = self.u8(pos)
        lo, ok2 = self.u8(pos + 1)
        return (hi << 8) | lo, ok & ok2


def _flags_text(flags: np.ndarray, valid: np.ndarray) -> list[str | None]:
    table = []
    for v in range(256):
        table.append("".join(ch for bit, ch in FLAG_LETTERS if v & bit))
    lookup = np.array(table, dtype=object)
    out = lookup[flags & 0xFF]
    out[~valid] = None
    return out.tolist()


def _ipv4_text(raw: np.ndarray) -> list[str]:
    """uint32 addresses to dotted quads, formatting each distinct address once."""
    uniq, inv = np.unique(raw, return_inverse=True)
    text = np.array([str(ipaddress.IPv4Address(int(v))) for v in uniq], dtype=object)
    return text[inv].tolist()


def _ipv6_text(b: np.ndarray) -> list[str]:
    """16-byte rows to compressed IPv6 text, formatting each distinct address once."""
    if len(b) == 0:
        return []
    view = np.ascontiguousarray(b).view(np.dtype((np.void, 16))).ravel()
    uniq, inv = np.unique(view, return_inverse=True)
    text = np.array([str(ipaddress.IPv6Address(bytes(u))) for u in uniq], dtype=object)
    return text[inv].tolist()


def decode_packets(
    buf: np.ndarray,
    data_off: np.ndarray,
    caplen: np.ndarray,
    ts_us: np.ndarray,
    linktype: np.ndarray,
    wire_len: np.ndarray,
    source_file: str,
    source_format: str,
    sensor: str,
) -> tuple[pa.Table, np.ndarray]:
    """Decode packets; return (events of the decodable ones, boolean mask of undecodable ones)."""
    n = len(data_off)
    start = data_off.astype(np.int64)
    end = start + caplen.astype(np.int64)
    r = _Reader(buf, start, end)
    ethertype = np.zeros(n, np.int64)
    l3 = start.copy()
    lt = linktype.astype(np.int64)

    eth = lt == LINKTYPE_ETHERNET
    et, _ = r.u16(start + 12)
    l3 = np.where(eth, start + 14, l3)
    ethertype = np.where(eth, et, ethertype)
    for _ in range(2):  # 802.1Q / 802.1ad (QinQ): up to two tags
        tagged = eth & np.isin(ethertype, (0x8100, 0x88A8, 0x9100))
        inner, _ = r.u16(l3 + 2)
        ethertype = np.where(tagged, inner, ethertype)
        l3 = np.where(tagged, l3 + 4, l3)
    sll = lt == LINKTYPE_SLL
    et, _ = r.u16(start + 14)
    ethertype = np.where(sll, et, ethertype)
    l3 = np.where(sll, start + 16, l3)
    sll2 = lt == LINKTYPE_SLL2
    et, _ = r.u16(start)
    ethertype = np.where(sll2, et, ethertype)
    l3 = np.where(sll2, start + 20, l3)
    null = np.isin(lt, (LINKTYPE_NULL, LINKTYPE_LOOP))
    l3 = np.where(null, start + 4, l3)
    raw = np.isin(lt, (LINKTYPE_RAW, LINKTYPE_RAW_ALT, 14, LINKTYPE_IPV4, LINKTYPE_IPV6)) | null
    first, _ = r.u8(l3)
    version = first >> 4
    ethertype = np.where(raw & (version == 4), 0x0800, ethertype)
    ethertype = np.where(raw & (version == 6), 0x86DD, ethertype)

    is4 = (ethertype == 0x0800) & ((first >> 4) == 4)
    is6 = (ethertype == 0x86DD) & ((first >> 4) == 6)
    # IPv4
    ihl = (first & 0x0F) * 4
    total_len, _ = r.u16(l3 + 2)
    ip_id, _ = r.u16(l3 + 4)
    frag, _ = r.u16(l3 + 6)
    ttl4, _ = r.u8(l3 + 8)
    proto4, _ = r.u8(l3 + 9)
    src4 = np.zeros(n, np.uint64)
    dst4 = np.zeros(n, np.uint64)
    for k in range(4):
        s, _ = r.u8(l3 + 12 + k)
        d, _ = r.u8(l3 + 16 + k)
        src4 = (src4 << np.uint64(8)) | s.astype(np.uint64)
        dst4 = (dst4 << np.uint64(8)) | d.astype(np.uint64)
    v4_ok = is4 & (l3 + 20 <= end) & (ihl >= 20)
    frag_offset = frag & 0x1FFF  # non-first fragments carry no transport header
    # IPv6, walking up to four extension headers
    payload6, _ = r.u16(l3 + 4)
    nh, _ = r.u8(l3 + 6)
    hop6, _ = r.u8(l3 + 7)
    l4_6 = l3 + 40
    frag6 = np.zeros(n, bool)
    for _ in range(4):
        ext = is6 & np.isin(nh, IPV6_EXT_HEADERS)
        fr = is6 & (nh == 44)
        nxt, _ = r.u8(l4_6)
        hlen, _ = r.u8(l4_6 + 1)
        off6, _ = r.u16(l4_6 + 2)
        size = np.where(nh == 51, (hlen + 2) * 4, np.where(fr, 8, (hlen + 1) * 8))
        frag6 = frag6 | (fr & ((off6 >> 3) != 0))
        nh = np.where(ext | fr, nxt, nh)
        l4_6 = np.where(ext | fr, l4_6 + size, l4_6)
    v6_ok = is6 & (l3 + 40 <= end)

    proto = np.where(is4, proto4, np.where(is6, nh, -1))
    l4 = np.where(is4, l3 + ihl, l4_6)
    has_l4 = (v4_ok & (frag_offset == 0)) | (v6_ok & ~frag6)
    sport, sp_ok = r.u16(l4)
    dport, dp_ok = r.u16(l4 + 2)
    tflags, tf_ok = r.u8(l4 + 13)
    window, win_ok = r.u16(l4 + 14)
    icmp_type, ic_ok = r.u8(l4)
    tcp = has_l4 & (proto == 6)
    udp = has_l4 & (proto == 17)
    icmp = has_l4 & np.isin(proto, (1, 58))
    ports_ok = (tcp | udp) & sp_ok & dp_ok

    good = v4_ok | v6_ok
    idx = np.flatnonzero(good)
    src_text = np.empty(n, dtype=object)
    dst_text = np.empty(n, dtype=object)
    i4 = np.flatnonzero(v4_ok)
    if len(i4):
        src_text[i4] = _ipv4_text(src4[i4])
        dst_text[i4] = _ipv4_text(dst4[i4])
    i6 = np.flatnonzero(v6_ok)
    if len(i6):
        gather = np.minimum(l3[i6, None] + np.arange(8, 40)[None, :], len(buf) - 1)
        block = buf[gather]
        src_text[i6] = _ipv6_text(block[:, :16])
        dst_text[i6] = _ipv6_text(block[:, 16:])

    proto_text = np.array([PROTO_NAMES.get(int(p), str(int(p))) for p in range(256)], dtype=object)
    sel = idx
    dst_port = np.where(ports_ok, dport, np.where(icmp & ic_ok, icmp_type, -1))[sel]
    table = pa.table(
        {
            "ts": pa.array(ts_us[sel].astype("datetime64[us]"), pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
            "src_ip": pa.array(src_text[sel].tolist(), pa.string()),
            "dst_ip": pa.array(dst_text[sel].tolist(), pa.string()),
            "src_port": pa.array(np.where(ports_ok, sport, 0)[sel], pa.int32(), mask=~ports_ok[sel]),
            "dst_port": pa.array(np.maximum(dst_port, 0), pa.int32(), mask=dst_port < 0),
            "proto": pa.array(proto_text[np.clip(proto, 0, 255)][sel].tolist(), pa.string()),
            "tcp_flags": pa.array(_flags_text(tflags[sel], (tcp & tf_ok)[sel]), pa.string()),
            "packets": pa.array(np.ones(len(sel), np.int64)),
            "bytes": pa.array(np.where(is4, total_len, payload6 + 40)[sel].astype(np.int64)),
            "duration_s": pa.array(np.zeros(len(sel))),
            "ttl": pa.array(np.where(is4, ttl4, hop6)[sel], pa.int32()),
            "ip_id": pa.array(ip_id[sel], pa.int32(), mask=~is4[sel]),
            "tcp_window": pa.array(window[sel], pa.int32(), mask=~(tcp & win_ok)[sel]),
            "source_kind": pa.array(["pcap"] * len(sel), pa.string()),
            "source_format": pa.array([source_format] * len(sel), pa.string()),
            "source_file": pa.array([source_file] * len(sel), pa.string()),
            "source_location": pa.compute.binary_join_element_wise(
                "byte:", pa.array(data_off[sel]).cast(pa.string()), ""
            ),
            "sensor": pa.array([sensor] * len(sel), pa.string()),
        }
    )
    table = table.append_column("event_date", pa.compute.cast(table["ts"], pa.date32()))
    return conform_events(table), ~good
