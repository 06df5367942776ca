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
# Tools are tagged from the packets alone: no detector found anything.
NO_FINDINGS = "CREATE TABLE findings (event_date DATE, src_ip VARCHAR, detector VARCHAR, kind VARCHAR)"


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
    call = "is_nmap_syn_probe($f, $w, $o, $m)"
    assert _macro(con, call, f="S", w=1024, o="2", m=1460) is True
    assert _macro(con, call, f="S", w=1024, o="2", m=1380) is False  # MSS alone, but not nmap's value
    assert _macro(con, call, f="S", w=64240, o="2,4,8,1,3", m=1460) is False  # a kernel's SYN: MSS, SACK, TS...
    assert _macro(con, call, f="S", w=1024, o="", m=None) is False  # old masscan: no option
    assert _macro(con, call, f="F", w=1024, o="2", m=1460) is False  # the MSS rule is the SYN scan's
    assert _macro(con, call, f="S", w=1024, o=None, m=None) is False  # options unknown (flows, logs)


NMAP_SYN, NMAP_OLD, MASSCAN, MASSCAN_13, MIRAI, ZMAP, LINUX = (f"198.51.100.{i}" for i in range(1, 8))


def _crafted_capture(path: Path, probes: int = 40) -> dict[str, str]:
    """Write a pcap of crafted probes, one source per tool and version; return source -> tool.

    Each follows its tool's source: nmap 7 -sS (window 1024, MSS 1460 alone, TTL 37..59), older
    nmap (window 1024 * (ttl % 4 + 1)), masscan before 1.3 (TTL 255, window 1024, no option, IP ID
    from the cookie), masscan 1.3 (the same with MSS 1460, which nmap's option rule alone would
    take), Mirai (sequence = destination, port 23/2323), ZMap (IP ID 54321) and a Linux client.
    """
    from scapy.layers.inet import IP, TCP
    from scapy.utils import wrpcap

    rng = random.Random(5)
    tools = {
        NMAP_SYN: "nmap",
        NMAP_OLD: "nmap",
        MASSCAN: "masscan",
        MASSCAN_13: "masscan",
        MIRAI: "mirai",
        ZMAP: "zmap",
        LINUX: "",
    }
    mss = [("MSS", 1460)]
    packets = []
    for i in range(probes):
        dst, port, seq = f"192.0.2.{i + 1}", 1000 + i, rng.getrandbits(32)
        ttl = rng.randint(37, 59)  # nmap: (get_random_uint() % 23) + 37
        masscan_id = (_ipint(dst) ^ port ^ seq) & 0xFFFF
        rid = rng.getrandbits(16)
        packets += [
            IP(src=NMAP_SYN, dst=dst, id=rid, ttl=ttl) / TCP(dport=port, flags="S", window=1024, seq=seq, options=mss),
            IP(src=NMAP_OLD, dst=dst, id=rid, ttl=ttl)
            / TCP(dport=port, flags="S", window=1024 * (ttl % 4 + 1), seq=seq, options=mss),
            IP(src=MASSCAN, dst=dst, id=masscan_id, ttl=255) / TCP(dport=port, flags="S", window=1024, seq=seq),
            IP(src=MASSCAN_13, dst=dst, id=masscan_id, ttl=255)
            / TCP(dport=port, flags="S", window=1024, seq=seq, options=mss),
            IP(src=MIRAI, dst=dst, id=rid, ttl=64)
            / TCP(dport=rng.choice((23, 2323)), flags="S", window=rng.getrandbits(16), seq=_ipint(dst)),
            IP(src=ZMAP, dst=dst, id=54321, ttl=250) / TCP(dport=port, flags="S", window=65535, seq=seq, options=mss),
            IP(src=LINUX, dst=dst, id=rid, ttl=64)
            / TCP(dport=port, flags="S", window=64240, seq=seq, options=[*mss, ("SAckOK", b""), ("NOP", None)]),
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
    con.execute(NO_FINDINGS)
    found: dict[str, set[str]] = {}
    for row in source_tags(con, DAY, tags or Tags()).to_pylist():
        found.setdefault(row["src_ip"], set()).add(row["tag"])
    return found


def test_crafted_packets_through_ingest_get_their_tool_tags(tmp_path: Path) -> None:
    capture = tmp_path / "tools.pcap"
    tools = _crafted_capture(capture)
    found = _tags(_events(capture))
    assert found == {ip: {tool} for ip, tool in tools.items() if tool}


def test_too_few_probes_are_not_judged_but_one_mirai_probe_is(tmp_path: Path) -> None:
    capture = tmp_path / "one.pcap"
    _crafted_capture(capture, probes=1)
    # one masscan-fitting IP ID happens by chance 1 in 65,536; nmap needs several; one sequence
    # number equal to the destination (1 in 2^32) and one IP ID 54321 are enough.
    assert _tags(_events(capture)) == {MIRAI: {"mirai"}, ZMAP: {"zmap"}}
    assert _tags(_events(capture), Tags(masscan_min_probes=1, nmap_min_probes=1)) == {
        MIRAI: {"mirai"},
        ZMAP: {"zmap"},
        MASSCAN: {"masscan"},
        MASSCAN_13: {"masscan"},
        NMAP_SYN: {"nmap"},
        NMAP_OLD: {"nmap"},
    }


def test_a_source_mixing_tools_below_the_share_gets_no_tool_tag(tmp_path: Path) -> None:
    capture = tmp_path / "tools.pcap"
    _crafted_capture(capture)
    events = _events(capture)
    merged = pc_replace(events, {MASSCAN: LINUX, NMAP_SYN: LINUX})  # one address, three stacks
    found = _tags(merged)
    assert LINUX not in found


def pc_replace(table: pa.Table, mapping: dict[str, str]) -> pa.Table:
    """`table` with the source addresses in `mapping` renamed."""
    src = [mapping.get(ip, ip) for ip in table.column("src_ip").to_pylist()]
    return table.set_column(table.schema.get_field_index("src_ip"), "src_ip", pa.array(src, pa.string()))


def test_events_carry_the_sequence_and_options_the_macros_read(tmp_path: Path, con) -> None:
    """tcp_seq, tcp_options and tcp_mss of ingested events equal what scapy wrote, packet by packet."""
    from scapy.layers.inet import IP, TCP
    from scapy.utils import rdpcap

    capture = tmp_path / "tools.pcap"
    _crafted_capture(capture, probes=3)
    rows = _events(capture).to_pylist()
    names = {"MSS": "2", "SAckOK": "4", "NOP": "1"}
    for pkt, row in zip(rdpcap(str(capture)), rows, strict=True):
        tcp = pkt[TCP]
        assert row["tcp_seq"] == tcp.seq
        kinds = [o[0] for o in tcp.options]
        kinds = kinds[: kinds.index("EOL")] if "EOL" in kinds else kinds  # end-of-list padding ends the list
        assert row["tcp_options"] == ",".join(names[k] for k in kinds)
        assert row["tcp_mss"] == dict(tcp.options).get("MSS")
        masscan = _macro(
            con,
            "is_masscan_probe($d, $p, $s, $i)",
            d=row["dst_ip"],
            p=row["dst_port"],
            s=row["tcp_seq"],
            i=row["ip_id"],
        )
        assert masscan is (pkt[IP].src in (MASSCAN, MASSCAN_13)), pkt[IP].src


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


def test_masscan_capture_is_tagged_masscan_and_not_nmap(shared_data: Path) -> None:
    found = _tags(_events(shared_data / "pcap" / "masscan_vlan_tcp.pcap"))
    assert found.get("172.31.15.102") == {"masscan"}
    assert all("nmap" not in tags for tags in found.values())


def test_nmap_captures_are_not_masscan_nor_mirai(shared_data: Path) -> None:
    for name in ("synscan.pcap", "synscan.pcapng", "probing_nmap.pcapng"):
        found = _tags(_events(shared_data / "pcap" / name))
        assert all(not tags & {"masscan", "mirai", "zmap"} for tags in found.values()), name


def test_synscan_and_probing_sS_are_nmap_by_the_syn_option_rule(shared_data: Path) -> None:
    """The -sS sources pass the MSS-1460 SYN rule on its own (evidence names it), not only the TTL spread."""
    for name, source in (("synscan.pcap", "172.16.0.8"), ("probing_nmap.pcapng", "192.168.181.140")):
        con = duckdb.connect()
        con.register("events", _events(shared_data / "pcap" / name))
        con.execute(NO_FINDINGS)
        rows = [r for r in source_tags(con, DAY, Tags()).to_pylist() if r["src_ip"] == source]
        assert [r["tag"] for r in rows] == ["nmap"], name
        assert "single option MSS 1460" in rows[0]["evidence"], rows[0]["evidence"]
