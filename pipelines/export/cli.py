"""CLI command `scansense export`: one day's malicious sources in one format, from the published warehouse."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from pipelines.cli import Commands, emit, settings_from


def register(commands: Commands) -> None:
    """Add `export` to the `scansense` command."""
    from pipelines.export import FORMATS

    export = commands.top.add_parser(
        "export", help="write a day's malicious sources as STIX, MISP, nft, ipset, CSV or JSON"
    )
    export.add_argument("--date", required=True, type=date.fromisoformat, help="day to export, YYYY-MM-DD")
    export.add_argument("--format", required=True, choices=list(FORMATS), help="export format")
    export.add_argument(
        "--out",
        help="new file to write, in a folder of yours (a link, folder, FIFO or device is refused); "
        "`-` or none: standard output, e.g. `| nft -f -`",
    )
    export.add_argument("--warehouse", type=Path, help="warehouse folder (default: settings)")
    export.add_argument(
        "--include-research", action="store_true", help="nft/ipset: keep known research scanners in the block list"
    )
    export.add_argument("--json", action="store_true", help="with --out: print a JSON summary as the last line")
    export.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from pipelines.export.out import OutRefused, claim_out

    try:  # the path is judged and claimed before any work: a refused --out leaves nothing behind
        out = claim_out(args.out or "-")
    except OutRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return _write(args, out)
    finally:
        if out is not None:
            out.close()


def _write(args: argparse.Namespace, out) -> int:
    """Render the day's export and write it to the claimed `out` (an `OutFile`), or stdout when None."""
    import duckdb

    from pipelines.export import day_rows, render
    from pipelines.layout import layout

    settings = settings_from(args)
    db = layout(settings).db
    if not db.is_file():
        print(f"error: no published warehouse at {db}: run a day first", file=sys.stderr)
        return 2
    con = duckdb.connect(str(db), read_only=True)
    try:
        if not _published_day(con, args.date):
            print(f"error: {args.date} is not a day of the published warehouse {db}", file=sys.stderr)
            return 2
        rows = day_rows(con, args.date, settings)
    finally:
        con.close()
    include = True if args.include_research else None
    text = render(args.format, rows, args.date, settings, include_research=include)
    if out is None:
        sys.stdout.write(text)
        return 0
    out.commit(text)
    summary = {"date": args.date.isoformat(), "format": args.format, "sources": len(rows), "out": args.out}
    emit(summary, args.json, f"{len(rows)} malicious sources of {args.date} written as {args.format} to {args.out}")
    return 0


def _published_day(con, day: date) -> bool:
    """True when `day` was run (a `runs` row) or scored (`source_risk` rows) in the warehouse."""
    from pipelines.tags import existing_tables

    sources = ["SELECT event_date AS d FROM source_risk"]
    if "runs" in existing_tables(con):
        sources.append("SELECT run_date FROM runs")
    query = f"SELECT count(*) FROM ({' UNION ALL '.join(sources)}) WHERE d = $day"
    return con.execute(query, {"day": day}).fetchone()[0] > 0
