"""Columnar synthetic records: every activity returns a Polars frame with a subset of these columns
(numpy-built, one row per packet, flow, log line or request), so a day is assembled without a
Python loop per record. The `actor`/`label`/`kind`/`org` columns carry the ground truth: the
initiator of the exchange the record belongs to (a scanner's probes and its victims' replies share it)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from pipelines.generate.scenario import LOCAL_OFFSET_H

COLUMNS: dict[str, pl.DataType] = {
    "ts": pl.Float64(),  # UTC epoch seconds
    "src": pl.Utf8(),
    "dst": pl.Utf8(),
    "proto": pl.Utf8(),  # tcp, udp, icmp (icmpv6 implied by IPv6 addresses)
    "sport": pl.Int32(),  # ICMP: echo identifier
    "dport": pl.Int32(),  # ICMP: type
    "code": pl.Int32(),  # ICMP code
    "flags": pl.Utf8(),  # TCP flags as letters, e.g. S, SA, RA, PA, FA
    "seq": pl.Int64(),
    "ack": pl.Int64(),
    "ttl": pl.Int32(),
    "ip_id": pl.Int32(),
    "df": pl.Boolean(),  # IPv4 don't-fragment bit
    "window": pl.Int32(),
    "opts": pl.Int8(),  # TCP options: 0 none, 1 MSS (nmap), 2 full Linux SYN, 3 timestamps only
    "payload": pl.Binary(),  # exact bytes, else `plen` filler bytes
    "plen": pl.Int32(),
    # flows (CIDDS columns)
    "packets": pl.Int64(),
    "bytes": pl.Int64(),
    "duration": pl.Float64(),
    "cls": pl.Utf8(),
    "attack_type": pl.Utf8(),
    "attack_id": pl.Utf8(),
    "attack_desc": pl.Utf8(),
    # honeypot (paper 001 Table 1 shape)
    "app": pl.Utf8(),  # http, ssh
    "method": pl.Utf8(),
    "uri": pl.Utf8(),
    "ua": pl.Utf8(),
    "action": pl.Utf8(),
    "asn": pl.Int64(),
    "as_org": pl.Utf8(),
    # ground truth
    "actor": pl.Utf8(),
    "label": pl.Utf8(),  # scan, benign
    "kind": pl.Utf8(),  # fast_vertical, ..., research, benign
    "org": pl.Utf8(),
}


def frame(n: int, **cols: object) -> pl.DataFrame:
    """A frame of `n` records; scalars are broadcast, unknown columns refused, types fixed by COLUMNS."""
    data = {}
    for name, value in cols.items():
        dtype = COLUMNS[name]
        if isinstance(value, np.ndarray | list | tuple):
            series = pl.Series(name, value, dtype=dtype, strict=False)
            if len(series) != n:
                raise ValueError(f"column {name}: {len(series)} values for {n} records")
            data[name] = series
        else:
            data[name] = pl.Series(name, [value], dtype=dtype).new_from_index(0, n)
    return pl.DataFrame(data) if data else pl.DataFrame()


def concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """All records of one vantage point, every column of COLUMNS present, in time order (stable)."""
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame(schema=COLUMNS)
    # one diagonal concat and one select, not one select per frame: a day has hundreds of small frames
    df = pl.concat(frames, how="diagonal_relaxed")
    full = df.select(
        [pl.col(c).cast(t) if c in df.columns else pl.lit(None, dtype=t).alias(c) for c, t in COLUMNS.items()]
    )
    return full.sort("ts", maintain_order=True)


def day_start(day: date) -> float:
    """UTC epoch seconds of the start of `day`."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def local_hours_to_ts(t0: float, hours: np.ndarray) -> np.ndarray:
    """UTC epoch seconds, within the UTC day starting at t0, of local (Asia/Shanghai) hours-of-day."""
    return t0 + ((np.asarray(hours, dtype=float) - LOCAL_OFFSET_H) % 24) * 3600


def rhythm_hours(rng: np.random.Generator, n: int, rhythm: np.ndarray) -> np.ndarray:
    """`n` fractional local hours drawn from a 24-value activity profile."""
    return rng.choice(24, size=n, p=rhythm / rhythm.sum()) + rng.random(n)


def iso(ts: float) -> str:
    """ISO 8601 UTC text of an epoch time."""
    return datetime.fromtimestamp(ts, UTC).isoformat()
