"""`python -m pipelines.sensor ...`: the `scansense sensor` command without loading the other areas."""

from __future__ import annotations

import argparse
import sys

from pipelines.cli import Commands


def main(argv: list[str] | None = None) -> int:
    """Parse `scansense sensor` options and run the sensor (a lean entry point for services and tests)."""
    from pipelines.sensor.cli import register

    parser = argparse.ArgumentParser(prog="python -m pipelines.sensor")
    parser.add_argument("--config", help="settings file (default: $SCANSENSE_CONFIG or ./scansense.toml)")
    top = parser.add_subparsers(dest="command", required=True)
    register(Commands(top=top, eval=None, bench=None))
    args = parser.parse_args(["sensor", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
