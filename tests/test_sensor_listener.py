"""The sensor as a process on real sockets on 127.0.0.1: every probe recorded once, clean stop on signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

FIELDS = [
    "ts",
    "event",
    "transport",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "sent_data",
    "payload_hex",
    "bytes",
    "duration_s",
    "close_reason",
    "sensor",
]
MAX_BYTES = 256


def _free_ports(n: int, kind: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, kind) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start(out: Path, tcp: list[int], udp: list[int], *extra: str) -> tuple[subprocess.Popen, Path]:
    ready = out.parent / f"{out.name}.ready.json"
    cmd = [sys.executable, "-m", "pipelines.sensor", "--out", str(out), "--host", "127.0.0.1"]
    cmd += ["--tcp", ",".join(map(str, tcp)), "--udp", ",".join(map(str, udp)), "--ready-file", str(ready), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(f"sensor exited: {proc.communicate()[1]}")
        assert time.monotonic() < deadline, "sensor did not start"
        time.sleep(0.05)
    return proc, ready


def _lines(out: Path) -> int:
    """Lines written so far, open (.part) files included."""
    return sum(p.read_bytes().count(b"\n") for p in out.glob("sensor-*.jsonl*"))


def _wait_lines(out: Path, expected: int, proc: subprocess.Popen) -> None:
    """Wait (bounded) until the sensor has written `expected` lines: the client paces itself on it."""
    deadline = time.monotonic() + 60
    while _lines(out) < expected and time.monotonic() < deadline:
        assert proc.poll() is None, "sensor died"
        time.sleep(0.05)


def _payload(i: int) -> bytes:
    """What TCP client number i sends: nothing, a request, more than the bound, or a megabyte."""
    kind = i % 5
    if kind == 0:
        return b""
    if kind == 1:
        return b"GET /" + str(i).encode() + b" HTTP/1.0\r\n\r\n"
    if kind == 2:
        return bytes(range(256)) * 2 + str(i).encode()  # 512+ bytes: more than the bound
    if kind == 3 and i % 50 == 3:
        return (str(i).encode() + b"A") * (1_000_000 // (len(str(i)) + 1) + 1)  # a megabyte or so
    return b"SSH-2.0-scanner-" + str(i).encode() + b"\r\n"


async def _tcp_client(ports: list[int], n: int) -> list[tuple[int, int, bytes]]:
    """Open n connections (50 at a time); return (client port, sensor port, bytes sent) of each."""
    sent: list[tuple[int, int, bytes]] = []
    sem = asyncio.Semaphore(50)

    async def one(i: int) -> None:
        async with sem:
            reader, writer = await asyncio.open_connection("127.0.0.1", ports[i % len(ports)])
            data = _payload(i)
            sent.append((writer.get_extra_info("sockname")[1], ports[i % len(ports)], data))
            if data:
                writer.write(data)
                await writer.drain()
            if i % 10 == 5:  # some reset instead of closing
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(one(i) for i in range(n)))
    return sent


def test_1000_connections_and_500_datagrams_give_exactly_1500_records(tmp_path: Path) -> None:
    out = tmp_path / "dumps"
    tcp, udp = _free_ports(3, socket.SOCK_STREAM), _free_ports(2, socket.SOCK_DGRAM)
    proc, _ = _start(
        out,
        tcp,
        udp,
        "--name",
        "s-test",
        "--max-bytes",
        str(MAX_BYTES),
        "--rate",
        "0",
        "--flush-interval",
        "0.1",
        "--read-timeout",
        "30",
        "--max-per-source",
        "0",  # one client address opens 50 at a time here: the per-source cap is tested in test_sensor_fairness.py
    )
    try:
        sent_tcp = asyncio.run(_tcp_client(tcp, 1000))
        assert len(sent_tcp) == 1000
        _wait_lines(out, 1000, proc)
        sent_udp = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(500):
                data = [b"", b"\x00\x01probe", os.urandom(1200), b"\x30\x26\x02\x01" + bytes([i % 256])][i % 4]
                sock.sendto(data, ("127.0.0.1", udp[i % 2]))
                sent_udp.append((data, udp[i % 2]))
                if i % 100 == 99:  # a paced scanner: a burst must not overrun a small rmem_max on CI
                    _wait_lines(out, 1000 + i + 1, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr

    assert not list(out.glob("*.part")), "SIGTERM must close and rename the open dump"
    dumps = sorted(out.glob("sensor-*.jsonl"))
    by_file = [(path, json.loads(line)) for path in dumps for line in path.read_text().splitlines()]
    records = [r for _, r in by_file]
    assert len(records) == 1500
    for path, r in by_file:
        assert path.name.startswith(f"sensor-{r['ts'][:13].replace('-', '')}")  # the file of its hour
        assert list(r) == FIELDS
        assert r["ts"].endswith("Z") and datetime.fromisoformat(r["ts"][:-1])
        assert (r["event"], r["transport"]) in {("connect", "tcp"), ("datagram", "udp")}
        assert r["src_ip"] == r["dst_ip"] == "127.0.0.1" and r["sensor"] == "s-test"
        assert len(bytes.fromhex(r["payload_hex"])) <= MAX_BYTES  # the payload bound
        assert r["sent_data"] == (r["bytes"] > 0) and r["duration_s"] >= 0
        # nothing was shed: every connection was read until its peer closed or reset it (a datagram has no close)
        assert r["close_reason"] == ("peer" if r["transport"] == "tcp" else None)

    # Each connection's record: its ports, every byte counted, the first MAX_BYTES kept.
    tcp_records = [r for r in records if r["transport"] == "tcp"]
    got_tcp = Counter((r["src_port"], r["dst_port"], r["bytes"], bytes.fromhex(r["payload_hex"])) for r in tcp_records)
    assert got_tcp == Counter((src, dst, len(data), data[:MAX_BYTES]) for src, dst, data in sent_tcp)
    assert sum(len(data) >= 1_000_000 for _, _, data in sent_tcp) == 20

    udp_records = [r for r in records if r["transport"] == "udp"]
    got = Counter((bytes.fromhex(r["payload_hex"]), r["bytes"], r["dst_port"], r["duration_s"]) for r in udp_records)
    assert got == Counter((data[:MAX_BYTES], len(data), port, 0.0) for data, port in sent_udp)

    stats = json.loads((out / "sensor-stats.json").read_text())
    assert (stats["records"], stats["tcp"], stats["udp"]) == (1500, 1000, 500)
    assert stats["closed_max_connections"] == stats["closed_source_cap"] == stats["closed_rate_tcp"] == 0
    assert stats["dropped_rate_udp"] == stats["dump_lost_write_error"] == stats["dump_cut_hour_cap"] == 0
    assert stats["dropped_udp_kernel"] == 0 and stats["stopped_at"]
    assert "1500 records (1000 tcp, 500 udp)" in stdout


def test_sigint_records_a_live_connection_and_closes_the_dump(tmp_path: Path) -> None:
    out = tmp_path / "dumps"
    (port,) = _free_ports(1, socket.SOCK_STREAM)
    proc, ready = _start(out, [port], [], "--read-timeout", "60", "--flush-interval", "0.1", "--json")
    assert json.loads(ready.read_text()) == {"tcp": [port], "udp": []}
    with socket.create_connection(("127.0.0.1", port)) as done:
        done.sendall(b"hello")
    idle = socket.create_connection(("127.0.0.1", port))
    idle.sendall(b"still here")
    try:
        _wait_lines(out, 1, proc)
        time.sleep(0.2)  # let the idle connection's bytes arrive; the record is checked below either way
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        idle.close()
    assert proc.returncode == 0, stderr
    assert not list(out.glob("*.part"))
    records = [json.loads(line) for p in out.glob("sensor-*.jsonl") for line in p.read_text().splitlines()]
    assert sorted(bytes.fromhex(r["payload_hex"]) for r in records) == [b"hello", b"still here"]
    final = json.loads(stdout.splitlines()[-1])
    assert final["records"] == 2 and final["cut_shutdown"] == 1 and final["active_connections"] == 0


def test_bad_ports_and_busy_folder_fail_cleanly(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "pipelines.sensor", "--out", str(tmp_path / "d"), "--host", "127.0.0.1"]
    bad = subprocess.run([*run, "--tcp", "70000"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "out of range" in bad.stderr
    (port,) = _free_ports(1, socket.SOCK_STREAM)
    proc, _ = _start(tmp_path / "d", [port], [])
    try:
        (other,) = _free_ports(1, socket.SOCK_STREAM)
        busy = subprocess.run([*run, "--tcp", str(other), "--udp", ""], capture_output=True, text=True, timeout=30)
        assert busy.returncode == 2 and "another sensor" in busy.stderr
        taken = subprocess.run(
            [*run[:4], str(tmp_path / "e"), *run[5:], "--tcp", str(port), "--udp", ""],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert taken.returncode == 2 and "cannot listen" in taken.stderr
        assert not list((tmp_path / "e").glob("*.part"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
