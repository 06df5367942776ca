"""The listener: asyncio protocols for TCP and a recvmsg loop for UDP, writing one record per probe.

asyncio rather than a thread pool (measured in docs/BENCHMARKS_sensor.md): a silent or trickling
peer costs one small protocol object and a timer, not a thread, so a few hundred hostile peers
cannot starve everyone else the way they starve a fixed pool of blocking workers. TCP uses bare
`asyncio.Protocol` callbacks (no task or StreamReader per connection) because accepting is the hot
path. UDP reads the socket directly with `recvmsg` so that it can see the datagram's destination
address (IP_PKTINFO, needed when bound to 0.0.0.0) and the kernel's drop counter (SO_RXQ_OVFL),
and drains up to a batch per wake-up.

Reading is shared fairly between sources (issue 28, `slots.ReadSlots`): when every read slot is
taken, a newcomer takes one from a source holding more than its share, so a third party is read
while many sources trickle. A connection closed before it was read in full keeps what the kernel
had already buffered (`peek.take_buffered`), and `sent_data` is null when the sensor cannot know.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.layout import SensorDumps
from pipelines.sensor.dump import DumpWriter, format_ts, write_json_atomic
from pipelines.sensor.limits import SourceRateLimiter
from pipelines.sensor.peek import take_buffered
from pipelines.sensor.slots import EVICT, FULL, READ, SOURCE_CAP, ReadSlots

log = logging.getLogger("pipelines.sensor")

# Linux values; the socket module does not export them all (IP_PKTINFO, SO_RXQ_OVFL).
_LINUX = sys.platform.startswith("linux")
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)
UDP_BATCH = 256  # datagrams read per wake-up before yielding to TCP callbacks
RATE_SUMMARY = "dropped_rate"  # `event` of a dump line summarizing a source's probes dropped in one second
MAX_DROP_SUMMARIES = 50_000  # open (source, second) summaries; past it drops are only counted (spoofed floods)

# Why a TCP connection's record ended (`close_reason`). These three: closed at accept, never read.
RATE = "rate"
UNREAD = {RATE: "closed_rate_tcp", SOURCE_CAP: "closed_source_cap", FULL: "closed_max_connections"}
PEER = "peer"  # the peer closed or reset it: everything it sent was read
# The sensor listened long enough to say "nothing was sent" when nothing came: silent past the read
# timeout, or for the connection's whole allowed life.
HEARD_OUT = {PEER, "read_timeout", "max_duration"}


@dataclass
class _Drops:
    """Probes of one source, second and local address dropped over the per-source rate."""

    first: datetime
    last: datetime
    src_port: int
    count: int = 0
    bytes: int = 0
    ports: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SensorConfig:
    """What to listen on and the limits that keep the sensor up under abuse."""

    out: Path
    tcp_ports: tuple[int, ...] = ()
    udp_ports: tuple[int, ...] = ()
    host: str = "0.0.0.0"
    name: str = "sensor"
    max_connections: int = 512  # concurrent TCP connections read from, shared fairly between sources (slots.py)
    max_connections_per_source: int = 16  # of those, per source address (<=0: no cap), even when slots are free
    min_read_s: float = 2.0  # slots full, shares equal: a connection read this long yields its slot to a newcomer
    # A connection closed unread is first held, not read, this long: what it sends right after its handshake is
    # then in the kernel's buffer and kept in its record (0: close at once, keeping only what is there already).
    unread_wait_s: float = 0.25
    max_unread_waiting: int = 512  # connections held so at once; past it the oldest is closed and recorded now
    max_bytes: int = 4096  # payload bound: bytes kept (as hex) per connection or datagram
    max_read_bytes: int = 16 << 20  # bytes read (and counted) per connection before it is cut
    read_timeout_s: float = 2.0  # a connection silent this long is closed
    max_duration_s: float = 30.0  # a connection is closed after this long even if it trickles data
    per_source_rate: float = 50.0  # probes per second per source (token bucket, burst the same); <=0 disables
    max_dump_bytes_per_hour: int = 0  # bytes written to one hour's dump; more records are counted, not written
    max_dump_bytes_total: int = 0  # bytes of the folder's dumps together (0: no cap, for either)
    banners: dict[int, bytes] = field(default_factory=dict)  # TCP port -> bytes sent after the handshake
    flush_interval_s: float = 1.0  # dump lines reach the file at least this often
    stats_interval_s: float = 60.0  # a stats log line and sensor-stats.json this often
    backlog: int = 4096  # listen() queue; the kernel caps it at net.core.somaxconn
    udp_rcvbuf: int = 4 << 20  # socket receive buffer; the kernel caps it at net.core.rmem_max


def _plain_ip(ip: str) -> str:
    """Undo the IPv4-mapped form a dual-stack socket reports (::ffff:1.2.3.4 -> 1.2.3.4)."""
    return ip[7:] if ip.startswith("::ffff:") and "." in ip else ip


class Sensor:
    """The listener: `await start()`, then `await stop()`; `stats` counts records and drops."""

    def __init__(self, config: SensorConfig, write_bytes: Callable[[int, bytes], int] = os.write) -> None:
        self.config = config
        self.write_bytes = write_bytes  # how dump bytes reach the disk (tests give a disk that fills up)
        self.writer: DumpWriter | None = None
        self.servers: list[asyncio.AbstractServer] = []
        self.udp_socks: list[socket.socket] = []
        self.ports: dict[str, list[int]] = {"tcp": [], "udp": []}
        self.live: ReadSlots[_TcpProbe] = ReadSlots(
            config.max_connections, config.max_connections_per_source, config.min_read_s
        )
        self.unread: dict[_TcpProbe, str] = {}  # connections closed unread, waiting: why, oldest first
        self.limiter = SourceRateLimiter(config.per_source_rate)
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "records",  # lines that reached the dump (tcp + udp)
                "tcp",
                "udp",
                "closed_max_connections",  # recorded and closed at accept, nothing read: over max_connections
                "closed_source_cap",  # ... over max_connections_per_source
                "closed_rate_tcp",  # ... over per_source_rate
                "evicted_fair_share",  # read, then closed so that a source holding fewer slots could be read
                "sent_data_unknown",  # TCP records queued with sent_data null: closed before anything could be known
                "dropped_rate_udp",  # datagrams over per_source_rate: not recorded one by one...
                "rate_summaries",  # ...but in one summary line per source and second (count, ports)
                "dropped_rate_unsummarized",  # ... past MAX_DROP_SUMMARIES open summaries: only counted here
                "dropped_udp_kernel",
                "cut_read_limit",
                "cut_duration",
                "cut_timeout",
                "cut_shutdown",
                "dump_cut_hour_cap",  # records not written: the hour's dump was full
                "dump_cut_total_cap",  # ... the folder's dumps were full
                "dump_cut_bytes",
                "dump_lost_write_error",  # records that did not reach the file (disk full, I/O error)
                "dump_write_errors",
                "errors",
            ),
            0,
        )
        self._kernel_drops: dict[int, int] = {}
        self._drops: dict[tuple[str, int, str], _Drops] = {}  # (source, epoch second, local address)
        self._housekeeper: asyncio.Task | None = None
        self._started_at = datetime.now(UTC)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._stats_failing = False

    @property
    def per_source(self) -> dict[str, int]:
        """Read slots held per source address (sources holding none are absent)."""
        return self.live.counts

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the dump folder, bind every port, start housekeeping; raise OSError if a bind fails."""
        cfg = self.config
        self._loop = asyncio.get_running_loop()
        # A connection is written when it ends, at most max_duration_s after its ts: keep the
        # previous hour's file open that long (plus a margin) so the record lands in its own hour.
        self.writer = DumpWriter(
            Path(cfg.out),
            grace_s=cfg.max_duration_s + cfg.read_timeout_s + 5.0,
            max_hour_bytes=max(cfg.max_dump_bytes_per_hour, 0),
            max_total_bytes=max(cfg.max_dump_bytes_total, 0),
            name=cfg.name,
            write_bytes=self.write_bytes,
        )
        for path in self.writer.recovered:
            log.warning("closed a dump left open by a previous run: %s", path.name)
        try:
            # asyncio makes an AF_INET6 listener v6-only; "::" (all addresses) means both families here.
            tcp_host = None if cfg.host in ("::", "") else cfg.host
            for port in cfg.tcp_ports:
                server = await self._loop.create_server(
                    lambda: _TcpProbe(self), tcp_host, port, backlog=cfg.backlog, reuse_address=True
                )
                self.servers.append(server)
                self.ports["tcp"].append(server.sockets[0].getsockname()[1])
            for port in cfg.udp_ports:
                self._open_udp(port)
        except BaseException:
            await self._close_listeners()
            self.writer.close()
            raise
        self._housekeeper = asyncio.create_task(self._housekeeping())
        self._write_stats()

    def _open_udp(self, port: int) -> None:
        cfg = self.config
        info = socket.getaddrinfo(cfg.host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)[0]
        family, address = info[0], info[4]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(address)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cfg.udp_rcvbuf)  # absorb bursts
            except OSError:
                pass
            if _LINUX:
                sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
                sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        except BaseException:
            sock.close()
            raise
        self.udp_socks.append(sock)
        self.ports["udp"].append(sock.getsockname()[1])
        assert self._loop is not None
        self._loop.add_reader(sock.fileno(), self._udp_ready, sock)

    async def _close_listeners(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        for sock in self.udp_socks:
            if self._loop is not None and sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
            sock.close()

    async def stop(self, grace_s: float = 0.5) -> dict[str, Any]:
        """Stop listening, let live connections finish for `grace_s`, close the rest, close the dumps."""
        if self._stopping or self.writer is None:  # already stopped, or never started
            return self.snapshot()
        self._stopping = True
        await self._close_listeners()
        deadline = time.monotonic() + grace_s
        while self.live and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for probe in list(self.live):
            self.stats["cut_shutdown"] += 1
            probe.finish("shutdown")
        for probe, why in list(self.unread.items()):
            probe.finish(why)
        if self._housekeeper is not None:
            self._housekeeper.cancel()
            try:
                await self._housekeeper
            except asyncio.CancelledError:
                pass
        assert self.writer is not None
        self.write_drop_summaries(every=True)
        closed = self.writer.close()
        snapshot = self._write_stats(stopped=True)
        log.info("sensor %s stopped: %s; closed %s", self.config.name, self._stats_line(), [p.name for p in closed])
        return snapshot

    async def _housekeeping(self) -> None:
        """Flush lines, close finished hours, write stats; errors are logged, never fatal."""
        cfg = self.config
        next_stats = time.monotonic() + cfg.stats_interval_s
        while True:
            await asyncio.sleep(min(cfg.flush_interval_s, 1.0))
            try:
                assert self.writer is not None
                self.flush()
                for path in self.writer.roll():
                    log.info("closed %s", path.name)
                self._sync_counts()
                if time.monotonic() >= next_stats:
                    next_stats = time.monotonic() + cfg.stats_interval_s
                    self.limiter.prune()
                    self.writer.refresh()
                    self._write_stats()
                    log.info("stats %s", self._stats_line())
            except Exception:  # a full disk must not kill the listener: log and keep trying
                self.stats["errors"] += 1
                log.exception("sensor housekeeping failed")

    # --- records ---------------------------------------------------------------------------

    def record(
        self,
        ts: datetime,
        event: str,
        transport: str,
        src: tuple,
        dst: tuple,
        payload: bytes,
        total: int,
        duration_s: float,
        sent_data: bool | None,
        close_reason: str | None = None,
    ) -> None:
        """Queue one dump line in the shared sensor JSONL shape (fields: README.md); counted once it reaches the file."""
        if sent_data is None:
            self.stats["sent_data_unknown"] += 1
        line = {
            "ts": format_ts(ts),
            "event": event,
            "transport": transport,
            "src_ip": _plain_ip(src[0]),
            "src_port": src[1],
            "dst_ip": _plain_ip(dst[0]),
            "dst_port": dst[1],
            "sent_data": sent_data,
            "payload_hex": payload.hex(),
            "bytes": total,
            "duration_s": round(duration_s, 6),
            "close_reason": close_reason,
            "sensor": self.config.name,
        }
        try:
            assert self.writer is not None
            self.writer.write(line, ts)
        except Exception:  # not a disk error (the writer counts those): a bug, logged
            self.stats["errors"] += 1
            log.exception("could not queue a dump line")

    def drop(self, ts: datetime, src: tuple, dst: tuple, size: int) -> None:
        """Count a probe dropped over the per-source rate in its (source, second) summary."""
        source = _plain_ip(src[0])
        key = (source, int(ts.timestamp()), _plain_ip(dst[0]))
        summary = self._drops.get(key)
        if summary is None:
            if len(self._drops) >= MAX_DROP_SUMMARIES:
                self.stats["dropped_rate_unsummarized"] += 1
                return
            summary = self._drops[key] = _Drops(ts, ts, src[1])
        summary.last = ts
        summary.count += 1
        summary.bytes += size
        summary.ports[dst[1]] = summary.ports.get(dst[1], 0) + 1

    def write_drop_summaries(self, every: bool = False) -> int:
        """Write the summaries of seconds that are over (all of them with `every`); returns how many."""
        now = int(datetime.now(UTC).timestamp())
        done = [k for k in self._drops if every or k[1] < now]
        for key in sorted(done):
            d = self._drops.pop(key)
            line = {
                "ts": format_ts(d.first),
                "event": RATE_SUMMARY,
                "transport": "udp",
                "src_ip": key[0],
                "src_port": d.src_port,  # the first dropped datagram's
                "dst_ip": key[2],
                "dst_port": min(d.ports),
                "count": d.count,
                "ports": {str(p): n for p, n in sorted(d.ports.items())},
                "sent_data": d.bytes > 0,
                "payload_hex": "",
                "bytes": d.bytes,
                "duration_s": round((d.last - d.first).total_seconds(), 6),
                "sensor": self.config.name,
            }
            try:
                assert self.writer is not None
                self.writer.write(line, d.first)
            except Exception:  # not a disk error (the writer counts those): a bug, logged
                self.stats["errors"] += 1
                log.exception("could not queue a drop summary")
        return len(done)

    def flush(self, every_summary: bool = False) -> None:
        """Write the queued dump lines now and bring the counters up to date (housekeeping does it every tick).

        Drop summaries of seconds that are over are queued first; `every_summary` queues the current second's too.
        """
        if self.writer is not None:
            self.write_drop_summaries(every=every_summary)
            self.writer.flush()
            self._sync_counts()

    def _sync_counts(self) -> None:
        """Copy the writer's counters (what reached the file, what was cut or lost) into `stats`."""
        w = self.writer
        if w is None:
            return
        st = self.stats
        st["records"], st["tcp"], st["udp"] = w.records, w.counts["tcp"], w.counts["udp"]
        st["rate_summaries"] = w.counts["rate_summary"]
        st["dump_cut_hour_cap"], st["dump_cut_total_cap"] = w.cut["hour_cap"], w.cut["total_cap"]
        st["dump_cut_bytes"], st["dump_lost_write_error"] = w.cut["bytes"], w.lost
        st["dump_write_errors"] = w.write_errors

    def _udp_ready(self, sock: socket.socket) -> None:
        """Drain up to UDP_BATCH datagrams: rate-limit per source, record the rest."""
        cfg = self.config
        local = sock.getsockname()
        for _ in range(UDP_BATCH):
            try:
                data, ancdata, _flags, addr = sock.recvmsg(65535, 256)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP errors surfacing on the socket: not fatal
                if exc.errno not in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
                    self.stats["errors"] += 1
                continue
            dst_ip = local[0]
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(value) >= 4:
                    # The kernel's running count of datagrams this socket dropped (buffer full).
                    self._kernel_drops[sock.fileno()] = struct.unpack("=I", value[:4])[0]
                elif level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(value) >= 12:
                    dst_ip = socket.inet_ntop(socket.AF_INET, value[8:12])  # in_pktinfo.ipi_addr
                elif level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO and len(value) >= 16:
                    dst_ip = socket.inet_ntop(socket.AF_INET6, value[:16])  # in6_pktinfo.ipi6_addr
            if not self.limiter.allow(_plain_ip(addr[0])):
                self.stats["dropped_rate_udp"] += 1
                self.drop(datetime.now(UTC), addr, (dst_ip, local[1]), len(data))
                continue
            now = datetime.now(UTC)
            self.record(
                now, "datagram", "udp", addr, (dst_ip, local[1]), data[: cfg.max_bytes], len(data), 0.0, bool(data)
            )

    # --- stats -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Counters plus what is open right now (for sensor-stats.json and --json output)."""
        self.stats["dropped_udp_kernel"] = sum(self._kernel_drops.values())
        self._sync_counts()
        return {
            "sensor": self.config.name,
            "started_at": self._started_at.isoformat(),
            "updated_at": datetime.now(UTC).isoformat(),
            "ports": self.ports,
            **self.stats,
            "active_connections": len(self.live),
            "unread_waiting": len(self.unread),
            "tracked_sources": len(self.limiter.buckets),
            "rate_table_resets": self.limiter.resets,
            "files_closed": len(self.writer.files_closed) if self.writer else 0,
            "open_files": [p.name for p in self.writer.open_parts] if self.writer else [],
        }

    def _write_stats(self, stopped: bool = False) -> dict[str, Any]:
        snap = self.snapshot()
        if stopped:
            snap["stopped_at"] = snap["updated_at"]
        stats = SensorDumps(Path(self.config.out)).stats
        try:
            write_json_atomic(stats, snap)
        except OSError as exc:
            self.stats["errors"] += 1
            if not self._stats_failing:
                log.error("could not write %s (%s); logged once until it works again", stats.name, exc)
            self._stats_failing = True
        else:
            self._stats_failing = False
        return snap

    def _stats_line(self) -> str:
        snap = self.snapshot()
        keys = [k for k in self.stats if snap.get(k)] + ["active_connections"]
        return " ".join(f"{k}={snap[k]}" for k in keys)


class _TcpProbe(asyncio.Protocol):
    """One TCP connection: give it a read slot or not, read what it sends (bounded), record it when it ends."""

    __slots__ = (
        "sensor", "transport", "ts", "started", "last", "src", "dst", "source", "kept", "total", "timer", "done"
    )  # fmt: skip

    def __init__(self, sensor: Sensor) -> None:
        self.sensor = sensor
        self.transport: asyncio.Transport | None = None
        self.done = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sensor, cfg = self.sensor, self.sensor.config
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.src = transport.get_extra_info("peername") or ("", 0)
        self.dst = transport.get_extra_info("sockname") or ("", 0)
        self.ts = datetime.now(UTC)
        self.started = self.last = time.monotonic()
        self.kept = bytearray()
        self.total = 0
        source = self.source = _plain_ip(self.src[0])
        # Every accepted connection is a probe and is recorded; the limits only decide whether it is read.
        admission = sensor.live.admit(source) if sensor.limiter.allow(source) else None
        verdict = RATE if admission is None else admission.verdict
        if verdict not in (READ, EVICT):
            sensor.stats[UNREAD[verdict]] += 1
            self._wait_unread(verdict)
            return
        if admission is not None and admission.victim is not None:
            sensor.stats["evicted_fair_share"] += 1
            admission.victim.finish(EVICT)
        sensor.live.add(source, self)
        banner = cfg.banners.get(self.dst[1])
        if banner:
            transport.write(banner)
        first_check = min(cfg.read_timeout_s, cfg.max_duration_s)
        self.timer = asyncio.get_running_loop().call_later(first_check, self._check_time)
        if sensor._stopping:  # accepted just as the sensor stops: record it, do not wait for data
            sensor.stats["cut_shutdown"] += 1
            self.finish("shutdown")

    def _wait_unread(self, why: str) -> None:
        """Hold a connection closed unread for `unread_wait_s` without reading it, then record what it had sent."""
        sensor, cfg = self.sensor, self.sensor.config
        if cfg.unread_wait_s <= 0 or sensor._stopping or self.transport is None:
            self.finish(why)
            return
        self.transport.pause_reading()  # the kernel keeps what comes; no read slot, no CPU
        sensor.unread[self] = why
        self.timer = asyncio.get_running_loop().call_later(cfg.unread_wait_s, self.finish, why)
        if len(sensor.unread) > max(cfg.max_unread_waiting, 0):
            oldest, its_why = next(iter(sensor.unread.items()))
            oldest.finish(its_why)

    def _check_time(self) -> None:
        """One timer per connection: close it when silent too long or alive too long."""
        if self.done:
            return
        cfg = self.sensor.config
        now = time.monotonic()
        if now - self.started >= cfg.max_duration_s:
            self.sensor.stats["cut_duration"] += 1
            self.finish("max_duration")
        elif now - self.last >= cfg.read_timeout_s:
            self.sensor.stats["cut_timeout"] += 1
            self.finish("read_timeout")
        else:
            wait = min(self.last + cfg.read_timeout_s, self.started + cfg.max_duration_s) - now
            self.timer = asyncio.get_running_loop().call_later(max(wait, 0.001), self._check_time)

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        self.last = time.monotonic()
        self._keep(data, len(data))
        if self.total >= self.sensor.config.max_read_bytes:  # a firehose: stop reading, keep what we have
            self.sensor.stats["cut_read_limit"] += 1
            self.finish("read_limit")

    def _keep(self, data: bytes, count: int) -> None:
        """Count `count` bytes received and keep the first ones of `data` up to the payload bound."""
        self.total += count
        room = self.sensor.config.max_bytes - len(self.kept)
        if room > 0:
            self.kept += data[:room]

    def eof_received(self) -> bool:
        self.finish(self._ended_by_peer())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish(self._ended_by_peer())

    def _ended_by_peer(self) -> str:
        """PEER, unless the connection was waiting unread: then it still ends unread, for the same reason."""
        return self.sensor.unread.get(self, PEER)

    def finish(self, reason: str) -> None:
        """Record the connection once and close it (idempotent: EOF, reset, timer, limit, eviction or stop).

        Closed by the sensor, it first takes what the kernel already holds for it; `sent_data` is then
        true if any byte came, false if the sensor heard the connection out and none did, else null.
        """
        if self.done:
            return
        self.done = True
        sensor = self.sensor
        sensor.live.remove(self.source, self)
        sensor.unread.pop(self, None)
        if self.timer is not None:
            self.timer.cancel()
        closed_empty = False
        transport = self.transport
        if reason not in (PEER, "read_limit") and transport is not None and not transport.is_closing():
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.fileno() >= 0:
                got = take_buffered(sock.fileno(), max(sensor.config.max_bytes - len(self.kept), 0))
                self._keep(got.kept, got.count)
                closed_empty = got.closed_empty
        if self.total:
            sent_data: bool | None = True
        elif closed_empty or reason in HEARD_OUT:
            sent_data = False
        else:
            sent_data = None
        duration = time.monotonic() - self.started
        sensor.record(
            self.ts, "connect", "tcp", self.src, self.dst, bytes(self.kept), self.total, duration, sent_data, reason
        )
        if transport is not None:
            if reason in UNREAD:
                transport.abort()  # closed at accept: a reset, no lingering state for a shed connection
            else:
                transport.close()


async def run_sensor(
    config: SensorConfig,
    duration: float | None = None,
    ready: Path | None = None,
) -> dict[str, Any]:
    """Run until SIGTERM/SIGINT (or `duration` seconds), then flush and close the dumps; return the stats."""
    sensor = Sensor(config)
    await sensor.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread: caller stops us
            pass
    log.info(
        "sensor %s listening on %s: tcp %s udp %s", config.name, config.host, sensor.ports["tcp"], sensor.ports["udp"]
    )
    if ready is not None:
        write_json_atomic(Path(ready), sensor.ports)
    try:
        await asyncio.wait_for(stop.wait(), timeout=duration)
    except TimeoutError:
        pass
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        snapshot = await sensor.stop()
    return snapshot
