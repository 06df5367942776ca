"""`scansense bench ingest`: our capture reader beside scapy and dpkt."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from pipelines.cli import Commands, emit


def register(commands: Commands) -> None:
    """Add the ingest benchmark."""
    p = commands.bench.add_parser("ingest", help="packets/s of ours vs scapy vs dpkt on one capture")
    p.add_argument("file", type=Path, nargs="?", help="capture to read (default: a generated SYN capture)")
    p.add_argument("--packets", type=int, default=1_000_000, help="size of the generated capture")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    from pipelines.bench.ingest import bench_ingest, write_syn_capture

    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or write_syn_capture(Path(tmp) / "syn.pcap", args.packets)
        result = bench_ingest(path)
    emit(
        result,
        args.json,
        f"ours {result['ours_pps']:,} pkt/s, scapy {result['scapy_pps']:,}, dpkt {result['dpkt_pps']:,}",
    )
    return 0
