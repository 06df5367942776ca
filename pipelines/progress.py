"""Progress for people at a terminal: a tqdm bar on stderr; nothing under --json or when stderr is
not a terminal (pipes, cron, Airflow logs), so machine output stays the summary alone."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


def shown(as_json: bool = False) -> bool:
    """Whether progress is drawn: a terminal on stderr and no --json."""
    return not as_json and sys.stderr.isatty()


def bar(as_json: bool = False, **options: Any) -> tqdm:
    """A tqdm bar on stderr that draws only when `shown(as_json)`; use it as a context manager."""
    return tqdm(file=sys.stderr, disable=not shown(as_json), dynamic_ncols=True, leave=False, **options)


def step_bar(steps: tuple[str, ...], as_json: bool = False, desc: str = "") -> tuple[tqdm, Any]:
    """A bar over named steps and the `on_step(name)` callback that advances it as each step starts."""
    progress = bar(as_json, total=len(steps), desc=desc, unit="step")
    seen: set[str] = set()

    def on_step(name: str) -> None:
        if name not in seen and seen:
            progress.update(1)
        seen.add(name)
        progress.set_postfix_str(name, refresh=True)

    return progress, on_step
