"""Node attributes of the organization graph (paper 001 section 3.2, DESIGN 5.4), encoded sparse.

Text (user agents, URIs, payload prefixes, AS organization) as TF-IDF, categories (country, ASN,
protocol, tool fingerprints: TTL as received, TCP window, fixed IP ID) one-hot, numbers (volume,
rate, shares, pace: gaps between probes and sweep length, lat/lon) standardized, plus the port
profile (TF-IDF over ports hit) and the hour-of-day histogram. Each block is scaled to
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
    "probe_share",
    "src_ports_ratio",
    "gap_median",
    "gap_p90",
    "burst",
    "lat",
    "lon",
)
# Tool fingerprints (TTL as received, fixed IP ID, TCP window) and where the source sits.
CATEGORY_COLUMNS = (
    "country_code",
    "asn",
    "main_proto",
    "flags",
    "tcp_window",
    "ttl_bucket",
    "ttl_mode",
    "ip_id_mode",
    "zmap",
)
_LOG_COLUMNS = ("probes", "ports", "hosts", "rate", "gap_median", "gap_p90", "burst")
# Which sources are clustered (DESIGN 5.4 clusters scanners, not every client of the site):
# "scanning" = at least `min_probes` unsolicited probes making up at least `min_probe_share` of
# the source's events; "labelled" = the sources the reference lists name (paper 001's protocol:
# its Table 2 clusters the labelled traffic of its 19 organizations); "all" = every source.
POPULATIONS = ("scanning", "labelled", "all")


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


def day_rows(con: duckdb.DuckDBPyConnection, every_source: bool = False) -> pa.Table:
    """The `source_features_day` rows of `events` in `con`: one per (event_date, src_ip), each day's probes judged alone.

    The list columns are filled for the sources that probed that day, or for every source with
    `every_source`. Events of several days are judged day by day, each on a connection of its own
    holding only that day, so the rows are those each day's own step stores (a probe is judged with
    its conversation and the services its source uses, sql/detect/probes.sql, within its day).
    """
    sql = "SELECT DISTINCT event_date FROM events WHERE src_ip IS NOT NULL ORDER BY event_date"
    days = [r[0] for r in con.execute(sql).fetchall()]
    if len(days) <= 1:
        from pipelines.duck import drop_staged
        from pipelines.orgs.days import day_relation

        rows = day_relation(con, every_source).to_arrow_table()
        drop_staged(con)
        return rows
    parts = []
    for day in days:
        one = con.execute("SELECT * FROM events WHERE event_date = $d", {"d": day}).to_arrow_table()
        own = duckdb.connect()
        try:
            own.register("_orgs_one_day", one)
            own.execute("CREATE VIEW events AS SELECT * FROM _orgs_one_day")
            parts.append(day_rows(own, every_source))
        finally:
            own.close()
    return pa.concat_tables(parts)


def combine_days(
    con: duckdb.DuckDBPyConnection, days: pa.Table | str, scanning: tuple[int, float] | None = None
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Per-source aggregates, (source, port) and (source, hour) counts combined from `source_features_day` rows (+ `geo_ip`).

    The rows may be of one day or of many (the `orgs.window_days` window read from the lake). A
    source's probe count and share sum every row; the rest of its features combine its detailed
    rows (the days it probed), exactly (sql/orgs/source_features.sql). With `scanning` =
    (min_probes, min_probe_share) only the sources `scanning_mask` keeps are combined: each row
    depends on its own source's rows alone, so the rows are those of the whole table, filtered.
    `days` may also be a query of the rows (the window's files, read where they lie).
    """
    _geo_view(con)
    if isinstance(days, str):
        con.execute(f"CREATE OR REPLACE TEMP VIEW _orgs_day_rows AS {days}")
    else:
        con.register("_orgs_day_rows", days)
    try:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE orgs_source_counts AS
               SELECT src_ip, sum(events)::BIGINT AS events, sum(probe_events)::BIGINT AS probe_events
               FROM _orgs_day_rows WHERE src_ip IS NOT NULL GROUP BY src_ip"""
        )
        keep = "TRUE"
        if scanning is not None:
            keep = """src_ip IN (SELECT src_ip FROM orgs_source_counts WHERE probe_events > 0
                      AND probe_events >= $min_probes AND probe_events / events >= $min_share)"""
        params = {} if scanning is None else {"min_probes": scanning[0], "min_share": scanning[1]}
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE orgs_days AS SELECT * FROM _orgs_day_rows WHERE is_detailed AND {keep}",
            params,
        )
        sources = con.execute(read_sql("orgs/source_features")).to_arrow_table()
        ports = con.execute(read_sql("orgs/source_ports")).to_arrow_table()
        hours = con.execute(read_sql("orgs/source_hours")).to_arrow_table()
    finally:
        con.execute("DROP VIEW IF EXISTS orgs_geo_ip")
        con.execute("DROP TABLE IF EXISTS orgs_days")
        con.execute("DROP TABLE IF EXISTS orgs_source_counts")
        if isinstance(days, str):
            con.execute("DROP VIEW IF EXISTS _orgs_day_rows")
        else:
            con.unregister("_orgs_day_rows")
    return sources, ports, hours


def source_tables(
    con: duckdb.DuckDBPyConnection, scanning: tuple[int, float] | None = None
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Per-source aggregates, (source, port) and (source, hour) counts of `events` (+ `geo_ip`).

    The events' `source_features_day` rows, combined (`combine_days`): one definition of every
    feature, whether the days are read from the lake or computed here from `events`. With
    `scanning`, only the sources that probed get their lists built: on a day of a million sources,
    of which 50,000 scan, lists and quantiles for all could not be built under a 2 GB limit
    (docs/SCALING.md); without, every source's are (every source is encoded).
    """
    return combine_days(con, day_rows(con, every_source=scanning is None), scanning)


def scanning_mask(sources: pa.Table, min_probes: int, min_probe_share: float) -> np.ndarray:
    """Sources that probe: at least `min_probes` probes, at least `min_probe_share` of their events."""
    probes = np.nan_to_num(sources["probe_events"].to_numpy(zero_copy_only=False).astype(np.float64))
    share = np.nan_to_num(sources["probe_share"].to_numpy(zero_copy_only=False).astype(np.float64))
    return (probes >= min_probes) & (share >= min_probe_share)


def _keep(table: pa.Table, ips: set[str]) -> pa.Table:
    import pyarrow.compute as pc

    return table.filter(pc.is_in(table["src_ip"], value_set=pa.array(sorted(ips), pa.string())))


def source_features(con: duckdb.DuckDBPyConnection, keep: np.ndarray | None = None, tables=None) -> SourceFeatures:
    """Aggregate `events` (+ `geo_ip`) per source and encode the node attributes as one sparse matrix.

    `keep` (a mask over `source_tables(con)[0]`) restricts the sources encoded, so that TF-IDF
    weights and scaling are those of the clustered population; `tables` reuses tables already read.
    """
    sources, ports, hours = tables if tables is not None else source_tables(con)
    if keep is not None:
        sources = sources.filter(pa.array(keep, pa.bool_()))
        ips = set(sources["src_ip"].to_pylist())
        ports, hours = _keep(ports, ips), _keep(hours, ips)
    index = {ip: i for i, ip in enumerate(sources["src_ip"].to_pylist())}
    port_counts, port_labels = _long_to_matrix(ports, index, "dst_port")
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
    keys = graph_keys(sources, port_counts, port_labels)
    for name, values in keys.items():
        sources = sources.append_column(name, values)
    return SourceFeatures(sources=sources, matrix=matrix, blocks=ranges)


# MinHash of each source's port set: sources whose sets agree on all rows of one band share that
# band's key, so port sets with Jaccard similarity s meet in some band with 1 - (1 - s^r)^b.
PORT_BANDS, PORT_ROWS = 8, 2
_PRIME = 2_147_483_647


def port_band_keys(port_counts: sp.csr_matrix, ports: list, seed: int = 0) -> list[pa.Array]:
    """PORT_BANDS int64 arrays of per-source band keys over the distinct ports hit (null without ports).

    `ports` are the port numbers of `port_counts`' columns, hashed so keys do not depend on the population.
    """
    n = port_counts.shape[0]
    m = sp.csr_matrix(port_counts)
    rng = np.random.default_rng(seed)
    hashes = PORT_BANDS * PORT_ROWS
    a = rng.integers(1, _PRIME, size=hashes, dtype=np.int64)
    b = rng.integers(0, _PRIME, size=hashes, dtype=np.int64)
    cols = np.asarray(ports, dtype=np.int64)[m.indices] if m.nnz else np.zeros(0, dtype=np.int64)
    has = np.diff(m.indptr) > 0
    mins = np.zeros((n, hashes), dtype=np.int64)
    if cols.size:
        h = (cols[:, None] * a[None, :] + b[None, :]) % _PRIME
        mins[has] = np.minimum.reduceat(h, m.indptr[:-1][has], axis=0)
    out = []
    for band in range(PORT_BANDS):
        key = np.zeros(n, dtype=np.int64)
        for row in range(PORT_ROWS):  # the band's minima as digits base _PRIME (wrapping is harmless)
            key = key * _PRIME + mins[:, band * PORT_ROWS + row]
        out.append(pa.array(key, pa.int64(), mask=~has))
    return out


def graph_keys(sources: pa.Table, port_counts: sp.csr_matrix, ports: list) -> dict[str, pa.Array]:
    """Group keys of the graph's edge kinds that are not plain columns: tool fingerprint, port-set bands.

    The fingerprint edge is TTL as received and TCP window (the IP ID stays a node attribute: IPv6
    has none, and the same scanner probing over both families should still be tied).
    """
    ttl = sources["ttl_mode"].to_pylist()
    win = sources["tcp_window"].to_pylist()
    fingerprint = [None if t is None and w is None else f"{t}/{w}" for t, w in zip(ttl, win, strict=True)]
    keys: dict[str, pa.Array] = {"fingerprint": pa.array(fingerprint, pa.string())}
    for band, values in enumerate(port_band_keys(port_counts, ports)):
        keys[f"port_band_{band}"] = values
    return keys


def reduce(matrix: sp.csr_matrix, dims: int = 64, seed: int = 0) -> np.ndarray:
    """Dense low-rank view of the sparse features (truncated SVD) so smoothing and K-means stay cheap."""
    from sklearn.decomposition import TruncatedSVD

    n, d = matrix.shape
    if n == 0 or d == 0:
        return np.zeros((n, 0))
    k = min(dims, d - 1, n - 1)
    if k < 1:
        return matrix.toarray()
    # Fewer power iterations on large inputs: the leading directions (organizations) are well
    # separated, and the cost grows with n x d x iterations.
    n_iter = 4 if n <= 20000 else 2
    return TruncatedSVD(n_components=k, random_state=seed, algorithm="randomized", n_iter=n_iter).fit_transform(matrix)
