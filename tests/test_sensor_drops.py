"""Probes dropped over the sensor's per-source rate are kept as one summary line per source and second
(count, ports), ingested as events with `packets` = count, and the dump is flagged as under-counting
in `ingest_files` (issue 17, item 5). Real sockets on 127.0.0.1; the waits are bounded polls."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines import catalog
from pipelines import warehouse as wh
from pipelines.ingest import ingest_paths, iter_file
from pipelines.sensor import Sensor, SensorConfig
from pipelines.settings import Settings

SOURCE = "127.0.0.3"


async def _until(check, what: str, timeout: float = 30.0) -> None:
    """Wait (bounded) for the sensor to catch up with the client; fail with `what` if it never does."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


def _flood(out: Path, sent: int) -> dict:
    """`sent` datagrams from one source over two UDP ports against a budget of one a second."""
    config = SensorConfig(
        out=out, udp_ports=(0, 0), host="127.0.0.1", name="drops", per_source_rate=1.0, flush_interval_s=0.1
    )

    async def scenario() -> dict:
        sensor = Sensor(config)
        await sensor.start()
        ports = sensor.ports["udp"]
        st = sensor.stats
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((SOURCE, 0))
            for i in range(sent):
                s.sendto(b"probe %d" % i, ("127.0.0.1", ports[i % 2]))
        await _until(
            lambda: st["udp"] + st["dropped_rate_udp"] + sensor.snapshot()["dropped_udp_kernel"] == sent, "udp"
        )
        return await sensor.stop() | {"ports": ports}

    return asyncio.run(scenario())


def test_dropped_probes_become_per_second_summaries_that_ingest_counts(tmp_path: Path, settings: Settings) -> None:
    sent = 60
    final = _flood(tmp_path / "dump", sent)
    assert final["dropped_udp_kernel"] == 0 and final["dropped_rate_udp"] >= sent - 10
    lines = [json.loads(x) for p in (tmp_path / "dump").glob("sensor-*.jsonl") for x in p.read_text().splitlines()]
    summaries = [r for r in lines if r["event"] == "dropped_rate"]
    probes = [r for r in lines if r["event"] != "dropped_rate"]
    assert len(probes) == final["udp"] and len(summaries) == final["rate_summaries"] >= 1
    assert final["records"] == final["udp"] + final["rate_summaries"]
    # one line per source and second, its ports adding up to its count, the counts adding up to the drops
    seconds = [(r["src_ip"], r["ts"][:19]) for r in summaries]
    assert len(seconds) == len(set(seconds)) and {r["src_ip"] for r in summaries} == {SOURCE}
    assert all(sum(r["ports"].values()) == r["count"] for r in summaries)
    assert {int(p) for r in summaries for p in r["ports"]} <= set(final["ports"])
    assert sum(r["count"] for r in summaries) == final["dropped_rate_udp"]

    # ingest: every datagram sent is counted once, as a probe or in a summary's packets
    summary = ingest_paths(sorted((tmp_path / "dump").glob("sensor-*.jsonl")), settings)
    assert not summary.errors and summary.quarantined == 0
    with duckdb.connect() as con:
        wh.load_lake_table(con, settings.warehouse, "events", catalog.table("events").schema)
        wh.load_lake_table(con, settings.warehouse, "ingest_files")
        packets, dropped_rows = con.execute(
            "SELECT sum(packets), count(*) FILTER (WHERE action = 'dropped_rate') FROM events WHERE src_ip = $s",
            {"s": SOURCE},
        ).fetchone()
        flagged = con.execute("SELECT undercounts, undercount_reason FROM ingest_files").fetchall()
    assert packets == sent
    assert dropped_rows == sum(len(r["ports"]) for r in summaries)
    assert flagged and any(u for u, _ in flagged)  # a dump whose hour held a summary (one file, unless an hour turned)
    assert sum(int(why.split("dropped ")[1].split()[0]) for u, why in flagged if u) == final["dropped_rate_udp"]


def _dump_line(**kv) -> str:
    base = {"ts": "2025-11-26T03:04:05.000001Z", "event": "dropped_rate", "transport": "udp", "src_ip": "198.51.100.9",
            "src_port": 5000, "dst_ip": "192.0.2.1", "dst_port": 53, "count": 5, "ports": {"53": 3, "123": 2}}  # fmt: skip
    return json.dumps(base | kv)


@pytest.mark.parametrize(
    ("fields", "ok"),
    [
        ({}, True),
        ({"count": 6}, False),  # the ports do not add up to the count
        ({"ports": {}}, False),
        ({"ports": {"70000": 5}}, False),
        ({"ports": {"53": "five"}}, False),
        ({"ports": [53, 123]}, False),
    ],
)
def test_a_drop_summary_is_events_per_port_or_quarantined(tmp_path: Path, settings: Settings, fields, ok) -> None:
    path = tmp_path / "sensor-20251126T03.jsonl"
    probe = {"ts": "2025-11-26T03:04:04Z", "event": "datagram", "transport": "udp", "src_ip": "198.51.100.9",
             "src_port": 5000, "dst_ip": "192.0.2.1", "dst_port": 53}  # fmt: skip
    path.write_text(json.dumps(probe) + "\n" + _dump_line(**fields) + "\n", encoding="utf-8")
    chunks = list(iter_file(path, settings))
    events = pa.concat_tables([c.events for c in chunks])
    quarantined = [q for c in chunks for q in c.quarantine]
    if ok:
        assert not quarantined
        assert sorted(zip(events["dst_port"].to_pylist(), events["packets"].to_pylist(), strict=True)) == [
            (53, 1), (53, 3), (123, 2)
        ]  # fmt: skip
        assert chunks[-1].undercounts and "dropped 5 probes" in chunks[-1].undercounts
    else:
        assert events.num_rows == 1 and len(quarantined) == 1 and quarantined[0]["location"] == "line:2"
        assert not chunks[-1].undercounts


def test_ufw_logs_and_suppressed_kernel_lines_are_flagged_plain_iptables_is_not(tmp_path: Path, settings) -> None:
    ufw = (
        "Nov 26 03:04:05 host kernel: [1.0] [UFW BLOCK] IN=eth0 OUT= MAC= SRC=198.51.100.7 DST=192.0.2.1 LEN=44 "
        "TOS=0x00 PREC=0x00 TTL=50 ID=1 PROTO=TCP SPT=40000 DPT=22 WINDOW=1024 RES=0x00 SYN URGP=0\n"
    )
    plain = ufw.replace("[UFW BLOCK] ", "DROP: ")
    suppressed = "Nov 26 03:04:06 host kernel: [2.0] net_ratelimit: 27 callbacks suppressed\n"
    cases = {"ufw.log": (ufw, "UFW"), "plain.log": (plain, None), "noted.log": (plain + suppressed, "suppressed 27")}
    for name, (text, expect) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        reason = [c.undercounts for c in iter_file(tmp_path / name, settings, year=2025)][-1]
        assert (reason is None) if expect is None else (expect in reason), (name, reason)
