"""CIDDS-001/002 flow CSVs (nfdump-exported NetFlow with labels: class, attackType)."""

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
    as_text,
    as_ts,
    fast_tcp_flags,
    label_of,
    proto_name,
    tcp_only,
)

REQUIRED = (
    "Date first seen",
    "Duration",
    "Proto",
    "Src IP Addr",
    "Src Pt",
    "Dst IP Addr",
    "Dst Pt",
    "Packets",
    "Bytes",
    "Flags",
)
TS_FORMATS = ["%Y-%m-%d %H:%M:%S%.f"]


def careful(f: pl.DataFrame) -> tuple[Columns, dict[str, str]]:
    """CIDDS columns as event columns (polars), and the source of each column that must parse."""
    proto = as_proto(f["Proto"])
    cols = {
        "ts": as_ts(f["Date first seen"], TS_FORMATS),
        "duration_s": as_float(f["Duration"]),
        "proto": proto,
        "src_ip": as_ip(f["Src IP Addr"]),
        "src_port": as_port(f["Src Pt"]),
        "dst_ip": as_ip(f["Dst IP Addr"]),
        "dst_port": as_port(f["Dst Pt"]),
        "packets": as_int(f["Packets"]),
        "bytes": as_bytes(f["Bytes"]),
        # CIDDS writes six positions UAPRSF with '.' for unset.
        "tcp_flags": tcp_only(as_flags(f["Flags"], "UAPRSF"), proto),
    }
    if "class" in f.columns:
        cols["label"] = as_text(f["class"])
    if "attackType" in f.columns:
        cols["attack_type"] = as_text(f["attackType"], ("", "---"))
    required = {
        "proto": "Proto",
        "ts": "Date first seen",
        "src_ip": "Src IP Addr",
        "dst_ip": "Dst IP Addr",
        "src_port": "Src Pt",
        "dst_port": "Dst Pt",
        "packets": "Packets",
        "bytes": "Bytes",
        "duration_s": "Duration",
    }
    return cols, required


def fast(f: Fast) -> FastColumns:
    """The plain rows of a clean CIDDS block as event columns (compiled)."""
    proto = f.text("Proto", proto_name)
    f.ok &= ~proto.is_in(None)  # not a protocol: the careful path quarantines the line
    cols = {
        "ts": f.ts("Date first seen"),
        "duration_s": f.float("Duration"),
        "proto": proto,
        "src_ip": f.ip("Src IP Addr"),
        "src_port": f.port("Src Pt"),
        "dst_ip": f.ip("Dst IP Addr"),
        "dst_port": f.port("Dst Pt"),
        "packets": f.int("Packets"),
        "bytes": f.int("Bytes"),
        "tcp_flags": fast_tcp_flags(f, "Flags", "UAPRSF", proto),
    }
    if f.has("class"):
        cols["label"] = f.text("class", label_of())
    if f.has("attackType"):
        cols["attack_type"] = f.text("attackType", label_of(("", "---")))
    return cols


CIDDS = FlowFormat("cidds", REQUIRED, frozenset({*REQUIRED, "class", "attackType"}), careful, fast)
