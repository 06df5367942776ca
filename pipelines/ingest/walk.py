"""The record walks of pcap and pcapng windows, compiled with numba.

A record's position is only known from the length in the record before it, so the walk is a
loop no array operation can express. In Python it cost ~0.6 us per record, about half of a
2 M-packet capture's ingest (1.2 of 2.35 s, cProfile, `bench/bench_ingest.py`); compiled it is
a few nanoseconds per record. Everything after the walk stays numpy (`packets.decode_packets`).
Compiled functions are cached on disk (`cache=True`), so only the first run on a machine compiles.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _u32(buf: np.ndarray, i: int, little: bool) -> int:
    b0, b1, b2, b3 = np.int64(buf[i]), np.int64(buf[i + 1]), np.int64(buf[i + 2]), np.int64(buf[i + 3])
    if little:
        return b0 | b1 << 8 | b2 << 16 | b3 << 24
    return b3 | b2 << 8 | b1 << 16 | b0 << 24


@numba.njit(cache=True)
def walk_pcap(
    buf: np.ndarray, start: int, end: int, little: bool, limit: int, frac_max: int
) -> tuple[np.ndarray, int, bool]:
    """Offsets of the whole records from `start`, where the walk stopped, and whether it stopped on damage.

    A record is damage when its captured length is 0 (what zeros or a cut record read as a header
    give) or exceeds `limit`, or its sub-second field reaches `frac_max`; the walk also stops
    before a record that does not fit in `buf[:end]`.
    """
    out = np.empty(max((end - start) // 16 + 1, 1), np.int64)
    n = 0
    p = start
    while p + 16 <= end:
        frac = _u32(buf, p + 4, little)
        cap = _u32(buf, p + 8, little)
        if cap > limit or cap == 0 or frac >= frac_max:
            return out[:n], p, True
        nxt = p + 16 + cap
        if nxt > end:
            break
        out[n] = p
        n += 1
        p = nxt
    return out[:n], p, False


@numba.njit(cache=True)
def walk_pcapng_packets(buf: np.ndarray, start: int, end: int, little: bool) -> tuple[np.ndarray, int]:
    """Offsets of the consecutive enhanced packet blocks from `start` and where the run ends.

    The run ends at any other block, at a block whose length is not a plausible packet block's,
    or at one that does not fit in `buf[:end]`; the caller looks at what is there.
    """
    out = np.empty(max((end - start) // 32 + 1, 1), np.int64)
    n = 0
    p = start
    while p + 12 <= end:
        btype = _u32(buf, p, little)
        blen = _u32(buf, p + 4, little)
        if btype != 6 or blen < 32 or blen & 3 or p + blen > end:
            break
        out[n] = p
        n += 1
        p += blen
    return out[:n], p
