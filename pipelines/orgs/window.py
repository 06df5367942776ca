"""Organizations over a bounded window of days, with cluster ids that stay from one day to the next.

`scanner_orgs` used to cluster the sources of every day in the lake: each day of history added
0.11-0.13 s and most of the run's memory growth (issue 27). A day now clusters the scanning sources
of its last `orgs.window_days` days (`[orgs] window_days`), so its cost is bounded by the window.
Clustering numbers its clusters afresh every time; to let an analyst follow an organization
from day to day, a cluster keeps the id (and, when unnamed, the `unknown-N` name) of the previous
day's cluster it shares most sources with, and a cluster that shares none gets an id never used by
the previous day. The day's rows are stored as the lake partition `scanner_orgs/date=<day>/`; the
latest day's rows are the current organizations.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import warehouse as wh

if TYPE_CHECKING:
    import duckdb

    from pipelines.settings import Settings

TABLE = "scanner_orgs"
UNKNOWN = "unknown-"


def window(day: date, window_days: int) -> list[date]:
    """The days an organization run for `day` reads: `day` and the `window_days - 1` before it."""
    return [day - timedelta(days=k) for k in range(max(1, window_days) - 1, -1, -1)]


def previous(warehouse: Path, day: date) -> pa.Table | None:
    """The organizations of the latest day before `day` that has them, else None."""
    earlier = [d for d in wh.lake_days(warehouse, TABLE) if d < day]
    if not earlier:
        return None
    files = wh.lake_files(warehouse, TABLE, earlier[-1])
    return pq.read_table(files[0]) if files else None


def _unknown_number(name: str | None) -> int:
    if name and name.startswith(UNKNOWN) and name[len(UNKNOWN) :].isdigit():
        return int(name[len(UNKNOWN) :])
    return 0


def match_clusters(current: dict[int, set[str]], earlier: dict[int, set[str]]) -> dict[int, int]:
    """Map each current cluster to the earlier cluster it shares most sources with (each earlier one used once).

    Pairs are taken by decreasing overlap (ties: smaller ids first), so the largest continuations
    keep their ids; a current cluster sharing no source with an unused earlier one is left out.
    """
    pairs = sorted(
        ((len(members & old), new, prev) for new, members in current.items() for prev, old in earlier.items()),
        key=lambda p: (-p[0], p[1], p[2]),
    )
    mapped: dict[int, int] = {}
    used: set[int] = set()
    for shared, new, prev in pairs:
        if shared == 0:
            break
        if new not in mapped and prev not in used:
            mapped[new] = prev
            used.add(prev)
    return mapped


def stable_ids(rows: pa.Table, earlier: pa.Table | None) -> pa.Table:
    """Renumber the clusters of `rows` after those of `earlier` (see the module's docstring).

    DBSCAN noise (-1) and sources not clustered (null) are left as they are. With no earlier day the
    rows are returned unchanged.
    """
    if earlier is None or earlier.num_rows == 0 or rows.num_rows == 0:
        return rows
    ips, ids, orgs = (rows[c].to_pylist() for c in ("src_ip", "cluster_id", "org"))
    current = _members(ips, ids)
    old_ids, old_orgs = earlier["cluster_id"].to_pylist(), earlier["org"].to_pylist()
    before = _members(earlier["src_ip"].to_pylist(), old_ids)
    old_name = {c: o for c, o in zip(old_ids, old_orgs, strict=True) if c is not None}
    mapped = match_clusters(current, before)
    next_id = max([c for c in old_ids if c is not None] + [-1]) + 1
    next_unknown = max([_unknown_number(o) for o in old_orgs] + [0]) + 1
    new_id: dict[int, int] = {}
    new_name: dict[int, str] = {}
    name_of = {c: o for c, o in zip(ids, orgs, strict=True) if c is not None}
    by_size = Counter(c for c in ids if c is not None and c >= 0)
    for cluster in sorted(current, key=lambda c: (-by_size[c], c)):
        if cluster in mapped:
            new_id[cluster] = mapped[cluster]
        else:
            new_id[cluster], next_id = next_id, next_id + 1
        name = name_of[cluster]
        if name.startswith(UNKNOWN):  # an unnamed organization keeps its earlier name, else a new number
            inherited = old_name.get(mapped.get(cluster, -2))
            if inherited and inherited.startswith(UNKNOWN):
                new_name[cluster] = inherited
            else:
                new_name[cluster], next_unknown = f"{UNKNOWN}{next_unknown}", next_unknown + 1
    out_ids = [new_id.get(c, c) if c is not None and c >= 0 else c for c in ids]
    out_orgs = [new_name.get(c, o) if c is not None and c >= 0 else o for c, o in zip(ids, orgs, strict=True)]
    rows = rows.set_column(rows.schema.get_field_index("cluster_id"), "cluster_id", pa.array(out_ids, pa.int32()))
    return rows.set_column(rows.schema.get_field_index("org"), "org", pa.array(out_orgs, pa.string()))


def _members(ips: list[str], ids: list[int | None]) -> dict[int, set[str]]:
    members: dict[int, set[str]] = {}
    for ip, c in zip(ips, ids, strict=True):
        if c is not None and c >= 0:
            members.setdefault(c, set()).add(ip)
    return members


def day_orgs(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> pa.Table:
    """The day's `scanner_orgs` step: the organizations of the window ending `day`, ids kept from the day before.

    The window's sources come from its days' stored `source_features_day` rows (each day aggregated
    once, by its own step; `days.window_query`), never from its events: a source's probe count is the
    sum of its days' own counts, and its fingerprint is read from the days it probed. They are
    combined on a connection of their own (`con` holds the day's tables only, which the other steps
    of a shared connection must keep seeing).
    """
    from pipelines import catalog, duck
    from pipelines.orgs.cluster import scanner_orgs
    from pipelines.orgs.days import window_query

    rows_of_days = window_query(window(day, settings.orgs.window_days), settings)
    own = duck.connect(settings)
    try:
        wh.lake_relation(own, settings.warehouse, "geo_ip", catalog.table("geo_ip").schema)
        rows = scanner_orgs(own, settings, days=rows_of_days)
    finally:
        own.close()
    return stable_ids(rows, previous(settings.warehouse, day))
