"""`scansense ingest` (files or folders into the lake) and `scansense bench ingest` (reader speed)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pipelines.cli import Commands, emit, settings_from


def register(commands: Commands) -> None:
    """Add `ingest` and `bench ingest` to the `scansense` command."""
    p = commands.top.add_parser("ingest", help="ingest files or folders into the Parquet lake")
    p.add_argument("paths", nargs="+", type=Path, help="input files or folders (searched recursively)")
    p.add_argument("--warehouse", type=Path, help="warehouse folder (default: settings)")
    p.add_argument("--year", type=int, help="year for syslog lines, which carry none")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    p.add_argument("--formats", action=_ListFormats, help="list the input formats ingest recognises, then exit")
    p.set_defaults(func=_ingest)
    b = commands.bench.add_parser("ingest", help="packets/s of ours vs scapy vs dpkt on one capture")
    b.add_argument("file", type=Path, nargs="?", help="capture (default: a generated SYN capture)")
    b.add_argument("--packets", type=int, default=1_000_000, help="size of the generated capture")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_bench)


class _ListFormats(argparse.Action):
    """`--formats`: print the registered input formats and exit (as --version does: no paths needed)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:  # noqa: A002
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        from pipelines.ingest.formats import DIRECTIONS, listing

        rows = listing()
        cols = ("name", "kind", "directions")
        width = {k: max(len(k), *(len(r[k]) for r in rows)) for k in cols}
        print("  ".join(f"{k:<{width[k]}}" for k in cols) + "  recognises")
        for r in rows:
            print("  ".join(f"{r[k]:<{width[k]}}" for k in cols) + f"  {r['recognises']}")
        print("\ndirections: what one record shows of the responder's answer (events.outcome)")
        for name, meaning in DIRECTIONS.items():
            print(f"  {name:<{width['directions']}}  {meaning}")
        parser.exit(0)


def _ingest(args: argparse.Namespace) -> int:
    from pipelines import progress
    from pipelines.ingest import ingest_paths

    with progress.bar(args.json, desc="ingest", unit=" records", unit_scale=True) as bar:

        def on_rows(path: Path, n: int) -> None:
            bar.set_postfix_str(path.name, refresh=False)
            bar.update(n)

        summary = ingest_paths(args.paths, settings_from(args), year=args.year, on_rows=on_rows)
    result = summary.to_dict()
    text = (
        f"{summary.files} files, {summary.rows} events, {summary.quarantined} quarantined, "
        f"{summary.duplicates} duplicates, {len(summary.errors)} errors, "
        f"{summary.skipped_files} hidden or partial files skipped (see ingest_files)"
    )
    emit({k: result[k] for k in ("files", "rows", "quarantined", "errors")}, args.json, text)
    # A path named on the command line that does not exist or is not a file or folder is the
    # caller's mistake: say so plainly and fail (files found in folders are only reported).
    for name in summary.missing:
        print(f"scansense ingest: no such file or folder: {name}", file=sys.stderr)
    for name in summary.refused_arguments:
        print(f"scansense ingest: not read (see ingest_files): {name}", file=sys.stderr)
    return 1 if summary.missing or summary.refused_arguments else 0


def _bench(args: argparse.Namespace) -> int:
    from pipelines.ingest.bench import bench_capture, write_syn_capture

    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or write_syn_capture(Path(tmp) / "syn.pcap", args.packets)
        result = bench_capture(path)
    text = (
        f"ours {result['ours_pps']:,} packets/s; scapy {result['scapy_pps']:,} ({result['scapy_sample']:,}-packet "
        f"sample); dpkt {result['dpkt_pps']:,} ({result['dpkt_sample']:,}-packet sample); "
        f"{result['ratio_vs_scapy']}x scapy, {result['ratio_vs_dpkt']}x dpkt"
    )
    emit(result, args.json, text)
    return 0
