"""`scansense sensor`: listen on TCP/UDP ports and record every probe."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import errno
import logging
import sys
from pathlib import Path

from pipelines.cli import Commands, emit, settings_from

MB = 1_000_000


def _ports(text: str) -> tuple[int, ...]:
    """Parse `22,23,8000-8010` (empty means none)."""
    ports: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        low, _, high = item.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a port or range: {item!r}") from None
        if not 0 <= first <= last <= 65535:
            raise argparse.ArgumentTypeError(f"port out of range: {item!r}")
        ports.extend(range(first, last + 1))
    return tuple(dict.fromkeys(ports))


def _banner(text: str) -> tuple[int, bytes]:
    """Parse `PORT=TEXT`; TEXT may use escapes such as \\r\\n or \\x00."""
    port, sep, body = text.partition("=")
    if not sep or not port.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected PORT=TEXT, got {text!r}")
    return int(port), codecs.escape_decode(body.encode("utf-8"))[0]


def register(commands: Commands) -> None:
    """Add `sensor` to the `scansense` command."""
    p = commands.top.add_parser(
        "sensor",
        help="run the TCP/UDP listener that records every probe",
        description="Listen on TCP/UDP ports and write one JSON line per connection or datagram into hourly "
        "dump files; SIGTERM/SIGINT flush and close them. Defaults come from the [sensor] settings.",
    )
    p.add_argument("--out", type=Path, help="dump folder (default: settings sensor.out)")
    p.add_argument("--tcp", type=_ports, help="TCP ports, e.g. 22,23,8000-8010 (default: settings)")
    p.add_argument("--udp", type=_ports, help="UDP ports (default: settings); '' for none")
    p.add_argument("--host", help="address to bind, 0.0.0.0 or :: for all (default: settings)")
    p.add_argument("--name", help="sensor name recorded in every line (default: settings site.sensor_name)")
    p.add_argument(
        "--banner",
        type=_banner,
        action="append",
        default=[],
        metavar="PORT=TEXT",
        help="send TEXT after the TCP handshake on PORT (otherwise nothing is ever sent)",
    )
    p.add_argument(
        "--max-connections", type=int, help="concurrent TCP connections read from; more are recorded and closed"
    )
    p.add_argument("--max-per-source", type=int, help="of those, per source address (0: no cap; default: settings)")
    p.add_argument(
        "--min-read", type=float, help="slots full, equal shares: seconds a connection is read before it yields (2)"
    )
    p.add_argument(
        "--unread-wait", type=float, help="seconds a connection closed unread is held for what it sends (0.25; 0: none)"
    )
    p.add_argument("--max-bytes", type=int, help="payload bound: bytes kept (hex) per connection or datagram")
    p.add_argument("--max-read-bytes", type=int, help="bytes read per connection before it is cut (16 MiB)")
    p.add_argument("--rate", type=float, help="probes per second per source before dropping (<=0: no limit)")
    p.add_argument("--max-dump-mb-per-hour", type=float, help="MB one hour's dump may hold (0: no cap)")
    p.add_argument("--max-dump-mb-total", type=float, help="MB the folder's dumps may hold together (0: no cap)")
    p.add_argument("--read-timeout", type=float, help="seconds a connection may stay silent (default: settings)")
    p.add_argument("--max-duration", type=float, help="seconds a connection may live (30)")
    p.add_argument("--flush-interval", type=float, default=1.0, help="seconds between flushes of the dump (1)")
    p.add_argument("--stats-interval", type=float, default=60.0, help="seconds between stats lines (60)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until SIGTERM)")
    p.add_argument("--ready-file", type=Path, help="write the bound ports here once listening (supervisors, tests)")
    p.add_argument("--json", action="store_true", help="print the final stats as JSON")
    p.set_defaults(func=_sensor)


def _pick(value, default):
    return default if value is None else value


def _sensor(args: argparse.Namespace) -> int:
    from pipelines.sensor import DumpFolderBusy, SensorConfig, run_sensor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    settings = settings_from(args)
    s = settings.sensor
    base = SensorConfig(out=Path("."))
    config = SensorConfig(
        out=_pick(args.out, Path(s.out)),
        tcp_ports=_pick(args.tcp, tuple(s.tcp_ports)),
        udp_ports=_pick(args.udp, tuple(s.udp_ports)),
        host=_pick(args.host, s.host),
        name=_pick(args.name, settings.site.sensor_name),
        max_connections=_pick(args.max_connections, s.max_connections),
        max_connections_per_source=_pick(args.max_per_source, s.max_connections_per_source),
        min_read_s=_pick(args.min_read, base.min_read_s),
        unread_wait_s=_pick(args.unread_wait, base.unread_wait_s),
        max_dump_bytes_per_hour=int(_pick(args.max_dump_mb_per_hour, s.max_dump_mb_per_hour) * MB),
        max_dump_bytes_total=int(_pick(args.max_dump_mb_total, s.max_dump_mb_total) * MB),
        max_bytes=_pick(args.max_bytes, s.max_bytes),
        max_read_bytes=_pick(args.max_read_bytes, base.max_read_bytes),
        read_timeout_s=_pick(args.read_timeout, s.read_timeout_s),
        max_duration_s=_pick(args.max_duration, base.max_duration_s),
        per_source_rate=_pick(args.rate, s.per_source_rate),
        banners=dict(args.banner),
        flush_interval_s=args.flush_interval,
        stats_interval_s=args.stats_interval,
    )
    if not config.tcp_ports and not config.udp_ports:
        print("scansense sensor: no TCP or UDP ports to listen on", file=sys.stderr)
        return 2
    if config.max_bytes < 0 or config.max_connections < 1 or config.max_read_bytes < 1:
        print("scansense sensor: --max-bytes >= 0, --max-connections and --max-read-bytes >= 1", file=sys.stderr)
        return 2
    for port in config.banners:
        if port not in config.tcp_ports:
            logging.warning("banner for port %s, which is not a TCP port of this sensor", port)
    try:
        stats = asyncio.run(run_sensor(config, duration=args.duration, ready=args.ready_file))
    except DumpFolderBusy as exc:
        print(f"scansense sensor: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        hint = ""
        if exc.errno == errno.EACCES:
            hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE; see deploy/scansense-sensor.service)"
        print(f"scansense sensor: cannot listen: {exc}{hint}", file=sys.stderr)
        return 2
    summary = (
        f"sensor {config.name} stopped: {stats['records']} records ({stats['tcp']} tcp, {stats['udp']} udp), "
        f"closed unread {stats['closed_max_connections']} over max connections, "
        f"{stats['closed_source_cap']} over the per-source cap, {stats['closed_rate_tcp']} over rate "
        f"({stats['sent_data_unknown']} records with sent_data unknown), "
        f"{stats['evicted_fair_share']} evicted for a fairer share; "
        f"dropped {stats['dropped_rate_udp']} udp over rate, {stats['dropped_udp_kernel']} udp in the kernel; "
        f"not written {stats['dump_cut_hour_cap'] + stats['dump_cut_total_cap']} over the dump caps, "
        f"{stats['dump_lost_write_error']} on write errors"
    )
    emit(stats, args.json, summary)
    return 0
