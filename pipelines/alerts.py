"""The failure callback of both DAGs: one log line naming the DAG, the day, the step and the error.

It runs in the worker after a task's last try (and in the dag-processor when a run fails), so it
shows in the task's log and in the processes' logs; a paging hook would go here.
"""

from __future__ import annotations

import logging

log = logging.getLogger("scansense.alerts")


def failure_message(context) -> str:
    """`scansense_daily failed: day 2025-11-26, step publish (try 3 of 3): RuntimeError: ...`."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None) or "scansense"
    run = context.get("dag_run")
    logical = getattr(run, "logical_date", None)  # a run's callback (dag-processor) may have no `ds`
    day = context.get("ds") or (logical.date().isoformat() if logical else "?")
    step = getattr(ti, "task_id", None) or "the run"
    if getattr(ti, "map_index", -1) not in (-1, None):
        step += f"[{ti.map_index}]"
    tries = ""
    if ti is not None and getattr(ti, "try_number", None):
        tries = f" (try {ti.try_number} of {getattr(ti, 'max_tries', 0) + 1})"
    error = context.get("exception") or context.get("reason")
    detail = f": {type(error).__name__}: {error}" if isinstance(error, BaseException) else f": {error}" if error else ""
    return f"{dag_id} failed: day {day}, step {step}{tries}{detail}"


def on_failure(context) -> None:
    """Log the failure of a task or a run at ERROR, naming the day and the step."""
    log.error("%s", failure_message(context))
