"""CICFlowMeter flow CSVs (CIC-IDS2017/2018 and the corrected releases), both header styles."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.ingest import outcome
from pipelines.ingest.flows.common import (
    FLAG_TABLE,
    REJECT,
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
from pipelines.ingest.outcome import CODE_VALUES
from pipelines.ingest.signatures import CIC_ALIASES

REQUIRED = ("Src IP", "Src Port", "Dst IP", "Dst Port", "Protocol", "Timestamp")
# CICFlowMeter versions spell the same counters differently; the first present name is read.
CIC_FWD_PACKETS = ("Total Fwd Packet", "Total Fwd Packets", "Tot Fwd Pkts")
CIC_BWD_PACKETS = ("Total Bwd packets", "Total Backward Packets", "Total Bwd Packets", "Tot Bwd Pkts")
CIC_FWD_BYTES = ("Total Length of Fwd Packet", "Total Length of Fwd Packets", "TotLen Fwd Pkts")
CIC_BWD_BYTES = ("Total Length of Bwd Packet", "Total Length of Bwd Packets", "TotLen Bwd Pkts")
CIC_CWR = ("CWR Flag Count", "CWE Flag Count")  # CIC-IDS2017 misnames CWR as CWE
CIC_FLAG_COUNTS = tuple(f"{f} Flag Count" for f in ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE"))  # bits 0-6
# CICFlowMeter writes a record with protocol 0 and ports 0 for frames it could not decode as a
# TCP/UDP/ICMP flow (the CIC-IDS2017 corrected release keeps them, e.g. 8.6.0.1 -> 8.0.6.4): not traffic.
GARBAGE = (
    "CICFlowMeter record with protocol 0 and ports 0: the exporter's record of frames it could not decode, not traffic"
)
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
    packets = total(f, [fwd_p, bwd_p], as_int)
    payload = total(f, [fwd_b, bwd_b], as_int)
    resp_p = as_int(f[bwd_p]) if bwd_p else None
    src_port, dst_port = as_port(f["Src Port"]), as_port(f["Dst Port"])
    codes = judge(
        proto.to_numpy(),
        bits.to_numpy() if any(c in f.columns for c in flag_cols) else None,
        np.zeros(f.height, np.int64) if packets is None else packets.to_numpy(),
        None if resp_p is None else resp_p.fill_null(-1).to_numpy(),
        None if fwd_b is None or bwd_b is None else payload.to_numpy(),
    )
    garbage = ((proto == "0") & (src_port == 0) & (dst_port == 0)).fill_null(False)
    cols = {
        "ts": as_ts(f["Timestamp"], TS_FORMATS),
        "src_ip": as_ip(f["Src IP"]),
        "src_port": src_port,
        "dst_ip": as_ip(f["Dst IP"]),
        "dst_port": dst_port,
        "proto": proto,
        "tcp_flags": tcp_only(FLAG_TABLE.gather(bits), proto),
        "packets": packets,
        "bytes": payload,
        "resp_packets": resp_p,
        "resp_bytes": as_int(f[bwd_b]) if bwd_b else None,
        "outcome": pl.Series(CODE_VALUES, dtype=pl.String).gather(codes.astype(np.uint32)),
        REJECT: pl.Series([None, GARBAGE], dtype=pl.String).gather(garbage.cast(pl.UInt32)),
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
    flag_cols = [c for c in [*CIC_FLAG_COUNTS, first_of(f, *CIC_CWR)] if f.has(c)]
    bits = np.zeros(len(f.line), np.int32)
    for bit, c in enumerate([*CIC_FLAG_COUNTS, first_of(f, *CIC_CWR)]):
        if f.has(c):
            bits |= (f.float(c) > 0).astype(np.int32) << bit
    src_port, dst_port = f.port("Src Port"), f.port("Dst Port")
    f.ok &= ~(proto.is_in("0") & (src_port == 0) & (dst_port == 0))  # the careful path quarantines it
    bwd_p, bwd_b = first_of(f, *CIC_BWD_PACKETS), first_of(f, *CIC_BWD_BYTES)
    fwd_b = first_of(f, *CIC_FWD_BYTES)
    packets = fast_total(f, [first_of(f, *CIC_FWD_PACKETS), bwd_p])
    payload = fast_total(f, [fwd_b, bwd_b])
    resp_p = f.int(bwd_p) if f.has(bwd_p) else None
    resp_b = f.int(bwd_b) if f.has(bwd_b) else None
    names = np.array(proto.values, object)[proto.codes]
    codes = judge(
        names,
        bits.astype(np.int64) if flag_cols else None,
        np.zeros(len(f.line), np.int64) if packets is None else packets,
        resp_p,
        payload if f.has(fwd_b) and f.has(bwd_b) else None,
    )
    cols = {
        "ts": f.ts("Timestamp"),
        "src_ip": f.ip("Src IP"),
        "src_port": src_port,
        "dst_ip": f.ip("Dst IP"),
        "dst_port": dst_port,
        "proto": proto,
        "tcp_flags": Coded(bits, FLAG_TABLE.to_list()).where(proto.is_in("tcp")),
        "packets": packets,
        "bytes": payload,
        "resp_packets": resp_p,
        "resp_bytes": resp_b,
        "outcome": Coded(codes.astype(np.int32), CODE_VALUES),
    }
    if f.has("Flow Duration"):
        # Polars divides by a constant as a product with its reciprocal: the same here, to the bit.
        cols["duration_s"] = f.float("Flow Duration") * (1 / 1e6)
    if f.has("Label"):
        cols["label"] = f.text("Label", label_of())
    return cols


def judge(
    proto: np.ndarray, bits: np.ndarray | None, packets: np.ndarray, resp: np.ndarray | None,
    payload: np.ndarray | None,
) -> np.ndarray:  # fmt: skip
    """Outcome codes of CICFlowMeter biflows: `outcome.biflow` on their backward counts and payload bytes.

    CICFlowMeter's `Total Length of Fwd/Bwd Packets` are payload bytes, so they prove whether the
    contact was used; `resp` is -1 where the careful path could not read the backward count.
    """
    if resp is not None and (resp < 0).any():
        known = resp >= 0
        codes = outcome.biflow(proto == "tcp", proto == "udp", bits, packets, np.where(known, resp, 0), used(payload))
        return np.where(known, codes, 2).astype(np.int8)
    return outcome.biflow(proto == "tcp", proto == "udp", bits, packets, resp, used(payload))


def used(payload: np.ndarray | None) -> np.ndarray | int:
    """1 where payload was carried either way, 0 where none was; -1 (unknown) without the byte columns."""
    return -1 if payload is None else (payload > 0).astype(np.int8)


USED = frozenset(
    {*REQUIRED, "Flow Duration", *CIC_FWD_PACKETS, *CIC_BWD_PACKETS, *CIC_FWD_BYTES, *CIC_BWD_BYTES}
    | {*CIC_FLAG_COUNTS, *CIC_CWR, "Label"}
)
CICFLOWMETER = FlowFormat("cicflowmeter", REQUIRED, USED, careful, fast, aliases=CIC_ALIASES)
