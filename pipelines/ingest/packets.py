"""Decode link, IP and transport headers of many packets at once with numpy (no object per packet).

Input: a window of the capture's bytes (zero-padded past its end, so a fixed-size header read
never leaves the array) and, per packet, where its record and its data start, its captured
length, timestamp and link type. The headers are gathered into small per-packet byte matrices
(link, IP, transport) and every field is column arithmetic on them. Packets whose link type the
fast path does not know are handed back for the scapy path; non-IP frames (ARP, LLDP, ...) are
counted as skipped; IP packets too short to decode are returned for quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.schema import conform_events

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW_BSD, LINKTYPE_RAW_OPENBSD = 0, 1, 12, 14
LINKTYPE_RAW, LINKTYPE_LOOP, LINKTYPE_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_SLL2 = 101, 108, 113, 228, 229, 276
FAST_LINKTYPES = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_RAW_BSD,
        LINKTYPE_RAW_OPENBSD,
        LINKTYPE_RAW,
        LINKTYPE_LOOP,
        LINKTYPE_SLL,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_SLL2,
    }
)
RAW_LINKTYPES = (LINKTYPE_RAW_BSD, LINKTYPE_RAW_OPENBSD, LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6)
PAD = 128  # zero bytes the caller keeps after the window: the longest fixed-size read here
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
IPV6_EXT_HEADERS = (0, 43, 60, 51, 135, 139, 140)  # hop-by-hop, routing, dest. options, AH, mobility, HIP, shim6
PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}
# Flag bits low to high are F S R P A U E C, which is also the order letters are written in.
FLAG_TABLE = pa.array(["".join(ch for bit, ch in enumerate("FSRPAUEC") if v >> bit & 1) for v in range(256)])
PROTO_TABLE = pa.array([PROTO_NAMES.get(p, str(p)) for p in range(256)])
HALF_V4 = pa.array([f"{i >> 8}.{i & 255}" for i in range(65536)])  # two octets of dotted-quad text


@dataclass
class Decoded:
    """What `decode_packets` made of a batch: events plus the packets it could not use."""

    events: pa.Table
    bad: np.ndarray  # indices of IP packets too short or malformed to decode (quarantine)
    other_link: np.ndarray  # indices of packets on link types the fast path does not read (scapy)
    skipped: int  # frames that are not IP at all (ARP, LLDP, STP ...): no probe, not damage


def _cols(m: np.ndarray, i: int) -> np.ndarray:
    return m[:, i].astype(np.int64)


def _u16(m: np.ndarray, i: int) -> np.ndarray:
    return (m[:, i].astype(np.int64) << 8) | m[:, i + 1]


def gather(buf: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """Rows of `width` bytes starting at each position (positions clamped into the padded window)."""
    pos = np.minimum(pos, len(buf) - width)
    # Row selection on a strided view copies each row as one block: ~5x faster than 2-D fancy indexing.
    return np.lib.stride_tricks.sliding_window_view(buf, width)[pos]


def ipv4_text(raw: np.ndarray) -> pa.Array:
    """uint32 addresses to dotted-quad strings without a Python object per address."""
    raw = raw.astype(np.uint32)
    hi = pc.take(HALF_V4, pa.array((raw >> 16).astype(np.int32)))
    lo = pc.take(HALF_V4, pa.array((raw & 0xFFFF).astype(np.int32)))
    return pc.binary_join_element_wise(hi, lo, ".")


def ipv6_text(rows: np.ndarray) -> pa.Array:
    """16-byte rows to compressed IPv6 text, formatting each distinct address once."""
    import ipaddress

    if len(rows) == 0:
        return pa.array([], pa.string())
    view = np.ascontiguousarray(rows).view(np.dtype((np.void, 16))).ravel()
    uniq, inv = np.unique(view, return_inverse=True)
    text = pa.array([str(ipaddress.IPv6Address(bytes(u))) for u in uniq], pa.string())
    return pc.take(text, pa.array(inv.ravel()))


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
    n = len(data_off)
    start = data_off.astype(np.int64)
    end = start + caplen.astype(np.int64)
    lt = np.asarray(linktype, np.int64)

    # Link layer: where the IP header starts and which protocol the link says it carries.
    link = gather(buf, start, 24)
    l3 = start.copy()
    ethertype = np.zeros(n, np.int64)
    eth = lt == LINKTYPE_ETHERNET
    if eth.any():
        et = _u16(link, 12)
        off = np.full(n, 14, np.int64)
        for tag in (16, 20):  # 802.1Q and 802.1ad/QinQ: up to two tags
            tagged = np.isin(et, VLAN_TPIDS)
            et = np.where(tagged, _u16(link, tag), et)
            off = np.where(tagged, off + 4, off)
        ethertype = np.where(eth, et, ethertype)
        l3 = np.where(eth, start + off, l3)
    sll = lt == LINKTYPE_SLL
    if sll.any():
        ethertype = np.where(sll, _u16(link, 14), ethertype)
        l3 = np.where(sll, start + 16, l3)
    sll2 = lt == LINKTYPE_SLL2
    if sll2.any():
        ethertype = np.where(sll2, _u16(link, 0), ethertype)
        l3 = np.where(sll2, start + 20, l3)
    null = np.isin(lt, (LINKTYPE_NULL, LINKTYPE_LOOP))
    l3 = np.where(null, start + 4, l3)
    bare = np.isin(lt, RAW_LINKTYPES) | null  # no ethertype: the IP version nibble says

    ip = gather(buf, l3, 40)
    version = ip[:, 0] >> 4
    is4 = np.where(bare, version == 4, (ethertype == 0x0800) & (version == 4))
    is6 = np.where(bare, version == 6, (ethertype == 0x86DD) & (version == 6))
    fast = np.isin(lt, tuple(FAST_LINKTYPES))
    cut_link = fast & (l3 > end)  # frame shorter than its own link header
    claims_ip = fast & ~cut_link & (np.isin(ethertype, (0x0800, 0x86DD)) | bare)  # says IP, may be malformed

    ihl = (ip[:, 0] & 0x0F).astype(np.int64) * 4
    v4_ok = is4 & (ihl >= 20) & (l3 + 20 <= end)
    v6_ok = is6 & (l3 + 40 <= end)
    good = v4_ok | v6_ok

    # IPv6: walk extension headers (only on the packets that have them).
    nh = _cols(ip, 6)
    l4 = np.where(is4, l3 + ihl, l3 + 40)
    later_fragment = is4 & ((_u16(ip, 6) & 0x1FFF) != 0)  # non-first fragments carry no ports
    ext = np.flatnonzero(v6_ok & np.isin(nh, (*IPV6_EXT_HEADERS, 44)))
    if len(ext):
        pos6, nh6, frag6 = l4[ext].copy(), nh[ext].copy(), np.zeros(len(ext), bool)
        for _ in range(8):
            hop = np.isin(nh6, IPV6_EXT_HEADERS)
            fr = nh6 == 44
            if not (hop | fr).any():
                break
            h = gather(buf, pos6, 4)
            size = np.where(nh6 == 51, (h[:, 1].astype(np.int64) + 2) * 4, (h[:, 1].astype(np.int64) + 1) * 8)
            size = np.where(fr, 8, size)
            frag6 |= fr & ((_u16(h, 2) >> 3) != 0)
            nh6 = np.where(hop | fr, h[:, 0], nh6)
            pos6 = np.where(hop | fr, pos6 + size, pos6)
        nh[ext], l4[ext] = nh6, pos6
        later_fragment[ext] = frag6
    proto = np.where(is4, _cols(ip, 9), nh)

    tp = gather(buf, l4, 16)
    has_l4 = good & ~later_fragment
    tcp = has_l4 & (proto == 6)
    udp = has_l4 & (proto == 17)
    icmp = has_l4 & ((proto == 1) | (proto == 58))
    ports_ok = (tcp | udp) & (l4 + 4 <= end)
    flags_ok = tcp & (l4 + 14 <= end)
    win_ok = tcp & (l4 + 16 <= end)
    icmp_ok = icmp & (l4 + 1 <= end)

    sel = np.flatnonzero(good)
    k = len(sel)
    ip_s, tp_s = ip[sel], tp[sel]
    is4_s, is6_s = is4[sel], is6[sel]
    src = pa.array(np.empty(0, object), pa.string())
    dst = src
    if k:
        if is4_s.all():
            a = ip_s[:, 12:20].astype(np.uint32)
            src = ipv4_text(a[:, 0] << 24 | a[:, 1] << 16 | a[:, 2] << 8 | a[:, 3])
            dst = ipv4_text(a[:, 4] << 24 | a[:, 5] << 16 | a[:, 6] << 8 | a[:, 7])
        else:
            src_py = np.empty(k, object)
            dst_py = np.empty(k, object)
            i4, i6 = np.flatnonzero(is4_s), np.flatnonzero(is6_s)
            a = ip_s[i4, 12:20].astype(np.uint32)
            src_py[i4] = ipv4_text(a[:, 0] << 24 | a[:, 1] << 16 | a[:, 2] << 8 | a[:, 3]).to_numpy(
                zero_copy_only=False
            )
            dst_py[i4] = ipv4_text(a[:, 4] << 24 | a[:, 5] << 16 | a[:, 6] << 8 | a[:, 7]).to_numpy(
                zero_copy_only=False
            )
            src_py[i6] = ipv6_text(ip_s[i6, 8:24]).to_numpy(zero_copy_only=False)
            dst_py[i6] = ipv6_text(ip_s[i6, 24:40]).to_numpy(zero_copy_only=False)
            src, dst = pa.array(src_py, pa.string()), pa.array(dst_py, pa.string())

    ports = ports_ok[sel]
    dport = np.where(ports, _u16(tp_s, 2), np.where(icmp_ok[sel], _cols(tp_s, 0), 0))
    flags = flags_ok[sel]
    ts = ts_us[sel].astype(np.int64)
    location = pc.binary_join_element_wise(
        "byte:", pa.array(rec_off[sel].astype(np.int64) + base).cast(pa.string()), ""
    )
    table = pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "event_date": pa.array((ts // 86_400_000_000).astype(np.int32), pa.date32()),
            "src_ip": src,
            "dst_ip": dst,
            "src_port": pa.array(_u16(tp_s, 0), pa.int32(), mask=~ports),
            "dst_port": pa.array(dport, pa.int32(), mask=~(ports | icmp_ok[sel])),
            "proto": pc.take(PROTO_TABLE, pa.array(proto[sel] & 0xFF)),
            "tcp_flags": pc.take(FLAG_TABLE, pa.array(_cols(tp_s, 13), mask=~flags)),
            "packets": pa.array(np.ones(k, np.int64)),
            "bytes": pa.array(np.where(is4_s, _u16(ip_s, 2), _u16(ip_s, 4) + 40)),
            "duration_s": pa.array(np.zeros(k)),
            "ttl": pa.array(np.where(is4_s, ip_s[:, 8], ip_s[:, 7]), pa.int32()),
            "ip_id": pa.array(_u16(ip_s, 4), pa.int32(), mask=~is4_s),
            "tcp_window": pa.array(_u16(tp_s, 14), pa.int32(), mask=~win_ok[sel]),
            "source_location": location,
            **{name: pa.repeat(value, k) for name, value in meta.items()},
        }
    )
    return Decoded(
        events=conform_events(table),
        bad=np.flatnonzero((claims_ip & ~good) | cut_link),
        other_link=np.flatnonzero(~fast),
        skipped=int((fast & ~claims_ip & ~cut_link).sum()),
    )
