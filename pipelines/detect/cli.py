"""`scansense eval slow` and `scansense eval sources`."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pipelines.cli import Commands, emit, settings_from


def register(commands: Commands) -> None:
    """Add the detector evaluations."""
    slow = commands.eval.add_parser("slow", help="paper 002 Table 2 on labelled CIDDS-style flows")
    slow.add_argument("--flows", type=Path, required=True, help="labelled flow file (CIDDS columns)")
    slow.add_argument("--thresholds", default="0.65,0.70,0.75,0.80,0.85", help="comma-separated thresholds")
    slow.add_argument("--json", action="store_true")
    slow.set_defaults(func=_slow)
    src = commands.eval.add_parser("sources", help="source-level precision/recall per detector and scan kind")
    src.add_argument("--landing", type=Path, required=True, help="folder of <YYYY-MM-DD>/ input folders")
    src.add_argument(
        "--truth",
        required=True,
        help="truth.csv of the generator, or 'labels': the labels in the data (Zeek label of IoT-23/Stratosphere, "
        "CIC Label, CIDDS class); a source is malicious when any of its records is, benign when all are benign",
    )
    src.add_argument("--json", action="store_true")
    src.set_defaults(func=_sources)


def _slow(args: argparse.Namespace) -> int:
    from pipelines.detect.evaluate import eval_slow

    thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
    result = eval_slow(args.flows, settings_from(args), thresholds)
    lines = ["threshold  persistent: DR    paperFPR  FPR     | port ratio: DR    paperFPR  FPR"]
    for p, r in zip(result["persistent"], result["port_ratio"], strict=True):
        lines.append(
            f"{p['threshold']:.2f}       {p['detection_rate']:.4f}  {p['paper_fpr']:.4f}    {p['fpr']:.5f} | "
            f"{r['detection_rate']:.4f}  {r['paper_fpr']:.4f}    {r['fpr']:.5f}"
        )
    emit(result, args.json, "\n".join(lines))
    return 0


def _sources(args: argparse.Namespace) -> int:
    from pipelines.detect.evaluate import eval_sources

    truth = args.truth if args.truth == "labels" else Path(args.truth)
    if truth != "labels" and not truth.is_file():
        print(f"scansense eval sources: no truth file {args.truth} (give a truth.csv or 'labels')", file=sys.stderr)
        return 2
    if not Path(args.landing).is_dir():
        print(f"scansense eval sources: no landing folder {args.landing}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_from(args).replace("paths", warehouse=tmp)
        result = eval_sources(args.landing, truth, settings)
    lines = []
    if result["truth"] == "labels":
        kinds = result["kinds"]
        lines.append(
            f"truth: labels in the data: {result['scanners']} malicious sources ({kinds['scan']['sources']} labelled "
            f"scans), {result['sources'] - result['scanners']} benign, {result['unlabelled']} without a verdict (not scored)"
        )
    lines += [
        f"{k}: precision {v['precision']:.3f} recall {v['recall']:.3f} f1 {v['f1']:.3f}"
        for k, v in result["detectors"].items()
    ]
    lines.append(f"  combined = {' | '.join(result['combined_of'])}")
    lines += [
        f"  fast threshold, {k} mode: precision {v['precision']:.3f} recall {v['recall']:.3f}"
        for k, v in result["fast_modes"].items()
    ]
    t = result["trw"]
    steps = t["steps_to_scanner"]
    lines.append(
        f"  trw: judged {t['judged_sources']} sources ({t['judged_scanners']} scanners), {t['pending']} pending; "
        f"first contacts to call a scanner: median {_num(steps['median'])}, mean {_num(steps['mean'])} "
        f"over {steps['decided']}"
    )
    names = list(result["detectors"])
    lines.append("  kind (sources, judged by trw): recall / precision per detector, " + ", ".join(names))
    for kind, v in result["kinds"].items():
        cells = "  ".join(f"{_num(v[f'recall_{n}'])}/{_num(v[f'precision_{n}'])}" for n in names)
        lines.append(f"  {kind} ({v['sources']}, {v['trw_judged']}): {cells}")
    if result.get("false_alarms"):
        lines.append("  benign behaviour (sources): flagged by " + ", ".join(names))
        for kind, v in result["false_alarms"].items():
            lines.append(f"  {kind} ({v['sources']}): " + "  ".join(str(v[n]) for n in names))
    emit(result, args.json, "\n".join(lines))
    return 0


def _num(x: float | None) -> str:
    """A figure with three decimals, or '-' when it is undefined (no source to measure it on)."""
    return "-" if x is None else f"{x:.3f}"
