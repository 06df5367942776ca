"""The `scansense` command. Each area registers its own subcommands; `--json` prints one JSON
object as the last line of stdout."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Modules that expose `register(commands: Commands) -> None`. Imported lazily so that a broken or
# slow area never stops the others from working.
AREAS = [
    "pipelines.generate.cli",
    "pipelines.ingest.cli",
    "pipelines.geo.cli",
    "pipelines.detect.cli",
    "pipelines.orgs.cli",
    "pipelines.sensor.cli",
    "pipelines.run_cli",
    "pipelines.export.cli",
]

# The area that owns each top-level command: `scansense X` imports only X's area, so a command
# holds only what it uses (every area's package costs `scansense ingest` ~47 MB more resident
# memory, measured with /usr/bin/time -v). Help, `eval` and `bench` import every area.
COMMAND_AREA = {
    "generate": "pipelines.generate.cli",
    "ingest": "pipelines.ingest.cli",
    "geo": "pipelines.geo.cli",
    "orgs": "pipelines.orgs.cli",
    "sensor": "pipelines.sensor.cli",
    "run": "pipelines.run_cli",
    "step": "pipelines.run_cli",
    "demo": "pipelines.run_cli",
    "query": "pipelines.run_cli",
    "export": "pipelines.export.cli",
}


@dataclass
class Commands:
    """The subparser groups an area adds commands to: `scansense X`, `scansense eval X`, `scansense bench X`."""

    top: Any
    eval: Any
    bench: Any


def emit(result: Any, as_json: bool, text: str | None = None) -> None:
    """Print a human summary (or the object) and, with --json, the object as the last stdout line."""
    if as_json:
        if text:
            print(text)
        print(json.dumps(result, default=str, ensure_ascii=False))
    else:
        print(text if text is not None else json.dumps(result, default=str, indent=2, ensure_ascii=False))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Build the parser with the subcommands of the area owning `command`, or of every area."""
    parser = argparse.ArgumentParser(prog="scansense", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="settings file (default: $SCANSENSE_CONFIG or ./scansense.toml)")
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ev = top.add_parser("eval", help="evaluate detectors and clustering against labels").add_subparsers(
        dest="eval_command", required=True, metavar="WHAT"
    )
    bench = top.add_parser("bench", help="measure speed side by side").add_subparsers(
        dest="bench_command", required=True, metavar="WHAT"
    )
    commands = Commands(top=top, eval=ev, bench=bench)
    for name in [COMMAND_AREA[command]] if command in COMMAND_AREA else AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # area not built yet
            raise
        module.register(commands)
    return parser


# Allocations between two young-generation garbage collections in the `scansense` command (Python's
# default is 700). Importing Great Expectations, scikit-learn and Altair creates millions of
# long-lived objects, and at 700 a UFW day ran 1,171 young, 106 middle and 8 full collections, each
# full one walking all of them: about 0.6-1 s of CPU of a 9 s run (docs/BENCHMARKS.md). At 50,000
# the same run makes 31 young collections and no full one; cyclic garbage is still collected.
GC_YOUNG_THRESHOLD = 50_000


def console() -> int:
    """The `scansense` command (console script): fewer garbage collections, `main`, then a quick exit.

    At exit Python's last garbage collections walk every object the libraries a run loaded still
    hold (Great Expectations, numba, pandas, ...): 2.5-6 s of a small day's run on a loaded machine,
    0.1-0.4 s with the objects frozen first (docs/BENCHMARKS.md). atexit handlers, stream flushes
    and reference-counted destructors run as before. Not in `main`: tests call that in-process.
    """
    import gc

    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    code = main()
    gc.freeze()
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the command line (`console` is the installed script)."""
    # Arrow's default allocator (mimalloc) held ~50 MB more than the system one while a 2 GB
    # capture was ingested (max RSS 522 vs 471 MB), at the same speed. A user's own setting wins.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int | None] = args.func
    from pipelines.settings_check import SettingsError

    try:
        return int(func(args) or 0)
    except SettingsError as exc:  # a bad setting: one line, before any work, never a traceback
        return refuse_settings(exc, getattr(args, "json", False))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if type(exc).__name__ != "OutOfMemoryException":  # duckdb's; duckdb is not imported for every command
            raise
        return refuse_memory(exc, load_memory_limit())


def load_memory_limit() -> str:
    """The `[scale] memory_limit` in force, for the out-of-memory line ("DuckDB's default" when unset or unreadable)."""
    try:
        from pipelines.settings import load_settings

        return load_settings().scale.memory_limit or "DuckDB's default"
    except Exception:  # the settings were read once already; this line must not fail in their place
        return "DuckDB's default"


def refuse_memory(exc: Exception, memory_limit: str) -> int:
    """Print one line for a step that ran out of DuckDB memory (never a traceback) and return exit code 1.

    The steps finished before it keep their lake partitions and the published warehouse is the
    previous one, so the user raises the limit (or the shards) and runs the day again.
    """
    from pipelines.terminal import escape_controls

    first = escape_controls(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    print(
        f"error: DuckDB ran out of memory under [scale] memory_limit = {memory_limit} ({first}); "
        "the warehouse was not published: raise [scale] memory_limit (SCANSENSE_SCALE_MEMORY_LIMIT) "
        "or [scale] shards and run the day again",
        file=sys.stderr,
    )
    return 1


def refuse_settings(exc: Exception, as_json: bool) -> int:
    """Print a bad setting's one-line error (and, with --json, the error object) and return exit code 2."""
    from pipelines.terminal import escape_controls

    message = escape_controls(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    print(f"scansense: error: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": str(exc)}, ensure_ascii=False))
    return 2


def _command(argv: list[str]) -> str | None:
    """The top-level command named in `argv` (skipping `--config FILE`), if any."""
    rest = iter(argv)
    for arg in rest:
        if arg == "--config":
            next(rest, None)
        elif not arg.startswith("-"):
            return arg
    return None


def settings_from(args: argparse.Namespace):  # -> Settings (import kept lazy for start-up speed)
    """Settings for a command: the config file, then --warehouse / --landing when given."""
    from pipelines.settings import load_settings

    settings = load_settings(getattr(args, "config", None))
    paths = {k: str(getattr(args, k)) for k in ("warehouse", "landing") if getattr(args, k, None)}
    return settings.replace("paths", **paths) if paths else settings


if __name__ == "__main__":
    sys.exit(console())
