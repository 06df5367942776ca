"""Issue 19 class 2: one bad record is quarantined and the records beside it land, in every format."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pyarrow as pa
import pytest
from hostile import (
    CIDDS_HEAD,
    DAY,
    T0,
    cic,
    cidds,
    cowrie,
    frame,
    honeypot,
    nfdump,
    option,
    pcapng,
    sensor,
    ufw,
    zeek_json,
    zeek_tsv,
)

from pipelines.ingest import iter_file

GOOD = ("TCP", "198.51.100.7", "10.0.0.1", "22")
TCP_REST = "SPT=4000 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0"


def parse(tmp_path: Path, name: str, data: str | bytes, settings) -> tuple[pa.Table, list[dict]]:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    chunks = list(iter_file(path, settings, year=2025))
    assert not any(c.error for c in chunks), [c.error for c in chunks]
    return pa.concat_tables([c.events for c in chunks]), [q for c in chunks for q in c.quarantine]


@pytest.mark.parametrize(
    "opts",
    [
        option(9, b"\x7f"),  # 10^-127 s per tick
        option(9, b"\xff"),  # 2^-127 s per tick
        option(9, b"\x13"),  # 10^-19: more ticks per second than int64 holds
        option(14, struct.pack("<q", 2**62)),  # offset of 2^62 seconds
        option(14, struct.pack("<q", -(2**62))),
    ],
)
def test_pcapng_interface_with_absurd_timestamp_options(tmp_path: Path, settings, opts: bytes) -> None:
    frames = [frame("192.0.2.1", "10.0.0.1", 20 + i) for i in range(6)]
    data = pcapng(frames, interfaces=[b"", opts], iface_of=lambda i: i % 2)
    events, bad = parse(tmp_path, "c.pcapng", data, settings)
    assert events["dst_port"].to_pylist() == [20, 22, 24]
    assert sum(q["records"] for q in bad) == 3 and all("timestamp" in q["reason"] for q in bad)


@pytest.mark.parametrize(
    "record",
    [
        '{"ts": 1e400, "src_ip": "1.2.3.4", "dst_port": 1, "transport": "tcp"}',
        '{"ts": 1e300, "src_ip": "1.2.3.4", "dst_port": 1, "transport": "tcp"}',
        '{"ts": "2025-11-26T00:00:00Z", "src_ip": "1.2.3.4", "dst_port": 1, "transport": "tcp", "bytes": 1e30}',
        '{"ts": "2025-11-26T00:00:00Z", "src_ip": "1.2.3.4", "dst_port": 1, "transport": "tcp", "bytes": 100000000000000000000}',
        '{"ts": "2025-11-26T00:00:00Z", "src_ip": "1.2.3.4", "dst_port": 1e20, "transport": "tcp"}',
        '{"ts": "2025-11-26T00:00:00Z", "src_ip": "1.2.3.4", "dst_port": 1, "transport": "tcp", "duration_s": 1e400}',
        '{"ts": "2025-11-26T00:00:00Z", "src_ip": "1.2.3.4", "dst_port": 1, "transport": "tcp", "bytes": '
        + "9" * 5000
        + "}",
        '{"ts": "2025-11-26T00:00:00Z", "src_ip": "1.2.3.4", "dst_port": 1, "transport": "tcp", "x": '
        + "[" * 200_000
        + "]" * 200_000
        + "}",
        "[" * 200_000,
        '{"ts": "2025-11-26T00:00:00Z", "src_ip": "1.2.3.4", "dst_port": 1, "payload_hex": ' + "{" * 100_000 + "}",
    ],
)
def test_json_record_out_of_range_or_nested_too_deeply(tmp_path: Path, settings, record: str) -> None:
    good = sensor([{}])
    events, bad = parse(tmp_path, "sensor.jsonl", good + record + "\n" + good, settings)
    assert events["source_location"].to_pylist() == ["line:1", "line:3"]
    assert [q["location"] for q in bad] == ["line:2"] and bad[0]["reason"]


@pytest.mark.parametrize("name", ["honeypot.json", "cowrie.json", "zeek.json"])
def test_other_json_logs_too(tmp_path: Path, settings, name: str) -> None:
    good = {
        "honeypot.json": honeypot([{}]),
        "cowrie.json": cowrie([{}]),
        "zeek.json": zeek_json([("tcp", "198.51.100.7", "10.0.0.1", "22")]),
    }[name]
    first = json.loads(good)
    nested = json.dumps(first)[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    huge = json.dumps(
        first | {next(k for k in first if "port" in k or k.endswith("_p")): 10**30, "ts": 1e300, "utc": 1e300}
    )
    events, bad = parse(tmp_path, name, good + nested + "\n" + huge + "\n" + good, settings)
    assert events["source_location"].to_pylist() == ["line:1", "line:4"]
    assert sorted(q["location"] for q in bad) == ["line:2", "line:3"]


def test_csv_quoted_field_over_128_kib(tmp_path: Path, settings) -> None:
    line = cidds([GOOD]).splitlines()[1]
    big = line.rsplit(",", 1)[0] + ',"' + "x" * 200_000 + '"'
    events, bad = parse(tmp_path, "flows.csv", CIDDS_HEAD + f"{line}\n{big}\n{line}\n", settings)
    assert events["source_location"].to_pylist() == ["line:2", "line:4"]
    assert [q["location"] for q in bad] == ["line:3"] and len(bad[0]["raw"]) <= 1024


@pytest.mark.parametrize(
    ("name", "make", "bad_row"),
    [
        ("nfdump.csv", nfdump, ("TCP", "198.51.100.7", "10.0.0.1", "9" * 40)),
        ("cic.csv", cic, ("6", "198.51.100.7", "10.0.0.1", "1e400")),
        ("zeek.log", zeek_tsv, ("tcp", "198.51.100.7", "10.0.0.1", "-5")),
        ("flows.csv", cidds, ("TCP", "198.51.100.7", "10.0.0.1", "99999")),
    ],
)
def test_flow_record_with_out_of_range_port(tmp_path: Path, settings, name: str, make, bad_row) -> None:
    good = GOOD if name != "cic.csv" else ("6", *GOOD[1:])
    good = good if "zeek" not in name else ("tcp", *GOOD[1:])
    events, bad = parse(tmp_path, name, make([good, bad_row, good]), settings)
    assert events.num_rows == 2 and len(bad) == 1


def test_zeek_timestamp_out_of_range(tmp_path: Path, settings) -> None:
    text = zeek_tsv([("tcp", "198.51.100.7", "10.0.0.1", "22")] * 3).replace(f"{T0 + 1}.5", "1e300")
    events, bad = parse(tmp_path, "zeek.log", text, settings)
    assert events.num_rows == 2 and len(bad) == 1


@pytest.mark.parametrize(
    "rest",
    [
        "SPT=4000 DPT=22 WINDOW=99999999999999999999999 RES=0x00 SYN URGP=0",
        "SPT=4000 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0 LEN=99999999999999999999999999999",
        "SPT=99999999999 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0",
    ],
)
def test_firewall_line_with_out_of_range_numbers(tmp_path: Path, settings, rest: str) -> None:
    rows = [("TCP", "198.51.100.7", "10.0.0.1", TCP_REST), ("TCP", "198.51.100.8", "10.0.0.1", rest)]
    rows += [("TCP", "198.51.100.9", "10.0.0.1", TCP_REST)]
    lines = ufw(rows).splitlines(keepends=True)
    lines[1] = lines[1].replace("TTL=50", "TTL=4000000000" if "LEN" in rest else "TTL=50")
    log = "".join(lines)
    events, bad = parse(tmp_path, f"ufw-{DAY}.log", log, settings)
    assert events["src_ip"].to_pylist() == ["198.51.100.7", "198.51.100.9"]
    assert [q["location"] for q in bad] == ["line:2"]
