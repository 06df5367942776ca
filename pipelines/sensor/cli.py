"""`scansense sensor`: listen on TCP/UDP ports and record every probe."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from pipelines.cli import Commands, emit, settings_from


def _ports(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(",") if p.strip())


def register(commands: Commands) -> None:
    """Add `sensor` to the `scansense` command."""
    p = commands.top.add_parser("sensor", help="run the TCP/UDP listener that records every probe")
    p.add_argument("--out", type=Path, help="dump folder (default: settings sensor.out)")
    p.add_argument("--tcp", type=_ports, help="TCP ports, comma-separated (default: settings)")
    p.add_argument("--udp", type=_ports, help="UDP ports, comma-separated (default: settings)")
    p.add_argument("--host", help="address to bind (default: settings, 0.0.0.0)")
    p.add_argument("--name", help="sensor name recorded in every line")
    p.add_argument(
        "--banner", action="append", default=[], metavar="PORT=TEXT", help="send TEXT after the handshake on PORT"
    )
    p.add_argument("--max-connections", type=int)
    p.add_argument("--max-bytes", type=int)
    p.add_argument("--rate", type=float, help="connections per second per source before dropping")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: until SIGTERM)")
    p.add_argument(
        "--ready-file", type=Path, help="write the bound ports here once listening (for supervisors and tests)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_sensor)


def _sensor(args: argparse.Namespace) -> int:
    from pipelines.sensor import SensorConfig, run_sensor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    s = settings_from(args).sensor
    banners = {}
    for item in args.banner:
        port, _, text = item.partition("=")
        banners[int(port)] = text.encode().decode("unicode_escape").encode("latin-1")
    config = SensorConfig(
        out=args.out or Path(s.out),
        tcp_ports=args.tcp if args.tcp is not None else s.tcp_ports,
        udp_ports=args.udp if args.udp is not None else s.udp_ports,
        host=args.host or s.host,
        name=args.name or settings_from(args).site.sensor_name,
        max_connections=args.max_connections or s.max_connections,
        max_bytes=args.max_bytes or s.max_bytes,
        read_timeout_s=s.read_timeout_s,
        per_source_rate=args.rate or s.per_source_rate,
        banners=banners,
    )
    stats = asyncio.run(run_sensor(config, duration=args.duration, ready=args.ready_file))
    emit(stats, args.json, f"sensor stopped: {stats}")
    return 0
