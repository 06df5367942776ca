"""nfdump CSV output (`nfdump -o csv`), its "Summary" trailer left out."""

from __future__ import annotations

import polars as pl

from pipelines.ingest.flows.common import (
    Columns,
    Fast,
    FastColumns,
    FlowFormat,
    as_bytes,
    as_flags,
    as_float,
    as_int,
    as_ip,
    as_port,
    as_proto,
    as_ts,
    fast_tcp_flags,
    fast_total,
    first_present,
    proto_name,
    tcp_only,
    total,
)

REQUIRED = ("ts", "td", "sa", "da", "sp", "dp", "pr")
TS_FORMATS = ["%Y-%m-%d %H:%M:%S%.f", "%Y/%m/%d %H:%M:%S%.f"]


def careful(f: pl.DataFrame) -> tuple[Columns, dict[str, str]]:
    """nfdump columns as event columns (polars), and the source of each column that must parse."""
    proto = as_proto(f["pr"])
    cols = {
        "ts": as_ts(f["ts"], TS_FORMATS),
        "src_ip": as_ip(f["sa"]),
        "dst_ip": as_ip(f["da"]),
        "src_port": as_port(f["sp"]),
        "dst_port": as_port(f["dp"]),
        "proto": proto,
        "packets": total(f, [first_present(f, "ipkt"), first_present(f, "opkt")], as_int),
        "bytes": total(f, [first_present(f, "ibyt"), first_present(f, "obyt")], as_bytes),
    }
    if "td" in f.columns:
        cols["duration_s"] = as_float(f["td"])
    if "flg" in f.columns:  # 6 (UAPRSF) or 8 (CEUAPRSF) positions, '.' for unset
        cols["tcp_flags"] = tcp_only(as_flags(f["flg"], "CEUAPRSF"), proto)
    required = {"proto": "pr", "ts": "ts", "src_ip": "sa", "dst_ip": "da", "src_port": "sp", "dst_port": "dp"}
    return cols, required


def fast(f: Fast) -> FastColumns:
    """The plain rows of a clean nfdump block as event columns (compiled)."""
    proto = f.text("pr", proto_name)
    f.ok &= ~proto.is_in(None)  # not a protocol: the careful path quarantines the line
    cols = {
        "ts": f.ts("ts"),
        "src_ip": f.ip("sa"),
        "dst_ip": f.ip("da"),
        "src_port": f.port("sp"),
        "dst_port": f.port("dp"),
        "proto": proto,
        "packets": fast_total(f, ["ipkt", "opkt"]),
        "bytes": fast_total(f, ["ibyt", "obyt"]),
    }
    if f.has("td"):
        cols["duration_s"] = f.float("td")
    if f.has("flg"):
        cols["tcp_flags"] = fast_tcp_flags(f, "flg", "CEUAPRSF", proto)
    return cols


USED = frozenset({*REQUIRED, "flg", "ipkt", "ibyt", "opkt", "obyt"})
NFDUMP = FlowFormat("nfdump", REQUIRED, USED, careful, fast, trailer=b"Summary")
