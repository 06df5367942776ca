"""Time and peak memory of the quality step alone (`quality.run_checks`) on a built warehouse.

Opens `<warehouse>/scansense.duckdb` read-only, runs every catalog check on one day with Data Docs
written to a throw-away folder, and prints one JSON line: seconds, peak RSS of this process (MB,
before and after the step), the day's rows of each checked table, and the failed expectations.

    PYTHONPATH=. python bench/bench_quality.py /tmp/s10/warehouse [--date 2025-11-26] [--chunk-rows N]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from pipelines import quality
from pipelines.settings import load_settings


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--date", type=date.fromisoformat, help="day to check (default: the day with most events)")
    parser.add_argument("--chunk-rows", type=int, help="[quality] chunk_rows for this run")
    args = parser.parse_args(argv)
    settings = load_settings(env={"SCANSENSE_WAREHOUSE": str(args.warehouse)})
    if args.chunk_rows is not None:
        settings = settings.replace("quality", chunk_rows=args.chunk_rows)
    with duckdb.connect(str(args.warehouse / "scansense.duckdb"), read_only=True) as con:
        day = (
            args.date
            or con.execute(
                "SELECT event_date FROM events GROUP BY event_date ORDER BY count(*) DESC LIMIT 1"
            ).fetchone()[0]
        )
        rows = {
            t.name: con.execute(
                f'SELECT count(*) FROM "{t.name}" WHERE {t.checked_rows}', quality._day(t, day)
            ).fetchone()[0]
            for t in quality.checked_entries()
            if t.kind != "check"
        }
        before = _peak_mb()
        with tempfile.TemporaryDirectory() as docs:
            start = time.perf_counter()
            results = quality.run_checks(con, day, settings, docs_dir=Path(docs))
            seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "day": day.isoformat(),
                "chunk_rows": getattr(getattr(settings, "quality", None), "chunk_rows", None),
                "seconds": round(seconds, 1),
                "peak_rss_mb_before": round(before),
                "peak_rss_mb": round(_peak_mb()),
                "rows": rows,
                "expectations": len(results),
                "failed": [f"{r.table_name}: {r.expectation}" for r in results if not r.success],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
