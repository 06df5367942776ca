"""Clustering sources into scanning organizations and naming the clusters (DESIGN 5.4).

Three representations as paper 001's Table 2: `features` (node attributes alone), `graph`
(attributes plus the graph structure's leading eigenvectors, unsmoothed) and `graph+smoothing`
(X~ = H^t X); three algorithms: K-means (k given or chosen by silhouette), spectral, DBSCAN.
"""

from __future__ import annotations

import warnings
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.orgs import SCANNER_ORGS_SCHEMA
from pipelines.orgs.features import (
    POPULATIONS,
    SourceFeatures,
    combine_days,
    day_rows,
    reduce,
    scanning_mask,
    source_features,
)
from pipelines.orgs.graph import SourceGraph, build_graph, lambda_max, smooth, structure_embedding
from pipelines.orgs.reference import GENERIC_ORG, load_reference
from pipelines.settings import Settings

SETTINGS = ("features", "graph", "graph+smoothing")
ALGORITHMS = ("kmeans", "spectral", "dbscan")
SVD_DIMS = 64  # dense width after truncated SVD; enough for tens of organizations
K_MAX = 40  # largest k tried by the silhouette search
K_GRID = 20  # k values tried directly; a larger range is searched coarse to fine
K_SAMPLE = 2000  # points used to choose k on large inputs
SAMPLE = 3000  # points used to choose k and to compute the silhouette on large inputs
MINIBATCH_ABOVE = 20000  # sources above which K-means runs mini-batch
# Spectral clustering and DBSCAN need neighbour graphs that grow too costly beyond this many
# sources: they run on a sample and the other sources join the cluster of their nearest sampled one.
NEIGHBOUR_SAMPLE = 20000
DBSCAN_MIN_SAMPLES = 5
DBSCAN_EPS_QUANTILE = 0.6  # eps = this quantile of the k-distance: higher merges organizations, lower leaves noise
# A cluster is named after a known organization when that organization holds more than half of
# its members on the reference lists and those members are at least this share of the cluster.
NAME_MIN_KNOWN_SHARE = 0.2
# Below this many sources the numeric libraries under the clustering (scikit-learn's OpenMP loops,
# OpenBLAS in the SVD, eigensolver and silhouettes) run on one thread: their thread teams cost more
# than they share on small inputs. On the UFW day (89 sources) choosing k took 2.1 s of CPU with
# two threads and 0.1 s with one; K-means on 10,000 sources took the same wall time on one thread
# and half the CPU (docs/BENCHMARKS.md). Larger inputs keep the libraries' own thread counts.
ONE_THREAD_BELOW = 20000


@dataclass
class Prepared:
    """Everything the clusterings share: features, graph, representations, known labels."""

    features: SourceFeatures
    graph: SourceGraph
    reduced: np.ndarray
    known: list[str | None]
    representations: dict[str, np.ndarray] = field(default_factory=dict)
    population: str = "all"
    all_ips: list[str] = field(default_factory=list)  # every source of events, clustered or not
    all_known: list[str | None] = field(default_factory=list)

    @property
    def ips(self) -> list[str]:
        """Source addresses in row order."""
        return self.features.ips


def numeric_threads(n: int) -> AbstractContextManager:
    """Run the numeric libraries on one thread while clustering `n` sources, when `n` < ONE_THREAD_BELOW."""
    if n >= ONE_THREAD_BELOW:
        return nullcontext()
    import scipy.linalg  # noqa: F401  (loaded first: a limit reaches only the thread pools already loaded)
    import sklearn.cluster  # noqa: F401  (its OpenMP runtime)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def representation(prep: Prepared, setting: str, steps: int = 3, seed: int = 0) -> np.ndarray:
    """The matrix clustered for one setting (computed once, cached on `prep`)."""
    if setting in prep.representations:
        return prep.representations[setting]
    base = prep.reduced
    if setting == "features":
        out = _unit_rows(base)
    elif setting == "graph":
        dims = min(16, max(2, base.shape[1] // 4))
        struct = structure_embedding(prep.graph, dims, seed=seed)
        out = np.hstack([_unit_rows(base), _unit_rows(struct)]) if struct.size else _unit_rows(base)
    elif setting == "graph+smoothing":
        out = _unit_rows(smooth(prep.graph, base, steps, lam=lambda_max(prep.graph, seed=seed)))
    else:
        raise ValueError(f"unknown setting {setting!r}; one of {SETTINGS}")
    prep.representations[setting] = out
    return out


def _known(orgs_dir: str | None, ips) -> list[str | None]:
    ref = load_reference(orgs_dir)
    if len(ips) == 0:
        return []
    matched = ref.match(ips)
    by_ip = dict(zip(matched["ip"].to_pylist(), matched["org"].to_pylist(), strict=True))
    return [by_ip.get(ip) for ip in ips.to_pylist()]


def prepare(
    con: duckdb.DuckDBPyConnection,
    orgs_dir: str | None,
    seed: int = 0,
    population: str = "all",
    min_probes: int = 3,
    min_probe_share: float = 0.5,
    days: pa.Table | str | None = None,
) -> Prepared:
    """Encode the sources of `events` in `population`, build their graph and look up their known organizations.

    population: "scanning" (sources sending at least `min_probes` probes, at least `min_probe_share`
    of their events), "labelled" (sources the reference lists name; paper 001's evaluation
    protocol) or "all". `days`: `source_features_day` rows to combine instead of `events` (the
    window's stored days, pipelines/orgs/window.py; their lists are filled for the sources that
    probed, so only the "scanning" population can be read from them), or a query of them.
    """
    if population not in POPULATIONS:
        raise ValueError(f"unknown population {population!r}; one of {POPULATIONS}")
    if days is not None and population != "scanning":
        raise ValueError(f"stored day rows hold the scanning sources' features only, not population {population!r}")
    if days is None:
        days = day_rows(con, every_source=population != "scanning")
    if population == "scanning":
        # only the scanning sources are combined (features.combine_days); the others are listed
        if isinstance(days, str):
            ips = con.execute(f"SELECT DISTINCT src_ip FROM ({days}) WHERE src_ip IS NOT NULL").to_arrow_table()
            all_ips = sorted(ips.column(0).to_pylist())
        else:
            all_ips = sorted(set(days["src_ip"].drop_null().to_pylist()))
        tables = combine_days(con, days, scanning=(min_probes, min_probe_share))
        keep = scanning_mask(tables[0], min_probes, min_probe_share)
    else:
        tables = combine_days(con, days)
        all_ips = tables[0]["src_ip"].to_pylist()
        keep = None
    all_known = _known(orgs_dir, pa.array(all_ips, pa.string()))
    if population == "labelled":
        keep = np.array([bool(o) and o != GENERIC_ORG for o in all_known], dtype=bool)
    feats = source_features(con, keep=keep, tables=tables)
    with numeric_threads(len(feats.ips)):
        graph = build_graph(feats.sources)
        reduced = reduce(feats.matrix, SVD_DIMS, seed=seed)
    if keep is None:
        known = all_known
    elif population == "scanning":
        by_ip = dict(zip(all_ips, all_known, strict=True))
        known = [by_ip[ip] for ip in feats.ips]
    else:
        known = [o for o, k in zip(all_known, keep.tolist(), strict=True) if k]
    return Prepared(
        features=feats,
        graph=graph,
        reduced=reduced,
        known=known,
        population=population,
        all_ips=all_ips,
        all_known=all_known,
    )


def _kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if x.shape[0] > MINIBATCH_ABOVE:
        model = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=3, max_no_improvement=20)
    else:
        model = KMeans(n_clusters=k, random_state=seed, n_init=4)
    return model.fit_predict(x)


def choose_k(x: np.ndarray, seed: int = 0, k_max: int = K_MAX) -> int:
    """k with the best silhouette of K-means on a sample (paper 001 Figure 3 picks k the same way).

    Tries k = 2..k_max, at most an organization per two sources; beyond K_GRID candidates a
    coarse grid is tried first and then every k around the best one (the silhouette curve is smooth
    at that scale), which keeps the choice cheap on large inputs.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = x.shape[0]
    if n < 4:
        return max(1, n)
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(n, K_SAMPLE, replace=False)] if n > K_SAMPLE else x
    n_init = 2 if n <= K_SAMPLE else 1  # large inputs: one k-means++ start per k on the sample
    distinct = len(np.unique(np.round(sample, 9), axis=0))
    top = min(k_max, distinct - 1, sample.shape[0] // 2)
    if top < 2:
        return 2 if distinct > 2 else max(1, distinct)
    scores: dict[int, float] = {}

    def score(k: int) -> float:
        if k not in scores:
            labels = KMeans(n_clusters=k, random_state=seed, n_init=n_init).fit_predict(sample)
            scores[k] = silhouette_score(sample, labels) if len(set(labels)) > 1 else -2.0
        return scores[k]

    step = max(1, -(-(top - 1) // K_GRID))
    for k in range(2, top + 1, step):
        score(k)
    if step > 1:
        best = max(scores, key=lambda k: (scores[k], -k))
        for k in range(max(2, best - step + 1), min(top, best + step - 1) + 1):
            score(k)
    return max(scores, key=lambda k: (scores[k], -k))


def _spectral(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import SpectralClustering

    n = x.shape[0]
    warnings.filterwarnings("ignore", message="Graph is not fully connected", category=UserWarning)
    model = SpectralClustering(
        n_clusters=k,
        affinity="nearest_neighbors",
        n_neighbors=min(10, n - 1),
        assign_labels="cluster_qr",
        random_state=seed,
    )
    return model.fit_predict(x)


def dbscan_eps(x: np.ndarray, min_samples: int = DBSCAN_MIN_SAMPLES, seed: int = 0) -> float:
    """eps from the k-distance curve: a quantile of the distance to the min_samples-th neighbour."""
    from sklearn.neighbors import NearestNeighbors

    n = x.shape[0]
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(n, SAMPLE, replace=False)] if n > SAMPLE else x
    k = min(min_samples, sample.shape[0] - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(sample).kneighbors(sample)
    eps = float(np.quantile(dist[:, -1], DBSCAN_EPS_QUANTILE))
    return eps if eps > 0 else 1e-6


def _dbscan(x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=dbscan_eps(x, seed=seed), min_samples=DBSCAN_MIN_SAMPLES).fit_predict(x)


def _on_sample(x: np.ndarray, fit, seed: int) -> np.ndarray:
    """Run `fit` on at most NEIGHBOUR_SAMPLE rows and give every other row its nearest sampled row's label."""
    from sklearn.neighbors import NearestNeighbors

    n = x.shape[0]
    if n <= NEIGHBOUR_SAMPLE:
        return fit(x)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, NEIGHBOUR_SAMPLE, replace=False))
    sample_labels = fit(x[idx])
    _, nearest = NearestNeighbors(n_neighbors=1).fit(x[idx]).kneighbors(x)
    labels = sample_labels[nearest[:, 0]]
    labels[idx] = sample_labels
    return labels


def cluster(x: np.ndarray, algorithm: str, k: int, seed: int = 0) -> np.ndarray:
    """Labels of one algorithm on one representation (DBSCAN ignores k; its noise is -1)."""
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n <= k or n < 3:
        return np.arange(n) if n <= k else np.zeros(n, dtype=np.int64)
    if algorithm == "kmeans":
        return _kmeans(x, k, seed)
    if algorithm == "spectral":
        return _on_sample(x, lambda s: _spectral(s, k, seed), seed)
    if algorithm == "dbscan":
        return _on_sample(x, lambda s: _dbscan(s, seed), seed)
    raise ValueError(f"unknown algorithm {algorithm!r}; one of {ALGORITHMS}")


def name_clusters(labels: np.ndarray, known: list[str | None]) -> dict[int, str]:
    """Name each cluster by its dominant known organization, else `unknown-N` (N counts from 1)."""
    members: dict[int, list[str | None]] = {}
    for label, org in zip(labels.tolist(), known, strict=True):
        members.setdefault(int(label), []).append(org)
    names, unknown = {}, 0
    for label in sorted(members, key=lambda c: (-len(members[c]), c)):
        orgs = [o for o in members[label] if o and o != GENERIC_ORG]
        top = Counter(orgs).most_common(1)
        if top and top[0][1] * 2 > len(orgs) and len(orgs) >= NAME_MIN_KNOWN_SHARE * len(members[label]):
            names[label] = top[0][0]
        else:
            unknown += 1
            names[label] = f"unknown-{unknown}"
    return names


def run_clustering(
    prep: Prepared, setting: str, algorithm: str, k: int = 0, steps: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, int]:
    """(representation, labels, k used) for one setting and algorithm."""
    with numeric_threads(len(prep.ips)):
        x = representation(prep, setting, steps=steps, seed=seed)
        if x.shape[0] == 0:
            return x, np.zeros(0, dtype=np.int64), 0
        k = k or choose_k(x, seed=seed)
        return x, cluster(x, algorithm, k, seed=seed), k


UNCLUSTERED = "unclustered"


def scanner_orgs(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    setting: str = "graph+smoothing",
    algorithm: str = "kmeans",
    seed: int = 0,
    days: pa.Table | str | None = None,
) -> pa.Table:
    """One row per source of `events` (or of the `source_features_day` rows `days`, or a query of them): its cluster, organization and how it was found.

    Only scanning sources (settings orgs.min_probes / orgs.min_probe_share) are clustered; the
    others keep a null cluster and are named by the reference lists when listed, else `unclustered`.
    """
    o = settings.orgs
    prep = prepare(
        con,
        o.dir,
        seed=seed,
        population="scanning",
        min_probes=o.min_probes,
        min_probe_share=o.min_probe_share,
        days=days,
    )
    _, labels, _ = run_clustering(prep, setting, algorithm, k=o.k, steps=o.smoothing_steps, seed=seed)
    names = name_clusters(labels, prep.known)
    clustered = {ip: int(c) for ip, c in zip(prep.ips, labels.tolist(), strict=True)}
    method = f"{algorithm} on {setting}"
    # the rule of features.scanning_mask, both halves: a source may have many probes and still be mostly a client
    not_scanning = (
        f"not clustered (fewer than {o.min_probes} probes or probes under {o.min_probe_share:g} of its events)"
    )
    rows = {"src_ip": [], "cluster_id": [], "org": [], "method": [], "known_org": []}
    for ip, known in zip(prep.all_ips, prep.all_known, strict=True):
        cluster_id = clustered.get(ip)
        rows["src_ip"].append(ip)
        rows["cluster_id"].append(cluster_id)
        rows["known_org"].append(known)
        if cluster_id is not None:
            rows["org"].append(names[cluster_id])
            rows["method"].append(method)
        elif known:
            rows["org"].append(known)
            rows["method"].append("reference list")
        else:
            rows["org"].append(UNCLUSTERED)
            rows["method"].append(not_scanning)
    n = len(rows["src_ip"])
    return pa.table(
        {
            "src_ip": pa.array(rows["src_ip"], pa.string()),
            "cluster_id": pa.array(rows["cluster_id"], pa.int32()),
            "org": pa.array(rows["org"], pa.string()),
            "method": pa.array(rows["method"], pa.string()),
            "known_org": pa.array(rows["known_org"], pa.string()),
            "setting": pa.array([setting] * n, pa.string()),
            "algorithm": pa.array([algorithm] * n, pa.string()),
        },
        schema=SCANNER_ORGS_SCHEMA,
    )
