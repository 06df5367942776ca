"""Issue 19 class 3: bounded lines, fields and decompression; one quarantine row per damaged stretch."""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import pyarrow as pa
import pytest
from hostile import CIDDS_HEAD, DAY, cidds, frame, pcap, sensor, ufw, zeek_tsv

from pipelines.ingest import iter_file, streams
from pipelines.ingest.streams import Limits, Utf8Lines

TCP_REST = "SPT=4000 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0"


def parse(path: Path, settings) -> tuple[pa.Table, list[dict]]:
    chunks = list(iter_file(path, settings, year=2025))
    assert not any(c.error for c in chunks), [c.error for c in chunks]
    return pa.concat_tables([c.events for c in chunks]), [q for c in chunks for q in c.quarantine]


@pytest.mark.parametrize("block", [7, 64, 1000, 1 << 20])
def test_utf8_lines_empties_overlong_lines_and_keeps_the_others(tmp_path: Path, block: int) -> None:
    rng = random.Random(block)
    lines = [b"y" * rng.choice([0, 1, 5, 99, 100, 101, 250, 3000]) for _ in range(400)]
    path = tmp_path / "t.txt"
    path.write_bytes(b"\n".join(lines) + rng.choice([b"", b"\n"]))
    with Utf8Lines(path, block=block, limits=Limits(max_line=100), src="t") as reader:
        got = b"".join(reader.blocks())
        rejected = reader.take_rejected()
    assert got.split(b"\n")[: len(lines)] == [ln if len(ln) <= 100 else b"" for ln in lines]
    long = [i for i, ln in enumerate(lines) if len(ln) > 100]
    offsets = [sum(len(ln) + 1 for ln in lines[:i]) for i in long]
    assert [q["location"] for q in rejected] == [f"byte:{o}" for o in offsets]
    assert all(len(q["raw"]) <= streams.HEAD_KEPT for q in rejected)


@pytest.mark.parametrize(
    ("name", "good", "spread"),
    [
        ("sensor.jsonl", lambda: sensor([{}]), 0),
        (f"ufw-{DAY}.log", lambda: ufw([("TCP", "198.51.100.7", "10.0.0.1", TCP_REST)]), 0),
        ("flows.csv", lambda: cidds([("TCP", "198.51.100.7", "10.0.0.1", "22")]).split("\n", 1)[1], 1),
        ("zeek.log", lambda: zeek_tsv([("tcp", "198.51.100.7", "10.0.0.1", "22")]).split("\n", 2)[2], 2),
    ],
)
def test_overlong_line_is_one_quarantine_row_in_every_text_format(tmp_path: Path, settings, name, good, spread):
    settings = settings.replace("ingest", max_line_bytes=4096)
    head = {"flows.csv": CIDDS_HEAD, "zeek.log": "".join(zeek_tsv([]).splitlines(True)[:2])}.get(name, "")
    text = head + good() + "A" * 50_000 + "\n" + good() + "B" * 9_000_000 + "\n" + good()
    for data, suffix in ((text.encode(), ""), (gzip.compress(text.encode()), ".gz")):
        path = tmp_path / (name + suffix)
        path.write_bytes(data)
        events, bad = parse(path, settings)
        assert events["source_location"].to_pylist() == [f"line:{n + spread}" for n in (1, 3, 5)], name
        assert [q["reason"].split(",")[0] for q in bad] == ["line of 50000 bytes", "line of 9000000 bytes"]


def test_gzip_bomb_is_cut_by_size_and_ratio(tmp_path: Path, settings, monkeypatch) -> None:
    text = sensor([{}]) * 20_000  # ~4 MB, compresses ~100x
    path = tmp_path / "sensor.jsonl.gz"
    path.write_bytes(gzip.compress(text.encode()))
    events, bad = parse(path, settings)  # within the defaults: all of it
    assert events.num_rows == 20_000 and bad == []
    events, bad = parse(path, settings.replace("ingest", max_gzip_bytes=1_000_000))
    assert 0 < events.num_rows < 20_000 and "decompression stopped" in bad[-1]["reason"]
    monkeypatch.setattr(streams, "GZIP_FREE", 0)  # the first 64 MiB are never judged by the ratio
    events, bad = parse(path, settings.replace("ingest", max_gzip_ratio=5))
    assert 0 < events.num_rows < 20_000 and "5x the" in bad[-1]["reason"]


def test_zero_length_pcap_records_are_one_row_per_stretch(tmp_path: Path, settings) -> None:
    good = [frame("192.0.2.1", "10.0.0.1", 22)] * 2
    head = pcap(good)
    zeros = struct.pack("<IIII", 1764115200, 0, 0, 0) * 500_000  # 8 MB of empty records
    tail = pcap(good)[24:]
    path = tmp_path / "z.pcap.gz"
    path.write_bytes(gzip.compress(head + zeros + tail))
    events, bad = parse(path, settings)
    assert events.num_rows == 4
    assert [q["reason"] for q in bad] == ["damaged record header; skipped 8000000 bytes"]


def test_event_text_is_cut_to_the_field_bound(tmp_path: Path, settings) -> None:
    path = tmp_path / "honeypot.json"
    path.write_text(
        '{"ip": "198.51.100.2", "utc": "2025-11-26 00:00:01", "uri": "/' + "a" * 300_000 + '", "method": "GET"}\n'
    )
    events, bad = parse(path, settings.replace("ingest", max_field_bytes=1000))
    assert bad == [] and len(events["uri"][0].as_py()) == 1000
