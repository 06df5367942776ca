"""CLI commands of the daily job: `run`, `step`, `demo`, `query`."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from pipelines.cli import Commands, emit, settings_from


def register(commands: Commands) -> None:
    """Add run, step, demo and query to the `scansense` command."""
    run = commands.top.add_parser("run", help="run one day end to end")
    run.add_argument("--date", required=True, type=date.fromisoformat, help="day to process, YYYY-MM-DD")
    run.add_argument("--landing", type=Path, help="landing folder holding <date>/ (default: settings)")
    run.add_argument("--warehouse", type=Path, help="warehouse folder (default: settings)")
    run.add_argument("--orgs-dir", type=Path, help="reference scanner-organization lists (default: settings)")
    run.add_argument("--no-email", action="store_true", help="do not send the report email")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=_run)

    step = commands.top.add_parser("step", help="run one table step of a day, as one Airflow task does")
    step.add_argument("name", nargs="?", help="the step (a task id of scansense_daily); without it, list the steps")
    step.add_argument("--date", type=date.fromisoformat, help="day, YYYY-MM-DD (its events must be ingested)")
    step.add_argument("--shard", type=int, default=0, help="shard of a sharded step, 0..[scale] shards - 1")
    step.add_argument("--landing", type=Path, help="landing folder (default: settings)")
    step.add_argument("--warehouse", type=Path, help="warehouse folder (default: settings)")
    step.add_argument("--json", action="store_true")
    step.set_defaults(func=_step)

    demo = commands.top.add_parser("demo", help="generate demo data, run every demo day, print the report path")
    demo.add_argument("--out", type=Path, default=Path("demo"), help="where the demo landing data goes")
    demo.add_argument("--warehouse", type=Path, help="warehouse folder (default: settings, i.e. warehouse/)")
    demo.add_argument("--days", type=int, default=3)
    demo.add_argument("--start", type=date.fromisoformat, default=date(2025, 11, 26))
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--scale", type=float, default=1.0, help="background volume of each day (0.1: small days)")
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(func=_demo)

    query = commands.top.add_parser("query", help="run read-only SQL on the published warehouse")
    query.add_argument("sql")
    query.add_argument("--warehouse", type=Path, help="warehouse folder (default: settings)")
    query.add_argument("--json", action="store_true")
    query.set_defaults(func=_query)


def _run(args: argparse.Namespace) -> int:
    import duckdb

    from pipelines import progress
    from pipelines.run import RUN_STEPS, check_day, run_day, summary_text

    try:
        check_day(args.date)
    except ValueError as exc:
        emit({"date": args.date.isoformat(), "published": False, "error": str(exc)}, args.json, f"error: {exc}")
        return 2
    settings = settings_from(args)
    if args.orgs_dir:
        settings = settings.replace("orgs", dir=str(args.orgs_dir))
    bar, on_step = progress.step_bar(RUN_STEPS, args.json, desc=f"run {args.date}")
    try:
        with bar:
            result = run_day(args.date, settings, send_email=not args.no_email, on_step=on_step)
    # Disk full, read-only or unwritable folder: the machine, not us. A full disk at DuckDB's commit
    # or checkpoint is a TransactionException (its IOException wrapped), not an IOException.
    except (OSError, duckdb.IOException, duckdb.TransactionException) as exc:
        return _stopped(args, exc)
    except duckdb.FatalException as exc:  # DuckDB calls a checkpoint that hit a full disk fatal
        if "No space left on device" not in str(exc):
            raise
        return _stopped(args, exc)
    emit(result.to_dict(), args.json, summary_text(result))
    return 0 if result.published else 2


def _stopped(args: argparse.Namespace, exc: BaseException) -> int:
    """Say in one line that the machine stopped the run and nothing was published."""
    error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    text = f"error: run {args.date} stopped, nothing published (the previous warehouse is intact): {error}"
    emit({"date": args.date.isoformat(), "published": False, "error": error}, args.json, text)
    return 1


def _step(args: argparse.Namespace) -> int:
    from pipelines import steps

    settings = settings_from(args)
    plan = steps.table_steps(settings.scale.shards)
    if not args.name:
        rows = [{"step": s.name, "table": s.table, "after": list(s.after), "sharded": s.sharded} for s in plan]
        text = "\n".join(f"{s.name:28} after {', '.join(s.after)}{'  (per shard)' if s.sharded else ''}" for s in plan)
        emit(rows, args.json, text)
        return 0
    if args.date is None:
        emit({"error": "--date is required"}, args.json, "error: --date is required to run a step")
        return 2
    try:
        one = steps.step(args.name, settings.scale.shards)
        rows = steps.run_step(one, args.date, settings, shard=args.shard)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        error = str(exc).strip("'\"")
        emit({"step": args.name, "error": error}, args.json, f"error: {error}")
        return 2
    result = {"step": one.name, "table": one.table, "date": args.date.isoformat(), "shard": args.shard, "rows": rows}
    emit(result, args.json, f"{one.name} {args.date} shard {args.shard}: {rows} rows")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pipelines import progress
    from pipelines.generate import generate
    from pipelines.run import RUN_STEPS, run_day, summary_text

    started = time.perf_counter()
    settings = settings_from(args)
    out: Path = args.out
    with progress.bar(args.json, total=args.days, desc="generate", unit="day") as bar:
        generate(
            out,
            days=args.days,
            start=args.start,
            seed=args.seed,
            scale=args.scale,
            on_day=lambda _: bar.update(),
            timezone=settings.site.timezone,
        )
    settings = settings.replace("paths", landing=str(out / "landing")).replace("orgs", dir=str(out / "orgs"))
    results = []
    for i in range(args.days):
        day = args.start + timedelta(days=i)
        bar, on_step = progress.step_bar(RUN_STEPS, args.json, desc=f"day {i + 1}/{args.days} {day}")
        with bar:
            result = run_day(day, settings, send_email=False, on_step=on_step)
        print(summary_text(result), flush=True)
        results.append(result.to_dict())
    last = results[-1]["report"] if results else ""
    summary = {"days": results, "report": last, "seconds": round(time.perf_counter() - started, 1)}
    emit(summary, args.json, f"\nDemo done in {summary['seconds']} s. Report: {Path(last).resolve() if last else '-'}")
    return 0


def _query(args: argparse.Namespace) -> int:
    from pipelines.query import QueryError, format_table, run_query
    from pipelines.terminal import escape_controls

    try:
        settings = settings_from(args)
        result = run_query(settings.warehouse, args.sql, settings.query)
    except QueryError as exc:
        if args.json:
            emit({"error": str(exc), "refused": exc.refused}, True)
        else:
            print(f"scansense query: {escape_controls(str(exc))}", file=sys.stderr)
        return 1
    if args.json:
        emit(result.to_dict(), True)
    else:
        print(format_table(result))
    return 0
