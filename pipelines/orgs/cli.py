"""CLI of the organizations area: `scansense eval orgs` (paper 001's Table 2) and `scansense orgs` (match lists)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli import Commands, emit, settings_from


def register(commands: Commands) -> None:
    """Add `eval orgs` and `orgs` to the `scansense` command."""
    ev = commands.eval.add_parser("orgs", help="cluster sources into organizations and print paper 001's Table 2")
    ev.add_argument("--warehouse", type=Path, help="warehouse folder holding scansense.duckdb (default: settings)")
    ev.add_argument("--orgs-dir", type=Path, help="reference organization lists, the ground truth (default: settings)")
    ev.add_argument(
        "--k", type=int, default=None, help="clusters for K-means/spectral (default: settings orgs.k; 0 = silhouette)"
    )
    ev.add_argument(
        "--steps", type=int, default=None, help="smoothing steps t (default: settings orgs.smoothing_steps)"
    )
    ev.add_argument(
        "--population",
        choices=("labelled", "scanning", "all"),
        default="labelled",
        help="sources clustered: those the lists name (paper 001's protocol, default), every probing source, or all",
    )
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_eval)

    match = commands.top.add_parser("orgs", help="look addresses up in the reference organization lists")
    match.add_argument("ips", nargs="+", help="IPv4/IPv6 addresses")
    match.add_argument("--orgs-dir", type=Path, help="reference organization lists (default: settings orgs.dir)")
    match.add_argument("--json", action="store_true")
    match.set_defaults(func=_match)


def _eval(args: argparse.Namespace) -> int:
    from pipelines.orgs.evaluate import evaluate_warehouse, format_table

    settings = settings_from(args)
    orgs_dir = args.orgs_dir or settings.orgs.dir
    k = settings.orgs.k if args.k is None else args.k
    steps = settings.orgs.smoothing_steps if args.steps is None else args.steps
    try:
        result = evaluate_warehouse(
            settings.warehouse,
            orgs_dir,
            k=k,
            steps=steps,
            seed=args.seed,
            population=args.population,
            min_probes=settings.orgs.min_probes,
            min_probe_share=settings.orgs.min_probe_share,
        )
    except FileNotFoundError as exc:
        emit({"error": str(exc)}, args.json, str(exc))
        return 1
    s = result["summary"]
    head = (
        f"population {s['population']}: {s['sources']} of {s['events_sources']} sources clustered, "
        f"{s['scored']} scored ({s['orgs']} organizations on the lists)"
    )
    rows = [r | {"k": s["k"].get(f"{r['setting']}/{r['algorithm']}")} for r in result["results"]]
    emit(result, args.json, head + "\n" + format_table(rows))
    return 0


def _match(args: argparse.Namespace) -> int:
    from pipelines.orgs.reference import load_reference
    from pipelines.terminal import escape_lines

    settings = settings_from(args)
    ref = load_reference(args.orgs_dir or settings.orgs.dir)
    found = {r["ip"]: r for r in ref.match(args.ips).to_pylist()}
    rows = [{"ip": ip, "org": found.get(ip, {}).get("org"), "rdns": found.get(ip, {}).get("rdns")} for ip in args.ips]
    text = "\n".join(f"{r['ip']:<40} {r['org'] or '-':<24} {r['rdns'] or ''}" for r in rows)
    emit({"matches": rows}, args.json, escape_lines(text))
    return 0
