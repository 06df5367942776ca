"""Zeek conn.log, in its native TSV form (#fields header, '-' unset) and as JSON lines."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.ingest import outcome
from pipelines.ingest.flows.common import (
    Columns,
    FlowFormat,
    Lines,
    as_flags,
    as_float,
    as_int,
    as_ip,
    as_port,
    as_proto,
    as_text,
    as_ts,
    convert,
    null_more,
    nulls,
    split_lines,
    tcp_only,
)
from pipelines.ingest.records import Chunk
from pipelines.ingest.streams import DEFAULT_LIMITS, Limits, Utf8Lines
from pipelines.schema import quarantine_row

RECORD_ERRORS = (ValueError, TypeError, OverflowError, RecursionError)  # what one bad JSON record can raise
REQUIRED = ("ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto")


def careful(f: pl.DataFrame) -> tuple[Columns, dict[str, str]]:
    """Zeek conn.log columns as event columns (polars), and the source of each column that must parse."""
    # Zeek logs proto icmp for ICMPv6 too: an IPv6 pair makes it icmpv6 (its echo request is type 128).
    v6 = f["id.orig_h"].str.contains(":", literal=True).fill_null(False)
    proto = as_proto(f["proto"])
    proto = proto.zip_with(~((proto == "icmp").fill_null(False) & v6), pl.Series(["icmpv6"] * f.height))
    icmp = proto.is_in(["icmp", "icmpv6"])
    epoch = as_float(f["ts"])
    ts = (epoch * 1e6).round(0).cast(pl.Int64, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if null_more(epoch, f["ts"]):  # Zeek's JSON writer can also use ISO 8601
        ts = ts.zip_with(ts.is_not_null(), as_ts(f["ts"], ["%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%S%.f"]))
    orig_p, resp_p = as_port(f["id.orig_p"]), as_port(f["id.resp_p"])
    none = nulls(f.height, pl.Int32)

    def opt(c: str, parse: Callable[[pl.Series], pl.Series]) -> pl.Series:
        return parse(f[c]).fill_null(0) if c in f.columns else pl.Series(np.zeros(f.height, np.int64))

    # Zeek's history letters: upper case = originator; S syn, A ack, F fin, R reset. D (data)
    # says nothing about PSH, so it is not mapped.
    history = f["history"] if "history" in f.columns else pl.Series([None] * f.height, dtype=pl.String)
    cols = {
        "ts": ts,
        "src_ip": as_ip(f["id.orig_h"]),
        "dst_ip": as_ip(f["id.resp_h"]),
        # For ICMP Zeek puts the type in orig_p and the code in resp_p.
        "src_port": orig_p.zip_with(~icmp.fill_null(False), none),
        "dst_port": resp_p.zip_with(~icmp.fill_null(False), orig_p),
        "proto": proto,
        "tcp_flags": tcp_only(as_flags(history.fill_null(""), "FSRA"), proto),
        "duration_s": (as_float(f["duration"]) if "duration" in f.columns else pl.Series(np.zeros(f.height))).fill_null(
            0.0
        ),
        "packets": (opt("orig_pkts", as_int) + opt("resp_pkts", as_int)).cast(pl.Int64),
        "bytes": (opt("orig_ip_bytes", as_int) + opt("resp_ip_bytes", as_int)).cast(pl.Int64),
    }
    state = f["conn_state"] if "conn_state" in f.columns else pl.Series([None] * f.height, dtype=pl.String)
    if "conn_state" in f.columns:
        cols["conn_state"] = state

    def count(c: str) -> pl.Series | None:
        return as_int(f[c]) if c in f.columns else None

    resp_pkts, resp_bytes = count("resp_pkts"), count("resp_bytes")
    orig_bytes = count("orig_bytes")
    codes = outcome.zeek(
        proto,
        state,
        *(None if c is None else c.cast(pl.Float64).to_numpy() for c in (resp_pkts, orig_bytes, resp_bytes)),
    )
    cols["outcome"] = pl.Series(outcome.CODE_VALUES, dtype=pl.String).gather(codes.astype(np.uint32))
    cols["resp_packets"], cols["resp_bytes"] = resp_pkts, resp_bytes
    # Labelled captures: IoT-23 (label, detailed-label), Stratosphere JSON (label, detailedlabel).
    for out, names in (("label", LABELS), ("attack_type", DETAILED_LABELS)):
        if present := [c for c in names if c in f.columns]:  # the first spelling that has a value
            cols[out] = as_text(f.select(pl.coalesce(present)).to_series(), ("", "-", "(empty)"))
    required = {"proto": "proto", "ts": "ts", "src_ip": "id.orig_h", "dst_ip": "id.resp_h", "dst_port": "id.resp_p"}
    return cols, required


LABELS = ("label",)
DETAILED_LABELS = ("detailed-label", "detailedlabel", "detailed_label")
USED = frozenset(
    {*REQUIRED, "duration", "conn_state", "history", "orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes"}
    | {"orig_bytes", "resp_bytes", *LABELS, *DETAILED_LABELS}
)
# IoT-23 writes its label columns after Zeek's last one with spaces, not tabs, in the #fields line
# ("tunnel_parents   label   detailed-label") and in every record ("-   Malicious   PartOfAHorizontalPortScan").
JOINED_SEPARATOR = re.compile(r"\s+")
ZEEK_TSV = FlowFormat("zeek_tsv", REQUIRED, USED, careful)
ZEEK_JSON = FlowFormat("zeek_json", REQUIRED, USED, careful)


def split_joined(frame: pl.DataFrame, last: str) -> pl.DataFrame:
    """The frame with a last column whose name joins several with spaces (IoT-23's labels) split into them."""
    names = JOINED_SEPARATOR.split(last.strip())
    if len(names) < 2 or last not in frame.columns:
        return frame
    values = frame[last].str.strip_chars().str.replace_all(r"\s+", " ")  # runs of spaces as one
    parts = values.str.splitn(" ", len(names)).struct.rename_fields(names).struct.unnest()  # the rest in the last
    return frame.drop(last).with_columns(parts)


def iter_zeek_tsv(path: Path, meta: dict[str, str], limits: Limits = DEFAULT_LIMITS) -> Iterator[Chunk]:
    """Chunks of a Zeek conn.log in its native TSV form (#fields header, '-' unset)."""
    src = meta["source_file"]
    state = {"names": None}
    with Utf8Lines(path, validate=False, limits=limits, src=src) as reader:
        line_no = 1
        for block in reader.blocks():
            bad: list[dict] = reader.take_rejected()
            if state["names"] is None:
                for raw in block.split(b"\n"):
                    if raw.startswith(b"#fields\t"):
                        state["names"] = raw.rstrip(b"\r").decode("utf-8", "replace").split("\t")[1:]
                        break
                    if not raw.startswith(b"#") and raw.strip():
                        break
                if state["names"] is None:
                    yield Chunk(
                        quarantine=[quarantine_row(src, "line:1", "Zeek log without a #fields line", block[:200])]
                    )
                    return
                if missing := [c for c in REQUIRED if c not in state["names"]]:
                    reason = f"missing columns: {', '.join(missing)}"
                    yield Chunk(quarantine=[quarantine_row(src, "line:1", reason, block[:200])], format="zeek_tsv")
                    return

            def keep(starts: np.ndarray, ends: np.ndarray, blk: bytes) -> np.ndarray:
                arr = np.frombuffer(blk, np.uint8)
                return arr[np.minimum(starts, len(arr) - 1)] != ord("#")

            lines = split_lines(block, line_no, "\t", state["names"], ZEEK_TSV.used, src, False, bad, keep)
            line_no += block.count(b"\n")
            lines.frame = split_joined(lines.frame, state["names"][-1])
            lines.frame = lines.frame.with_columns(
                pl.when(pl.col(c).is_in(["-", "(empty)"])).then(None).otherwise(pl.col(c)).alias(c)
                for c in lines.frame.columns
            )
            yield Chunk(convert(lines, ZEEK_TSV, meta, bad), bad, "zeek_tsv", canonical_ips=True)
        rest = reader.take_rejected()
        if reader.damage:
            rest.append(quarantine_row(src, "end", reader.damage, b""))
        if rest:
            yield Chunk(quarantine=rest, format="zeek_tsv")


def iter_zeek_json(path: Path, meta: dict[str, str], limits: Limits = DEFAULT_LIMITS) -> Iterator[Chunk]:
    """Chunks of a Zeek conn.log written as JSON lines."""
    src = meta["source_file"]
    names = ["ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "duration", "conn_state", "history"]
    names += ["orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes", "orig_bytes", "resp_bytes"]
    names += [*LABELS, *DETAILED_LABELS]
    with Utf8Lines(path, limits=limits, src=src) as reader:
        line_no = 1
        for block in reader.blocks():
            bad: list[dict] = reader.take_rejected()
            rows, line, starts, ends = [], [], [], []
            pos = 0
            for raw in block.split(b"\n"):
                start, pos = pos, pos + len(raw) + 1
                this, line_no = line_no, line_no + 1
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                    if not isinstance(obj, dict):
                        raise ValueError("not a JSON object")
                except RECORD_ERRORS as exc:
                    why = "nested too deeply" if isinstance(exc, RecursionError) else exc
                    bad.append(quarantine_row(src, f"line:{this}", f"bad JSON: {why}", raw))
                    continue
                rows.append([None if obj.get(k) is None else str(obj[k]) for k in names])
                line.append(this)
                starts.append(start)
                ends.append(start + len(raw))
            line_no -= 1 if block.endswith(b"\n") else 0
            frame = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")
            spans = (np.array(starts, np.int64), np.array(ends, np.int64))
            lines = Lines(frame, np.array(line, np.int64), block, 0, spans)
            yield Chunk(convert(lines, ZEEK_JSON, meta, bad), bad, "zeek_json", canonical_ips=True)
        if reader.damage:
            yield Chunk(quarantine=[quarantine_row(src, "end", reader.damage, b"")], format="zeek_json")
