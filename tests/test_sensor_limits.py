"""Abuse limits: a bounded loopback flood engages every limit, the drops are counted, the sensor stays up."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

from pipelines.sensor import Sensor, SensorConfig, SourceRateLimiter


async def _until(check, what: str, timeout: float = 30.0) -> None:
    """Wait (bounded) for the sensor to catch up with the client; fail with `what` if it never does."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def _connect(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


def test_flood_engages_every_limit_and_the_sensor_stays_up(tmp_path: Path) -> None:
    config = SensorConfig(
        out=tmp_path,
        tcp_ports=(0,),
        udp_ports=(0,),
        host="127.0.0.1",
        name="flood",
        max_connections=20,
        max_connections_per_source=0,  # this test is about the global bound; fairness: test_sensor_fairness.py
        max_bytes=64,
        max_read_bytes=64 << 10,
        read_timeout_s=30.0,
        max_duration_s=3.0,
        per_source_rate=50.0,
        flush_interval_s=0.1,
    )

    async def scenario() -> tuple[Sensor, dict]:
        sensor = Sensor(config)
        await sensor.start()
        tcp, udp = sensor.ports["tcp"][0], sensor.ports["udp"][0]
        st = sensor.stats

        # 1. 30 silent connections from one source: 20 are held, 10 recorded and closed at accept.
        held = [await _connect(tcp, "127.0.0.1") for _ in range(30)]
        await _until(lambda: len(sensor.live) + st["closed_max_connections"] == 30, "accepts not processed")
        assert len(sensor.live) == 20 and st["closed_max_connections"] == 10
        await _until(lambda: st["tcp"] == 10, "connections closed at accept not recorded")
        for _, w in held:
            w.close()
        await _until(lambda: not sensor.live, "held connections not recorded")

        # 2. 2,000 datagrams from one source against a 50/s budget: most are dropped.
        started = time.monotonic()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.3", 0))
            for _ in range(2000):
                s.sendto(b"flood", ("127.0.0.1", udp))
        await _until(
            lambda: st["udp"] + st["dropped_rate_udp"] + sensor.snapshot()["dropped_udp_kernel"] == 2000, "udp"
        )
        assert st["udp"] <= 50 + 50 * (time.monotonic() - started) + 1
        assert st["dropped_rate_udp"] >= 1000

        # 3. 300 connections as fast as one source can: over the rate they are recorded but not read.
        seen = st["tcp"]
        for _ in range(300):
            _, w = await _connect(tcp, "127.0.0.2")
            w.close()
        await _until(lambda: st["tcp"] == seen + 300, "tcp flood not recorded")
        assert st["closed_rate_tcp"] > 0

        # 4. A firehose is cut at max_read_bytes; a trickler is cut at max_duration_s.
        _, fire = await _connect(tcp, "127.0.0.4")
        fire.write(b"\x90" * (1 << 20))
        _, slow = await _connect(tcp, "127.0.0.5")
        while not slow.is_closing() and st["cut_duration"] == 0:
            slow.write(b".")
            await asyncio.sleep(0.2)
        await _until(lambda: st["cut_read_limit"] == 1 and st["cut_duration"] == 1, "firehose/trickler not cut")
        for w in (fire, slow):
            w.close()

        # 5. Still serving.
        await _until(lambda: not sensor.live, "firehose/trickler still open")
        sensor.flush()  # counters include every record so far
        _, w = await _connect(tcp, "127.0.0.6")
        w.write(b"after the flood")
        await w.drain()
        w.close()
        before = st["tcp"]
        await _until(lambda: st["tcp"] == before + 1, "sensor stopped serving")
        return sensor, await sensor.stop()

    sensor, final = asyncio.run(scenario())
    records = [json.loads(line) for p in tmp_path.glob("sensor-*.jsonl") for line in p.read_text().splitlines()]
    assert final["records"] == len(records) == final["tcp"] + final["udp"] + final["rate_summaries"]
    # the UDP flood's drops are kept as per-second summaries of its one source (tests/test_sensor_drops.py)
    summaries = [r for r in records if r["event"] == "dropped_rate"]
    assert {r["src_ip"] for r in summaries} == {"127.0.0.3"} and len(summaries) == final["rate_summaries"]
    assert sum(r["count"] for r in summaries) == final["dropped_rate_udp"]
    assert json.loads((tmp_path / "sensor-stats.json").read_text())["records"] == len(records)
    assert all(len(bytes.fromhex(r["payload_hex"])) <= 64 for r in records)
    by_src = {r["src_ip"]: r for r in records}
    assert by_src["127.0.0.6"]["payload_hex"] == b"after the flood".hex()
    fire = by_src["127.0.0.4"]
    assert 64 << 10 <= fire["bytes"] < 1 << 20 and fire["payload_hex"] == "90" * 64
    assert by_src["127.0.0.5"]["duration_s"] >= 3.0
    assert final["errors"] == 0 and final["active_connections"] == 0


def test_rate_limiter_refills_and_bounds_its_memory() -> None:
    now = [0.0]
    limiter = SourceRateLimiter(rate=10, clock=lambda: now[0], max_sources=100)
    assert sum(limiter.allow("a") for _ in range(25)) == 10  # burst of one second's worth
    now[0] += 0.5
    assert sum(limiter.allow("a") for _ in range(25)) == 5  # refilled at 10/s
    assert limiter.allow("b")  # another source has its own bucket
    for i in range(150):  # fresh sources: the table stays bounded
        limiter.allow(f"10.0.{i // 256}.{i % 256}")
        assert len(limiter.buckets) <= 101
    now[0] += 10
    limiter.prune()
    assert not limiter.buckets  # everyone refilled: nothing to remember
    assert SourceRateLimiter(rate=0).allow("x")  # 0 disables the limit
