"""Issue 19 classes 1 and 5: whatever ingest lets into `events` passes every critical data-quality
check (one definition of a valid event), anything else is quarantined with a reason; one host has
one spelling in every format."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hostile import (
    cic,
    cidds,
    cowrie,
    critical_failures,
    frame,
    honeypot,
    nfdump,
    pcap,
    pcapng,
    sensor,
    ufw,
    zeek_json,
    zeek_tsv,
)

from pipelines.ingest import iter_file
from pipelines.ingest.arrowtext import ip_text_ok
from pipelines.ingest.valid import check_events, event_problems
from pipelines.schema import IP_REGEX, canonical_ip, canonical_proto, conform_events

TCP_REST = "SPT=4000 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0"


def parse(tmp_path: Path, name: str, data: str | bytes, settings) -> tuple[pa.Table, list[dict]]:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    chunks = list(iter_file(path, settings, year=2025))
    assert not any(c.error for c in chunks), [c.error for c in chunks]
    events = pa.concat_tables([c.events for c in chunks])
    return events, [q for c in chunks for q in c.quarantine]


def test_firewall_protocols_beyond_tcp_udp_icmp_land_as_numbers(tmp_path: Path, settings) -> None:
    log = ufw(
        [
            ("ESP", "203.0.113.5", "10.0.0.1", "SPI=0x1234"),
            ("AH", "203.0.113.6", "10.0.0.1", "SPI=0x1"),
            ("47", "203.0.113.7", "10.0.0.1", ""),
            ("UDPLITE", "203.0.113.8", "10.0.0.1", "SPT=1 DPT=53 LEN=20"),
            ("SCTP", "203.0.113.9", "10.0.0.1", "SPT=1 DPT=2905"),
            ("TCP", "203.0.113.10", "10.0.0.1", TCP_REST),
            ("BOGUS", "203.0.113.11", "10.0.0.1", ""),
            ("999", "203.0.113.12", "10.0.0.1", ""),
        ]
    )
    events, bad = parse(tmp_path, "ufw-2025-11-26.log", log, settings)
    assert events["proto"].to_pylist() == ["50", "51", "47", "136", "132", "tcp"]
    assert events["dst_port"].to_pylist() == [None, None, None, 53, 2905, 22]
    assert sorted(q["location"] for q in bad) == ["line:7", "line:8"]
    assert all("is not a protocol" in q["reason"] for q in bad)
    assert critical_failures(events) == []


@pytest.mark.parametrize(
    ("name", "make"),
    [
        (
            "sensor.jsonl",
            lambda: sensor([{"src_ip": "fe80::1%eth0"}, {"src_ip": "FE80::2%25eth1", "dst_ip": "::ffff:10.0.0.1"}]),
        ),
        ("cowrie.json", lambda: cowrie([{"src_ip": "fe80::1%eth0"}, {"src_ip": "[2001:DB8::2]"}])),
        (
            "honeypot.json",
            lambda: honeypot([{"ip": "fe80::1%eth0"}, {"ip": "2001:0db8:0000:0000:0000:0000:0000:0002"}]),
        ),
        (
            "flows.csv",
            lambda: cidds([("TCP", "fe80::1%eth0", "10.0.0.1", "22"), ("TCP", "2001:DB8::2", "10.0.0.1", "22")]),
        ),
        (
            "zeek.log",
            lambda: zeek_tsv([("tcp", "fe80::1%eth0", "10.0.0.1", "22"), ("tcp", "2001:DB8::2", "10.0.0.1", "22")]),
        ),
        (
            "zeek.json",
            lambda: zeek_json([("tcp", "fe80::1%eth0", "10.0.0.1", "22"), ("tcp", "2001:DB8::2", "10.0.0.1", "22")]),
        ),
    ],
)
def test_zoned_and_odd_spellings_of_ipv6_land_canonical(tmp_path: Path, settings, name: str, make) -> None:
    events, bad = parse(tmp_path, name, make(), settings)
    assert bad == []
    assert events["src_ip"].to_pylist() == ["fe80::1", "fe80::2" if "eth1" in make() else "2001:db8::2"]
    assert critical_failures(events) == []


def test_json_records_breaking_a_rule_are_quarantined_and_the_others_land(tmp_path: Path, settings) -> None:
    records = [
        {},  # good
        {"transport": "sctp"},  # a protocol by name: its number
        {"transport": "quic"},  # not an IP protocol
        {"dst_port": 70000},
        {"src_ip": "999.1.1.1"},
        {"ts": "9999-12-31T23:59:59Z"},  # beyond the sane range
        {"ts": "1969-12-31T23:59:59Z"},
        {"ts": 1e300},
        {"dst_ip": "not-an-ip"},
        {"src_ip": None},
        {},  # good
    ]
    events, bad = parse(tmp_path, "sensor.jsonl", sensor(records), settings)
    assert events["proto"].to_pylist() == ["tcp", "132", "tcp"]
    assert events["source_location"].to_pylist() == ["line:1", "line:2", "line:11"]
    assert sorted(int(q["location"][5:]) for q in bad) == list(range(3, 11))
    assert all(q["reason"] for q in bad)
    assert critical_failures(events) == []


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("flows.csv", cidds),
        ("nfdump.csv", nfdump),
        ("cic.csv", cic),
        ("zeek.log", zeek_tsv),
        ("zeek.json", zeek_json),
    ],
)
def test_flow_formats_map_protocol_names_and_quarantine_unknown_ones(tmp_path: Path, settings, name: str, make) -> None:
    good = "6" if name == "cic.csv" else "TCP" if name != "zeek.log" and name != "zeek.json" else "tcp"
    rows = [(good, "198.51.100.7", "10.0.0.1", "22")] * 3
    rows += [("GRE" if "zeek" not in name else "gre", "198.51.100.8", "10.0.0.1", "0")]
    rows += [("FOO", "198.51.100.9", "10.0.0.1", "22"), ("300", "198.51.100.9", "10.0.0.1", "22")]
    rows += [(good, "198.51.100.10", "10.0.0.1", "22")]
    events, bad = parse(tmp_path, name, make(rows), settings)
    assert events["proto"].to_pylist() == ["tcp"] * 3 + ["47", "tcp"]
    assert len(bad) == 2 and all(q["reason"] for q in bad)
    assert critical_failures(events) == []


def test_captures_store_mapped_and_upper_addresses_canonical(tmp_path: Path, settings) -> None:
    frames = [
        frame("::ffff:192.0.2.7", "2001:db8::1", 22),
        frame("192.0.2.7", "10.0.0.1", 23),
        frame("2001:db8::abcd", "2001:db8::1", 24),
        frame("192.0.2.8", "10.0.0.1", 0, proto=50),  # ESP
    ]
    for name, data in (("c.pcap", pcap(frames)), ("c.pcapng", pcapng(frames))):
        events, bad = parse(tmp_path, name, data, settings)
        assert bad == []
        assert events["src_ip"].to_pylist() == ["192.0.2.7", "192.0.2.7", "2001:db8::abcd", "192.0.2.8"], name
        assert events["proto"].to_pylist() == ["tcp", "tcp", "tcp", "50"]
        assert critical_failures(events) == []


def test_one_host_has_one_spelling_in_every_format(tmp_path: Path, settings) -> None:
    spellings = ["2001:DB8::7", "2001:0db8:0000:0000:0000:0000:0000:0007", "2001:db8:0:0:0:0:0:7", "[2001:db8::7]"]
    spellings += ["2001:db8::7%eth0"]
    mapped = ["::ffff:192.0.2.9", "::FFFF:C000:0209", "192.0.2.9"]
    seen: dict[str, set[str]] = {}
    for k, spelled in enumerate(spellings + mapped):
        flows = [("TCP", spelled, "10.0.0.1", "22")]
        inputs = {
            "flows.csv": cidds(flows),
            "nfdump.csv": nfdump(flows),
            "cic.csv": cic([("6", spelled, "10.0.0.1", "22")]),
            "zeek.log": zeek_tsv([("tcp", spelled, "10.0.0.1", "22")]),
            "zeek.json": zeek_json([("tcp", spelled, "10.0.0.1", "22")]),
            "sensor.jsonl": sensor([{"src_ip": spelled}]),
            "honeypot.json": honeypot([{"ip": spelled}]),
            "cowrie.json": cowrie([{"src_ip": spelled}]),
        }
        if "[" not in spelled and "%" not in spelled:
            inputs["ufw-2025-11-26.log"] = ufw([("TCP", spelled, "10.0.0.1", TCP_REST)])
            inputs["c.pcap"] = pcap(
                [frame(str(canonical_ip(spelled)) if "." not in spelled else spelled, "10.0.0.1", 22)]
            )
        for name, data in inputs.items():
            events, bad = (
                parse(tmp_path / str(k), name, data, settings)
                if (tmp_path / str(k)).mkdir(exist_ok=True) is None
                else None
            )
            assert bad == [], (name, spelled, bad)
            seen.setdefault(name, set()).update(events["src_ip"].to_pylist())
    for name, values in seen.items():
        assert values <= {"2001:db8::7", "192.0.2.9"}, (name, values)
    assert seen["flows.csv"] == {"2001:db8::7", "192.0.2.9"}


def test_canonical_ip_and_proto_units() -> None:
    assert canonical_ip("FE80::1%eth0") == "fe80::1"
    assert canonical_ip(" ::ffff:1.2.3.4 ") == "1.2.3.4"
    assert canonical_ip("2001:0DB8::0001") == "2001:db8::1"
    assert canonical_ip("[::1]") == "::1"
    for bad in ("01.2.3.4", "1.2.3", "256.0.0.1", "", "x" * 100, "::1::2", "1.2.3.4/24"):
        assert canonical_ip(bad) is None, bad
    assert [canonical_proto(p) for p in ("TCP", "6", "006", "ESP", "ipv6-icmp", "58", "255", "256", "quic", "")] == [
        "tcp", "tcp", "tcp", "50", "icmpv6", "icmpv6", "255", None, None, None,
    ]  # fmt: skip


def test_compiled_address_check_is_the_schema_regex() -> None:
    rng = random.Random(3)
    values = ["1.2.3.4", "01.2.3.4", "::", "::1", "fe80::1%eth0", "2001:DB8::1", "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.4"]
    values += ["".join(rng.choice("0123456789abcdefABX:.% ") for _ in range(rng.randint(0, 14))) for _ in range(50_000)]
    rx = re.compile(IP_REGEX)
    got = ip_text_ok(pa.array(values + [None]))
    assert got.tolist() == [bool(rx.match(v)) for v in values] + [False]


def test_check_events_names_the_rule_and_keeps_the_valid_rows() -> None:
    rows = [
        {"src_ip": "1.2.3.4", "proto": "tcp", "dst_port": 1},
        {"src_ip": "FE80::1", "proto": "tcp"},
        {"src_ip": "1.2.3.4", "proto": "esp"},
        {"src_ip": "1.2.3.4", "proto": "udp", "src_port": 70000},
        {"src_ip": "1.2.3.4", "proto": "udp", "uri": "x" * 100_000},
    ]
    ts = np.array([1764115200_000000 + i for i in range(len(rows))])
    table = pa.Table.from_pylist([{"src_port": None, "dst_port": None, "uri": None} | r for r in rows])
    table = table.append_column("ts", pa.array(ts, pa.timestamp("us", tz="UTC")))
    table = table.append_column("event_date", pa.array(ts // 86_400_000_000, pa.int32()).cast(pa.date32()))
    for name, value in (("source_kind", "sensor"), ("source_file", "f"), ("source_location", "x")):
        table = table.append_column(name, pa.array([value] * len(rows)))
    table = conform_events(table)
    assert event_problems(table).tolist() == [0, 7, 11, 9, 0]
    good, bad = check_events(table, text_limit=1000)
    assert good["src_ip"].to_pylist() == ["1.2.3.4", "1.2.3.4"]
    assert len(good["uri"][1].as_py()) == 1000
    assert [q["reason"] for q in bad] == [
        "src_ip is not an address in canonical text",
        "proto is not tcp, udp, icmp, icmpv6 or a protocol number",
        "src_port outside 0..65535",
    ]
    assert bad[0]["raw"] == "src_ip='FE80::1'"


def test_a_time_beyond_python_datetimes_is_quarantined_not_a_parser_error(tmp_path: Path, settings) -> None:
    good = cidds([("TCP", "198.51.100.7", "10.0.0.1", "22")] * 2).splitlines(keepends=True)
    text = good[0] + good[1].replace("2025-11-26", "-0-11-26", 1) + good[2] + good[1].replace("2025", "10000", 1)
    events, bad = parse(tmp_path, "flows.csv", text, settings)
    assert events.num_rows == 1 and len(bad) == 2 and all(q["reason"] for q in bad)


def test_the_canonical_writers_only_write_text_the_rule_accepts() -> None:
    """What lets `check_events` trust captures' and flow CSVs' addresses: every canonical writer meets IP_REGEX."""
    from pipelines.ingest import csvfast
    from pipelines.ingest.arrowtext import dotted_quads
    from pipelines.ingest.packets import ipv6_text

    rng = np.random.default_rng(5)
    rx = re.compile(IP_REGEX)
    quads = dotted_quads(rng.integers(0, 2**32, 20_000, dtype=np.uint64).astype(np.uint32)).to_pylist()
    six = rng.integers(0, 256, (20_000, 16), dtype=np.uint8)
    six[:5000, :10], six[:5000, 10:12] = 0, 255  # IPv4-mapped
    six[5000:8000, :12] = 0  # IPv4-compatible
    texts = quads + ipv6_text(six).to_pylist()
    fields = [t.encode() for t in ["01.2.3.4", "1.2.3.4", "255.255.255.255", "256.1.1.1", " 1.2.3.4", *quads[:100]]]
    buf = np.frombuffer(b"".join(fields), np.uint8)
    ends = np.cumsum([len(f) for f in fields])
    ok = np.ones(len(fields), bool)
    offsets, data = csvfast.ipv4_text(buf, ends - [len(f) for f in fields], ends, ok)
    texts += [bytes(data[offsets[i] : offsets[i + 1]]).decode() for i in np.flatnonzero(ok)]
    texts += [t for t in (canonical_ip(v) for v in ("FE80::1%eth0", "::ffff:1.2.3.4", "[::1]", "0:0::0")) if t]
    assert [t for t in texts if not rx.match(t)] == []
