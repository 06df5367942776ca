"""The ScanSense sensor (paper 000's collection module): an asyncio TCP/UDP listener that records
every connection attempt and datagram as JSON lines in hourly dump files.

asyncio rather than threads: one event loop serves thousands of idle or slow peers without a
thread each, so one hostile peer cannot exhaust a pool (see docs/BENCHMARKS.md for conn/s).
Dumps are written as `sensor-YYYYMMDDTHH.jsonl.part` and renamed to `.jsonl` when the hour closes
or the sensor stops, so the daily DAG never reads a half-written file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)
FIREHOSE_BYTES = 16 << 20  # bytes counted per connection before it is cut off


@dataclass
class SensorConfig:
    """What to listen on and the limits that keep the sensor up under abuse."""

    out: Path
    tcp_ports: tuple[int, ...] = ()
    udp_ports: tuple[int, ...] = ()
    host: str = "0.0.0.0"
    name: str = "sensor"
    max_connections: int = 512  # concurrent TCP connections; more are accepted and closed at once, counted
    max_bytes: int = 4096  # bytes kept (hex) per connection or datagram
    read_timeout_s: float = 2.0  # how long a connection may stay silent before it is closed
    per_source_rate: float = 50.0  # connections+datagrams per second per source address (token bucket)
    banners: dict[int, bytes] = field(default_factory=dict)  # port -> bytes sent after the handshake


class DumpWriter:
    """Hourly JSONL dump files, renamed from .part when closed."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.hour: str | None = None
        self.fh = None
        self.records = 0

    def _path(self, hour: str) -> Path:
        return self.out / f"sensor-{hour}.jsonl"

    def write(self, record: dict) -> None:
        hour = record["ts"][:13].replace("-", "").replace(":", "")  # 2025-11-26T03 -> 20251126T03
        if hour != self.hour:
            self.close()
            self.hour = hour
            self.fh = open(self._path(hour).with_suffix(".jsonl.part"), "a", encoding="utf-8")
        self.fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.records += 1

    def flush(self) -> None:
        if self.fh:
            self.fh.flush()

    def close(self) -> None:
        if self.fh and self.hour:
            self.fh.close()
            part = self._path(self.hour).with_suffix(".jsonl.part")
            final = self._path(self.hour)
            if final.exists():  # the same hour reopened after a restart: append, then rename
                with open(final, "a", encoding="utf-8") as dst, open(part, encoding="utf-8") as src:
                    dst.write(src.read())
                part.unlink()
            else:
                os.replace(part, final)
        self.fh, self.hour = None, None


class Sensor:
    """The listener; `await start()`, then `await stop()` (or run `run_sensor`)."""

    def __init__(self, config: SensorConfig) -> None:
        self.config = config
        self.writer = DumpWriter(config.out)
        self.servers: list[asyncio.AbstractServer] = []
        self.transports: list[asyncio.BaseTransport] = []
        self.active = 0
        self.tasks: set[asyncio.Task] = set()
        self.buckets: dict[str, tuple[float, float]] = {}
        self.stats = {"tcp": 0, "udp": 0, "dropped_max_connections": 0, "dropped_rate": 0, "truncated": 0}
        self.ports: dict[str, list[int]] = {"tcp": [], "udp": []}

    def _allow(self, src: str) -> bool:
        """Per-source token bucket of `per_source_rate` per second, burst of the same size."""
        rate = self.config.per_source_rate
        now = time.monotonic()
        tokens, last = self.buckets.get(src, (rate, now))
        tokens = min(rate, tokens + (now - last) * rate)
        if tokens < 1:
            self.buckets[src] = (tokens, now)
            return False
        self.buckets[src] = (tokens - 1, now)
        if len(self.buckets) > 100_000:  # bound memory under a spoofed-source flood
            self.buckets.clear()
        return True

    def _record(self, **fields) -> None:
        record = {"ts": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), **fields, "sensor": self.config.name}
        self.writer.write(record)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for port in self.config.tcp_ports:
            server = await asyncio.start_server(self._handle_tcp, self.config.host, port, backlog=1024)
            self.servers.append(server)
            self.ports["tcp"].append(server.sockets[0].getsockname()[1])
        for port in self.config.udp_ports:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(self.config.host, port))
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # absorb bursts instead of dropping
            self.transports.append(transport)
            self.ports["udp"].append(transport.get_extra_info("sockname")[1])
        self._flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.writer.flush()

    async def _handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        local = writer.get_extra_info("sockname") or ("?", 0)
        src = peer[0]
        if self.active >= self.config.max_connections:
            self.stats["dropped_max_connections"] += 1
            writer.close()
            return
        if not self._allow(src):
            self.stats["dropped_rate"] += 1
            writer.close()
            return
        self.active += 1
        started = time.monotonic()
        kept = bytearray()
        total = 0
        try:
            banner = self.config.banners.get(local[1])
            if banner:
                writer.write(banner)
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), timeout=self.config.read_timeout_s)
                if not chunk:
                    break
                total += len(chunk)
                if len(kept) < self.config.max_bytes:
                    kept += chunk[: self.config.max_bytes - len(kept)]
                if total > FIREHOSE_BYTES:  # stop reading a firehose; keep what we have
                    self.stats["truncated"] += 1
                    break
        except (TimeoutError, ConnectionError, OSError):
            pass
        finally:
            self.active -= 1
            self.stats["tcp"] += 1
            self._record(
                event="connect",
                transport="tcp",
                src_ip=src,
                src_port=peer[1],
                dst_ip=local[0],
                dst_port=local[1],
                sent_data=total > 0,
                payload_hex=bytes(kept).hex(),
                bytes=total,
                duration_s=round(time.monotonic() - started, 3),
            )
            writer.close()

    def datagram(self, data: bytes, addr: tuple, local: tuple) -> None:
        if not self._allow(addr[0]):
            self.stats["dropped_rate"] += 1
            return
        self.stats["udp"] += 1
        self._record(
            event="datagram",
            transport="udp",
            src_ip=addr[0],
            src_port=addr[1],
            dst_ip=local[0],
            dst_port=local[1],
            sent_data=bool(data),
            payload_hex=data[: self.config.max_bytes].hex(),
            bytes=len(data),
            duration_s=0.0,
        )

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for transport in self.transports:
            transport.close()
        for server in self.servers:
            await server.wait_closed()
        deadline = time.monotonic() + self.config.read_timeout_s + 1
        while self.active and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if getattr(self, "_flusher", None):
            self._flusher.cancel()
        self.writer.close()
        stats = dict(self.stats, records=self.writer.records, stopped_at=datetime.now(UTC).isoformat())
        (Path(self.config.out) / "sensor-stats.json").write_text(json.dumps(stats, indent=2))


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, sensor: Sensor) -> None:
        self.sensor = sensor
        self.local: tuple = ("?", 0)

    def connection_made(self, transport) -> None:
        self.local = transport.get_extra_info("sockname")

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.sensor.datagram(data, addr, self.local)


async def run_sensor(config: SensorConfig, duration: float | None = None, ready: Path | None = None) -> dict:
    """Run until SIGTERM/SIGINT (or `duration` seconds); flush and close the dumps; return the counts."""
    sensor = Sensor(config)
    await sensor.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("sensor %s listening: tcp %s udp %s", config.name, sensor.ports["tcp"], sensor.ports["udp"])
    if ready:
        ready.write_text(json.dumps(sensor.ports))
    try:
        await asyncio.wait_for(stop.wait(), timeout=duration)
    except TimeoutError:
        pass
    await sensor.stop()
    return dict(sensor.stats, records=sensor.writer.records)
