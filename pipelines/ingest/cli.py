"""`scansense ingest`: load files or folders into the lake."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli import Commands, emit, settings_from


def register(commands: Commands) -> None:
    """Add `ingest` to the `scansense` command."""
    p = commands.top.add_parser("ingest", help="ingest files or folders into the Parquet lake")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--warehouse", type=Path, help="warehouse folder (default: settings)")
    p.add_argument("--year", type=int, help="year for syslog lines, which carry none")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_ingest)


def _ingest(args: argparse.Namespace) -> int:
    from pipelines.ingest import ingest_paths

    summary = ingest_paths(args.paths, settings_from(args), year=args.year)
    result = summary.to_dict()
    text = (
        f"{summary.files} files, {summary.rows} events, {summary.quarantined} quarantined, {len(summary.errors)} errors"
    )
    emit({k: result[k] for k in ("files", "rows", "quarantined", "errors")}, args.json, text)
    return 0
