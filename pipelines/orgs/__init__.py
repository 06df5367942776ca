"""Scanning organizations (paper 001 without the neural network, DESIGN 5.4).

`scanner_orgs(con, settings)` clusters the scanning sources of `events` into organizations;
`reference.load_reference(dir)` reads the known organizations' address lists. Heavy imports
(scikit-learn, scipy) happen inside the functions so that importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import duckdb

    from pipelines.settings import Settings

SCANNER_ORGS_SCHEMA = pa.schema(
    [
        ("src_ip", pa.string()),
        ("cluster_id", pa.int32()),
        ("org", pa.string()),
        ("method", pa.string()),
        ("known_org", pa.string()),
        ("setting", pa.string()),
        ("algorithm", pa.string()),
    ]
)
SCANNER_ORGS_COMMENTS: dict[str, str] = {
    "src_ip": "Source (scanner) address; every source seen in events appears once.",
    "cluster_id": "Cluster number from the clustering run (-1: DBSCAN noise; null: not a scanning source, not clustered); stable only within one build.",
    "org": "Organization of the cluster: the known organization dominating it (reference lists), else unknown-N; for sources not clustered their listed organization, else 'unclustered'.",
    "method": "How the organization was found: '<algorithm> on <setting>' (e.g. 'kmeans on graph+smoothing'), 'reference list', or 'not clustered (fewer than N probes)'.",
    "known_org": "The source's own organization on the reference lists (settings orgs.dir), else null.",
    "setting": "Representation clustered: features, graph (features + graph structure) or graph+smoothing (X~ = H^t X).",
    "algorithm": "Clustering algorithm: kmeans, spectral or dbscan.",
}


def scanner_orgs(con: duckdb.DuckDBPyConnection, settings: Settings) -> pa.Table:
    """Cluster the scanning sources of `events` (all days, `geo_ip` joined) into organizations; one row per source."""
    from pipelines.orgs.cluster import scanner_orgs as run

    return run(con, settings)


__all__ = ["SCANNER_ORGS_COMMENTS", "SCANNER_ORGS_SCHEMA", "scanner_orgs"]
