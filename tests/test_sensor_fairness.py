"""The sensor under hostile load (issue 20): a fair share per source, every accepted connection recorded,
a bounded dump, and counters that tell what reached the file. Real sockets on 127.0.0.x, waits on state."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import socket
import time
from pathlib import Path

from pipelines.sensor import Sensor, SensorConfig, SourceRateLimiter


async def _until(check, what: str, timeout: float = 60.0) -> None:
    """Wait for the sensor's state to reach `check` (a generous bound only guards against a hang)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def _connect(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


def _config(out: Path, **limits) -> SensorConfig:
    base = dict(out=out, tcp_ports=(0,), host="127.0.0.1", name="fair", per_source_rate=0, flush_interval_s=0.02)
    return SensorConfig(**(base | limits))


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(out.glob("sensor-*.jsonl")) for line in p.read_text().splitlines()]


def test_a_trickling_source_cannot_take_every_slot(tmp_path: Path) -> None:
    config = _config(tmp_path, max_connections=40, max_connections_per_source=8, read_timeout_s=600, max_duration_s=600)
    hog, polite = "127.0.0.2", "127.0.0.3"

    async def scenario() -> dict:
        sensor = Sensor(config)
        await sensor.start()
        port, st = sensor.ports["tcp"][0], sensor.stats
        # The hog opens as many connections as the sensor has slots and trickles a byte on each.
        trickle = [await _connect(port, hog) for _ in range(40)]
        for _, w in trickle:
            w.write(b".")
        await _until(lambda: sensor.per_source.get(hog, 0) + st["closed_source_cap"] == 40, "hog's accepts")
        assert sensor.per_source[hog] == 8 and st["closed_source_cap"] == 32
        await _until(lambda: st["tcp"] == 32, "connections over the per-source cap are still recorded")
        # The well-behaved source sends 40 probes, a few at a time, while the hog holds its share.
        for i in range(40):
            await _until(lambda: sensor.per_source.get(polite, 0) < 4, "polite source's connections")
            _, w = await _connect(port, polite)
            w.write(f"probe {i}".encode())
            await w.drain()
            w.close()
        await _until(lambda: st["tcp"] == 72, "the polite source's probes were not all recorded")
        assert sensor.per_source[hog] == 8  # the hog still holds its share, no more
        for _, w in trickle:
            w.close()
        return await sensor.stop()

    final = asyncio.run(scenario())
    records = _records(tmp_path)
    polite_payloads = sorted(bytes.fromhex(r["payload_hex"]) for r in records if r["src_ip"] == polite)
    assert polite_payloads == sorted(f"probe {i}".encode() for i in range(40))  # all 40, each one read
    hog_records = [r for r in records if r["src_ip"] == hog]
    capped = [r for r in hog_records if r["close_reason"] == "source_cap"]  # closed unread: at most its "." buffered
    assert len(hog_records) == 40 and len(capped) == 32 and all(r["bytes"] <= 1 for r in capped)
    assert all(r["sent_data"] is (True if r["bytes"] else None) for r in capped)  # never "sent nothing": unknown
    assert final["records"] == len(records) == 80 and final["closed_source_cap"] == 32


def test_a_silent_connection_is_recorded_and_closed_at_the_read_timeout(tmp_path: Path) -> None:
    config = _config(tmp_path, read_timeout_s=0.3)

    async def scenario() -> tuple[bytes, dict]:
        sensor = Sensor(config)
        await sensor.start()
        reader, writer = await _connect(sensor.ports["tcp"][0], "127.0.0.4")
        eof = await asyncio.wait_for(reader.read(), timeout=60)  # the sensor closes it, the client sees EOF
        writer.close()
        await _until(lambda: sensor.stats["tcp"] == 1, "silent connection not recorded")
        return eof, await sensor.stop()

    eof, final = asyncio.run(scenario())
    (record,) = _records(tmp_path)
    assert eof == b"" and final["cut_timeout"] == 1
    assert record["src_ip"] == "127.0.0.4" and record["bytes"] == 0 and record["duration_s"] >= 0.3


def test_a_burst_of_short_connections_is_recorded_whole(tmp_path: Path) -> None:
    sources = [f"127.0.0.{10 + i}" for i in range(50)]
    config = _config(tmp_path, max_connections=16, max_connections_per_source=2, per_source_rate=5.0)

    async def scenario() -> dict:
        sensor = Sensor(config)
        sensor.limiter = SourceRateLimiter(5.0, clock=lambda: 0.0)  # time stands still: 5 per source, exactly
        await sensor.start()
        port = sensor.ports["tcp"][0]
        sem = asyncio.Semaphore(100)

        async def one(i: int) -> None:
            async with sem:
                _, w = await _connect(port, sources[i % len(sources)])
                if i % 2:
                    w.write(b"GET / HTTP/1.0\r\n\r\n")
                w.close()
                await w.wait_closed()

        await asyncio.gather(*(one(i) for i in range(1000)))
        await _until(lambda: sensor.stats["tcp"] == 1000, "accepted connections were lost")
        return await sensor.stop()

    final = asyncio.run(scenario())
    records = _records(tmp_path)
    assert len(records) == final["records"] == 1000
    assert {r["src_ip"] for r in records} == set(sources)
    assert final["closed_rate_tcp"] == 50 * 15  # 20 per source, 5 allowed: the rest recorded without being read
    shed = final["closed_max_connections"] + final["closed_source_cap"] + final["closed_rate_tcp"]
    assert sum(r["close_reason"] in ("max_connections", "source_cap", "rate") for r in records) == shed


def test_a_udp_flood_stops_at_the_hourly_dump_cap_and_the_cut_is_counted(tmp_path: Path) -> None:
    cap = 20_000
    config = _config(tmp_path, tcp_ports=(), udp_ports=(0,), max_dump_bytes_per_hour=cap)

    async def scenario() -> dict:
        sensor = Sensor(config)
        await sensor.start()
        port = sensor.ports["udp"][0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.5", 0))
            for i in range(400):
                s.sendto(b"flood %d" % i + b"\x00" * 100, ("127.0.0.1", port))
                if i % 50 == 49:  # let the sensor drain, so the kernel does not drop what the cap should count
                    await _until(lambda n=i + 1: _handled(sensor) >= n, "datagrams not read")
        await _until(
            lambda: _handled(sensor) == 400,
            "datagrams not accounted for",
        )
        return await sensor.stop()

    final = asyncio.run(scenario())
    files = list(tmp_path.glob("sensor-*.jsonl"))
    assert all(p.stat().st_size <= cap for p in files)
    assert final["records"] == len(_records(tmp_path)) and final["records"] < 400
    assert final["dump_cut_hour_cap"] > 0 and final["dump_cut_bytes"] > 0
    cuts = [json.loads(line) for line in (tmp_path / "dump-cuts.jsonl").read_text().splitlines()]
    assert sum(c["records_cut"] for c in cuts) == sum(c["udp"] for c in cuts) == final["dump_cut_hour_cap"]
    assert sum(c["bytes_cut"] for c in cuts) == final["dump_cut_bytes"] and {c["sensor"] for c in cuts} == {"fair"}
    stats = json.loads((tmp_path / "sensor-stats.json").read_text())
    assert stats["dump_cut_hour_cap"] == final["dump_cut_hour_cap"]


def _handled(sensor: Sensor) -> int:
    """Datagrams written, cut by the cap, or dropped by the kernel."""
    snap = sensor.snapshot()
    return snap["records"] + snap["dump_cut_hour_cap"] + snap["dropped_udp_kernel"]


class _Disk:
    """A disk of `free` bytes behind os.write: a write that does not fit writes what fits, then ENOSPC."""

    def __init__(self, free: int) -> None:
        self.free = free

    def write(self, fd: int, data) -> int:
        if self.free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = os.write(fd, bytes(data[: self.free]))
        self.free -= n
        return n


def test_on_a_full_disk_counters_match_the_file_and_the_sensor_keeps_serving(tmp_path: Path, caplog) -> None:
    disk = _Disk(free=3_000)  # room for about ten records
    config = _config(tmp_path, max_connections_per_source=0)

    async def scenario() -> dict:
        sensor = Sensor(config, write_bytes=disk.write)
        await sensor.start()
        port, st = sensor.ports["tcp"][0], sensor.stats
        for i in range(60):
            _, w = await _connect(port, "127.0.0.6")
            w.write(b"probe %d" % i)
            await w.drain()
            w.close()
            if i % 10 == 9:  # several flushes hit the full disk
                await _until(lambda n=i + 1: st["records"] + st["dump_lost_write_error"] == n, "probes not accounted")
        assert 0 < st["records"] < 60 and st["dump_write_errors"] > 1
        disk.free = 1 << 20  # room again: the sensor was serving all along and writes again
        _, w = await _connect(port, "127.0.0.7")
        w.write(b"after the disk filled")
        await w.drain()
        w.close()
        await _until(lambda: st["records"] + st["dump_lost_write_error"] == 61, "sensor stopped serving")
        return await sensor.stop()

    with caplog.at_level(logging.INFO, logger="pipelines.sensor"):
        final = asyncio.run(scenario())
    records = _records(tmp_path)  # every line whole JSON: a torn line was cut before the next write
    assert final["records"] == len(records) and final["records"] + final["dump_lost_write_error"] == 61
    assert records[-1]["payload_hex"] == b"after the disk filled".hex()
    failed = [r for r in caplog.records if "failed" in r.getMessage() and r.levelno >= logging.ERROR]
    assert len(failed) == 1, [r.getMessage() for r in failed]  # logged once, not once per failed write
    assert any("work again" in r.getMessage() for r in caplog.records)
    assert final["errors"] == 0
