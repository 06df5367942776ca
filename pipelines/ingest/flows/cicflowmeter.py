"""CICFlowMeter flow CSVs (CIC-IDS2017/2018 and the corrected releases), both header styles."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.ingest.flows.common import (
    FLAG_TABLE,
    Coded,
    Columns,
    Fast,
    FastColumns,
    FlowFormat,
    as_float,
    as_int,
    as_ip,
    as_port,
    as_proto,
    as_text,
    as_ts,
    fast_total,
    first_of,
    first_present,
    label_of,
    proto_name,
    tcp_only,
    total,
)
from pipelines.ingest.signatures import CIC_ALIASES

REQUIRED = ("Src IP", "Src Port", "Dst IP", "Dst Port", "Protocol", "Timestamp")
# CICFlowMeter versions spell the same counters differently; the first present name is read.
CIC_FWD_PACKETS = ("Total Fwd Packet", "Total Fwd Packets", "Tot Fwd Pkts")
CIC_BWD_PACKETS = ("Total Bwd packets", "Total Backward Packets", "Total Bwd Packets", "Tot Bwd Pkts")
CIC_FWD_BYTES = ("Total Length of Fwd Packet", "Total Length of Fwd Packets", "TotLen Fwd Pkts")
CIC_BWD_BYTES = ("Total Length of Bwd Packet", "Total Length of Bwd Packets", "TotLen Bwd Pkts")
CIC_CWR = ("CWR Flag Count", "CWE Flag Count")  # CIC-IDS2017 misnames CWR as CWE
CIC_FLAG_COUNTS = tuple(f"{f} Flag Count" for f in ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE"))  # bits 0-6
# CIC-IDS2017 as published writes day/month/year; the corrected release writes ISO.
TS_FORMATS = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %I:%M:%S %p",
    "%Y-%m-%dT%H:%M:%S%.f",
]


def careful(f: pl.DataFrame) -> tuple[Columns, dict[str, str]]:
    """CICFlowMeter columns as event columns (polars), and the source of each column that must parse."""
    proto = as_proto(f["Protocol"])
    fwd_p = first_present(f, *CIC_FWD_PACKETS)
    bwd_p = first_present(f, *CIC_BWD_PACKETS)
    fwd_b = first_present(f, *CIC_FWD_BYTES)
    bwd_b = first_present(f, *CIC_BWD_BYTES)
    flag_cols = [*CIC_FLAG_COUNTS, first_present(f, *CIC_CWR) or CIC_CWR[0]]
    bits = pl.Series(np.zeros(f.height, np.int64))
    for bit, c in enumerate(flag_cols):
        if c in f.columns:
            bits = bits + (as_float(f[c]).fill_null(0) > 0).cast(pl.Int64) * (1 << bit)
    cols = {
        "ts": as_ts(f["Timestamp"], TS_FORMATS),
        "src_ip": as_ip(f["Src IP"]),
        "src_port": as_port(f["Src Port"]),
        "dst_ip": as_ip(f["Dst IP"]),
        "dst_port": as_port(f["Dst Port"]),
        "proto": proto,
        "tcp_flags": tcp_only(FLAG_TABLE.gather(bits), proto),
        "packets": total(f, [fwd_p, bwd_p], as_int),
        "bytes": total(f, [fwd_b, bwd_b], as_int),
    }
    if "Flow Duration" in f.columns:
        cols["duration_s"] = as_float(f["Flow Duration"]) / 1e6  # CICFlowMeter counts microseconds
    if "Label" in f.columns:
        cols["label"] = as_text(f["Label"])
    required = {
        "proto": "Protocol",
        "ts": "Timestamp",
        "src_ip": "Src IP",
        "dst_ip": "Dst IP",
        "src_port": "Src Port",
        "dst_port": "Dst Port",
    }
    return cols, required


def fast(f: Fast) -> FastColumns:
    """The plain rows of a clean CICFlowMeter block as event columns (compiled)."""
    proto = f.text("Protocol", proto_name)
    f.ok &= ~proto.is_in(None)  # not a protocol: the careful path quarantines the line
    bits = np.zeros(len(f.line), np.int32)
    for bit, c in enumerate([*CIC_FLAG_COUNTS, first_of(f, *CIC_CWR)]):
        if f.has(c):
            bits |= (f.float(c) > 0).astype(np.int32) << bit
    cols = {
        "ts": f.ts("Timestamp"),
        "src_ip": f.ip("Src IP"),
        "src_port": f.port("Src Port"),
        "dst_ip": f.ip("Dst IP"),
        "dst_port": f.port("Dst Port"),
        "proto": proto,
        "tcp_flags": Coded(bits, FLAG_TABLE.to_list()).where(proto.is_in("tcp")),
        "packets": fast_total(f, [first_of(f, *CIC_FWD_PACKETS), first_of(f, *CIC_BWD_PACKETS)]),
        "bytes": fast_total(f, [first_of(f, *CIC_FWD_BYTES), first_of(f, *CIC_BWD_BYTES)]),
    }
    if f.has("Flow Duration"):
        # Polars divides by a constant as a product with its reciprocal: the same here, to the bit.
        cols["duration_s"] = f.float("Flow Duration") * (1 / 1e6)
    if f.has("Label"):
        cols["label"] = f.text("Label", label_of())
    return cols


USED = frozenset(
    {*REQUIRED, "Flow Duration", *CIC_FWD_PACKETS, *CIC_BWD_PACKETS, *CIC_FWD_BYTES, *CIC_BWD_BYTES}
    | {*CIC_FLAG_COUNTS, *CIC_CWR, "Label"}
)
CICFLOWMETER = FlowFormat("cicflowmeter", REQUIRED, USED, careful, fast, aliases=CIC_ALIASES)
