"""pcap and pcapng readers: a Python walk over record headers, numpy for everything else.

The file is read in windows of a few MiB (gzip decompressed on the fly), so memory is bounded
whatever the capture size. Inside a window the only per-record Python is the walk that follows
record lengths from header to header and collects offsets (plain integers); the headers are then
validated and every packet decoded in one vectorized batch (`packets.decode_packets`).

Damage handling (DESIGN section 2): a truncated last record keeps the packets before it; a
damaged record header (garbage in the middle) is skipped by resynchronising on the next position
that looks like a record header followed by another one (pcapng: a block whose trailing length
matches), and the skipped region lands in quarantine with its byte offset. Offsets are in the
decompressed stream for `.gz` inputs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.ingest import packets, slowpath, walk
from pipelines.ingest.records import RAW_PREVIEW, Chunk
from pipelines.ingest.signatures import PCAP_MAGICS, PCAPNG_BOMS, PCAPNG_MAGIC
from pipelines.ingest.streams import DEFAULT_LIMITS, Limits, open_binary, stream_damage
from pipelines.schema import empty_events, quarantine_row

WINDOW = 4 << 20  # bytes held at a time (plus one record if a record is larger)
MAX_RECORD = 262_144  # captured lengths above this (and above the snaplen) are damage, not packets
MAX_BLOCK = 16 << 20  # pcapng blocks above this are damage
RESYNC_SPAN = 1 << 20  # bytes searched per numpy pass when looking for the next good header
YEAR_S = 366 * 86_400
MAX_TS_US = 7_258_118_400_000_000  # 2200-01-01: later packet timestamps are damage
PCAPNG_BLOCK_TYPES = (1, 2, 3, 4, 5, 6, 0x0A0D0D0A)
MAX_TSOFFSET_S = 1 << 33  # larger interface timestamp offsets (~272 years) are damage
BAD_INTERFACE = 0  # ticks per second of an interface whose timestamp options are absurd


class _Window:
    """A sliding window over a byte stream: `data` holds the bytes from file offset `base` on."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.data = b""
        self.base = 0
        self.eof = False

    def advance(self, pos: int, want: int | None = None) -> None:
        """Drop the bytes before file offset `pos`; then hold `want` bytes from it, or all that is left."""
        want = WINDOW if want is None else want
        if pos > self.base:
            self.data = self.data[pos - self.base :]
            self.base = pos
        have = len(self.data)
        if have >= want or self.eof:
            return
        parts = [self.data]
        while have < want:
            block = self.stream.read(want - have)
            if not block:
                self.eof = True
                break
            parts.append(block)
            have += len(block)
        self.data = b"".join(parts)

    def at(self, pos: int) -> tuple[bytes, int, int, int]:
        """Advance to file offset `pos`; return (bytes, file offset of bytes[0], their length, pos in them)."""
        self.advance(pos)
        return self.data, self.base, len(self.data), pos - self.base

    def array(self) -> np.ndarray:
        """The window's bytes followed by zero padding, as numpy (a copy, so the window can move on)."""
        out = np.zeros(len(self.data) + packets.PAD, np.uint8)
        out[: len(self.data)] = np.frombuffer(self.data, np.uint8)
        return out


class _Damage:
    """Skipped garbage while resynchronising: where it began (file offset) and its first bytes."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.at: int | None = None
        self.raw = b""

    def begin(self, at: int, raw: bytes) -> None:
        self.at, self.raw = at, raw

    def skipped(self, found: int, what: str) -> dict:
        """The quarantine row once a good header is found again at file offset `found`."""
        row = quarantine_row(self.src, f"byte:{self.at}", f"{what}; skipped {found - self.at} bytes", self.raw)
        self.at = None
        return row

    def to_end(self, file_end: int) -> dict:
        """The quarantine row when no good header follows before the end of the file."""
        reason = f"damaged data up to the end of the file; skipped {file_end - self.at} bytes"
        return quarantine_row(self.src, f"byte:{self.at}", reason, self.raw)


def _u32_at(view: np.ndarray, offsets: np.ndarray, endian: str) -> np.ndarray:
    """uint32 values at arbitrary byte offsets of a uint8 array."""
    b = packets.gather(view, offsets, 4).astype(np.int64)
    if endian == "<":
        return b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16 | b[:, 3] << 24
    return b[:, 3] | b[:, 2] << 8 | b[:, 1] << 16 | b[:, 0] << 24


def _u32_everywhere(data: bytes, start: int, stop: int, endian: str) -> np.ndarray:
    """uint32 at every byte offset in [start, stop) (for resynchronisation scans)."""
    a = np.frombuffer(data, np.uint8)[start : stop + 3].astype(np.int64)
    m = stop - start
    b0, b1, b2, b3 = a[0:m], a[1 : m + 1], a[2 : m + 2], a[3 : m + 3]
    return b0 | b1 << 8 | b2 << 16 | b3 << 24 if endian == "<" else b3 | b2 << 8 | b1 << 16 | b0 << 24


class _Emitter:
    """Turns batches of packet positions into Chunks: fast numpy path, scapy for other link types."""

    def __init__(self, fmt: str, meta: dict[str, str]) -> None:
        self.fmt = fmt
        self.meta = meta
        self.src = meta["source_file"]

    def chunk(
        self,
        arr: np.ndarray,
        base: int,
        rec: np.ndarray,
        data: np.ndarray,
        cap: np.ndarray,
        ts: np.ndarray,
        lt: np.ndarray,
        wire: np.ndarray,
        quarantine: list[dict],
    ) -> Chunk:
        skipped = 0
        implausible = (ts < 0) | (ts >= MAX_TS_US)
        if implausible.any():
            for i, n in _runs(np.flatnonzero(implausible)):
                quarantine.append(self._bad(arr, base, rec[i], data[i], cap[i], "implausible packet timestamp", n))
            keep = ~implausible
            rec, data, cap, ts, lt, wire = rec[keep], data[keep], cap[keep], ts[keep], lt[keep], wire[keep]
        if not len(rec):
            return Chunk(empty_events(), quarantine, self.fmt)
        dec = packets.decode_packets(arr, rec, data, cap, ts, lt, wire, base, self.meta)
        for i, n in _runs(dec.bad):
            quarantine.append(self._bad(arr, base, rec[i], data[i], cap[i], "IP packet too short or malformed", n))
        tables = [dec.events]
        skipped += dec.skipped
        if len(dec.other_link):
            o = dec.other_link
            frames = [bytes(arr[d : d + c]) for d, c in zip(data[o], cap[o], strict=True)]
            got = slowpath.decode_frames(frames, ts[o], lt[o], rec[o] + base, self.meta)
            tables.append(got.events)
            skipped += got.skipped
            for j, reason in got.bad:
                i = o[j]
                quarantine.append(self._bad(arr, base, rec[i], data[i], cap[i], reason))
        events = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        return Chunk(events, quarantine, self.fmt, skipped, canonical_ips=True)

    def _bad(self, arr: np.ndarray, base: int, rec: int, data: int, cap: int, reason: str, n: int = 1) -> dict:
        """One quarantine row for `n` consecutive bad records from the one at `rec` (its first bytes kept)."""
        if n > 1:
            reason = f"{reason} ({n} records in a row from here)"
        raw = bytes(arr[data : data + min(cap, RAW_PREVIEW)])
        return quarantine_row(self.src, f"byte:{base + int(rec)}", reason, raw, n)


def _runs(idx: np.ndarray) -> list[tuple[int, int]]:
    """(first index, length) of each run of consecutive values in sorted `idx`: one quarantine row per run."""
    idx = np.asarray(idx, np.int64)
    if not len(idx):
        return []
    cuts = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate(([0], cuts))
    lengths = np.diff(np.concatenate((starts, [len(idx)])))
    return list(zip(idx[starts].tolist(), lengths.tolist(), strict=True))


def iter_pcap(path: Path, meta: dict[str, str], limits: Limits = DEFAULT_LIMITS) -> Iterator[Chunk]:
    """Chunks of a classic pcap file (either byte order, micro- or nanosecond timestamps)."""
    src = meta["source_file"]
    out = _Emitter("pcap", meta)
    with open_binary(path, limits) as stream:
        win = _Window(stream)
        win.advance(0, 24)
        if len(win.data) < 24:
            yield Chunk(quarantine=[quarantine_row(src, "byte:0", "file too short for a pcap header", win.data)])
            return
        endian, div = PCAP_MAGICS[win.data[:4]]
        snaplen, linktype = struct.unpack_from(endian + "II", win.data, 16)
        linktype &= 0xFFFF  # the upper bits may carry the FCS length
        limit = max(snaplen, 65535) if 0 < snaplen <= MAX_RECORD else MAX_RECORD
        frac_max = 1_000_000 * div
        cap_at = struct.Struct(endian + "I").unpack_from
        dtype = np.dtype(endian + "u4")

        def plausible(sec: int, frac: int, cap: int, wire: int, near: int | None) -> bool:
            ok = 0 < cap <= limit and wire >= cap and frac < frac_max
            return ok and (near is None or abs(sec - near) <= YEAR_S)

        pos, prev_sec = 24, None
        damaged = _Damage(src)
        while True:
            data, base, end, rel = win.at(pos)
            quarantine: list[dict] = []
            if damaged.at is not None:
                found, rel = _resync_pcap(data, rel, end, win.eof, endian, plausible, prev_sec)
                if found is None:
                    if win.eof and rel >= end - 16:
                        yield Chunk(quarantine=[damaged.to_end(base + end)], format="pcap")
                        break
                    pos = base + rel
                    continue
                quarantine.append(damaged.skipped(base + found, "damaged record header"))
                rel = found
            # The walk follows record lengths up to the first damaged header (compiled: walk.py).
            o, stop, damage = walk.walk_pcap(np.frombuffer(data, np.uint8), rel, end, endian == "<", limit, frac_max)
            if len(o):
                arr = win.array()
                h = packets.gather(arr, o, 16).view(dtype).astype(np.int64)
                sec, frac, cap, wire = h[:, 0], h[:, 1], h[:, 2], h[:, 3]
                # The time the next resync compares with: the last record within a year of the
                # times before (garbage read as a header must not become the reference).
                ref = int(np.median(sec)) if prev_sec is None else prev_sec
                near = np.abs(sec - ref) <= YEAR_S
                prev_sec = int(sec[near][-1]) if near.any() else prev_sec
                ts = sec * 1_000_000 + frac // div
                lt = np.full(len(o), linktype, np.int64)
                yield out.chunk(arr, base, o, o + 16, cap, ts, lt, wire, quarantine)
                quarantine = []
                del arr
            if not damage and stop + 16 <= end:  # a whole header, its record past the window
                cap1 = cap_at(data, stop + 8)[0]
                if win.eof:
                    quarantine.append(
                        quarantine_row(
                            src,
                            f"byte:{base + stop}",
                            f"truncated packet: {cap1} bytes announced, {end - stop - 16} present",
                            data[stop : stop + RAW_PREVIEW],
                        )
                    )
                    yield Chunk(quarantine=quarantine, format="pcap")
                    break
                if quarantine:
                    yield Chunk(quarantine=quarantine, format="pcap")
                pos = base + stop
                win.advance(pos, 16 + cap1)
                continue
            if damage:
                damaged.begin(base + stop, data[stop : stop + RAW_PREVIEW])
                pos = base + stop + 1
                if quarantine:
                    yield Chunk(quarantine=quarantine, format="pcap")
                continue
            if win.eof:
                if stop < end:
                    quarantine.append(
                        quarantine_row(
                            src, f"byte:{base + stop}", "truncated record header at end of file", data[stop:end]
                        )
                    )
                if quarantine:
                    yield Chunk(quarantine=quarantine, format="pcap")
                break
            pos = base + stop
        if damage_msg := stream_damage(stream):
            yield Chunk(quarantine=[quarantine_row(src, f"byte:{win.base + len(win.data)}", damage_msg, b"")])


def _resync_pcap(data: bytes, rel: int, end: int, eof: bool, endian: str, plausible, near) -> tuple[int | None, int]:
    """Next offset in the window that starts a plausible record followed by another, or where to go on.

    Returns (found, rel): found is the window offset of the next good record header or None; when
    None, rel is where the search continues once more data is in the window.
    """
    stop = min(end - 16, rel + RESYNC_SPAN)
    if stop <= rel:
        return None, rel
    cap = _u32_everywhere(data, rel + 8, stop + 8, endian)
    wire = _u32_everywhere(data, rel + 12, stop + 12, endian)
    cand = np.flatnonzero((cap > 0) & (cap <= MAX_RECORD) & (wire >= cap)) + rel
    unpack = struct.Struct(endian + "IIII").unpack_from
    # Without a good record before the damage to compare times with, a chain of three is asked for.
    links = 2 if near is not None else 3
    for c in cand.tolist():
        pos, prev, ok = c, near, True
        for j in range(links):
            if pos == end and eof and j:
                break  # the chain ends exactly at the end of the file
            if pos + 16 > end:
                if not eof:
                    return None, c  # cannot judge this candidate before more data arrives
                ok = False
                break
            rec = unpack(data, pos)
            if not plausible(*rec, prev):
                ok = False
                break
            prev, pos = rec[0], pos + 16 + rec[2]
        if ok:
            return c, c
    return None, stop


def iter_pcapng(path: Path, meta: dict[str, str], limits: Limits = DEFAULT_LIMITS) -> Iterator[Chunk]:
    """Chunks of a pcapng file: several sections and interfaces, mixed link types and resolutions."""
    src = meta["source_file"]
    out = _Emitter("pcapng", meta)
    with open_binary(path, limits) as stream:
        win = _Window(stream)
        pos, endian = 0, "<"
        interfaces: list[tuple[int, int, int]] = []  # (link type, ticks per second, offset in seconds)
        damaged = _Damage(src)
        while True:
            data, base, end, rel = win.at(pos)
            quarantine: list[dict] = []
            if damaged.at is not None:
                found, rel, endian = _resync_pcapng(data, rel, end, win.eof, endian)
                if found is None:
                    if win.eof and rel >= end - 12:
                        yield Chunk(quarantine=[damaged.to_end(base + end)])
                        break
                    pos = base + rel
                    continue
                quarantine.append(damaged.skipped(base + found, "damaged block"))
                rel = found

            # Walk the blocks: enhanced packet blocks are only collected (the common case; compiled,
            # walk.py) and decoded together below. Any other block is handled on the spot, but
            # only once the packets before it are decoded and their blocks validated, so that a
            # damaged chain is never followed into interface or section changes.
            pairs = struct.Struct(endian + "II").unpack_from
            view = np.frombuffer(data, np.uint8)
            p, why, need = rel, "end", 12
            while True:
                offs, p = walk.walk_pcapng_packets(view, p, end, endian == "<")
                if p + 12 > end:
                    break
                if len(offs):
                    why = "flush"
                    break
                if data[p : p + 4] == PCAPNG_MAGIC:
                    bom = data[p + 8 : p + 12]
                    if bom not in PCAPNG_BOMS:
                        why = "damage"
                        break
                    endian = "<" if bom == PCAPNG_BOMS[0] else ">"
                    pairs = struct.Struct(endian + "II").unpack_from
                    interfaces = []
                btype, blen = pairs(data, p)
                if blen < 12 or blen & 3 or blen > MAX_BLOCK or (btype == 6 and blen < 32):
                    why = "damage"
                    break
                if p + blen > end:
                    need = blen
                    break
                if struct.unpack_from(endian + "I", data, p + blen - 4)[0] != blen:
                    why = "damage"
                    break
                if btype == 1:
                    interfaces.append(_interface(data, p, blen, endian))
                elif btype in (2, 3):
                    got = _old_or_simple(data, p, blen, btype, endian, interfaces)
                    if got is None:
                        reason = "packet block names an unknown interface or overflows its block"
                        quarantine.append(quarantine_row(src, f"byte:{base + p}", reason, data[p : p + RAW_PREVIEW]))
                    else:
                        yield out.chunk(win.array(), base, *(np.array([v], np.int64) for v in got), quarantine)
                        quarantine = []
                p += blen

            if len(offs):
                arr = win.array()
                o = offs
                blen = _u32_at(arr, o + 4, endian)
                trailer_ok = _u32_at(arr, o + blen - 4, endian) == blen
                if not trailer_ok.all():
                    k = int(np.argmin(trailer_ok))
                    o, blen, p, why = o[:k], blen[:k], int(offs[k]), "damage"
                iface = _u32_at(arr, o + 8, endian)
                cap = _u32_at(arr, o + 20, endian)
                wire = _u32_at(arr, o + 24, endian)
                hi = _u32_at(arr, o + 12, endian).astype(np.uint64)
                ticks = (hi << np.uint64(32)) | _u32_at(arr, o + 16, endian).astype(np.uint64)
                known = (iface < len(interfaces)) & (cap <= blen - 32)
                for i in np.flatnonzero(~known):
                    reason = "packet block names an unknown interface or overflows its block"
                    raw = bytes(arr[o[i] : o[i] + RAW_PREVIEW])
                    quarantine.append(quarantine_row(src, f"byte:{base + int(o[i])}", reason, raw))
                o, iface, cap, wire, ticks = o[known], iface[known], cap[known], wire[known], ticks[known]
                lt, ts = _link_and_time(interfaces, iface, ticks)
                yield out.chunk(arr, base, o, o + 28, cap, ts, lt, wire, quarantine)
                quarantine = []
                del arr

            if why == "damage":
                damaged.begin(base + p, data[p : p + RAW_PREVIEW])
                pos = base + p + 1
            elif why == "flush":
                pos = base + p
            elif win.eof:
                if p < end:
                    reason = (
                        "truncated block at end of file" if p + 12 <= end else "truncated block header at end of file"
                    )
                    quarantine.append(quarantine_row(src, f"byte:{base + p}", reason, data[p : p + RAW_PREVIEW]))
                if quarantine:
                    yield Chunk(quarantine=quarantine)
                break
            else:
                pos = base + p
                win.advance(pos, max(WINDOW, need))
            if quarantine:
                yield Chunk(quarantine=quarantine)
        if damage_msg := stream_damage(stream):
            yield Chunk(quarantine=[quarantine_row(src, f"byte:{win.base + len(win.data)}", damage_msg, b"")])


def _interface(data: bytes, p: int, blen: int, endian: str) -> tuple[int, int, int]:
    """(link type, ticks per second, timestamp offset in seconds) from an interface description block."""
    linktype = struct.unpack_from(endian + "H", data, p + 8)[0]
    tsres, tsoffset = 1_000_000, 0
    opt, last = p + 16, p + blen - 4
    while opt + 4 <= last:
        code, olen = struct.unpack_from(endian + "HH", data, opt)
        if code == 0:
            break
        if code == 9 and olen >= 1 and opt + 5 <= last:  # if_tsresol: 10^-v, or 2^-v with the high bit
            v = data[opt + 4]
            absurd = (v & 0x7F) > (62 if v & 0x80 else 18)  # more ticks per second than int64 holds
            tsres = BAD_INTERFACE if absurd else 2 ** (v & 0x7F) if v & 0x80 else 10 ** (v & 0x7F)
        elif code == 14 and olen == 8 and opt + 12 <= last:  # if_tsoffset: seconds added to every timestamp
            tsoffset = struct.unpack_from(endian + "q", data, opt + 4)[0]
            if abs(tsoffset) > MAX_TSOFFSET_S:
                tsres = BAD_INTERFACE
        opt += 4 + olen + (-olen % 4)
    return linktype, tsres, tsoffset


def _link_and_time(interfaces: list[tuple[int, int, int]], iface: np.ndarray, ticks: np.ndarray):
    """Per-packet link type and microsecond timestamp from the interface table."""
    lt = np.zeros(len(iface), np.int64)
    ts = np.zeros(len(iface), np.int64)
    for i in np.unique(iface).tolist():
        sel = iface == i
        linktype, res, offset = interfaces[i]
        t = ticks[sel]
        lt[sel] = linktype
        if res == BAD_INTERFACE:  # its packets are quarantined as implausible, the others' kept
            ts[sel] = -1
            continue
        if res == 1_000_000:
            us = t.astype(np.int64)
        elif res % 1_000_000 == 0:
            us = (t // np.uint64(res // 1_000_000)).astype(np.int64)
        elif 1_000_000 % res == 0:
            scale = 1_000_000 // res
            us = np.where(t > np.uint64(MAX_TS_US // scale), np.uint64(MAX_TS_US), t * np.uint64(scale)).astype(
                np.int64
            )
        else:
            us = np.minimum(t.astype(np.float64) * (1_000_000 / res), MAX_TS_US).astype(np.int64)
        us = np.where((us < 0) | (us >= MAX_TS_US), -1, us + offset * 1_000_000)
        ts[sel] = us
    return lt, ts


def _old_or_simple(data: bytes, p: int, blen: int, btype: int, endian: str, interfaces) -> tuple | None:
    """(record, data offset, caplen, ts, link type, wire length) of an obsolete (2) or simple (3) packet block."""
    if not interfaces:
        return None
    if btype == 3:  # simple packet block: interface 0, no timestamp
        wire = struct.unpack_from(endian + "I", data, p + 8)[0]
        linktype = interfaces[0][0]
        return p, p + 12, min(wire, blen - 16), 0, linktype, wire
    iface, _drops, hi, lo, cap, wire = struct.unpack_from(endian + "HHIIII", data, p + 8)
    if iface >= len(interfaces) or cap > blen - 32:
        return None
    lt, ts = _link_and_time(interfaces, np.array([iface]), np.array([(hi << 32) | lo], np.uint64))
    return p, p + 28, cap, int(ts[0]), int(lt[0]), wire


def _resync_pcapng(data: bytes, rel: int, end: int, eof: bool, endian: str) -> tuple[int | None, int, str]:
    """Next offset that starts a block whose trailing length matches its leading one (see _resync_pcap)."""
    stop = min(end - 12, rel + RESYNC_SPAN)
    if stop <= rel:
        return None, rel, endian
    btype = _u32_everywhere(data, rel, stop, endian)
    cand = np.flatnonzero(np.isin(btype, PCAPNG_BLOCK_TYPES)) + rel
    for c in cand.tolist():
        e = endian
        if data[c : c + 4] == PCAPNG_MAGIC:
            bom = data[c + 8 : c + 12]
            if bom not in PCAPNG_BOMS:
                continue
            e = "<" if bom == PCAPNG_BOMS[0] else ">"
        blen = struct.unpack_from(e + "I", data, c + 4)[0]
        if blen < 12 or blen & 3 or blen > MAX_BLOCK:
            continue
        if c + blen > end:
            if eof:
                continue
            return None, c, endian
        if struct.unpack_from(e + "I", data, c + blen - 4)[0] == blen:
            return c, c, e
    return None, stop, endian
