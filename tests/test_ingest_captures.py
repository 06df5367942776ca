"""Captures crafted with scapy: every link type, IP version, transport and file variant the reader
claims, checked field by field against what scapy put in."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
from scapy.layers.ppp import PPP
from scapy.packet import Raw
from scapy.utils import wrpcap

from pipelines.ingest import detect_format, iter_file

T0 = 1764115200  # 2025-11-26 00:00:00 UTC
COLS = ["src_ip", "dst_ip", "src_port", "dst_port", "proto", "tcp_flags", "ttl", "ip_id", "bytes", "tcp_window"]


def pcap_bytes(frames: list[bytes], linktype: int = 1, endian: str = "<", nano: bool = False) -> bytes:
    """A classic pcap of `frames`, one per second from T0, with a sub-second part that tests units."""
    out = struct.pack(endian + "IHHiIII", 0xA1B23C4D if nano else 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    for i, f in enumerate(frames):
        frac = (123_456_789 if nano else 123_456) + i
        out += struct.pack(endian + "IIII", T0 + i, frac, len(f), len(f)) + f
    return out


def block(btype: int, body: bytes, e: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack(e + "II", btype, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body))


def shb(e: str = "<") -> bytes:
    return block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1), e)


def idb(linktype: int, tsresol: int | None = None, e: str = "<") -> bytes:
    opts = b""
    if tsresol is not None:
        opts = struct.pack(e + "HH", 9, 1) + bytes([tsresol]) + b"\x00" * 3 + struct.pack(e + "HH", 0, 0)
    return block(1, struct.pack(e + "HHI", linktype, 0, 262144) + opts, e)


def epb(iface: int, ticks: int, frame: bytes, e: str = "<") -> bytes:
    head = struct.pack(e + "IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return block(6, head + frame, e)


def events(path: Path, settings) -> tuple[list[dict], list[dict], int]:
    chunks = list(iter_file(path, settings))
    rows = [r for c in chunks for r in c.events.to_pylist()]
    return rows, [q for c in chunks for q in c.quarantine], sum(c.skipped for c in chunks)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def pick(row: dict) -> dict:
    return {k: row[k] for k in COLS}


SYN = TCP(sport=40000, dport=22, flags="S", window=1024)


def test_ethernet_tcp_flags_letters_in_order(tmp_path: Path, settings) -> None:
    frames = [
        Ether() / IP(src="45.33.1.2", dst="10.0.0.1", ttl=51, id=54321) / TCP(sport=1, dport=80, flags=f, window=w)
        for f, w in (("S", 1024), ("SA", 65535), ("FPU", 7), ("SEC", 1), ("", 0))
    ]
    rows, bad, _ = events(write(tmp_path, "flags.pcap", pcap_bytes([bytes(f) for f in frames])), settings)
    assert not bad
    assert [r["tcp_flags"] for r in rows] == ["S", "SA", "FPU", "SEC", ""]
    assert pick(rows[0]) == {
        "src_ip": "45.33.1.2",
        "dst_ip": "10.0.0.1",
        "src_port": 1,
        "dst_port": 80,
        "proto": "tcp",
        "tcp_flags": "S",
        "ttl": 51,
        "ip_id": 54321,
        "bytes": 40,
        "tcp_window": 1024,
    }
    assert rows[0]["ts"].timestamp() == pytest.approx(T0 + 0.123456)
    assert {r["source_format"] for r in rows} == {"pcap"} and {r["source_kind"] for r in rows} == {"pcap"}
    assert rows[1]["source_location"] == f"byte:{24 + 16 + len(frames[0])}"


def test_vlan_qinq_sll_sll2_raw_and_loopback_link_types(tmp_path: Path, settings) -> None:
    l3 = IP(src="192.0.2.7", dst="198.51.100.9", ttl=64, id=7) / SYN
    cases = {
        "vlan": (1, Ether() / Dot1Q(vlan=10) / l3),
        "qinq": (1, Ether() / Dot1AD(vlan=100) / Dot1Q(vlan=10) / l3),
        "sll": (113, CookedLinux(proto=0x0800) / l3),
        "sll2": (276, CookedLinuxV2(proto=0x0800) / l3),
        "raw": (101, l3),
        "raw_v4": (228, l3),
        "null": (0, Loopback(type=2) / l3),
    }
    for name, (linktype, pkt) in cases.items():
        rows, bad, _ = events(write(tmp_path, f"{name}.pcap", pcap_bytes([bytes(pkt)], linktype)), settings)
        assert not bad, name
        assert pick(rows[0]) == {
            "src_ip": "192.0.2.7",
            "dst_ip": "198.51.100.9",
            "src_port": 40000,
            "dst_port": 22,
            "proto": "tcp",
            "tcp_flags": "S",
            "ttl": 64,
            "ip_id": 7,
            "bytes": 40,
            "tcp_window": 1024,
        }, name


def test_ipv6_extension_headers_icmp_and_icmpv6(tmp_path: Path, settings) -> None:
    v6 = IPv6(src="2001:db8::1", dst="2001:db8:0:0:0:0:0:2", hlim=33)
    frames = [
        Ether() / v6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / SYN,
        Ether() / v6 / UDP(sport=5353, dport=53),
        Ether() / v6 / ICMPv6EchoRequest(),
        Ether() / IP(src="203.0.113.5", dst="10.0.0.1") / ICMP(type=8),
    ]
    raw_v6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1, dport=443, flags="S")
    rows, bad, _ = events(write(tmp_path, "v6.pcap", pcap_bytes([bytes(f) for f in frames])), settings)
    assert not bad
    assert [(r["src_ip"], r["dst_ip"], r["proto"], r["src_port"], r["dst_port"], r["tcp_flags"]) for r in rows] == [
        ("2001:db8::1", "2001:db8::2", "tcp", 40000, 22, "S"),
        ("2001:db8::1", "2001:db8::2", "udp", 5353, 53, None),
        ("2001:db8::1", "2001:db8::2", "icmpv6", None, 128, None),
        ("203.0.113.5", "10.0.0.1", "icmp", None, 8, None),
    ]
    assert rows[0]["ttl"] == 33 and rows[0]["ip_id"] is None and rows[0]["bytes"] == len(frames[0]) - 14
    rows, bad, _ = events(write(tmp_path, "raw6.pcap", pcap_bytes([bytes(raw_v6)], 229)), settings)
    assert not bad and rows[0]["dst_port"] == 443 and rows[0]["src_ip"] == "2001:db8::1"


def test_fragments_carry_ports_only_on_the_first(tmp_path: Path, settings) -> None:
    big4 = IP(src="198.51.100.1", dst="10.0.0.2", id=99) / UDP(sport=123, dport=161) / Raw(b"x" * 3000)
    big6 = IPv6(src="2001:db8::5", dst="2001:db8::6") / IPv6ExtHdrFragment() / UDP(sport=7, dport=9) / Raw(b"y" * 3000)
    frames = [bytes(Ether() / f) for f in fragment(big4, fragsize=1000)]
    frames += [bytes(Ether() / f) for f in fragment6(big6, 1280)]
    rows, bad, _ = events(write(tmp_path, "frag.pcap", pcap_bytes(frames)), settings)
    assert not bad and len(rows) == len(frames)
    v4 = [r for r in rows if r["src_ip"] == "198.51.100.1"]
    v6 = [r for r in rows if r["src_ip"] == "2001:db8::5"]
    assert len(v4) == 4 and len(v6) == 3
    assert [r["dst_port"] for r in v4] == [161, None, None, None]
    assert [r["dst_port"] for r in v6] == [9, None, None]
    assert {r["proto"] for r in rows} == {"udp"} and {r["ip_id"] for r in v4} == {99}


def test_big_endian_nanosecond_pcap_matches_little_endian(tmp_path: Path, settings) -> None:
    frames = [bytes(Ether() / IP(src="10.1.1.1", dst=f"10.2.2.{i}") / TCP(dport=i + 1, flags="S")) for i in range(5)]
    le, _, _ = events(write(tmp_path, "le.pcap", pcap_bytes(frames)), settings)
    be, bad, _ = events(write(tmp_path, "be.pcap", pcap_bytes(frames, endian=">", nano=True)), settings)
    assert not bad and [pick(r) for r in le] == [pick(r) for r in be]
    assert be[0]["ts"].timestamp() == pytest.approx(T0 + 0.123456)  # 123456789 ns, kept to the microsecond
    assert detect_format(tmp_path / "be.pcap") == "pcap"


def test_scapy_written_pcap_and_gzip(tmp_path: Path, settings) -> None:
    pkts = [
        Ether() / IP(src="172.16.0.8", dst="64.13.134.52") / TCP(sport=5000, dport=p, flags="S") for p in range(1, 51)
    ]
    for i, p in enumerate(pkts):
        p.time = T0 + i / 10
    path = tmp_path / "scapy.pcap"
    wrpcap(str(path), pkts)
    gz = tmp_path / "scapy.pcap.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    plain, bad, _ = events(path, settings)
    zipped, bad_gz, _ = events(gz, settings)
    assert not bad and not bad_gz and len(plain) == 50
    assert [r["dst_port"] for r in plain] == list(range(1, 51))
    assert [pick(r) for r in plain] == [pick(r) for r in zipped] and detect_format(gz) == "pcap"
    assert [r["ts"] for r in plain] == [r["ts"] for r in zipped]


def test_pcapng_interfaces_link_types_resolutions_and_sections(tmp_path: Path, settings) -> None:
    eth = bytes(Ether() / IP(src="10.9.9.1", dst="10.9.9.2") / TCP(sport=1111, dport=80, flags="S"))
    raw = bytes(IP(src="10.9.9.3", dst="10.9.9.4") / UDP(sport=2222, dport=53))
    sll = bytes(CookedLinux(proto=0x86DD) / IPv6(src="2001:db8::a", dst="2001:db8::b") / TCP(dport=8080, flags="SA"))
    ns = (T0 + 5) * 1_000_000_000 + 987_654_321
    data = shb() + idb(1) + idb(101, tsresol=9) + epb(0, (T0 + 1) * 1_000_000 + 5, eth) + epb(1, ns, raw)
    data += idb(113) + epb(2, (T0 + 7) * 1_000_000, sll)
    # A second section, big-endian, with its own interface numbering.
    data += shb(">") + idb(1, e=">") + epb(0, (T0 + 9) * 1_000_000, eth, ">")
    path = write(tmp_path, "multi.pcapng", data)
    rows, bad, _ = events(path, settings)
    assert not bad and detect_format(path) == "pcapng"
    assert [(r["src_ip"], r["dst_port"], r["proto"], r["tcp_flags"]) for r in rows] == [
        ("10.9.9.1", 80, "tcp", "S"),
        ("10.9.9.3", 53, "udp", None),
        ("2001:db8::a", 8080, "tcp", "SA"),
        ("10.9.9.1", 80, "tcp", "S"),
    ]
    assert [r["ts"].timestamp() for r in rows] == pytest.approx(
        [T0 + 1.000005, T0 + 5.987654, T0 + 7, T0 + 9], abs=1e-6
    )
    assert {r["source_format"] for r in rows} == {"pcapng"}


def test_non_ip_frames_are_skipped_not_quarantined_and_short_ip_is(tmp_path: Path, settings) -> None:
    good = bytes(Ether() / IP(src="10.0.0.5", dst="10.0.0.6") / SYN)
    arp = bytes(Ether() / ARP())
    short = good[:24]  # Ethernet says IPv4, 10 bytes of IP header
    rows, bad, skipped = events(write(tmp_path, "mixed.pcap", pcap_bytes([arp, good, short])), settings)
    assert len(rows) == 1 and skipped == 1
    assert len(bad) == 1 and "too short" in bad[0]["reason"]
    assert bad[0]["location"] == f"byte:{24 + 16 + len(arp) + 16 + len(good)}"


def test_link_types_beyond_the_fast_path_go_through_scapy(tmp_path: Path, settings) -> None:
    ppp = [
        bytes(PPP() / IP(src="100.64.0.1", dst="100.64.0.2", ttl=9) / TCP(sport=3, dport=d, flags="S"))
        for d in (21, 23)
    ]
    rows, bad, _ = events(write(tmp_path, "ppp.pcap", pcap_bytes(ppp, linktype=9)), settings)
    assert not bad and [r["dst_port"] for r in rows] == [21, 23]
    assert pick(rows[0]) | {"bytes": 40} == {
        "src_ip": "100.64.0.1",
        "dst_ip": "100.64.0.2",
        "src_port": 3,
        "dst_port": 21,
        "proto": "tcp",
        "tcp_flags": "S",
        "ttl": 9,
        "ip_id": 1,
        "bytes": 40,
        "tcp_window": 8192,
    }
    unknown = write(tmp_path, "unknown.pcap", pcap_bytes([b"\x01\x02\x03"], linktype=4242))
    rows, bad, _ = events(unknown, settings)
    assert rows == [] and len(bad) == 1 and "unsupported link type 4242" in bad[0]["reason"]


def test_large_capture_comes_in_several_bounded_chunks(tmp_path: Path, settings, monkeypatch) -> None:
    from pipelines.ingest import captures

    monkeypatch.setattr(captures, "WINDOW", 4096)  # force many windows and records across their edges
    frames = [
        bytes(Ether() / IP(src="10.3.0.1", dst="10.3.0.2", id=i) / TCP(dport=i, flags="S")) for i in range(1, 400)
    ]
    chunks = list(iter_file(write(tmp_path, "many.pcap", pcap_bytes(frames)), settings))
    assert len(chunks) > 5
    ports = [p for c in chunks for p in c.events["dst_port"].to_pylist()]
    assert ports == list(range(1, 400)) and not [q for c in chunks for q in c.quarantine]
    ng = shb() + idb(1) + b"".join(epb(0, (T0 + i) * 1_000_000, f) for i, f in enumerate(frames))
    chunks = list(iter_file(write(tmp_path, "many.pcapng", ng), settings))
    assert [p for c in chunks for p in c.events["dst_port"].to_pylist()] == list(range(1, 400))


# --- TCP sequence numbers and options: one rule for the compiled path, scapy's and the reference ---

OPTION_CASES = [
    [],
    [("MSS", 1460)],
    [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)],
    [("MSS", 1460), ("NOP", None), ("WScale", 6), ("NOP", None), ("NOP", None), ("Timestamp", (5, 0)),
     ("SAckOK", b""), ("EOL", None)],  # macOS: 7 kinds, then end-of-list
    [("NOP", None)] * 9 + [("MSS", 536)],  # more kinds than the compiled key packs: rebuilt from bytes
]  # fmt: skip
RAW_OPTIONS = [
    b"\x02\x04\x05\xb4\x02\x04\x05\x78",  # two MSS options: the first counts
    b"\x02\x01\x00\x00",  # length below 2: written, ends the list
    b"\x03\x09\x07\x00",  # length past the header: written, ends the list
    b"\x00\x02\x04\x05\xb4\x00\x00\x00",  # end-of-list first: no option
    b"\x1e\x02\xfe\x04\x01\x01\x01\x01",  # unknown kinds are kinds too (254's 4 bytes hold two 1s)
]


def _syn_frames() -> list[bytes]:
    frames = []
    for i, opts in enumerate(OPTION_CASES):
        frames.append(
            bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=i, seq=0xFFFFFFF0 + i, options=opts))
        )
    for i, raw in enumerate(RAW_OPTIONS):
        tcp = TCP(dport=100 + i, seq=i, dataofs=5 + len(raw) // 4) / Raw(raw)
        frames.append(bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / tcp))
    v6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(dport=7, seq=9, options=[("MSS", 1220)])
    frames += [bytes(Ether() / v6), bytes(Ether() / IP() / UDP(dport=53)), bytes(Ether() / IP() / ICMP())]
    frames.append(
        bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(seq=77, options=[("MSS", 1460)]))[:-2]
    )  # cut capture
    return frames


def _decode_both_ways(frames: list[bytes]) -> tuple[list[dict], list[dict]]:
    """Rows of `frames` from the compiled path and from the scapy path."""
    import numpy as np

    from pipelines.ingest import packets, slowpath

    buf = np.zeros(sum(map(len, frames)) + packets.PAD, np.uint8)
    starts, pos = [], 0
    for f in frames:
        buf[pos : pos + len(f)] = np.frombuffer(f, np.uint8)
        starts.append(pos)
        pos += len(f)
    start, cap = np.array(starts), np.array([len(f) for f in frames])
    ts, lt, meta = np.full(len(frames), T0 * 1_000_000), np.ones(len(frames), np.int64), {"source_file": "x"}
    fast = packets.decode_packets(buf, start, start, cap, ts, lt, cap, 0, meta)
    slow = slowpath.decode_frames(frames, ts, lt, start, meta)
    return fast.events.to_pylist(), slow.events.to_pylist()


def test_compiled_and_scapy_paths_give_the_same_sequence_and_options() -> None:
    fast, slow = _decode_both_ways(_syn_frames())
    assert fast == slow
    got = [(r["tcp_seq"], r["tcp_options"], r["tcp_mss"]) for r in fast]
    assert got == [
        (0xFFFFFFF0, "", None),
        (0xFFFFFFF1, "2", 1460),
        (0xFFFFFFF2, "2,4,8,1,3", 1460),
        (0xFFFFFFF3, "2,1,3,1,1,8,4", 1460),
        (0xFFFFFFF4, "1,1,1,1,1,1,1,1,1,2", 536),
        (0, "2,2", 1460),
        (1, "2", None),
        (2, "3", None),
        (3, "", None),
        (4, "30,254,1,1", None),
        (9, "2", 1220),
        (None, None, None),
        (None, None, None),
        (77, "2", None),  # the MSS value is past the captured bytes: the kind shows, its value does not
    ]


def test_more_distinct_layouts_than_a_batch_indexes_are_rebuilt_the_same() -> None:
    from pipelines.ingest import headers

    pairs = [(a, b) for a in range(30, 60) for b in range(30, 45)][: headers.MAX_LAYOUTS + 44]
    frames = [
        bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=1, dataofs=6) / Raw(bytes([a, 2, b, 2])))
        for a, b in pairs
    ]
    fast, slow = _decode_both_ways(frames)
    assert fast == slow
    assert [r["tcp_options"] for r in fast] == [f"{a},{b}" for a, b in pairs]


def test_compiled_option_walk_equals_the_reference_on_random_bytes() -> None:
    import random

    import numpy as np

    from pipelines.ingest import headers, tcpoptions

    rng = random.Random(18)
    alphabet = [0, 1, 1, 2, 3, 4, 8, 30, 254, 255]
    for _ in range(3000):
        size = rng.randint(0, 40)
        raw = bytes(rng.choice(alphabet) if rng.random() < 0.6 else rng.randrange(256) for _ in range(size))
        key, count, mss = headers.tcp_options(np.frombuffer(raw + b"\0" * 8, np.uint8), 0, size)
        text, ref_mss = tcpoptions.layout(raw)
        assert (mss if mss >= 0 else None) == ref_mss, raw.hex()
        assert count == (len(text.split(",")) if text else 0), raw.hex()
        if count <= tcpoptions.MAX_PACKED:
            assert tcpoptions.key_text(key) == text, raw.hex()
