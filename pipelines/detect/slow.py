"""Slow scans by the persistent incremental model of paper 002 (section 2.2, DESIGN 5.3).

For each combination (horizontal: src_ip + dst_port; vertical: src_ip + dst_ip) seen in more than
`min_windows` 2-minute windows, the incremental filter runs over its N windows:
    pre = dip_0; for i >= 1: u = pre | dip_i; pre = dip_i if |u| == |pre| else u; len_i = |pre|
A growth period is a maximal run of windows where len strictly increases; periods shorter than
`min_period` windows are dropped. A period is a scan when the normalized conditional entropy of its
targets, H(targets of its records) / log(record count), reaches the threshold.

The filter is sequential per combination; it is run without sets, vectorized across combinations.
Within a period starting at window s, `pre` is the union of dip_s..dip_{i-1}, so window i adds
nothing new (|u| == |pre|, a restart) exactly when every target of dip_i already occurred at or
after s. With prev(t, i) the combination's last window before i holding target t (-1 if none) and
m_i = min over t in dip_i of prev(t, i), the filter reduces to one integer per combination:
    s = 0; for i >= 1: if m_i >= s: s = i (restart)
DuckDB computes prev with a window function (`sql/detect/slow_triples.sql`) and m_i by grouping;
numpy steps i over all combinations at once (one iteration per window position, at most a day's
windows); DuckDB computes each period's entropy (`sql/detect/scan_slow.sql`). `growth_periods` and `cond_entropy`
are the literal set-based statement of the model, kept as the reference the tests compare against.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, timedelta

import duckdb
import numpy as np
import pyarrow as pa

from pipelines import catalog, duck
from pipelines.detect import ensure_probes, install_probe_rules
from pipelines.settings import Settings, Slow
from pipelines.sqlfiles import read_sql


def growth_periods(window_sets: list[set]) -> list[tuple[int, int]]:
    """(first, last) indexes of the growth periods of the incremental filter over a combination's windows."""
    if not window_sets:
        return []
    pre = set(window_sets[0])
    lengths = [len(pre)]
    for dip in window_sets[1:]:
        union = pre | dip
        pre = set(dip) if len(union) == len(pre) else union
        lengths.append(len(pre))
    periods, start = [], 0
    for i in range(1, len(lengths) + 1):
        if i == len(lengths) or lengths[i] <= lengths[i - 1]:
            periods.append((start, i - 1))
            start = i
    return periods


def cond_entropy(targets: list) -> float:
    """Normalized conditional entropy: entropy of the target distribution over log(record count)."""
    n = len(targets)
    if n <= 1:
        return 0.0
    h = -sum(c / n * math.log(c / n) for c in Counter(targets).values())
    return h / math.log(n)


def restarts(combo: np.ndarray, pos: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Whether each (combination, window position) starts a new growth period of the incremental filter.

    Rows must be sorted by (pos, combo); `m` is the minimum over the window's targets of the
    previous position holding the target (-1 when one is new). Vectorized across combinations:
    one numpy step per window position.
    """
    n = len(pos)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    start = np.zeros(int(combo.max()) + 1, dtype=np.int64)  # current period's first position per combination
    bounds = np.searchsorted(pos, np.arange(int(pos.max()) + 2), side="left")
    out[bounds[0] : bounds[1]] = True  # position 0 always starts a period
    for i in range(1, int(pos.max()) + 1):
        lo, hi = bounds[i], bounds[i + 1]
        c = combo[lo:hi]
        restart = m[lo:hi] >= start[c]
        start[c[restart]] = i
        out[lo:hi] = restart
    return out


def window_positions(combo: np.ndarray, w: np.ndarray, prev_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn window numbers into positions among each combination's windows.

    Rows are (combination, window) sorted by both, `prev_w` the earliest previous window of the
    window's targets (-1 when one is new). Returns (pos, m): the window's position and the position
    of prev_w (-1 stays -1).
    """
    n = len(combo)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    first = np.flatnonzero(np.r_[True, combo[1:] != combo[:-1]])  # first row of each combination
    first_of_row = np.repeat(first, np.diff(np.r_[first, n]))
    pos = np.arange(n, dtype=np.int64) - first_of_row
    span = int(w.max() - w.min()) + 2
    key = combo.astype(np.int64) * span + (w - w.min())
    found = np.searchsorted(key, combo.astype(np.int64) * span + (np.maximum(prev_w, w.min()) - w.min()))
    m = np.where(prev_w < 0, -1, found - first_of_row)
    return pos, m


def kept_periods(combo: np.ndarray, pos: np.ndarray, m: np.ndarray, min_period: int) -> tuple[np.ndarray, np.ndarray]:
    """Growth period number of each (combination, position) row and whether its period is kept.

    Rows sorted by (combination, position); a period is kept when it spans at least `min_period` windows.
    """
    if len(pos) == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
    order = np.lexsort((combo, pos))  # by position, then combination: what `restarts` steps over
    starts = np.empty(len(pos), dtype=bool)
    starts[order] = restarts(combo[order], pos[order], m[order])
    period = np.cumsum(starts) - 1  # each combination opens with a restart, so periods never straddle two
    keep = np.bincount(period)[period] >= min_period
    return keep, period.astype(np.int64)


# The stored day rows (`slow_span_day`) as the probe definition's inputs: the probe rows stand for the
# contacts that tried a target (opened, candidates, of no known outcome: only host rows say which
# services are used), the host rows for `host_outcomes`; sql/detect/used_services.sql, service_marks.sql
# and probes.sql then run over them unchanged (`install_probe_rules`).
_DAY_ROWS_AS_INPUTS = (
    """CREATE OR REPLACE TEMP VIEW contacts AS
       SELECT src_ip, dst_ip, proto, dst_port, w, n, true AS opened, NULL::BOOLEAN AS answered,
              'unknown' AS contact_outcome, NULL::VARCHAR AS outcome_from, true AS probe_record, false AS to_group
       FROM _day_rows WHERE row_kind = 'probe'""",
    """CREATE OR REPLACE TEMP VIEW host_outcomes AS
       SELECT src_ip, proto, dst_port, dst_ip, ok FROM _day_rows WHERE row_kind = 'host'""",
)


def slow_span_day(con: duckdb.DuckDBPyConnection, day: date, params: Slow) -> duckdb.DuckDBPyRelation:
    """What the day's events contribute to the slow models: probe candidates per window, hosts' outcomes.

    Judged once per day (sql/detect/slow_span_day.sql) and stored, so the span model combines the
    lookback's stored days instead of judging their events again (issue 27). A relation, which the step
    streams to the lake: as an Arrow table the 50 M-event day's 48 M rows took the step to 5.7 GB.
    """
    ensure_probes(con)
    # DuckDB runs a relation given parameters at once and holds its result: the one parameter, an
    # integer setting, is written into the query instead.
    sql = read_sql("detect/slow_span_day").replace("$window_s", str(int(params.window_s)))
    return con.sql(f"SELECT DATE '{day.isoformat()}' AS event_date, * FROM ({sql})")


def _judge(con: duckdb.DuckDBPyConnection, params: Slow, sql: str, extra: dict) -> pa.Table:
    """Run the model over the day rows in `con`'s `_day_rows` and judge its periods with the SQL file `sql`."""
    for statement in _DAY_ROWS_AS_INPUTS:
        con.execute(statement)
    install_probe_rules(con)
    return _judge_probes(con, params, sql, extra)


def _judge_probes(con: duckdb.DuckDBPyConnection, params: Slow, sql: str, extra: dict) -> pa.Table:
    """Run the model over `con`'s `probes` (src_ip, dst_ip, proto, dst_port, w, n) and judge its periods with `sql`."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _slow_triples AS {read_sql('detect/slow_triples')}",
        {"min_windows": params.min_windows},
    )
    try:
        steps = con.execute(
            """SELECT combo_id, w, min(coalesce(prev_w, -1)) AS prev_w FROM _slow_triples
               GROUP BY combo_id, w ORDER BY combo_id, w"""
        ).fetchnumpy()
        combo, w = steps["combo_id"], steps["w"]
        pos, m = window_positions(combo, w, steps["prev_w"])
        keep, period = kept_periods(combo, pos, m, params.min_period)
        periods = pa.table({"combo_id": combo[keep], "w": w[keep], "period_id": period[keep]})
        con.register("_slow_periods", periods)
        return con.execute(
            read_sql(sql),
            {
                "window_s": params.window_s,
                "threshold": params.threshold,
                "min_windows": params.min_windows,
                "min_period": params.min_period,
            }
            | extra,
        ).to_arrow_table()
    finally:
        con.execute("DROP TABLE IF EXISTS _slow_triples")
        con.unregister("_slow_periods")


def scan_slow(con: duckdb.DuckDBPyConnection, day: date, params: Slow) -> pa.Table:
    """Growth periods of every persistent combination of the day, judged by conditional entropy.

    The day's probes (`probes` of `con`: the stored `contacts_day`, or its events judged) counted per
    window go to a Parquet file in the spill folder, and the model runs on a connection of its own
    under `con`'s memory limit. (Through Python, the day's `slow_span_day` rows held 48 M rows of the
    50 M-event day: 8.9 GB of peak RSS, then DuckDB's out-of-memory error; docs/SCALING.md.)
    """
    import tempfile
    from pathlib import Path

    ensure_probes(con)
    limit, spill = con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    if spill:
        Path(spill).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="scan_slow-", dir=spill or None) as tmp:
        counted = str(Path(tmp) / "probes.parquet")
        con.execute(
            f"""COPY (
                   SELECT src_ip, dst_ip, proto, dst_port, floor(epoch(ts) / {int(params.window_s)})::BIGINT AS w,
                          count(*)::BIGINT AS n
                   FROM probes
                   WHERE src_ip IS NOT NULL AND dst_ip IS NOT NULL AND dst_port IS NOT NULL
                   GROUP BY ALL
               ) TO '{counted.replace("'", "''")}' (FORMAT parquet)"""
        )
        model = duckdb.connect(config={"memory_limit": limit, "temp_directory": spill})
        try:
            model.execute(
                f"CREATE VIEW probes AS SELECT * FROM read_parquet('{counted.replace(chr(39), chr(39) * 2)}')"
            )
            return _judge_probes(model, params, "detect/scan_slow", {})
        finally:
            model.close()


def lookback_days(day: date, params: Slow) -> list[date]:
    """The days whose events the span model reads for `day`: day - lookback_days + 1 .. day."""
    return [day - timedelta(days=k) for k in range(params.lookback_days - 1, -1, -1)]


def scan_slow_span(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> pa.Table:
    """Slow scans slower than a day: the model over the stored day rows of the lake's last `slow.lookback_days` days.

    The lake is the only input (each day's `slow_span_day` partition, computed from that day's events),
    never an earlier run's output of this table, so running days in any order gives the same rows once
    the lookback's days are ingested. Kept: the scans whose growth period ends on `day` and began on an
    earlier day (one-day scans are scan_slow's).
    """
    from pipelines.steps import stored_partition  # steps imports the builders; imported here, not at load

    params = settings.slow
    days = lookback_days(day, params)
    today = stored_partition(settings, "slow_span_day", day)
    before = [f for d in days[:-1] for f in stored_partition(settings, "slow_span_day", d)] if today else []
    span = duck.connect(settings)
    try:
        if today and before:
            # Only a source with probe candidates on `day` and on an earlier day can have a period that
            # ends on `day` and began before it; the used services and periods of a source depend only
            # on its own rows, so those of these sources come out as over every stored row.
            span.execute(
                """CREATE TABLE _day_rows AS
                   WITH spanning AS (
                       SELECT DISTINCT src_ip FROM read_parquet($today, union_by_name = true, hive_partitioning = false)
                       WHERE row_kind = 'probe'
                       INTERSECT
                       SELECT DISTINCT src_ip FROM read_parquet($before, union_by_name = true, hive_partitioning = false)
                       WHERE row_kind = 'probe'
                   )
                   SELECT * FROM read_parquet($files, union_by_name = true, hive_partitioning = false)
                   WHERE src_ip IN (SELECT src_ip FROM spanning)""",
                {"today": today, "before": before, "files": before + today},
            )
        else:
            empty = catalog.table("slow_span_day").schema.empty_table()  # noqa: F841  (scanned by DuckDB by name)
            span.execute("CREATE TABLE _day_rows AS SELECT * FROM empty")
        return judge_span(span, day, params)
    finally:
        span.close()


def judge_span(con: duckdb.DuckDBPyConnection, day: date, params: Slow) -> pa.Table:
    """The span model of `day` over the `slow_span_day` rows in `con`'s `_day_rows` (any days, any sources)."""
    return _judge(con, params, "detect/scan_slow_span", {"day": day, "lookback_days": params.lookback_days})
