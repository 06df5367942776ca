"""`scansense generate`: labelled synthetic inputs."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from pipelines.cli import Commands, emit


def register(commands: Commands) -> None:
    """Add `generate` to the `scansense` command."""
    p = commands.top.add_parser("generate", help="write labelled synthetic traffic")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--start", type=date.fromisoformat, default=date(2025, 11, 26))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--profile", choices=("demo", "cidds"), default="demo")
    p.add_argument("--scale", type=float, default=1.0, help="demo profile: background volume (0.1: a small day)")
    p.add_argument("--flows", type=int, default=1_500_000, help="cidds profile: number of flows")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    if args.profile == "cidds":
        from pipelines.generate.cidds import generate_cidds

        result = generate_cidds(args.out, seed=args.seed, start=args.start, flows=args.flows)
    else:
        from pipelines import progress
        from pipelines.cli import settings_from
        from pipelines.generate import generate

        timezone = settings_from(args).site.timezone  # the scan from inside the site happens in its office hours
        with progress.bar(args.json, total=args.days, desc="generate", unit="day") as bar:
            result = generate(
                args.out,
                days=args.days,
                start=args.start,
                seed=args.seed,
                scale=args.scale,
                on_day=lambda _: bar.update(),
                timezone=timezone,
            )
    emit(result, args.json, f"wrote {result['records']} records in {result['files']} files to {result['out']}")
    return 0
