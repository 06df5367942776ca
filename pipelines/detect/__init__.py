"""Scan detectors: the dynamic threshold (paper 000), entropy windows and the persistent incremental
model (paper 002), and the port-ratio baseline. Each takes a DuckDB connection holding `events`."""

from __future__ import annotations

import duckdb

from pipelines.sqlfiles import read_sql
from pipelines.warehouse import sql_header_comments


def ensure_probes(con: duckdb.DuckDBPyConnection) -> None:
    """Create the `probes` view (the shared definition of what counts as a probe) over `events`."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW probes AS {read_sql('detect/probes')}")


def _comments(name: str) -> dict[str, str]:
    return sql_header_comments(read_sql(f"detect/{name}"))[1]


SCAN_SLOW_COMMENTS = {
    "src_ip": "The source whose target set grew.",
    "kind": "horizontal (fixed src_ip and dst_port, growing hosts) or vertical (fixed src_ip and dst_ip, growing ports).",
    "fixed_value": "The fixed part of the combination: dst_port for horizontal, dst_ip for vertical.",
    "period_start": "Start of the growth period's first window (UTC).",
    "period_end": "End of the growth period's last window (UTC).",
    "windows": "Windows in the growth period (periods shorter than min_period are dropped).",
    "targets": "Distinct targets (hosts or ports) reached in the period.",
    "records": "Probe records of the combination in the period.",
    "cond_entropy": "Normalized conditional entropy of the targets given the combination: H(targets) / log(records).",
    "is_scan": "cond_entropy at or above the threshold: judged a scan.",
    "threshold": "Entropy threshold used (paper 002: 0.75).",
    "window_s": "Window length in seconds (paper 002: 120).",
    "min_windows": "Persistence: the combination appeared in more than this many windows.",
    "min_period": "Minimum growth period length in windows.",
}

COMMENTS = {
    "scan_fast": _comments("scan_fast"),
    "window_entropy": _comments("window_entropy"),
    "scan_slow": SCAN_SLOW_COMMENTS,
    "port_ratio": _comments("port_ratio"),
}
