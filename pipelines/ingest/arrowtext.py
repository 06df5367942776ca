"""Arrow string columns of numbers (dotted quads, `byte:N` locations) written by compiled loops.

Arrow's own route (table lookups of two octets joined with `binary_join_element_wise`, and an
int-to-string cast joined to a prefix) cost ~0.35 s of the 1.1 s that decoding 2 M packets took
(cProfile over `bench/bench_ingest.py`'s capture); writing the bytes and offsets directly is ~10x
faster. Compiled functions are cached on disk like the record walks (`walk.py`) and release the
GIL (the CSV reader builds `line:N` locations in its worker threads).
"""

from __future__ import annotations

import numba
import numpy as np
import pyarrow as pa


@numba.njit(cache=True, nogil=True, inline="always")
def _digits(out: np.ndarray, pos: int, value: int) -> int:
    """Write `value` (>= 0) in decimal at out[pos:], return the position after it."""
    width = 1
    v = value
    while v >= 10:
        v //= 10
        width += 1
    end = pos + width
    for i in range(end - 1, pos - 1, -1):
        out[i] = 48 + value % 10
        value //= 10
    return end


@numba.njit(cache=True, nogil=True)
def _dotted(addr: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    pos = 0
    for i in range(len(addr)):
        a = np.int64(addr[i])
        for shift in (24, 16, 8):
            pos = _digits(out, pos, (a >> shift) & 255)
            out[pos] = 46  # '.'
            pos += 1
        pos = _digits(out, pos, a & 255)
        offsets[i + 1] = pos


@numba.njit(cache=True, nogil=True)
def _prefixed(prefix: np.ndarray, values: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    pos = 0
    for i in range(len(values)):
        for b in prefix:
            out[pos] = b
            pos += 1
        pos = _digits(out, pos, values[i])
        offsets[i + 1] = pos


def string_array(offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    """An Arrow string array from int32 offsets and the bytes they index (no copy)."""
    # Arrow's `string` type has 32-bit offsets: callers pass chunks, far below 2 GiB of text.
    n = len(offsets) - 1
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data[: offsets[n]]))


def dotted_quads(addr: np.ndarray) -> pa.Array:
    """IPv4 addresses (as unsigned 32-bit integers) to dotted-quad text."""
    addr = np.ascontiguousarray(addr, np.uint32)
    offsets = np.zeros(len(addr) + 1, np.int32)
    out = np.empty(len(addr) * 15, np.uint8)
    _dotted(addr, offsets, out)
    return string_array(offsets, out)


def prefixed_numbers(prefix: str, values: np.ndarray) -> pa.Array:
    """`prefix` followed by each non-negative integer in decimal, e.g. `byte:1024`, `line:7`."""
    values = np.ascontiguousarray(values, np.int64)
    if len(values) and values.min() < 0:
        raise ValueError("prefixed_numbers takes non-negative integers")
    head = np.frombuffer(prefix.encode(), np.uint8)
    offsets = np.zeros(len(values) + 1, np.int32)
    out = np.empty(len(values) * (len(head) + 19), np.uint8)
    if len(out) >= 2**31:
        raise ValueError("too many values for one Arrow string array; pass smaller chunks")
    _prefixed(head, values, offsets, out)
    return string_array(offsets, out)


@numba.njit(cache=True, nogil=True, inline="always")
def _ipv4_ok(data: np.ndarray, a: int, b: int) -> bool:
    """data[a:b] is a dotted quad without leading zeros (the IPv4 half of schema.IP_REGEX)."""
    if b - a > 15:
        return False
    groups, digits, value, lead = 0, 0, 0, 0
    for j in range(a, b):
        c = np.int64(data[j])
        if c == 46:
            if digits == 0 or (digits > 1 and lead == 48) or value > 255:
                return False
            groups += 1
            digits, value = 0, 0
        elif 48 <= c <= 57 and digits < 3:
            lead = c if digits == 0 else lead
            digits += 1
            value = value * 10 + c - 48
        else:
            return False
    return groups == 3 and digits > 0 and not (digits > 1 and lead == 48) and value <= 255


@numba.njit(cache=True, nogil=True, inline="always")
def _ipv6_ok(data: np.ndarray, a: int, b: int) -> bool:
    """data[a:b] has the shape of lower-case IPv6 text (the IPv6 half of schema.IP_REGEX)."""
    colons, run = 0, 0
    for j in range(a, b):
        c = data[j]
        if c == 58:
            colons += 1
            run = 0
        elif (48 <= c <= 57 or 97 <= c <= 102) and run < 4:
            run += 1
        else:
            return False
    return 2 <= colons <= 7


@numba.njit(cache=True, nogil=True)
def _ip_ok(offsets: np.ndarray, data: np.ndarray, out: np.ndarray) -> None:
    """out[i]: text i matches schema.IP_REGEX (canonical IPv4 or lower-case IPv6 shape)."""
    for i in range(len(out)):
        a, b = offsets[i], offsets[i + 1]
        six = False
        for j in range(a, min(b, a + 5)):  # IPv6 has a colon in its first 5 characters, IPv4 none
            if data[j] == 58:
                six = True
                break
        out[i] = b > a and (_ipv6_ok(data, a, b) if six else _ipv4_ok(data, a, b))


def ip_text_ok(arr: pa.Array) -> np.ndarray:
    """Per value of a string array: whether it is an address in canonical text (null: False)."""
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    n = len(arr)
    _, offs, data = arr.buffers()
    offsets = np.frombuffer(offs, np.int32)[arr.offset : arr.offset + n + 1]
    raw = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    out = np.empty(n, np.bool_)
    _ip_ok(offsets, raw, out)
    if arr.null_count:
        out &= np.asarray(arr.is_valid(), bool)
    return out
