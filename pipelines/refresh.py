"""What running a day again changes in the days after it, brought up to date by one function for the CLI and the DAG.

A day run after later days (a backfill, or a rerun of an earlier day) changes what those days read:
- `scan_slow_span` of the next `slow.lookback_days - 1` days reads the day: every step of those
  days runs again (their findings, risk, tags and marts follow);
- `scanner_orgs` of the next `orgs.window_days - 1` days clusters a window holding the day: it
  runs again; the days after those keep their clusters, renumbered after the day before's ids;
- `source_history_state` of every later day folds the day's state: it is folded again.
The days are taken in order, each after the one before it, so the lake ends as if the days had run
in order (tests/test_history_source.py, tests/test_backfill_paths.py). Publish then checks those days again and
writes their marts, exports and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from pipelines import steps
from pipelines import warehouse as wh
from pipelines.history import STATE_TABLE
from pipelines.orgs import window
from pipelines.settings import Settings


def later_days(day: date, settings: Settings) -> list[date]:
    """Days after `day` whose steps have run (they have a `source_risk` partition), in order."""
    return [d for d in wh.lake_days(settings.warehouse, "source_risk") if d > day]


def refresh_later_days(
    day: date, settings: Settings, analyze: Callable[[date, Settings], object] | None = None
) -> list[date]:
    """Bring every later analyzed day up to date after `day`'s steps ran again; returns those days.

    `analyze(day, settings)` runs every step of a day (the CLI's `stage_analyze`, without its own
    refresh); by default each step on a connection of its own, as the DAG's tasks run.
    """
    analyze = analyze or run_every_step
    span_reach = day + timedelta(days=max(1, settings.slow.lookback_days))
    orgs_reach = day + timedelta(days=max(1, settings.orgs.window_days))
    done = []
    for other in later_days(day, settings):
        if other < span_reach:
            analyze(other, settings)
        else:
            if other < orgs_reach:
                steps.run_step(steps.step(window.TABLE), other, settings)
            else:
                renumber_orgs(other, settings)
            steps.run_step(steps.step(STATE_TABLE), other, settings)
        done.append(other)
    return done


def run_every_step(day: date, settings: Settings) -> None:
    """Run every table step of `day`, each (and each shard) on a connection of its own."""
    shards = settings.scale.shards
    for step in steps.table_steps(shards):
        for shard in range(shards if step.sharded else 1):
            steps.run_step(step, day, settings, shard=shard)


def renumber_orgs(day: date, settings: Settings) -> None:
    """Keep `day`'s clusters, numbered again after the day before's (whose ids a refresh may have changed)."""
    import pyarrow.parquet as pq

    files = wh.lake_files(settings.warehouse, window.TABLE, day)
    if files:
        rows = window.stable_ids(pq.read_table(files), window.previous(settings.warehouse, day))
        wh.write_day_partition(settings.warehouse, window.TABLE, day, rows)
