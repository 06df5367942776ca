"""Organization clustering on synthetic research scanners: features, graph, smoothing, naming, Table 2, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from pipelines.orgs import SCANNER_ORGS_SCHEMA, scanner_orgs
from pipelines.orgs.cluster import ALGORITHMS, SETTINGS, name_clusters, prepare
from pipelines.orgs.evaluate import cluster_accuracy, table2
from pipelines.orgs.graph import build_graph, lambda_max, smooth
from pipelines.orgs.synthetic import generate_orgs
from pipelines.schema import empty_events

SCANSENSE = str(Path(sys.executable).with_name("scansense"))


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    orgs_dir = tmp_path_factory.mktemp("orgs")
    syn = generate_orgs(n_orgs=12, sources_per_org=(6, 16), unaffiliated=40, seed=3, probes=(3, 12), orgs_dir=orgs_dir)
    return syn, orgs_dir


def _con(syn) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    events, geo = syn.events, syn.geo_ip  # noqa: F841
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    con.execute("CREATE TABLE geo_ip AS SELECT * FROM geo")
    return con


def test_scanner_orgs_finds_and_names_organizations(population, settings) -> None:
    syn, orgs_dir = population
    out = scanner_orgs(_con(syn), settings.replace("orgs", dir=str(orgs_dir)))
    assert out.schema == SCANNER_ORGS_SCHEMA
    rows = out.to_pylist()
    assert {r["src_ip"] for r in rows} == set(syn.truth) and len(rows) == len(syn.truth)
    assert {r["method"] for r in rows} == {"kmeans on graph+smoothing"}
    # Sources on the lists carry their known organization; their clusters are named after it.
    listed = [r for r in rows if r["src_ip"] in syn.listed]
    assert all(r["known_org"] == syn.truth[r["src_ip"]] for r in listed)
    assert sum(r["org"] == r["known_org"] for r in listed) / len(listed) >= 0.9
    # Sources of an organization that its lists miss (an unlisted /24) are attributed to it.
    hidden = [r for r in rows if syn.truth[r["src_ip"]] and r["src_ip"] not in syn.listed]
    assert hidden and sum(r["org"] == syn.truth[r["src_ip"]] for r in hidden) / len(hidden) >= 0.7
    assert any(r["org"].startswith("unknown-") for r in rows if syn.truth[r["src_ip"]] is None)


def test_deterministic_and_k_setting(population, settings) -> None:
    syn, orgs_dir = population
    s = settings.replace("orgs", dir=str(orgs_dir), k=5)
    first, second = scanner_orgs(_con(syn), s), scanner_orgs(_con(syn), s)
    assert first.equals(second)
    assert len(set(first["cluster_id"].to_pylist())) == 5
    s = settings.replace("orgs", dir=str(orgs_dir))  # k chosen by silhouette: also the same on a rerun
    assert scanner_orgs(_con(syn), s).equals(scanner_orgs(_con(syn), s))


def test_table2_smoothing_beats_features(population) -> None:
    syn, orgs_dir = population
    prep = prepare(_con(syn), str(orgs_dir))
    results = table2(prep)
    assert [(r["setting"], r["algorithm"]) for r in results] == [(s, a) for s in SETTINGS for a in ALGORITHMS]
    keys = {"setting", "algorithm", "acc", "nmi", "ari", "silhouette", "chi", "dbi"}
    assert all(set(r) == keys | {"k"} for r in results)
    best = {(r["setting"], r["algorithm"]): r for r in results}
    smoothed, plain = best[("graph+smoothing", "kmeans")], best[("features", "kmeans")]
    assert smoothed["acc"] >= 0.9 and smoothed["nmi"] >= 0.75 and smoothed["ari"] >= 0.70
    assert smoothed["silhouette"] > plain["silhouette"]
    assert smoothed["acc"] >= plain["acc"]


def test_no_events_gives_no_rows(settings) -> None:
    con = duckdb.connect()
    empty = empty_events()  # noqa: F841
    con.execute("CREATE TABLE events AS SELECT * FROM empty")
    out = scanner_orgs(con, settings)
    assert out.num_rows == 0 and out.schema == SCANNER_ORGS_SCHEMA


def test_smoothing_pulls_neighbours_together() -> None:
    sources = pa.table({"src_ip": ["a", "b", "c"], "net": ["1.2.3", "1.2.3", "9.9.9"]})
    graph = build_graph(sources, {"net": 1.0})
    assert graph.incidence.shape == (3, 1) and graph.edges == 1
    lam = lambda_max(graph)
    assert 0 < lam <= 2
    x = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    y = smooth(graph, x, steps=3, lam=lam)
    assert np.linalg.norm(y[0] - y[1]) < np.linalg.norm(x[0] - x[1])
    assert np.allclose(y[2], x[2])  # an isolated source is left alone


def test_naming_and_accuracy() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    names = name_clusters(labels, ["censys", "censys", None, "shodan", "censys", None])
    assert names[0] == "censys" and names[1].startswith("unknown-") and names[2].startswith("unknown-")
    assert cluster_accuracy(["a", "a", "b", "b"], np.array([1, 1, 0, 0])) == 1.0
    assert cluster_accuracy(["a", "a", "b", "b"], np.array([0, 0, 0, 0])) == 0.5


def test_eval_cli_reads_warehouse_read_only(population, tmp_path: Path) -> None:
    syn, orgs_dir = population
    wh = tmp_path / "warehouse"
    wh.mkdir()
    with duckdb.connect(str(wh / "scansense.duckdb")) as con:
        events, geo = syn.events, syn.geo_ip  # noqa: F841
        con.execute("CREATE TABLE events AS SELECT * FROM events")
        con.execute("CREATE TABLE geo_ip AS SELECT * FROM geo")
    proc = subprocess.run(
        [SCANSENSE, "eval", "orgs", "--warehouse", str(wh), "--orgs-dir", str(orgs_dir), "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert list(result) == ["results", "summary"] and len(result["results"]) == 9
    keys = {"setting", "algorithm", "acc", "nmi", "ari", "silhouette", "chi", "dbi"}
    assert all(set(r) == keys for r in result["results"])  # issue 7's row format, exactly
    assert result["summary"]["population"] == "labelled"
    assert result["summary"]["sources"] == result["summary"]["scored"] == len(syn.listed)
    row = next(r for r in result["results"] if r["setting"] == "graph+smoothing" and r["algorithm"] == "kmeans")
    assert row["acc"] >= 0.9


def test_geo_ip_missing_or_partial(population, settings) -> None:
    syn, orgs_dir = population
    settings = settings.replace("orgs", dir=str(orgs_dir))
    con = duckdb.connect()
    events = syn.events  # noqa: F841
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    without = scanner_orgs(con, settings)  # no geo_ip at all
    con.execute("CREATE TABLE geo_ip AS SELECT ip, 'AS' || asn AS asn FROM (SELECT '1.2.3.4' AS ip, 5 AS asn)")
    partial = scanner_orgs(con, settings)  # geo_ip without country, AS name or coordinates
    assert without.num_rows == partial.num_rows == len(syn.truth)
    assert "orgs_geo_ip" not in {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}


def test_neighbour_algorithms_on_a_sample(monkeypatch) -> None:
    from pipelines.orgs import cluster as clustering

    monkeypatch.setattr(clustering, "NEIGHBOUR_SAMPLE", 300)
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(i * 5.0, 0.3, (250, 6)) for i in range(4)])
    for algorithm in ("spectral", "dbscan"):
        labels = clustering.cluster(x, algorithm, 4)
        assert len(labels) == 1000
        blobs = [Counter(labels[i * 250 : (i + 1) * 250].tolist()).most_common(1)[0] for i in range(4)]
        assert len({label for label, _ in blobs}) == 4 and all(count >= 200 for _, count in blobs)


def test_only_scanning_sources_are_clustered(population, settings) -> None:
    syn, orgs_dir = population
    con = _con(syn)
    # Two quiet sources: one on a /24 an organization's CIDR list holds, one unknown; and a busy web client.
    listed_ip = next(ip for ip in sorted(syn.listed) if (orgs_dir / f"{syn.truth[ip]}_v4.txt").is_file())
    net = listed_ip.rsplit(".", 1)[0]
    quiet = f"{net}.254" if f"{net}.254" not in syn.truth else f"{net}.253"
    con.execute(
        """INSERT INTO events (ts, event_date, src_ip, dst_ip, src_port, dst_port, proto, tcp_flags)
           SELECT TIMESTAMPTZ '2025-11-26 10:00:00+00' + i * INTERVAL 1 SECOND, DATE '2025-11-26', ip, '203.0.113.9',
                  40000 + i, 443, 'tcp', CASE WHEN ip = '198.18.7.7' THEN 'PA' ELSE 'S' END
           FROM (VALUES ($quiet), ('192.0.2.99'), ('198.18.7.7')) AS t(ip), range(2) AS r(i)""",
        {"quiet": quiet},
    )
    con.execute(
        """INSERT INTO events (ts, event_date, src_ip, dst_ip, src_port, dst_port, proto, tcp_flags)
           SELECT TIMESTAMPTZ '2025-11-26 11:00:00+00' + i * INTERVAL 1 SECOND, DATE '2025-11-26', '198.18.7.7',
                  '203.0.113.9', 40000, 443, 'tcp', 'PA' FROM range(20) AS r(i)"""
    )
    rows = {r["src_ip"]: r for r in scanner_orgs(con, settings.replace("orgs", dir=str(orgs_dir))).to_pylist()}
    assert rows[quiet]["cluster_id"] is None and rows[quiet]["org"] == syn.truth[listed_ip]
    assert rows[quiet]["method"] == "reference list"
    for ip in ("192.0.2.99", "198.18.7.7"):  # too few probes; a client whose traffic is not probing
        assert rows[ip]["cluster_id"] is None and rows[ip]["org"] == "unclustered"
    assert all(rows[ip]["cluster_id"] is not None for ip in syn.truth)
    prep = prepare(con, str(orgs_dir), population="labelled")
    assert set(prep.ips) == syn.listed | {quiet}


def test_port_set_bands_tie_similar_port_sets() -> None:
    import scipy.sparse as sp

    from pipelines.orgs.features import PORT_BANDS, port_band_keys

    ports = [22, 80, 443, 8080, 8443, 3389, 5900, 6379, 9200, 27017]
    m = sp.csr_matrix(np.array([[1] * 10, [1] * 9 + [0], [0] * 9 + [1], [0] * 10], dtype=float))
    bands = [b.to_pylist() for b in port_band_keys(m, ports)]
    assert len(bands) == PORT_BANDS
    shared = sum(b[0] == b[1] for b in bands)
    assert shared >= 1 and all(b[0] != b[2] for b in bands) and all(b[3] is None for b in bands)


def test_only_scanning_sources_are_aggregated_with_the_same_rows(population) -> None:
    """source_tables(scanning=...) builds the rows of the whole table that scanning_mask keeps, and only those."""
    import pyarrow.compute as pc

    from pipelines.orgs.features import scanning_mask, source_tables

    syn, _ = population
    whole = source_tables(_con(syn))
    mask = scanning_mask(whole[0], 8, 0.5)  # the synthetic sources send 3-12 probes: some fall below
    assert 0 < mask.sum() < len(mask)
    kept = set(whole[0].filter(pa.array(mask))["src_ip"].to_pylist())
    scanning = source_tables(_con(syn), scanning=(8, 0.5))
    assert scanning[0].equals(whole[0].filter(pa.array(mask)))
    for part, full in zip(scanning[1:], whole[1:], strict=True):
        expected = full.filter(pc.is_in(full["src_ip"], value_set=pa.array(sorted(kept))))
        assert part.sort_by([(c, "ascending") for c in part.column_names]).equals(
            expected.sort_by([(c, "ascending") for c in expected.column_names])
        )
    # scanner_orgs still lists every source, the others unclustered
    prep = prepare(_con(syn), None, population="scanning", min_probes=8, min_probe_share=0.5)
    assert prep.all_ips == sorted(whole[0]["src_ip"].to_pylist()) and set(prep.ips) == kept


def test_small_inputs_cluster_on_one_thread_with_the_same_labels(population, monkeypatch) -> None:
    """Below ONE_THREAD_BELOW sources the numeric libraries run on one thread; the result is the same."""
    from threadpoolctl import threadpool_info

    from pipelines.orgs import cluster

    syn, orgs_dir = population
    x = cluster.prepare(_con(syn), str(orgs_dir)).reduced
    x = np.vstack([x + 0.01 * k for k in range(4)])  # more rows than K-means' 256-row chunks
    assert x.shape[0] < cluster.ONE_THREAD_BELOW
    with cluster.numeric_threads(x.shape[0]):
        assert {pool["num_threads"] for pool in threadpool_info()} == {1}
        k_one = cluster.choose_k(x)
        one = cluster.cluster(x, "kmeans", k_one)
    # the same input as a large one: the libraries keep their own thread counts
    monkeypatch.setattr(cluster, "ONE_THREAD_BELOW", 2)
    before = {(p["filepath"], p["num_threads"]) for p in threadpool_info()}
    with cluster.numeric_threads(x.shape[0]):
        assert {(p["filepath"], p["num_threads"]) for p in threadpool_info()} == before
        k_many = cluster.choose_k(x)
        many = cluster.cluster(x, "kmeans", k_many)
    assert k_one == k_many and one.tolist() == many.tolist()
    assert {(p["filepath"], p["num_threads"]) for p in threadpool_info()} == before  # limits lifted after
