"""Bad input (issue 3, "Bad input"): good records land, each bad one is quarantined with its file,
byte offset or line, and reason; nothing crashes, nothing hangs."""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import ingest_paths, iter_file

T0 = 1764115200
CIDDS_HEADER = (
    "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,"
    "class,attackType,attackID,attackDescription\n"
)
CIDDS_ROW = (
    "2025-11-26 00:01:16.632,0.000,TCP  ,192.168.100.5,445,192.168.220.16,58844,1,108,1,.A..S.,0,normal,---,---,---\n"
)
UFW = (
    "Nov 26 00:00:0{i} host kernel: [1.0] [UFW BLOCK] IN=eth0 OUT= MAC=00 SRC=1.2.3.{i} DST=5.6.7.8 LEN=40 "
    "TOS=0x00 PREC=0x00 TTL=240 ID=1 PROTO=TCP SPT=1 DPT=2{i} WINDOW=1024 RES=0x00 SYN URGP=0\n"
)


def frame(i: int) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i, 0, 64, 6, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    tcp = struct.pack("!HHIIBBHHH", 40000 + i, 20 + i, 0, 0, 0x50, 0x02, 1024, 0, 0)
    return b"\x00" * 12 + b"\x08\x00" + ip + tcp


def pcap(n: int = 20) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i in range(n):
        f = frame(i)
        out += struct.pack("<IIII", T0 + i, i, len(f), len(f)) + f
    return out


RECORD = 16 + 54  # one record of `pcap()`


def pcapng(n: int = 20) -> bytes:
    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)) + block(1, struct.pack("<HHI", 1, 0, 65535))
    for i in range(n):
        ts = (T0 + i) * 1_000_000
        f = frame(i)
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f)
    return out


def parse(path: Path, settings, year: int | None = 2025) -> tuple[list[int], list[dict]]:
    chunks = list(iter_file(path, settings, year=year))
    ports = [p for c in chunks for p in c.events["dst_port"].to_pylist()]
    return ports, [q for c in chunks for q in c.quarantine]


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


def lake(settings) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    root = Path(settings.warehouse) / "lake"
    for table, glob in (
        ("events", "events/*/*.parquet"),
        ("files", "ingest_files/*.parquet"),
        ("quarantine", "quarantine/*.parquet"),
    ):
        if list(root.glob(glob)):
            con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_parquet($g, hive_partitioning = false)",
                {"g": str(root / glob)},
            )
    return con


def test_truncated_last_record_keeps_the_packets_before(tmp_path: Path, settings) -> None:
    data = pcap()
    ports, bad = parse(write(tmp_path, "cut.pcap", data[:-30]), settings)
    assert ports == list(range(20, 39)) and len(bad) == 1
    assert "truncated packet" in bad[0]["reason"] and bad[0]["location"] == f"byte:{24 + 19 * RECORD}"
    ports, bad = parse(write(tmp_path, "cut_header.pcap", data[: 24 + 19 * RECORD + 9]), settings)
    assert ports == list(range(20, 39)) and "truncated record header" in bad[0]["reason"]
    ports, bad = parse(write(tmp_path, "cut.pcapng", pcapng()[:-30]), settings)
    assert ports == list(range(20, 39)) and len(bad) == 1 and "truncated block" in bad[0]["reason"]


@pytest.mark.parametrize("garbage", [b"\xff" * 37, bytes(random.Random(3).randrange(256) for _ in range(501))])
def test_garbage_in_the_middle_is_skipped_with_its_offset(tmp_path: Path, settings, garbage: bytes) -> None:
    data = pcap()
    mid = 24 + 10 * RECORD
    ports, bad = parse(write(tmp_path, "garbage.pcap", data[:mid] + garbage + data[mid:]), settings)
    assert ports == list(range(20, 40)) and len(bad) == 1
    assert bad[0]["location"] == f"byte:{mid}" and f"skipped {len(garbage)} bytes" in bad[0]["reason"]
    ng = pcapng()
    mid = ng.index(frame(10)) - 28  # start of the 11th packet block
    ports, bad = parse(write(tmp_path, "garbage.pcapng", ng[:mid] + garbage + ng[mid:]), settings)
    assert ports == list(range(20, 40)) and len(bad) == 1 and bad[0]["location"] == f"byte:{mid}"


def test_damaged_record_header_loses_only_that_record(tmp_path: Path, settings) -> None:
    data = bytearray(pcap())
    at = 24 + 5 * RECORD
    data[at + 8 : at + 12] = struct.pack("<I", 0x7FFFFFFF)  # caplen of the 6th record destroyed
    ports, bad = parse(write(tmp_path, "hdr.pcap", bytes(data)), settings)
    assert ports == [p for p in range(20, 40) if p != 25] and len(bad) == 1 and bad[0]["location"] == f"byte:{at}"


def test_garbage_to_the_end_and_random_bytes_file(tmp_path: Path, settings) -> None:
    data = pcap() + b"\xfe" * 5000
    ports, bad = parse(write(tmp_path, "tail.pcap", data), settings)
    assert ports == list(range(20, 40)) and len(bad) == 1 and "up to the end of the file" in bad[0]["reason"]
    noise = bytes(random.Random(5).randrange(256) for _ in range(20000))
    ports, bad = parse(write(tmp_path, "noise.pcap", pcap(0) + noise), settings)
    assert len(bad) >= 1  # whatever it finds, it ends and says so


def test_zero_length_header_only_and_non_capture_files(tmp_path: Path, settings) -> None:
    empty = write(tmp_path / "in", "empty.pcap", b"")
    header_only = write(tmp_path / "in", "header.pcap", pcap(0))
    short = write(tmp_path / "in", "short.pcap", pcap(0)[:10])
    fake = write(tmp_path / "in", "fake.pcap", "this is not a capture\n")
    good = write(tmp_path / "in", "good.pcap", pcap())
    summary = ingest_paths([tmp_path / "in"], settings)
    assert summary.files == 5 and summary.rows == 20 and summary.quarantined == 3
    status = dict(lake(settings).execute("SELECT regexp_extract(path, '[^/]+$'), status FROM files").fetchall())
    assert status == {
        "empty.pcap": "empty",
        "header.pcap": "empty",
        "short.pcap": "error",
        "fake.pcap": "error",
        "good.pcap": "ok",
    }
    assert len(summary.errors) == 2 and all(("fake.pcap" in e or "short.pcap" in e) for e in summary.errors)
    assert {empty.name, header_only.name, short.name, fake.name, good.name} == set(status)


def test_csv_missing_and_extra_columns_and_bad_values(tmp_path: Path, settings) -> None:
    extra = CIDDS_ROW.strip() + ",surplus\n"
    short = "2025-11-26 00:01:16.632,0.000,TCP,192.168.100.5\n"
    badport = CIDDS_ROW.replace("58844", "port?")
    badip = CIDDS_ROW.replace("192.168.100.5", "EXT_SERVER")
    quoted = CIDDS_ROW.replace("normal", '"normal"')
    f = write(
        tmp_path, "flows.csv", CIDDS_HEADER + CIDDS_ROW + extra + short + badport + badip + "\n" + quoted + CIDDS_ROW
    )
    ports, bad = parse(f, settings)
    assert ports == [58844, 58844, 58844]
    assert [(q["location"], q["reason"]) for q in bad] == [
        ("line:3", "expected 16 fields, found 17"),
        ("line:4", "expected 16 fields, found 4"),
        ("line:5", "bad value in column 'Dst Pt'"),
        ("line:6", "bad value in column 'Src IP Addr'"),
    ]
    assert bad[2]["raw"] == badport.strip()
    missing = write(tmp_path, "missing.csv", CIDDS_HEADER.replace("Dst Pt,", "") + CIDDS_ROW)
    summary = ingest_paths([missing], settings)
    assert summary.rows == 0 and summary.quarantined == 1 and "missing columns: Dst Pt" in summary.errors[0]


def test_wrong_encodings_and_line_endings(tmp_path: Path, settings) -> None:
    row = CIDDS_ROW.replace("---\n", "Caf\u00e9 \u2013 scan\n")
    utf16 = write(tmp_path, "utf16.csv", (CIDDS_HEADER + row).encode("utf-16"))
    latin = write(tmp_path, "latin1.csv", (CIDDS_HEADER + CIDDS_ROW.replace("---\n", "Caf\u00e9\n")).encode("latin-1"))
    bom_crlf = write(
        tmp_path, "bom.csv", b"\xef\xbb\xbf" + (CIDDS_HEADER + CIDDS_ROW * 2).replace("\n", "\r\n").encode()
    )
    for path in (utf16, latin, bom_crlf):
        ports, bad = parse(path, settings)
        assert ports and set(ports) == {58844} and not bad, path.name
    chunks = list(iter_file(utf16, settings))
    assert chunks[0].events["label"].to_pylist() == ["normal"]
    log = UFW.format(i=1).replace("host", "h\u00e9te")
    ports, bad = parse(write(tmp_path, "latin.log", log.encode("latin-1")), settings)
    assert ports == [21] and not bad
    # Invalid UTF-8 deep inside a UTF-8 file costs nothing but the bad byte.
    body = CIDDS_HEADER + CIDDS_ROW * 3000
    bad_byte = body.encode().replace(b"normal", b"norm\xffl", 1)
    ports, bad = parse(write(tmp_path, "badbyte.csv", bad_byte), settings)
    assert len(ports) == 3000 and not bad


def test_log_line_cut_in_half_anywhere(tmp_path: Path, settings) -> None:
    lines = [UFW.format(i=i) for i in range(1, 5)]
    f = write(tmp_path, "fw-2025-11-26.log", lines[0] + lines[1][:90] + "\n" + lines[2] + lines[3][:120])
    ports, bad = parse(f, settings, year=None)
    assert ports == [21, 23] and [q["location"] for q in bad] == ["line:2", "line:4"]
    assert all("cut short" in q["reason"] for q in bad)


def test_same_file_twice_copy_and_same_name_other_content(tmp_path: Path, settings) -> None:
    a = write(tmp_path / "a", "capture.pcap", pcap())
    b = write(tmp_path / "b", "capture.pcap", pcap(12))  # same name, other bytes
    first = ingest_paths([a], settings)
    again = ingest_paths([a], settings)  # rerun: replaced, not doubled
    copy = write(tmp_path, "copy.pcap", a.read_bytes())
    dup = ingest_paths([copy], settings)
    other = ingest_paths([b], settings)
    assert first.rows == again.rows == 20 and dup.rows == 0 and dup.duplicates == 1 and other.rows == 12
    con = lake(settings)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 32
    rows = con.execute(
        "SELECT regexp_extract(path, '[^/]+/[^/]+$'), status, rows, error FROM files ORDER BY 1"
    ).fetchall()
    assert [r[:3] for r in rows] == [
        ("a/capture.pcap", "ok", 20),
        ("b/capture.pcap", "ok", 12),
        (f"{tmp_path.name}/copy.pcap", "duplicate", 0),
    ]
    assert rows[2][3].startswith("same bytes as ") and rows[2][3].endswith("a/capture.pcap")
    # Two copies in one run: the second is the duplicate.
    c1, c2 = write(tmp_path / "c", "x.pcap", pcap(3)), write(tmp_path / "c", "y.pcap", pcap(3))
    both = ingest_paths([c1.parent], settings)
    assert both.rows == 3 and both.duplicates == 1 and c2.exists()


def test_new_content_at_the_same_path_replaces_the_old_parts(tmp_path: Path, settings) -> None:
    p = write(tmp_path, "rolling.pcap", pcap())
    ingest_paths([p], settings)
    p.write_bytes(pcap(5))
    ingest_paths([p], settings)
    con = lake(settings)
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 5
    assert con.execute("SELECT count(*) FROM files").fetchone()[0] == 1
    # The old bytes reappear elsewhere: they are not a duplicate of anything any more.
    q = write(tmp_path, "old.pcap", pcap())
    assert ingest_paths([q], settings).rows == 20


def test_truncated_and_trailing_garbage_gzip(tmp_path: Path, settings) -> None:
    z = gzip.compress(pcap(200))
    ports, bad = parse(write(tmp_path, "cut.pcap.gz", z[: len(z) // 2]), settings)
    assert 0 < len(ports) < 200 and ports == list(range(20, 20 + len(ports)))
    assert any("gzip stream cut short" in q["reason"] for q in bad)
    ports, bad = parse(write(tmp_path, "tail.pcap.gz", z + b"JUNKJUNK"), settings)
    assert len(ports) == 200 and any("after the end of the gzip stream" in q["reason"] for q in bad)
    ports, bad = parse(write(tmp_path, "two.pcap.gz", z + gzip.compress(b"")), settings)
    assert len(ports) == 200 and not bad


@pytest.mark.timeout(60)
def test_mutated_inputs_never_raise_or_hang(tmp_path: Path, settings) -> None:
    seeds = {
        "a.pcap": pcap(),
        "a.pcapng": pcapng(),
        "a.csv": (CIDDS_HEADER + CIDDS_ROW * 5).encode(),
        "a.log": "".join(UFW.format(i=i) for i in range(1, 6)).encode(),
        "a.jsonl": b'{"ts": "2025-11-26T00:00:00Z", "event": "connect", "transport": "tcp", "src_ip": "1.2.3.4", "dst_port": 22}\n'
        * 5,
    }
    rng = random.Random(11)
    for n in range(150):
        name, data = rng.choice(sorted(seeds.items()))
        data = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            op, at = rng.randrange(4), rng.randrange(len(data))
            if op == 0:
                data[at] = rng.randrange(256)
            elif op == 1:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
            elif op == 2:
                del data[at : at + rng.randint(1, 40)]
            else:
                data = data[:at]
            if not data:
                break
        path = write(tmp_path, f"{n}-{name}", bytes(data))
        chunks = list(iter_file(path, settings, year=2025))  # must not raise
        assert all(c.error is None or "parser error" not in c.error for c in chunks), (path, chunks[-1].error)
