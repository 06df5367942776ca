"""The source graph and its Laplacian low-pass filter (paper 001 section 3.2, DESIGN 5.4).

Edges tie sources that share a /24 (or /48), an ASN, a tool fingerprint (TTL as received, TCP
window, fixed IP ID), a port set (MinHash bands: similar sets share a band), or their busiest hour
(active together). Instead of materializing every pair (an ASN with 10,000
sources would give 50 M edges), the adjacency is kept factored: A = B W B^T + I, with B the
source x group incidence and W = weight(kind) / |group|, so that applying A costs O(nnz(B)).
Smoothing is X~ = H^t X with H = I - L_sym / lambda_max and L_sym = I - D^-1/2 A D^-1/2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
import scipy.sparse.linalg as spla

# Edge kinds: the column of the source table that keys the group (a kind ending in "_" names a
# family of columns, e.g. the port-set bands, sharing the weight), and its weight.
EDGE_KINDS = {"net": 1.0, "asn": 0.5, "fingerprint": 1.0, "port_band_": 1.0, "peak_slot": 0.5}


@dataclass
class SourceGraph:
    """Factored adjacency A = B W B^T + I over n sources."""

    incidence: sp.csr_matrix  # n x groups, 1 where the source belongs to the group
    weights: np.ndarray  # per group: weight(kind) / size
    degree: np.ndarray  # row sums of A

    @property
    def n(self) -> int:
        """Number of sources (nodes)."""
        return self.incidence.shape[0]

    @property
    def edges(self) -> int:
        """Number of source pairs tied by at least one shared group (counted, not built, when large)."""
        sizes = np.asarray(self.incidence.sum(axis=0)).ravel()
        return int((sizes * (sizes - 1) // 2).sum())

    def adjacency(self, x: np.ndarray) -> np.ndarray:
        """A @ x."""
        b = self.incidence
        return b @ (self.weights[:, None] * (b.T @ x)) + x if x.ndim == 2 else b @ (self.weights * (b.T @ x)) + x

    def normalized(self, x: np.ndarray) -> np.ndarray:
        """D^-1/2 A D^-1/2 @ x."""
        s = 1.0 / np.sqrt(self.degree)
        if x.ndim == 2:
            return s[:, None] * self.adjacency(s[:, None] * x)
        return s * self.adjacency(s * x)

    def laplacian(self, x: np.ndarray) -> np.ndarray:
        """L_sym @ x."""
        return x - self.normalized(x)


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """Integer code per value of a key column (-1 for null and empty strings), by dictionary encoding."""
    import pyarrow.compute as pc

    array = column.combine_chunks()
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        array = pc.if_else(pc.equal(array, ""), pa.scalar(None, array.type), array)
    indices = array.dictionary_encode().indices.cast(pa.int64())
    return pc.fill_null(indices, -1).to_numpy()


def build_graph(sources: pa.Table, kinds: dict[str, float] | None = None) -> SourceGraph:
    """Group sources by each edge kind's key (groups of one source dropped) and factor the adjacency."""
    kinds = EDGE_KINDS if kinds is None else kinds
    n = sources.num_rows
    rows, cols, weights = [], [], []
    group = 0
    for kind, weight in kinds.items():
        columns = [c for c in sources.column_names if c.startswith(kind)] if kind.endswith("_") else [kind]
        columns = [c for c in columns if c in sources.column_names]
        if not columns or weight <= 0:
            continue
        for column in columns:
            codes = _codes(sources[column])
            present = np.flatnonzero(codes >= 0)
            if present.size < 2:
                continue
            keys, inverse, sizes = np.unique(codes[present], return_inverse=True, return_counts=True)
            shared = sizes[inverse] >= 2
            if not shared.any():
                continue
            # Renumber the shared groups 0..g-1 after the groups already built.
            kept = np.flatnonzero(sizes >= 2)
            renumber = np.full(len(keys), -1, dtype=np.int64)
            renumber[kept] = np.arange(len(kept)) + group
            rows.append(present[shared])
            cols.append(renumber[inverse[shared]])
            weights.append(weight / len(columns) / sizes[kept])
            group += len(kept)
    if group:
        r, c = np.concatenate(rows), np.concatenate(cols)
        incidence = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, group))
        w = np.concatenate(weights).astype(np.float64)
    else:
        incidence, w = sp.csr_matrix((n, 0)), np.zeros(0)
    sizes = np.asarray(incidence.sum(axis=0)).ravel()
    degree = incidence @ (w * sizes) + 1.0 if group else np.ones(n)
    return SourceGraph(incidence=incidence, weights=w, degree=np.asarray(degree).ravel())


def lambda_max(graph: SourceGraph, seed: int = 0) -> float:
    """Largest eigenvalue of L_sym (at most 2), by Lanczos on the factored operator."""
    n = graph.n
    if n < 3 or graph.incidence.shape[1] == 0:
        return 2.0
    op = spla.LinearOperator((n, n), matvec=graph.laplacian, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(n)
    try:
        value = float(spla.eigsh(op, k=1, which="LA", tol=1e-3, maxiter=500, v0=v0, return_eigenvectors=False)[0])
    except (spla.ArpackNoConvergence, spla.ArpackError):
        return 2.0
    return value if 0 < value <= 2.0 + 1e-6 else 2.0


def smooth(graph: SourceGraph, x: np.ndarray, steps: int, lam: float | None = None) -> np.ndarray:
    """X~ = H^t X with H = I - L_sym / lambda_max: keeps the low frequencies, neighbours become alike."""
    lam = lambda_max(graph) if lam is None else lam
    out = np.asarray(x, dtype=np.float64)
    for _ in range(max(0, steps)):
        out = out - graph.laplacian(out) / lam
    return out


def structure_embedding(graph: SourceGraph, dims: int, seed: int = 0) -> np.ndarray:
    """Leading eigenvectors of D^-1/2 A D^-1/2 (the graph's structure as coordinates, no smoothing)."""
    n = graph.n
    k = min(dims, n - 2)
    if k < 1 or graph.incidence.shape[1] == 0:
        return np.zeros((n, 0))
    op = spla.LinearOperator((n, n), matvec=graph.normalized, matmat=graph.normalized, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(n)
    try:
        _, vecs = spla.eigsh(op, k=k, which="LA", tol=1e-3, maxiter=1000, v0=v0)
    except spla.ArpackNoConvergence as exc:
        vecs = exc.eigenvectors if exc.eigenvectors is not None and exc.eigenvectors.size else np.zeros((n, 0))
    return vecs
