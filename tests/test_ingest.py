"""Ingestion: every format from content, real captures, and every kind of bad input."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import detect_format, ingest_paths, iter_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from fuzz_parsers import seed_files  # noqa: E402


def _parse(path: Path, settings, year: int | None = 2025) -> tuple[int, list[dict]]:
    chunks = list(iter_file(path, settings, year=year))
    return sum(c.events.num_rows for c in chunks), [q for c in chunks for q in c.quarantine]


def _lake(settings) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    lake = Path(settings.warehouse) / "lake"
    if list((lake / "events").glob("*/*.parquet")):
        con.execute(
            "CREATE TABLE events AS SELECT * FROM read_parquet($g, union_by_name = true, hive_partitioning = false)",
            {"g": str(lake / "events" / "*" / "*.parquet")},
        )
    con.execute("CREATE TABLE files AS SELECT * FROM read_parquet($g)", {"g": str(lake / "ingest_files" / "*.parquet")})
    con.execute(
        "CREATE TABLE quarantine AS SELECT * FROM read_parquet($g)", {"g": str(lake / "quarantine" / "*.parquet")}
    )
    return con


@pytest.fixture
def seeds(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, data in seed_files().items():
        out[name] = tmp_path / name
        out[name].write_bytes(data)
    return out


def test_formats_detected_from_content_not_name(seeds: dict[str, Path], tmp_path: Path) -> None:
    expected = {
        "capture.pcap": "pcap",
        "capture_be_ns.pcap": "pcap",
        "capture.pcapng": "pcapng",
        "capture.pcap.gz": "pcap",
        "flows.csv": "cidds",
        "ufw-2025-11-26.log": "ufw",
        "sensor-20251126T00.jsonl": "sensor_jsonl",
        "honeypot.json": "honeypot_json",
        "cowrie.json": "cowrie",
    }
    for name, fmt in expected.items():
        assert detect_format(seeds[name]) == fmt, name
    renamed = tmp_path / "not-a-log.txt"
    renamed.write_bytes(seeds["capture.pcapng"].read_bytes())
    assert detect_format(renamed) == "pcapng"


def test_big_endian_nanosecond_pcap_matches_little_endian(seeds: dict[str, Path], settings) -> None:
    a = next(iter(iter_file(seeds["capture.pcap"], settings))).events
    b = next(iter(iter_file(seeds["capture_be_ns.pcap"], settings))).events
    cols = ["src_ip", "dst_ip", "src_port", "dst_port", "proto", "tcp_flags"]
    assert a.select(cols).equals(b.select(cols))
    assert a.num_rows == 20 and set(a["tcp_flags"].to_pylist()) == {"S"}


def test_truncated_last_record_keeps_the_packets_before(seeds: dict[str, Path], tmp_path: Path, settings) -> None:
    data = seeds["capture.pcap"].read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:-30])
    rows, bad = _parse(cut, settings)
    assert rows == 19 and len(bad) == 1 and "truncated" in bad[0]["reason"] and bad[0]["location"].startswith("byte:")


def test_garbage_in_the_middle_is_skipped_and_quarantined(seeds: dict[str, Path], tmp_path: Path, settings) -> None:
    data = seeds["capture.pcap"].read_bytes()
    record = (len(data) - 24) // 20
    mid = 24 + record * 10
    bad_file = tmp_path / "garbage.pcap"
    bad_file.write_bytes(data[:mid] + b"\xff" * 37 + data[mid:])
    rows, bad = _parse(bad_file, settings)
    assert rows == 20 and len(bad) == 1 and bad[0]["location"] == f"byte:{mid}"


def test_zero_length_and_non_capture_files(tmp_path: Path, settings) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    fake = tmp_path / "fake.pcap"
    fake.write_text("this is not a capture\n")
    summary = ingest_paths([empty, fake], settings)
    assert summary.files == 2 and summary.rows == 0 and summary.quarantined == 2
    con = _lake(settings)
    assert dict(con.execute("SELECT status, count(*) FROM files GROUP BY 1").fetchall()) == {"empty": 1, "error": 1}


def test_csv_missing_and_extra_columns_and_encodings(tmp_path: Path, settings) -> None:
    header = "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,class,attackType,attackID,attackDescription\n"
    good = "2025-11-26 00:01:16.632,0.000,TCP  ,192.168.100.5,445,192.168.220.16,58844,1,108,1,....S.,0,normal,---,---,---\n"
    extra = good.strip() + ",surplus\n"
    short = "2025-11-26 00:01:16.632,0.000,TCP,192.168.100.5\n"
    badval = good.replace("58844", "port?")
    f = tmp_path / "flows.csv"
    f.write_text(header + good + extra + short + badval + good)
    rows, bad = _parse(f, settings)
    assert rows == 2 and [q["location"] for q in bad] == ["line:3", "line:4", "line:5"]
    missing = tmp_path / "missing.csv"
    missing.write_text(header.replace("Dst Pt,", "") + good)
    rows, bad = _parse(missing, settings)
    assert rows == 0 and "missing columns" in bad[0]["reason"]
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes((header + good).encode("utf-16"))
    assert _parse(utf16, settings)[0] == 1
    latin = tmp_path / "latin.log"
    latin.write_bytes(
        "Nov 26 00:00:01 h\xe9te kernel: [1.0] [UFW BLOCK] IN=eth0 OUT= MAC=00 SRC=1.2.3.4 DST=5.6.7.8 LEN=40 TOS=0x00 PREC=0x00 TTL=240 ID=1 PROTO=TCP SPT=1 DPT=2 WINDOW=1024 RES=0x00 SYN URGP=0\n".encode(
            "latin-1"
        )
    )
    assert _parse(latin, settings) == (1, [])


def test_log_line_cut_in_half(tmp_path: Path, settings) -> None:
    line = "Nov 26 00:00:01 host kernel: [1.0] [UFW BLOCK] IN=eth0 OUT= MAC=00 SRC=1.2.3.4 DST=5.6.7.8 LEN=40 TOS=0x00 PREC=0x00 TTL=240 ID=1 PROTO=TCP SPT=1 DPT=2 WINDOW=1024 RES=0x00 SYN URGP=0\n"
    f = tmp_path / "fw.log"
    f.write_text(line * 3 + line[:90])
    rows, bad = _parse(f, settings)
    assert rows == 3 and len(bad) == 1 and bad[0]["location"] == "line:4"


def test_same_file_twice_and_same_name_different_content(seeds: dict[str, Path], tmp_path: Path, settings) -> None:
    a = tmp_path / "a" / "capture.pcap"
    b = tmp_path / "b" / "capture.pcap"
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_bytes(seeds["capture.pcap"].read_bytes())
    b.write_bytes(gzip.decompress(seeds["capture.pcap.gz"].read_bytes())[:-30])  # same name, other bytes
    first = ingest_paths([a], settings)
    again = ingest_paths([a], settings)  # rerun: replaced, not doubled
    copy = tmp_path / "copy.pcap"
    copy.write_bytes(a.read_bytes())
    dup = ingest_paths([copy], settings)
    other = ingest_paths([b], settings)
    assert first.rows == again.rows == 20 and dup.rows == 0 and other.rows == 19
    con = _lake(settings)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 39
    assert con.execute("SELECT count(*) FROM files WHERE status = 'duplicate'").fetchone()[0] == 1


def test_gzip_capture_and_truncated_gzip(seeds: dict[str, Path], tmp_path: Path, settings) -> None:
    assert _parse(seeds["capture.pcap.gz"], settings)[0] == 20
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(seeds["capture.pcap.gz"].read_bytes()[:-40])
    rows, bad = _parse(cut, settings)
    assert 0 < rows < 20 and bad


@pytest.mark.shared_data
def test_real_captures_counts(shared_data: Path, settings) -> None:
    counts = {}
    for name in ("probing_nmap.pcapng", "synscan.pcap", "synscan.pcapng", "masscan_vlan_tcp.pcap"):
        rows, bad = _parse(shared_data / "pcap" / name, settings)
        counts[name] = (rows, len(bad))
    assert counts == {
        "probing_nmap.pcapng": (43011, 0),
        "synscan.pcap": (2011, 0),
        "synscan.pcapng": (2011, 0),
        "masscan_vlan_tcp.pcap": (1005, 0),
    }
    ingest_paths([shared_data / "pcap"], settings)
    con = _lake(settings)
    protos = dict(
        con.execute("SELECT proto, count(*) FROM events WHERE source_file LIKE '%probing_nmap%' GROUP BY 1").fetchall()
    )
    assert protos == {"tcp": 42204, "udp": 552, "icmp": 255}
    assert (
        con.execute("SELECT count(DISTINCT dst_port) FROM events WHERE src_ip = '172.31.15.102'").fetchone()[0] == 1001
    )
    cols = "ts, src_ip, dst_ip, src_port, dst_port, proto, tcp_flags, bytes"
    diff = con.execute(f"""SELECT count(*) FROM (
        (SELECT {cols} FROM events WHERE source_file LIKE '%synscan.pcap' EXCEPT ALL SELECT {cols} FROM events WHERE source_file LIKE '%synscan.pcapng')
        UNION ALL
        (SELECT {cols} FROM events WHERE source_file LIKE '%synscan.pcapng' EXCEPT ALL SELECT {cols} FROM events WHERE source_file LIKE '%synscan.pcap'))""").fetchone()[
        0
    ]
    assert diff == 0


@pytest.mark.shared_data
def test_real_firewall_flows_and_cowrie(shared_data: Path, settings) -> None:
    rows, bad = _parse(shared_data / "firewall" / "ufw_vps_2023-08-20.log", settings, year=None)
    assert rows == 3978 and len(bad) == 1 and bad[0]["location"] == "line:3979"
    for name, label in (("cicids2017_portscan_5000.csv", "Portscan"), ("cicids2017_benign_5000.csv", "BENIGN")):
        chunks = list(iter_file(shared_data / "flows" / name, settings))
        labels = {v for c in chunks for v in c.events["label"].to_pylist()}
        assert sum(c.events.num_rows for c in chunks) == 5000 and label in labels
    for path in sorted((shared_data / "honeypot" / "cowrie").glob("cowrie.json.*")):
        rows, bad = _parse(path, settings)
        assert rows > 0 and not bad
