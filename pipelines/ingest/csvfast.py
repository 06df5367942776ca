"""Compiled field splitting and strict value parsers for clean flow-CSV blocks, with numba.

Polars' own CSV read of only the needed columns as strings costs ~0.7 us of CPU per CIDDS row
(1.3-1.8 s for 2 M rows, `bench/bench_ingest.py` file), and its casts after that ~1.2 us more:
more than the two cores have for 2 M rows/s. Here splitting and converting a clean row to Arrow
costs ~0.5 us of CPU in all (one 8 MiB block, warm caches), spread over two threads.

Every parser is strict: it accepts only the plainest spelling of a value (ASCII digits, no sign,
no padding, ISO timestamps), for which it gives exactly what the careful polars path gives, and
marks anything else not ok, so that row goes down the careful path. All release the GIL.
"""

from __future__ import annotations

import numba
import numpy as np

POW10 = np.array([10.0**i for i in range(23)])  # exact in float64 up to 1e22


@numba.njit(cache=True, nogil=True)
def count_newlines(buf: np.ndarray) -> int:
    """The LF bytes in `buf`. In the reading loop numpy's `count_nonzero(buf == 10)` took ~8 ms per
    8 MiB block (a fresh 8 MiB mask each time) and `bytes.count` 4-7 ms; this takes 1-5 ms."""
    n = 0
    for i in range(len(buf)):
        n += buf[i] == 10
    return n


@numba.njit(cache=True, nogil=True)
def _split_regular(
    buf: np.ndarray,
    special: np.ndarray,
    sep: int,
    ncols: int,
    slots: np.ndarray,
    lines: int,
    starts: np.ndarray,
    ends: np.ndarray,
    row: np.ndarray,
) -> int:
    """`split_fields` for the usual block, whose special bytes are exactly `ncols - 1` separators and
    a LF per line: the offsets of all special bytes, checked against that pattern, then read off
    by position (13 ms instead of 20 ms for walking them, 8 MiB CIDDS block). Returns the rows, or -1
    for any other block.
    """
    n = len(buf)
    cap = lines * ncols
    at = np.empty(cap + 4097, np.int32)  # room for one window more than a regular block needs
    k = 0
    for w in range(0, n, 4096):
        if k > cap:
            break  # more special bytes than a regular block has
        for i in range(w, min(w + 4096, n)):
            at[k] = i
            k += special[buf[i]]
    else:
        if n == 0 or buf[n - 1] != 10:
            at[k] = n  # the last line, without its line break
            k += 1
        if k == cap or (k == cap - ncols and buf[n - 1] == 10):
            rows = k // ncols
            bad = 0
            for r in range(rows):
                base = r * ncols
                for c in range(ncols - 1):
                    bad += buf[at[base + c]] != sep
                bad += at[base + ncols - 1] < n and buf[at[base + ncols - 1]] != 10
                bad += at[base + ncols - 1] == (at[base - 1] + 1 if r else 0)  # a blank line
            if bad == 0:
                for r in range(rows):
                    base = r * ncols
                    p = at[base - 1] + 1 if r else 0
                    for c in range(ncols):
                        s = slots[c]
                        if s >= 0:
                            starts[s, r] = at[base + c - 1] + 1 if c else p
                            ends[s, r] = at[base + c]
                    row[0, r], row[1, r], row[2, r] = r, p, at[base + ncols - 1]
                return rows
    return -1


@numba.njit(cache=True, nogil=True)
def split_fields(buf: np.ndarray, sep: int, ncols: int, slots: np.ndarray, nslots: int, newlines: int) -> tuple:
    """Field spans of the wanted columns (`slots[c]` >= 0) per row, each row's line index and span; clean or not.

    Blank lines are skipped and a CR before a line break dropped; the split gives up (False) on a
    quote, any other CR or a wrong field count, which the careful path handles line by line.
    """
    n = len(buf)
    special = np.zeros(256, np.int64)
    special[sep] = special[10] = special[13] = special[34] = 1
    lines = newlines + 1  # the block's LF count (`count_newlines`, made once by the reader) and a last line
    starts = np.empty((nslots, lines), np.int32)
    ends = np.empty((nslots, lines), np.int32)
    row = np.empty((3, lines), np.int64)  # line index, start, end
    rows = _split_regular(buf, special, sep, ncols, slots, lines, starts, ends, row)
    if rows >= 0:
        return starts[:, :rows], ends[:, :rows], row[:, :rows], True
    rows = line = col = p = f = 0
    # Per window, first the offsets of its special bytes, without branches (a byte loop that
    # branches at every field costs twice as much); then a walk over those alone.
    window = 4096
    at = np.empty(window + 1, np.int64)
    for w in range(0, n + 1, window):
        k = 0
        for i in range(w, min(w + window, n)):
            at[k] = i
            k += special[buf[i]]
        if w + window > n:
            at[k] = n  # the end of the last line
            k += 1
        for j in range(k):
            i = at[j]
            c = buf[i] if i < n else 10
            end = i
            if c == 13 and (i + 1 == n or buf[i + 1] == 10):
                continue  # the line ends at the LF (or the end) that follows
            if c != sep and c != 10:
                return starts[:, :0], ends[:, :0], row[:, :0], False
            if c == 10 and i > p and buf[i - 1] == 13:
                end = i - 1
            if col < ncols and slots[col] >= 0:
                starts[slots[col], rows], ends[slots[col], rows] = f, end
            col += 1
            f = i + 1
            if c == 10:
                if end > p:  # else a blank line
                    if col != ncols:
                        return starts[:, :0], ends[:, :0], row[:, :0], False
                    row[0, rows], row[1, rows], row[2, rows] = line, p, end
                    rows += 1
                line += 1
                col = 0
                p = f
    return starts[:, :rows], ends[:, :rows], row[:, :rows], True


@numba.njit(cache=True, nogil=True, inline="always")
def _digits(buf: np.ndarray, s: int, e: int) -> int:
    """The value of ASCII digits buf[s:e] (1 to 18 of them), or -1."""
    if e <= s or e - s > 18:
        return -1
    v = 0
    for i in range(s, e):
        d = buf[i] - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


@numba.njit(cache=True, nogil=True)
def parse_int(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, ok: np.ndarray, top: int) -> np.ndarray:
    """Plain non-negative integers up to `top`; `ok` is cleared where a field is anything else."""
    out = np.zeros(len(starts), np.int64)
    for r in range(len(starts)):
        v = _digits(buf, starts[r], ends[r])
        if v < 0 or v > top:
            ok[r] = False
        else:
            out[r] = v
    return out


@numba.njit(cache=True, nogil=True)
def parse_float(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Plain decimals (`12`, `0.751`) whose digits fit 2^53: one exact division, so correctly rounded."""
    out = np.zeros(len(starts))
    for r in range(len(starts)):
        s, e = starts[r], ends[r]
        dot = -1
        for i in range(s, e):
            if buf[i] == 46:
                dot = i
                break
        if dot < 0:
            m, scale = _digits(buf, s, e), 0
        elif dot == s or dot == e - 1 or e - dot - 1 > 22:
            m, scale = -1, 0
        else:
            hi, lo = _digits(buf, s, dot), _digits(buf, dot + 1, e)
            scale = e - dot - 1
            m = -1 if hi < 0 or lo < 0 or e - s - 1 > 17 else hi * 10**scale + lo
        if m < 0 or m > 1 << 53:
            ok[r] = False
        else:
            out[r] = m / POW10[scale]
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _days(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


@numba.njit(cache=True, nogil=True)
def parse_ts(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """`YYYY-MM-DD HH:MM:SS[.ffffff]` (1 to 6 fraction digits) as microseconds since the epoch."""
    out = np.zeros(len(starts), np.int64)
    mdays = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    for r in range(len(starts)):
        s, e = starts[r], ends[r]
        n = e - s
        good = (n == 19 or 21 <= n <= 26) and buf[s + 4] == 45 and buf[s + 7] == 45 and buf[s + 10] == 32
        good = good and buf[s + 13] == 58 and buf[s + 16] == 58 and (n == 19 or buf[s + 19] == 46)
        if not good:
            ok[r] = False
            continue
        y, mo, d = _digits(buf, s, s + 4), _digits(buf, s + 5, s + 7), _digits(buf, s + 8, s + 10)
        hh, mm, ss = _digits(buf, s + 11, s + 13), _digits(buf, s + 14, s + 16), _digits(buf, s + 17, s + 19)
        frac = _digits(buf, s + 20, e) if n > 19 else 0
        leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
        good = y >= 1000 and 1 <= mo <= 12 and d >= 1 and 0 <= hh < 24 and 0 <= mm < 60 and 0 <= ss < 60
        if not good or frac < 0 or d > mdays[mo - 1] + (mo == 2 and leap):
            ok[r] = False
            continue
        sec = _days(y, mo, d) * 86400 + hh * 3600 + mm * 60 + ss
        out[r] = sec * 1_000_000 + (frac * 10 ** (26 - n) if n > 19 else 0)
    return out


@numba.njit(cache=True, nogil=True)
def ipv4_text(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arrow string buffers (int32 offsets, bytes) of the fields, as they are; `ok` is cleared where a
    field is not a dotted quad without leading zeros (flows.common.IPV4_RE, ASCII digits only).
    """
    offsets = np.empty(len(starts) + 1, np.int32)
    offsets[0] = 0
    for r in range(len(starts)):
        offsets[r + 1] = offsets[r] + ends[r] - starts[r]
    data = np.empty(offsets[-1], np.uint8)
    for r in range(len(starts)):
        parts = value = width = 0
        o = offsets[r] - starts[r]
        for i in range(starts[r], ends[r] + 1):
            c = buf[i] if i < ends[r] else 46
            if i < ends[r]:
                data[o + i] = c
            if c == 46:
                if width == 0 or value > 255:
                    break
                parts += 1
                value = width = 0
            elif 48 <= c <= 57 and width < 3 and not (width == 1 and value == 0):
                value = value * 10 + c - 48
                width += 1
            else:
                break
        if parts != 4 or i != ends[r]:
            ok[r] = False
            data[offsets[r] : offsets[r + 1]] = buf[starts[r] : ends[r]]
    return offsets, data


@numba.njit(cache=True, nogil=True)
def intern(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Each field's code among the distinct texts, and the row of each text's first use.

    For low-cardinality text (protocols, flags, labels); gives up (no rows) past `limit` texts.
    A text of up to 8 bytes is its own key (with its length); longer ones share their first 8
    bytes' key and are told apart byte by byte.
    """
    size = 1
    while size < 4 * limit:
        size *= 2
    shift = np.uint64(64 - int(np.log2(size)))
    table = np.full(size, -1, np.int64)
    keys = np.empty(limit, np.uint64)
    first = np.empty(limit, np.int64)
    codes = np.empty(len(starts), np.int32)
    count = 0
    for r in range(len(starts)):
        s, e = starts[r], ends[r]
        key = np.uint64(e - s)
        for i in range(s, min(e, s + 8)):
            key = (key << np.uint64(8)) | np.uint64(buf[i])
        slot = np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> shift)
        while True:
            code = table[slot]
            if code < 0:
                if count == limit:
                    return codes[:0], first[:0]
                table[slot] = count
                keys[count] = key
                first[count] = r
                codes[r] = count
                count += 1
                break
            if keys[code] == key:
                fs, fe = starts[first[code]], ends[first[code]]
                same = fe - fs == e - s
                for i in range(8, e - s):
                    if not same:
                        break
                    same = buf[fs + i] == buf[s + i]
                if same:
                    codes[r] = code
                    break
            slot = (slot + 1) & (size - 1)
    return codes, first[:count]
