"""Organizations over a bounded window: the window's days, and cluster ids that stay from day to day."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from pipelines.orgs import SCANNER_ORGS_SCHEMA
from pipelines.orgs.window import match_clusters, stable_ids, window


def _orgs(rows: list[tuple[str, int | None, str]]) -> pa.Table:
    n = len(rows)
    return pa.table(
        {
            "src_ip": [r[0] for r in rows],
            "cluster_id": pa.array([r[1] for r in rows], pa.int32()),
            "org": [r[2] for r in rows],
            "method": ["kmeans on graph+smoothing"] * n,
            "known_org": pa.array([None] * n, pa.string()),
            "setting": ["graph+smoothing"] * n,
            "algorithm": ["kmeans"] * n,
        },
        schema=SCANNER_ORGS_SCHEMA,
    )


def test_the_window_is_the_day_and_the_days_before_it() -> None:
    assert window(date(2025, 3, 3), 3) == [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)]
    assert window(date(2025, 3, 3), 1) == [date(2025, 3, 3)] == window(date(2025, 3, 3), 0)


def test_a_cluster_keeps_the_id_of_the_earlier_cluster_it_shares_most_sources_with() -> None:
    yesterday = _orgs(
        [
            ("a1", 0, "censys"),
            ("a2", 0, "censys"),
            ("b1", 1, "unknown-1"),
            ("b2", 1, "unknown-1"),
            ("b3", 1, "unknown-1"),
        ]
        + [("c1", 2, "unknown-2"), ("x", None, "unclustered")]
    )
    # Today's clustering numbers the same organizations differently, one moved source, one new cluster.
    today = _orgs(
        [("b1", 0, "unknown-1"), ("b2", 0, "unknown-1"), ("a2", 0, "unknown-1")]  # mostly yesterday's 1
        + [("a1", 1, "censys"), ("a3", 1, "censys")]  # yesterday's 0
        + [("n1", 2, "unknown-2"), ("n2", 2, "unknown-2")]  # shares nothing: a new id and a new name
        + [("d1", -1, "unknown-3"), ("x", None, "unclustered")]  # DBSCAN noise and unclustered stay
    )
    rows = {r["src_ip"]: (r["cluster_id"], r["org"]) for r in stable_ids(today, yesterday).to_pylist()}
    assert rows["b1"] == rows["b2"] == rows["a2"] == (1, "unknown-1")
    assert rows["a1"] == rows["a3"] == (0, "censys")
    assert rows["n1"] == rows["n2"] == (3, "unknown-3")  # ids and names never used the day before
    assert rows["d1"] == (-1, "unknown-3") and rows["x"] == (None, "unclustered")


def test_the_same_clusters_on_the_next_day_keep_every_id_and_name() -> None:
    first = _orgs([("a", 0, "unknown-1"), ("b", 0, "unknown-1"), ("c", 1, "unknown-2"), ("d", 1, "unknown-2")])
    relabelled = _orgs([("a", 1, "unknown-2"), ("b", 1, "unknown-2"), ("c", 0, "unknown-1"), ("d", 0, "unknown-1")])
    assert stable_ids(relabelled, first).sort_by("src_ip").equals(first.sort_by("src_ip"))
    assert stable_ids(first, None).equals(first)  # the first day keeps its clustering's numbers


def test_each_earlier_cluster_is_taken_once_by_the_largest_overlap() -> None:
    current = {0: {"a", "b"}, 1: {"c", "d", "e"}}
    earlier = {7: {"a", "c", "d", "e"}, 8: {"b"}}
    assert match_clusters(current, earlier) == {1: 7, 0: 8}
