"""nfdump CSV output (`nfdump -o csv`), its "Summary" trailer left out."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from pipelines.ingest import outcome
from pipelines.ingest.flows.common import (
    Coded,
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
    by_value,
    fast_total,
    first_present,
    flag_letters,
    proto_name,
    tcp_only,
    total,
)

REQUIRED = ("ts", "td", "sa", "da", "sp", "dp", "pr")
TS_FORMATS = ["%Y-%m-%d %H:%M:%S%.f", "%Y/%m/%d %H:%M:%S%.f"]


# Largest header of one TCP packet (IP without options + TCP with 40 bytes of options): nfdump's
# byte counts are IP bytes, so a direction proves payload only when its bytes exceed this per packet.
MAX_HEADER = {4: 20 + 60, 6: 40 + 60}


def biflow(
    tcp: np.ndarray, udp: np.ndarray, v6: np.ndarray, bits: np.ndarray | None, ipkt: np.ndarray, ibyt: np.ndarray,
    opkt: np.ndarray | None, obyt: np.ndarray | None,
) -> np.ndarray:  # fmt: skip
    """Outcome codes of nfdump records: judged (`outcome.biflow`) where the record carries the reverse
    direction's counters (opkt > 0: a biflow from nfdump -b/-B, NSEL or an IPFIX biflow exporter),
    else null: a plain NetFlow record holds one direction, and the reverse records decide.

    nfdump cannot tell a biflow whose responder never answered from a uni-flow (opkt 0 in both), so
    those stay null too: the detection SQL finds no reverse record, which is the same answer.
    """
    if opkt is None:
        return np.full(len(ipkt), outcome.NO_OUTCOME, np.int8)
    header = np.where(v6, MAX_HEADER[6], MAX_HEADER[4])
    payload = (ibyt > header * ipkt) | (obyt > header * opkt) if obyt is not None else np.zeros(len(ipkt), bool)
    used = np.where(payload, 1, -1).astype(np.int8)  # headers alone cannot prove that nothing was carried
    codes = outcome.biflow(tcp, udp, bits, ipkt + opkt, opkt, used)
    return np.where(opkt > 0, codes, outcome.NO_OUTCOME).astype(np.int8)


def careful(f: pl.DataFrame) -> tuple[Columns, dict[str, str]]:
    """nfdump columns as event columns (polars), and the source of each column that must parse."""
    proto = as_proto(f["pr"])
    ipkt, opkt = (as_int(f[c]).fill_null(0) if c in f.columns else None for c in ("ipkt", "opkt"))
    ibyt, obyt = (as_bytes(f[c]).fill_null(0) if c in f.columns else None for c in ("ibyt", "obyt"))
    flags = as_flags(f["flg"], "CEUAPRSF") if "flg" in f.columns else None
    n = f.height
    zeros = np.zeros(n, np.int64)
    codes = biflow(
        (proto == "tcp").fill_null(False).to_numpy(),
        (proto == "udp").fill_null(False).to_numpy(),
        f["sa"].str.contains(":", literal=True).fill_null(False).to_numpy(),
        None if flags is None else by_value(flags, bits_of, pl.Int64).fill_null(0).to_numpy(),
        zeros if ipkt is None else ipkt.to_numpy(),
        zeros if ibyt is None else ibyt.to_numpy(),
        None if opkt is None else opkt.to_numpy(),
        None if obyt is None else obyt.to_numpy(),
    )
    two_way = pl.Series(codes != outcome.NO_OUTCOME)
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
    if flags is not None:  # 6 (UAPRSF) or 8 (CEUAPRSF) positions, '.' for unset
        cols["tcp_flags"] = tcp_only(flags, proto)
    cols["outcome"] = pl.Series(outcome.CODE_VALUES, dtype=pl.String).gather(codes.astype(np.uint32))
    none = pl.Series([None] * n, dtype=pl.Int64)
    cols["resp_packets"] = None if opkt is None else opkt.zip_with(two_way, none)
    cols["resp_bytes"] = None if obyt is None else obyt.zip_with(two_way, none)
    required = {"proto": "pr", "ts": "ts", "src_ip": "sa", "dst_ip": "da", "src_port": "sp", "dst_port": "dp"}
    return cols, required


def fast(f: Fast) -> FastColumns:
    """The plain rows of a clean nfdump block as event columns (compiled)."""
    proto = f.text("pr", proto_name)
    f.ok &= ~proto.is_in(None)  # not a protocol: the careful path quarantines the line
    counts = {c: f.int(c) if f.has(c) else None for c in ("ipkt", "ibyt", "opkt", "obyt")}
    cols = {
        "ts": f.ts("ts"),
        "src_ip": f.ip("sa"),  # IPv4 only: other addresses take the careful path
        "dst_ip": f.ip("da"),
        "src_port": f.port("sp"),
        "dst_port": f.port("dp"),
        "proto": proto,
        "packets": fast_total(f, ["ipkt", "opkt"]),
        "bytes": fast_total(f, ["ibyt", "obyt"]),
    }
    if f.has("td"):
        cols["duration_s"] = f.float("td")
    bits = None
    if f.has("flg"):
        flags = f.text("flg", flag_letters("CEUAPRSF"))
        cols["tcp_flags"] = flags.where(proto.is_in("tcp"))
        bits = np.array([bits_of(v) for v in flags.values] + [0], np.int64)[flags.codes]
    n = len(f.line)
    zeros = np.zeros(n, np.int64)
    codes = biflow(
        proto.is_in("tcp"),
        proto.is_in("udp"),
        np.zeros(n, bool),
        bits,
        zeros if counts["ipkt"] is None else counts["ipkt"],
        zeros if counts["ibyt"] is None else counts["ibyt"],
        counts["opkt"],
        counts["obyt"],
    )
    cols["outcome"] = Coded(codes.astype(np.int32), outcome.CODE_VALUES)
    if counts["opkt"] is not None:
        two_way = codes != outcome.NO_OUTCOME
        for name, col in (("resp_packets", counts["opkt"]), ("resp_bytes", counts["obyt"])):
            if col is not None:
                cols[name] = pa.array(col, pa.int64(), mask=~two_way)
    return cols


def bits_of(letters: str | None) -> int:
    """TCP flag letters (FSRPAUEC; None for none) as the bits `outcome.biflow` reads."""
    return sum(1 << "FSRPAUEC".index(c) for c in letters or "")


USED = frozenset({*REQUIRED, "flg", "ipkt", "ibyt", "opkt", "obyt"})
NFDUMP = FlowFormat("nfdump", REQUIRED, USED, careful, fast, trailer=b"Summary")
