"""The sensor on real sockets on 127.0.0.1: every probe recorded once, limits engage, clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.sensor import Sensor, SensorConfig

SCANSENSE = str(Path(sys.executable).with_name("scansense"))


def _free_ports(n: int, kind: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _wait_lines(folder: Path, expected: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sum(p.read_text().count("\n") for p in folder.glob("sensor-*")) >= expected:
            return
        time.sleep(0.1)


def _wait_ready(path: Path, proc: subprocess.Popen) -> dict:
    for _ in range(200):
        if path.exists() and path.read_text():
            return json.loads(path.read_text())
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError("sensor did not start")


async def _client(tcp: list[int], udp: list[int], dumps: Path | None = None) -> None:
    async def one(i: int) -> None:
        port = tcp[i % len(tcp)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if i % 4 == 1:
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
        elif i % 4 == 2 and i < 40:
            writer.write(b"x" * 1_000_000)  # a megabyte: only max_bytes are kept
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    sem = asyncio.Semaphore(50)

    async def bounded(i: int) -> None:
        async with sem:
            await one(i)

    for start in range(0, 1000, 250):  # in rounds, each recorded before the next (a paced scanner)
        await asyncio.gather(*(bounded(i) for i in range(start, start + 250)))
        if dumps is not None:
            _wait_lines(dumps, start + 250, timeout=30)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(500):
        sock.sendto(b"\x00\x01probe" if i % 2 else b"", ("127.0.0.1", udp[i % len(udp)]))
        if i % 100 == 99 and dumps is not None:
            # Loopback drops datagrams that overrun the socket buffer while the sensor is busy
            # (rmem_max caps it); the client waits for each hundred to be recorded, as a paced scanner would.
            _wait_lines(dumps, 1000 + i + 1, timeout=30)
    sock.close()


def test_1000_connections_and_500_datagrams_recorded_exactly(tmp_path: Path) -> None:
    tcp, udp = _free_ports(3, socket.SOCK_STREAM), _free_ports(2, socket.SOCK_DGRAM)
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [
            SCANSENSE,
            "sensor",
            "--out",
            str(tmp_path / "dumps"),
            "--host",
            "127.0.0.1",
            "--tcp",
            ",".join(map(str, tcp)),
            "--udp",
            ",".join(map(str, udp)),
            "--rate",
            "100000",
            "--max-bytes",
            "256",
            "--ready-file",
            str(ready),
            "--name",
            "t1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_ready(ready, proc)
        asyncio.run(_client(tcp, udp, tmp_path / "dumps"))
        # The kernel completes handshakes before the sensor accepts them: wait until it has caught up.
        deadline = time.time() + 60
        while time.time() < deadline:
            lines = sum(p.read_text().count("\n") for p in (tmp_path / "dumps").glob("sensor-*"))
            if lines >= 1500:
                break
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    dumps = sorted((tmp_path / "dumps").glob("sensor-*.jsonl"))
    assert dumps and not list((tmp_path / "dumps").glob("*.part"))
    records = [json.loads(line) for path in dumps for line in path.read_text().splitlines()]
    tcp_records = [r for r in records if r["transport"] == "tcp"]
    udp_records = [r for r in records if r["transport"] == "udp"]
    assert len(tcp_records) == 1000 and len(udp_records) == 500
    assert len(records) == 1500
    assert {r["dst_port"] for r in tcp_records} == set(tcp) and {r["dst_port"] for r in udp_records} == set(udp)
    assert all(r["src_ip"] == "127.0.0.1" and r["sensor"] == "t1" for r in records)
    assert all(len(bytes.fromhex(r["payload_hex"])) <= 256 for r in records)
    big = [r for r in tcp_records if r["bytes"] >= 1_000_000]
    assert big and all(len(r["payload_hex"]) == 512 for r in big)
    assert sum(r["sent_data"] for r in tcp_records) == 250 + len(big)
    assert sum(r["sent_data"] for r in udp_records) == 250


def test_flood_engages_limits_and_sensor_stays_up(tmp_path: Path) -> None:
    async def scenario() -> dict:
        config = SensorConfig(
            out=tmp_path,
            tcp_ports=(0,),
            udp_ports=(0,),
            host="127.0.0.1",
            max_connections=20,
            per_source_rate=50.0,
            read_timeout_s=1.0,
        )
        sensor = Sensor(config)
        await sensor.start()
        port, uport = sensor.ports["tcp"][0], sensor.ports["udp"][0]
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(30)]  # hold slots open
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(2000):
            sock.sendto(b"flood", ("127.0.0.1", uport))
        sock.close()
        await asyncio.sleep(1.5)
        for _, w in idle:
            w.close()
        await asyncio.sleep(1.2)  # the rate bucket refills
        r, w = await asyncio.open_connection("127.0.0.1", port)  # still serving
        w.write(b"after")
        await w.drain()
        w.close()
        await asyncio.sleep(0.3)
        await sensor.stop()
        return sensor.stats

    stats = asyncio.run(scenario())
    assert stats["dropped_max_connections"] + stats["dropped_rate"] > 0
    assert stats["dropped_rate"] >= 1000  # 2000 datagrams from one source at a 50/s budget
    records = [json.loads(line) for p in tmp_path.glob("sensor-*.jsonl") for line in p.read_text().splitlines()]
    assert any(r.get("payload_hex") == b"after".hex() for r in records)
    assert json.loads((tmp_path / "sensor-stats.json").read_text())["records"] == len(records)


@pytest.mark.parametrize("pid_signal", [signal.SIGINT])
def test_sigint_also_closes_dumps(tmp_path: Path, pid_signal: int) -> None:
    ready = tmp_path / "ready.json"
    tcp = _free_ports(1, socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [
            SCANSENSE,
            "sensor",
            "--out",
            str(tmp_path),
            "--host",
            "127.0.0.1",
            "--tcp",
            str(tcp[0]),
            "--udp",
            "",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_ready(ready, proc)
    with socket.create_connection(("127.0.0.1", tcp[0])) as s:
        s.sendall(b"hello")
    time.sleep(0.5)
    os.kill(proc.pid, pid_signal)
    proc.communicate(timeout=30)
    assert not list(tmp_path.glob("*.part"))
    assert sum(1 for p in tmp_path.glob("sensor-*.jsonl") for _ in p.read_text().splitlines()) == 1
