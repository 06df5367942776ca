"""Paper 001's Table 2 without the neural network: {features, graph, graph+smoothing} x {K-means, spectral, DBSCAN}.

External metrics (ACC by Hungarian matching, NMI, ARI) are computed on the clustered sources whose
organization the reference lists name (the generic mass-scanner label excluded). Which sources are
clustered is the population: by default the labelled ones, as paper 001 clusters the labelled
traffic of its organizations; "scanning" clusters every probing source (an open-world check, the
unlabelled scanners competing for clusters) and "all" every source. Internal metrics (silhouette, Calinski-Harabasz, Davies-Bouldin) use every source and
the representation that was clustered; DBSCAN noise counts as one more cluster.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np

from pipelines.layout import layout
from pipelines.orgs.cluster import (
    ALGORITHMS,
    SAMPLE,
    SETTINGS,
    Prepared,
    choose_k,
    prepare,
    representation,
    run_clustering,
)
from pipelines.orgs.reference import GENERIC_ORG


def cluster_accuracy(truth: list[str], labels: np.ndarray) -> float:
    """Best one-to-one matching of clusters to organizations (Hungarian), as a share of sources."""
    from scipy.optimize import linear_sum_assignment

    if not truth:
        return float("nan")
    orgs = {o: i for i, o in enumerate(sorted(set(truth)))}
    clusters = {c: i for i, c in enumerate(sorted(set(labels.tolist())))}
    table = np.zeros((len(clusters), len(orgs)))
    for org, label in zip(truth, labels.tolist(), strict=True):
        table[clusters[label], orgs[org]] += 1
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(truth))


def _internal(x: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, float | None]:
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    n_labels = len(set(labels.tolist()))
    if n_labels < 2 or n_labels >= x.shape[0]:
        return {"silhouette": None, "chi": None, "dbi": None}
    size = SAMPLE if x.shape[0] > SAMPLE else None
    return {
        "silhouette": float(silhouette_score(x, labels, sample_size=size, random_state=seed)),
        "chi": float(calinski_harabasz_score(x, labels)),
        "dbi": float(davies_bouldin_score(x, labels)),
    }


def table2(
    prep: Prepared,
    k: int = 0,
    steps: int = 3,
    seed: int = 0,
    settings: tuple[str, ...] = SETTINGS,
    algorithms: tuple[str, ...] = ALGORITHMS,
) -> list[dict]:
    """One row per (setting, algorithm) with acc, nmi, ari, silhouette, chi, dbi (rounded to 4 places)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    scored = np.array([bool(o) and o != GENERIC_ORG for o in prep.known])
    truth = [o for o, s in zip(prep.known, scored, strict=True) if s]
    results = []
    for setting in settings:
        x = representation(prep, setting, steps=steps, seed=seed)
        k_used = k or (choose_k(x, seed=seed) if x.shape[0] else 0)
        for algorithm in algorithms:
            _, labels, _ = run_clustering(prep, setting, algorithm, k=k_used, steps=steps, seed=seed)
            sub = labels[scored]
            row = {"setting": setting, "algorithm": algorithm}
            if truth:
                row |= {
                    "acc": cluster_accuracy(truth, sub),
                    "nmi": float(normalized_mutual_info_score(truth, sub)),
                    "ari": float(adjusted_rand_score(truth, sub)),
                }
            else:
                row |= {"acc": None, "nmi": None, "ari": None}
            row |= _internal(x, labels, seed)
            row["k"] = int(len(set(labels.tolist()))) if algorithm == "dbscan" else int(k_used)
            results.append(
                {key: (round(v, 4) if isinstance(v, float) and np.isfinite(v) else v) for key, v in row.items()}
            )
    return results


def evaluate_warehouse(
    warehouse: Path,
    orgs_dir: Path | str | None,
    k: int = 0,
    steps: int = 3,
    seed: int = 0,
    population: str = "labelled",
    min_probes: int = 3,
    min_probe_share: float = 0.5,
) -> dict:
    """Table 2 over `events` and `geo_ip` of `<warehouse>/scansense.duckdb`, opened read-only."""
    db = layout(warehouse).db
    if not db.is_file():
        raise FileNotFoundError(f"no warehouse at {db}")
    with duckdb.connect(str(db), read_only=True) as con:
        prep = prepare(
            con,
            str(orgs_dir) if orgs_dir else None,
            seed=seed,
            population=population,
            min_probes=min_probes,
            min_probe_share=min_probe_share,
        )
    results = table2(prep, k=k, steps=steps, seed=seed)
    info = summary(prep) | {"k": {f"{r['setting']}/{r['algorithm']}": r.get("k") for r in results}}
    # The rows keep exactly issue 7's keys; the clusters found per row go to the summary.
    return {"results": [{key: v for key, v in r.items() if key != "k"} for r in results], "summary": info}


def summary(prep: Prepared) -> dict:
    """What was clustered and scored: population, sources, labelled sources and organizations."""
    scored = [o for o in prep.known if o and o != GENERIC_ORG]
    return {
        "population": prep.population,
        "sources": len(prep.ips),
        "scored": len(scored),
        "orgs": len(set(scored)),
        "events_sources": len(prep.all_ips),
    }


def format_table(results: list[dict]) -> str:
    """Paper-style text table."""
    head = (
        f"{'setting':<16} {'algorithm':<9} {'k':>3} {'ACC':>7} {'NMI':>7} {'ARI':>7} {'SI':>7} {'CHI':>11} {'DBI':>7}"
    )
    lines = [head, "-" * len(head)]

    def f(v, width=7, digits=4):
        return f"{v:>{width}.{digits}f}" if isinstance(v, float | int) and v is not None else f"{'-':>{width}}"

    for r in results:
        lines.append(
            f"{r['setting']:<16} {r['algorithm']:<9} {r.get('k', '-'):>3} {f(r['acc'])} {f(r['nmi'])} {f(r['ari'])} "
            f"{f(r['silhouette'])} "
            f"{f(r['chi'], 11, 1)} {f(r['dbi'])}"
        )
    return "\n".join(lines)
