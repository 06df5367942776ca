"""Tool tags: the per-packet signature macros on crafted header values and packets, and the real captures."""

from __future__ import annotations

import ipaddress
import random
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.ingest import iter_file
from pipelines.settings import Settings, Tags
from pipelines.tags import install_macros, source_tags

DAY = date(2025, 11, 26)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    install_macros(con)
    return con


def _macro(con: duckdb.DuckDBPyConnection, call: str, **params: object) -> bool:
    return con.execute(f"SELECT {call}", params).fetchone()[0]


def _ipint(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


def test_zmap_is_ip_id_54321(con) -> None:
    assert _macro(con, "is_zmap_probe(54321)") is True
    assert _macro(con, "is_zmap_probe(54320)") is False
    assert _macro(con, "is_zmap_probe(NULL::INTEGER)") is False


def test_masscan_ip_id_is_address_xor_port_xor_sequence(con) -> None:
    dst, port, seq = "192.0.2.10", 443, 0x9E3779B9
    ip_id = (_ipint(dst) ^ port ^ seq) & 0xFFFF
    call = "is_masscan_probe($dst, $port, $seq, $id)"
    assert _macro(con, call, dst=dst, port=port, seq=seq, id=ip_id) is True
    assert _macro(con, call, dst=dst, port=port + 1, seq=seq, id=ip_id) is False
    assert _macro(con, call, dst=dst, port=port, seq=seq, id=None) is False
    assert _macro(con, call, dst="2001:db8::1", port=port, seq=seq, id=ip_id) is False


def test_mirai_sequence_is_the_destination_address(con) -> None:
    assert _macro(con, "is_mirai_probe($dst, $seq)", dst="198.51.100.77", seq=_ipint("198.51.100.77")) is True
    assert _macro(con, "is_mirai_probe($dst, $seq)", dst="198.51.100.77", seq=_ipint("198.51.100.78")) is False


def test_nmap_window_and_options(con) -> None:
    for window, expected in ((1024, True), (2048, True), (3072, True), (4096, True), (5120, False), (64240, False)):
        assert _macro(con, "is_nmap_raw_window($w)", w=window) is expected
    assert _macro(con, "is_nmap_syn_options('020405B4')") is True
    assert _macro(con, "is_nmap_syn_options('020405b40402080a')") is False  # a kernel's SYN: MSS, SACK, TS...


def _crafted_capture(path: Path) -> dict[str, str]:
    """Write a pcap of crafted SYN probes, one source per tool; return source -> tool."""
    from scapy.layers.inet import IP, TCP
    from scapy.utils import wrpcap

    rng = random.Random(5)
    tools = {"198.51.100.1": "zmap", "198.51.100.2": "nmap", "198.51.100.3": "masscan", "198.51.100.4": "linux"}
    packets = []
    for i in range(40):
        dst, port, seq = f"192.0.2.{i + 1}", 1000 + i, rng.getrandbits(32)
        ttl = rng.randint(37, 59)  # nmap: (get_random_uint() % 23) + 37
        masscan_id = (_ipint(dst) ^ port ^ seq) & 0xFFFF
        packets += [
            IP(src="198.51.100.1", dst=dst, id=54321, ttl=250) / TCP(dport=port, flags="S", window=65535, seq=seq),
            IP(src="198.51.100.2", dst=dst, id=rng.getrandbits(16), ttl=ttl)
            / TCP(dport=port, flags="S", window=1024 * (ttl % 4 + 1), seq=seq, options=[("MSS", 1460)]),
            IP(src="198.51.100.3", dst=dst, id=masscan_id, ttl=255) / TCP(dport=port, flags="S", window=1024, seq=seq),
            IP(src="198.51.100.4", dst=dst, id=rng.getrandbits(16), ttl=64)
            / TCP(dport=port, flags="S", window=64240, seq=seq, options=[("MSS", 1460), ("SAckOK", b"")]),
        ]
    for n, pkt in enumerate(packets):
        pkt.time = 1764115200 + n * 0.01  # 2025-11-26
    wrpcap(str(path), packets)
    return tools


def _events(path: Path) -> pa.Table:
    return pa.concat_tables([chunk.events for chunk in iter_file(path, Settings())])


def _tags(events: pa.Table, tags: Tags | None = None) -> dict[str, set[str]]:
    con = duckdb.connect()
    con.register("events", events)
    con.execute("CREATE TABLE scan_fast (event_date DATE, src_ip VARCHAR)")
    con.execute("CREATE TABLE scan_slow (event_date DATE, src_ip VARCHAR, kind VARCHAR, is_scan BOOLEAN)")
    found: dict[str, set[str]] = {}
    for row in source_tags(con, tags or Tags()).to_pylist():
        found.setdefault(row["src_ip"], set()).add(row["tag"])
    return found


def test_crafted_packets_through_ingest_get_their_tool_tags(tmp_path: Path) -> None:
    capture = tmp_path / "tools.pcap"
    tools = _crafted_capture(capture)
    found = _tags(_events(capture))
    assert found.get("198.51.100.1") == {"zmap"}
    assert found.get("198.51.100.2") == {"nmap"}
    # masscan's constant TTL 255 and window 1024 must not pass for nmap; a kernel's SYN is no tool.
    assert "198.51.100.3" not in found and "198.51.100.4" not in found
    assert set(tools) >= set(found)


def test_crafted_masscan_and_nmap_signatures_hold_on_the_packets_bytes(tmp_path: Path, con) -> None:
    """The fields events lack (sequence, options) read from the crafted bytes satisfy the waiting macros."""
    from scapy.layers.inet import IP, TCP
    from scapy.utils import rdpcap

    capture = tmp_path / "tools.pcap"
    _crafted_capture(capture)
    for pkt in rdpcap(str(capture)):
        ip, tcp = pkt[IP], pkt[TCP]
        masscan = _macro(con, "is_masscan_probe($d, $p, $s, $i)", d=ip.dst, p=tcp.dport, s=tcp.seq, i=ip.id)
        options = bytes(tcp)[20 : tcp.dataofs * 4].hex()
        nmap = _macro(con, "is_nmap_syn_options($o)", o=options)
        assert masscan is (ip.src == "198.51.100.3"), ip.src
        assert nmap is (ip.src == "198.51.100.2"), ip.src


def test_a_lone_random_ip_id_is_not_zmap_when_most_probes_differ() -> None:
    events = pa.table(
        {
            "event_date": pa.array([DAY] * 20, pa.date32()),
            "src_ip": ["203.0.113.9"] * 20,
            "dst_ip": [f"192.0.2.{i}" for i in range(20)],
            "proto": ["tcp"] * 20,
            "ip_id": [54321] + list(range(1, 20)),
            "tcp_window": pa.array([29200] * 20, pa.int32()),
            "ttl": pa.array([60] * 20, pa.int32()),
        }
    )
    assert _tags(events) == {}
    assert _tags(events, Tags(min_share=0.05)) == {"203.0.113.9": {"zmap"}}


# --- the real captures (third-party, ../shared/data) ------------------------------------------------


def test_synscan_source_is_tagged_nmap(shared_data: Path) -> None:
    for name in ("synscan.pcap", "synscan.pcapng"):
        found = _tags(_events(shared_data / "pcap" / name))
        assert found.get("172.16.0.8") == {"nmap"}, name
        assert "64.13.134.52" not in found  # the target's answers


def test_probing_dataset_raw_nmap_scans_are_tagged(shared_data: Path) -> None:
    found = _tags(_events(shared_data / "pcap" / "probing_nmap.pcapng"))
    raw_scans = {f"192.168.181.{n}" for n in (140, 143, 144, 145, 146, 147, 148)}  # -sS -sN -sX -sF -sA -sW -sM
    assert {ip for ip, tags in found.items() if "nmap" in tags} == raw_scans
    # -sT goes through the kernel (window 64240, TTL 64) and -sU is UDP: no header shows nmap there.
    assert "192.168.181.142" not in found and "192.168.181.141" not in found


def test_masscan_capture_is_not_nmap_and_its_sequence_numbers_fit_masscan(shared_data: Path, con) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.utils import rdpcap

    path = shared_data / "pcap" / "masscan_vlan_tcp.pcap"
    assert "172.31.15.102" not in _tags(_events(path))  # masscan is only recognized by tcp_seq (not in events)
    syns = [p for p in rdpcap(str(path)) if TCP in p and p[TCP].flags == "S"]
    fit = [
        _macro(con, "is_masscan_probe($d, $p, $s, $i)", d=p[IP].dst, p=p[TCP].dport, s=p[TCP].seq, i=p[IP].id)
        for p in syns
    ]
    assert len(syns) > 900 and all(fit)
    synscan = [p for p in rdpcap(str(shared_data / "pcap" / "synscan.pcap")) if TCP in p and p[TCP].flags == "S"]
    assert not any(
        _macro(con, "is_masscan_probe($d, $p, $s, $i)", d=p[IP].dst, p=p[TCP].dport, s=p[TCP].seq, i=p[IP].id)
        for p in synscan[:200]
    )


def test_synscan_syn_options_fit_nmap_and_masscan_options_do_not(shared_data: Path, con) -> None:
    """The option rule waiting for events to carry TCP options, checked on the real bytes."""
    from scapy.layers.inet import TCP
    from scapy.utils import rdpcap

    def options(name: str) -> list[bool]:
        syns = [p[TCP] for p in rdpcap(str(shared_data / "pcap" / name)) if TCP in p and p[TCP].flags == "S"]
        return [_macro(con, "is_nmap_syn_options($o)", o=bytes(t)[20 : t.dataofs * 4].hex()) for t in syns]

    assert all(options("synscan.pcap"))
    assert not any(options("masscan_vlan_tcp.pcap"))
