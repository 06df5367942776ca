"""Node attributes of the organization graph (paper 001 section 3.2, DESIGN 5.4), encoded sparse.

Text (user agents, URIs, payload prefixes, AS organization) as TF-IDF, categories (country, ASN,
protocol, tool fingerprints) one-hot, numbers (volume, rate, shares, lat/lon) standardized, plus
the port profile (TF-IDF over ports hit) and the hour-of-day histogram. Each block is scaled to
unit row norm times its weight so that no block dominates by its width.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from pipelines.sqlfiles import read_sql

# Relative weights of the feature blocks; the port profile and timing carry most of an
# organization's signature, text is absent for packet-level inputs.
BLOCK_WEIGHTS = {"ports": 1.0, "hours": 0.7, "text": 0.7, "categories": 0.7, "numbers": 0.5}
NUMBER_COLUMNS = (
    "probes",
    "ports",
    "hosts",
    "days",
    "rate",
    "tcp_share",
    "udp_share",
    "icmp_share",
    "zmap_share",
    "lat",
    "lon",
)
CATEGORY_COLUMNS = ("country_code", "asn", "main_proto", "flags", "tcp_window", "ttl_bucket", "zmap")
_LOG_COLUMNS = ("probes", "ports", "hosts", "rate")


@dataclass
class SourceFeatures:
    """The encoded node attributes and the raw per-source table they came from."""

    sources: pa.Table  # one row per source, sql/orgs/source_features.sql
    matrix: sp.csr_matrix  # n_sources x n_features, blocks weighted
    blocks: dict[str, tuple[int, int]]  # block name -> column range in `matrix`

    @property
    def ips(self) -> list[str]:
        """Source addresses in matrix row order."""
        return self.sources["src_ip"].to_pylist()


def _has(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE table_name = $n UNION ALL SELECT 1 FROM duckdb_views() WHERE view_name = $n",
        {"n": name},
    ).fetchall()
    return bool(rows)


def _row_normalize(m: sp.csr_matrix, weight: float) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(weight / norms) @ m)


def _long_to_matrix(
    table: pa.Table, index: dict[str, int], key: str, width: int | None = None
) -> tuple[sp.csr_matrix, list]:
    rows = np.array([index[ip] for ip in table["src_ip"].to_pylist()], dtype=np.int64)
    values = table[key].to_numpy(zero_copy_only=False)
    if width is None:
        labels, cols = np.unique(values, return_inverse=True)
        width = len(labels)
    else:
        labels, cols = np.arange(width), values.astype(np.int64)
    hits = table["hits"].to_numpy(zero_copy_only=False).astype(np.float64)
    m = sp.csr_matrix((hits, (rows, cols)), shape=(len(index), width))
    return m, list(labels)


def _tfidf_counts(counts: sp.csr_matrix) -> sp.csr_matrix:
    from sklearn.feature_extraction.text import TfidfTransformer

    if counts.shape[1] == 0:
        return counts
    return sp.csr_matrix(TfidfTransformer(sublinear_tf=True).fit_transform(counts))


def _text_block(texts: list[str | None], as_orgs: list[str | None]) -> sp.csr_matrix:
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [" ".join(t for t in (a or "", b or "") if t) for a, b in zip(texts, as_orgs, strict=True)]
    if not any(d.strip() for d in docs):
        return sp.csr_matrix((len(docs), 0))
    # Tokens of URIs and user agents: words and path pieces; attacker text is only counted.
    vec = TfidfVectorizer(
        token_pattern=r"[A-Za-z0-9_\-]{2,}", lowercase=True, max_features=5000, sublinear_tf=True, dtype=np.float64
    )
    try:
        return sp.csr_matrix(vec.fit_transform(docs))
    except ValueError:  # only stop-words / no tokens
        return sp.csr_matrix((len(docs), 0))


def _category_block(sources: pa.Table) -> sp.csr_matrix:
    from sklearn.preprocessing import OneHotEncoder

    zmap = ["yes" if v and v >= 0.5 else "no" for v in sources["zmap_share"].to_pylist()]
    columns = []
    for name in CATEGORY_COLUMNS:
        values = zmap if name == "zmap" else sources[name].to_pylist()
        columns.append(["" if v is None else str(v) for v in values])
    data = (
        np.array(columns, dtype=object).T
        if columns and sources.num_rows
        else np.empty((sources.num_rows, 0), dtype=object)
    )
    if data.shape[0] == 0:
        return sp.csr_matrix((0, 0))
    enc = OneHotEncoder(handle_unknown="ignore", sparse_output=True, dtype=np.float64)
    m = sp.csr_matrix(enc.fit_transform(data))
    # Unknown values ("") carry no information: drop their columns.
    keep = [i for i, cat in enumerate(c for cats in enc.categories_ for c in cats) if cat != ""]
    return m[:, keep]


def _number_block(sources: pa.Table) -> sp.csr_matrix:
    from sklearn.preprocessing import StandardScaler

    cols = []
    for name in NUMBER_COLUMNS:
        v = np.array([np.nan if x is None else float(x) for x in sources[name].to_pylist()], dtype=np.float64)
        if name in _LOG_COLUMNS:
            v = np.log1p(np.clip(v, 0, None))
        v = np.where(np.isnan(v), np.nanmean(v) if np.isfinite(v).any() else 0.0, v)
        cols.append(v)
    x = np.column_stack(cols) if cols else np.empty((sources.num_rows, 0))
    x = StandardScaler().fit_transform(x) if x.shape[0] > 1 else np.zeros_like(x)
    return sp.csr_matrix(np.nan_to_num(x))


def _geo_view(con: duckdb.DuckDBPyConnection) -> None:
    """Temp view `orgs_geo_ip` with the geo columns the features use, null where `geo_ip` lacks them."""
    present = set()
    if _has(con, "geo_ip"):
        present = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE geo_ip)").fetchall()}
    if "ip" not in present:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW orgs_geo_ip AS SELECT NULL::VARCHAR AS ip, NULL::VARCHAR AS country_code, "
            "NULL::VARCHAR AS asn, NULL::VARCHAR AS as_org, NULL::DOUBLE AS lat, NULL::DOUBLE AS lon WHERE false"
        )
        return
    # Column names below are our own constants; values are cast so any geo_ip typing works.
    cols = {
        "country_code": "VARCHAR",
        "asn": "VARCHAR",
        "as_org": "VARCHAR",
        "lat": "DOUBLE",
        "lon": "DOUBLE",
    }
    select = ", ".join(
        f'TRY_CAST("{c}" AS {t}) AS {c}' if c in present else f"NULL::{t} AS {c}" for c, t in cols.items()
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW orgs_geo_ip AS SELECT ip::VARCHAR AS ip, {select} FROM geo_ip")


def source_features(con: duckdb.DuckDBPyConnection) -> SourceFeatures:
    """Aggregate `events` (+ `geo_ip`) per source and encode the node attributes as one sparse matrix."""
    _geo_view(con)
    try:
        sources = con.execute(read_sql("orgs/source_features")).fetch_arrow_table()
        ports = con.execute(read_sql("orgs/source_ports")).fetch_arrow_table()
        hours = con.execute(read_sql("orgs/source_hours")).fetch_arrow_table()
    finally:
        con.execute("DROP VIEW IF EXISTS orgs_geo_ip")
    index = {ip: i for i, ip in enumerate(sources["src_ip"].to_pylist())}
    port_counts, _ = _long_to_matrix(ports, index, "dst_port")
    hour_counts, _ = _long_to_matrix(hours, index, "hour", width=24)
    blocks_raw = {
        "ports": _tfidf_counts(port_counts),
        "hours": hour_counts,
        "text": _text_block(sources["text"].to_pylist(), sources["as_org"].to_pylist()),
        "categories": _category_block(sources),
        "numbers": _number_block(sources),
    }
    parts, ranges, start = [], {}, 0
    for name, m in blocks_raw.items():
        if m.shape[1] == 0 or sources.num_rows == 0:
            continue
        parts.append(_row_normalize(m, BLOCK_WEIGHTS[name]))
        ranges[name] = (start, start + m.shape[1])
        start += m.shape[1]
    matrix = sp.hstack(parts, format="csr") if parts else sp.csr_matrix((sources.num_rows, 0))
    return SourceFeatures(sources=sources, matrix=matrix, blocks=ranges)


def reduce(matrix: sp.csr_matrix, dims: int = 64, seed: int = 0) -> np.ndarray:
    """Dense low-rank view of the sparse features (truncated SVD) so smoothing and K-means stay cheap."""
    from sklearn.decomposition import TruncatedSVD

    n, d = matrix.shape
    if n == 0 or d == 0:
        return np.zeros((n, 0))
    k = min(dims, d - 1, n - 1)
    if k < 1:
        return matrix.toarray()
    return TruncatedSVD(n_components=k, random_state=seed, algorithm="randomized", n_iter=4).fit_transform(matrix)
