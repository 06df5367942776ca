"""Flow records: CIDDS-001/002 and CICFlowMeter CSVs, nfdump CSV, Zeek conn.log (TSV and JSON).

One event per flow. Text is read in blocks of whole lines (8 MiB). A CSV block whose lines all
have the right number of fields and no quotes is split by `csvfast` (compiled), and each row whose
values all have their plainest spelling (digits, ISO times, dotted quads) is converted there too;
the other rows, and every other block, take the careful path: the polars CSV reader, as strings,
only the columns used (a block with anything odd is split with numpy first, so each bad line is
quarantined with its number), then vectorized, non-strict casts, so a bad value quarantines its
line (with the column named) instead of failing the block. Both paths give the same events for
a plain value. The next blocks are split (and the clean rows converted) in a pool of two threads
while this one reads the file and builds Arrow tables: polars and the compiled code release the
GIL, so both cores work.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from pipelines.ingest import csvfast
from pipelines.ingest.arrowtext import prefixed_numbers, string_array
from pipelines.ingest.detect import CIC_ALIASES, header_fields
from pipelines.ingest.records import Chunk
from pipelines.ingest.streams import DEFAULT_LIMITS, Limits, Utf8Lines
from pipelines.schema import EVENT_COLUMNS, canonical_ip, canonical_proto, conform_events, quarantine_row

IPV4_RE = r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"
RECORD_ERRORS = (ValueError, TypeError, OverflowError, RecursionError)  # what one bad JSON record can raise
CIDDS_REQUIRED = [
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
]
CIC_REQUIRED = ["Src IP", "Src Port", "Dst IP", "Dst Port", "Protocol", "Timestamp"]
NFDUMP_REQUIRED = ["ts", "td", "sa", "da", "sp", "dp", "pr"]
ZEEK_REQUIRED = ["ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto"]
# CICFlowMeter versions spell the same counters differently; the first present name is read.
CIC_FWD_PACKETS = ("Total Fwd Packet", "Total Fwd Packets", "Tot Fwd Pkts")
CIC_BWD_PACKETS = ("Total Bwd packets", "Total Backward Packets", "Total Bwd Packets", "Tot Bwd Pkts")
CIC_FWD_BYTES = ("Total Length of Fwd Packet", "Total Length of Fwd Packets", "TotLen Fwd Pkts")
CIC_BWD_BYTES = ("Total Length of Bwd Packet", "Total Length of Bwd Packets", "TotLen Bwd Pkts")
CIC_CWR = ("CWR Flag Count", "CWE Flag Count")  # CIC-IDS2017 misnames CWR as CWE
CIC_FLAG_COUNTS = tuple(f"{f} Flag Count" for f in ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE"))  # bits 0-6
TS_FORMATS = {
    "cidds": ["%Y-%m-%d %H:%M:%S%.f"],
    # CIC-IDS2017 as published writes day/month/year; the corrected release writes ISO.
    "cicflowmeter": [
        "%Y-%m-%d %H:%M:%S%.f",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
        "%d/%m/%Y %I:%M:%S %p",
        "%Y-%m-%dT%H:%M:%S%.f",
    ],
    "nfdump": ["%Y-%m-%d %H:%M:%S%.f", "%Y/%m/%d %H:%M:%S%.f"],
}


def _nulls(n: int, dtype: pl.DataType) -> pl.Series:
    return pl.repeat(None, n, dtype=dtype, eager=True)


@dataclass
class Lines:
    """Good lines of a block, parsed into string columns, with their line numbers.

    `spans` holds each row's (start, end) in `block` when the slow path computed them; otherwise
    (every line of the block was good) a row's text is found from its line number when needed.
    """

    frame: pl.DataFrame
    line: np.ndarray
    block: bytes
    first_line: int
    spans: tuple[np.ndarray, np.ndarray] | None = None

    def text(self, i: int) -> bytes:
        """The raw text of row `i` (for quarantine)."""
        if self.spans is not None:
            return self.block[int(self.spans[0][i]) : int(self.spans[1][i])]
        lines = self.block.split(b"\n")
        return lines[int(self.line[i]) - self.first_line].rstrip(b"\r")


def _unique_names(names: list[str]) -> list[str]:
    """Column names made unique (CIC-IDS2017 repeats `Fwd Header Length`)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}.{k}")
    return out


def _read(body: bytes, names: list[str], sep: str) -> pl.DataFrame:
    """Parse lines of known-good shape as strings, only the columns some converter uses (and the last)."""
    wanted = [i for i, n in enumerate(names) if n in USED_COLUMNS or i == len(names) - 1]
    return pl.read_csv(
        io.BytesIO(body),
        has_header=False,
        new_columns=names,
        schema=dict.fromkeys(names, pl.String),
        columns=wanted,
        separator=sep,
        quote_char=None,
        encoding="utf8-lossy",
    )


def _read_spans(block: bytes, starts: np.ndarray, ends: np.ndarray, names: list[str], sep: str) -> pl.DataFrame:
    """Parse the lines block[starts:ends], each known to hold the right number of fields."""
    spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
    frame = _read(b"\n".join(block[a:b] for a, b in spans), names, sep) if spans else None
    if frame is None or frame.height != len(spans):  # the reader disagreed with the line split: Python split
        rows = [block[a:b].decode("utf-8", "replace").split(sep) for a, b in spans]
        frame = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")
    return frame


def split_lines(
    block: bytes,
    first_line: int,
    sep: str,
    names: list[str],
    src: str,
    quotes: bool,
    bad: list[dict],
    keep: Callable[[np.ndarray, np.ndarray, bytes], np.ndarray] | None = None,
    newlines: int | None = None,
    max_field: int = DEFAULT_LIMITS.max_field,
) -> Lines:
    """Split a block of whole lines into good rows; wrong field counts go to `bad` with their line number.

    Blank lines are ignored; `keep(start, end, block)` may drop further lines (comments, trailers); a
    quoted field longer than `max_field` bytes quarantines its line.
    """
    ncols = len(names)
    # Fast path: nothing odd in the block, so the reader sees exactly its lines. It refuses a line
    # with too many fields and leaves the last column null on a line with too few: either sends
    # the block down the careful path below (as does a legitimately empty last field).
    if keep is None and block and b"\r" not in block and not (quotes and b'"' in block) and not block.startswith(b"\n"):
        nlines = (block.count(b"\n") if newlines is None else newlines) + (not block.endswith(b"\n"))
        try:
            frame = _read(block, names, sep)
        except pl.exceptions.PolarsError:
            frame = None
        # A blank line is either skipped by the reader (height differs) or a row of nulls.
        if frame is not None and frame.height == nlines and frame[names[-1]].null_count() == 0:
            return Lines(frame, first_line + np.arange(nlines), block, first_line)

    arr = np.frombuffer(block, np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(arr)]))
    if starts[-1] >= len(arr):  # the block ends with a line break: no partial last line
        starts, ends = starts[:-1], ends[:-1]
    lines = first_line + np.arange(len(starts))
    cr = (ends > starts) & (arr[np.maximum(ends - 1, 0)] == 13)
    ends = ends - cr
    mask = ends > starts
    if keep is not None:
        mask &= keep(starts, ends, block)
    seps = np.flatnonzero(arr == ord(sep))
    count = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) + 1
    quoted = np.zeros(len(starts), bool)
    if quotes and b'"' in block:
        qs = np.flatnonzero(arr == 34)
        quoted = (np.searchsorted(qs, ends) - np.searchsorted(qs, starts)) > 0
    ok = mask & (count == ncols) & ~quoted
    extra_rows: list[list[str]] = []
    extra_idx: list[int] = []
    for i in np.flatnonzero(mask & quoted):
        text = block[starts[i] : ends[i]].decode("utf-8", "replace")
        try:
            fields = next(csv.reader([text], delimiter=sep))
        except csv.Error as exc:
            bad.append(quarantine_row(src, f"line:{lines[i]}", f"bad CSV line: {exc}", text))
            continue
        if any(len(f) > max_field for f in fields):
            reason = f"field longer than {max_field} bytes"
            bad.append(quarantine_row(src, f"line:{lines[i]}", reason, text))
        elif len(fields) == ncols:
            extra_rows.append(fields)
            extra_idx.append(int(i))
        else:
            reason = f"expected {ncols} fields, found {len(fields)}"
            bad.append(quarantine_row(src, f"line:{lines[i]}", reason, text))
    for i in np.flatnonzero(mask & ~quoted & ~ok):
        reason = f"expected {ncols} fields, found {count[i]}"
        bad.append(quarantine_row(src, f"line:{lines[i]}", reason, block[starts[i] : ends[i]]))
    idx = np.flatnonzero(ok)
    schema = dict.fromkeys(names, pl.String)
    frame = _read_spans(block, starts[idx], ends[idx], names, sep)
    if extra_rows:
        extra = pl.DataFrame(extra_rows, schema=schema, orient="row").select(frame.columns)
        frame = pl.concat([frame, extra])
        idx = np.concatenate((idx, np.array(extra_idx, np.int64)))
    return Lines(frame, lines[idx], block, first_line, (starts[idx], ends[idx]))


def read_delimited(
    path: Path,
    sep: str,
    src: str,
    header: Callable[[str], list[str] | None],
    quotes: bool = True,
    keep: Callable[[np.ndarray, np.ndarray, bytes], np.ndarray] | None = None,
    fast: Callable[[bytes, int, list[str], int], Fast | None] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[tuple[list[str] | None, Callable[[], Lines | Fast] | None, list[dict], str | None]]:
    """Yield (names, the split of the block into good lines, bad rows, stream damage) per block of a
    delimited text file.

    The split is a call, to be made in order or in other threads (it fills the block's bad rows);
    it tries `fast(block, first line, names, line breaks)` first. The first line is the header: `header(line)`
    turns it into column names (None: not a header, nothing is read). The last item carries the
    compressed stream's damage, if any.
    """
    names: list[str] | None = None
    line_no = 1
    with Utf8Lines(path, validate=False, limits=limits, src=src) as reader:
        for block in reader.blocks():
            bad: list[dict] = reader.take_rejected()
            if names is None:
                cut = block.find(b"\n") + 1 or len(block)
                names = header(block[:cut].decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n"))
                if names is None:
                    yield None, None, bad, None
                    return
                names = _unique_names(names)
                block, line_no = block[cut:], 2
            if block:
                newlines = csvfast.count_newlines(np.frombuffer(block, np.uint8))
                args = (block, line_no, sep, names, src, quotes, bad, keep, newlines)
                yield names, functools.partial(_split_block, fast, *args, max_field=limits.max_field), bad, None
                line_no += newlines
            elif bad:
                yield names, None, bad, None
        yield names, None, reader.take_rejected(), reader.damage


def _split_block(
    fast: Callable[[bytes, int, list[str], int], Fast | None] | None, block: bytes, *args, max_field: int
) -> Lines | Fast:
    """`fast(block, first line, names, line breaks)`, else `split_lines(block, *args)`."""
    line_no, _sep, names, *_, newlines = args
    got = fast(block, line_no, names, newlines) if fast is not None else None
    return got if got is not None else split_lines(block, *args, max_field=max_field)


def _in_threads(blocks: Iterator, workers: int = 2, ahead: int = 3) -> Iterator:
    """The items of `read_delimited` with their splits made in a pool of threads, `ahead` blocks ahead.

    The compiled split and parse (most of the work) and polars release the GIL: blocks are split
    on both cores while this thread reads the file and builds the Arrow tables.
    """
    with ThreadPoolExecutor(workers, thread_name_prefix="ingest-split") as pool, closing(blocks):
        pending: deque = deque()
        for names, split, bad, damage in blocks:
            pending.append((names, split and pool.submit(split), bad, damage))
            while len(pending) > ahead or (pending and split is None):
                names, job, bad, damage = pending.popleft()
                yield names, job and job.result(), bad, damage


FLAG_TABLE = pl.Series([("".join(ch for bit, ch in enumerate("FSRPAUEC") if v >> bit & 1)) for v in range(256)])


def _null_more(out: pl.Series, src: pl.Series) -> bool:
    return out.null_count() > src.null_count()


def _float(s: pl.Series) -> pl.Series:
    out = s.cast(pl.Float64, strict=False)
    if _null_more(out, s):  # padded values: strip only when needed (it costs a copy)
        out = out.zip_with(out.is_not_null(), s.str.strip_chars().cast(pl.Float64, strict=False))
    return out


def _int(s: pl.Series, dtype: pl.DataType = pl.Int64) -> pl.Series:
    out = s.cast(dtype, strict=False)
    if _null_more(out, s):  # "12.0", " 12": through float
        out = out.zip_with(out.is_not_null(), _float(s).floor().cast(dtype, strict=False))
    return out


def _port(s: pl.Series) -> pl.Series:
    # CIDDS and nfdump write ICMP type.code in the port column ("3.3"): the integer part is the type.
    out = _int(s, pl.Int32)
    return out.zip_with(((out >= 0) & (out <= 65535)).fill_null(False), _nulls(len(out), pl.Int32))


def _ts(s: pl.Series, formats: list[str]) -> pl.Series:
    """UTC timestamps from text: Arrow's ISO-8601 cast when every value is ISO, else the formats in order."""
    try:
        naive = s.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(pa.timestamp("us"))
        return pl.from_arrow(naive).dt.replace_time_zone("UTC")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = s.str.strip_chars()
    out = text.str.to_datetime(formats[0], strict=False, time_unit="us", cache=False)
    for fmt in formats[1:]:
        todo = out.is_null() & text.is_not_null()
        if not todo.any():
            break
        out = out.zip_with(~todo, text.str.to_datetime(fmt, strict=False, time_unit="us", cache=False))
    return out.dt.replace_time_zone("UTC")


def _ip(s: pl.Series) -> pl.Series:
    """Addresses as canonical text; null where the value is not an IP address."""
    ok = s.str.contains(IPV4_RE)
    if ok.all():
        return s
    out = s.zip_with(ok.fill_null(False), _nulls(len(s), pl.String))
    mapping = {}
    for value in s.filter(~ok.fill_null(False)).drop_nulls().unique().to_list():
        if (text := canonical_ip(value)) is not None:
            mapping[value] = text
    if mapping:
        out = out.zip_with(out.is_not_null(), s.replace_strict(mapping, default=None, return_dtype=pl.String))
    return out


def _by_value(s: pl.Series, fn: Callable[[str], object], dtype: pl.DataType) -> pl.Series:
    """Apply `fn` once per distinct value (for low-cardinality text: protocols, flags, labels)."""
    mapping = {v: fn(v) for v in s.drop_nulls().unique().to_list()}
    if not mapping:
        return _nulls(len(s), dtype)
    if dtype == pl.String and all(k == v for k, v in mapping.items()):
        return s  # nothing to change (labels usually): skip the per-row lookup
    return s.replace_strict(mapping, default=None, return_dtype=dtype)


def _proto_name(v: str) -> str | None:
    return canonical_proto(v[:32])


def _flag_letters(letters: str) -> Callable[[str], str]:
    """Flag letters in FSRPAUEC order from a text holding some of `letters` ('.' or others ignored)."""
    return lambda v: "".join(c for c in "FSRPAUEC" if c in letters and c in v)


def _label(none: tuple[str, ...] = ("",)) -> Callable[[str], str | None]:
    return lambda v: None if v.strip() in none else v.strip()


def _proto(s: pl.Series) -> pl.Series:
    return _by_value(s, _proto_name, pl.String)


def _flags(s: pl.Series, letters: str) -> pl.Series:
    return _by_value(s, _flag_letters(letters), pl.String)


def _bytes(s: pl.Series) -> pl.Series:
    """nfdump/CIDDS byte counts, which abbreviate large values ('1.2 M')."""
    out = s.cast(pl.Int64, strict=False)
    if not _null_more(out, s):
        return out
    text = s.str.strip_chars()
    scale = pl.Series(
        [
            1e6 if t.endswith(" M") else 1e9 if t.endswith(" G") else 1e3 if t.endswith(" K") else 1.0
            for t in text.fill_null("").to_list()
        ]
    )
    value = text.str.strip_chars_end(" MGK").cast(pl.Float64, strict=False)
    return out.zip_with(out.is_not_null(), (value * scale).round(0).cast(pl.Int64, strict=False))


def _text(s: pl.Series, none: tuple[str, ...] = ("",)) -> pl.Series:
    return _by_value(s, _label(none), pl.String)


def _first(frame: pl.DataFrame, *names: str) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _tcp_only(flags: pl.Series, proto: pl.Series) -> pl.Series:
    return flags.zip_with((proto == "tcp").fill_null(False), _nulls(len(flags), pl.String))


def _cidds(f: pl.DataFrame) -> tuple[dict[str, pl.Series], dict[str, str]]:
    proto = _proto(f["Proto"])
    cols = {
        "ts": _ts(f["Date first seen"], TS_FORMATS["cidds"]),
        "duration_s": _float(f["Duration"]),
        "proto": proto,
        "src_ip": _ip(f["Src IP Addr"]),
        "src_port": _port(f["Src Pt"]),
        "dst_ip": _ip(f["Dst IP Addr"]),
        "dst_port": _port(f["Dst Pt"]),
        "packets": _int(f["Packets"]),
        "bytes": _bytes(f["Bytes"]),
        # CIDDS writes six positions UAPRSF with '.' for unset.
        "tcp_flags": _tcp_only(_flags(f["Flags"], "UAPRSF"), proto),
    }
    if "class" in f.columns:
        cols["label"] = _text(f["class"])
    if "attackType" in f.columns:
        cols["attack_type"] = _text(f["attackType"], ("", "---"))
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


def _total(f: pl.DataFrame, names: list[str | None], parse: Callable[[pl.Series], pl.Series]) -> pl.Series | None:
    present = [parse(f[c]).fill_null(0) for c in names if c]
    if not present:
        return None
    out = present[0]
    for more in present[1:]:
        out = out + more
    return out.cast(pl.Int64)


def _cic(f: pl.DataFrame) -> tuple[dict[str, pl.Series], dict[str, str]]:
    proto = _proto(f["Protocol"])
    fwd_p = _first(f, *CIC_FWD_PACKETS)
    bwd_p = _first(f, *CIC_BWD_PACKETS)
    fwd_b = _first(f, *CIC_FWD_BYTES)
    bwd_b = _first(f, *CIC_BWD_BYTES)
    flag_cols = [*CIC_FLAG_COUNTS, _first(f, *CIC_CWR) or CIC_CWR[0]]
    bits = pl.Series(np.zeros(f.height, np.int64))
    for bit, c in enumerate(flag_cols):
        if c in f.columns:
            bits = bits + (_float(f[c]).fill_null(0) > 0).cast(pl.Int64) * (1 << bit)
    cols = {
        "ts": _ts(f["Timestamp"], TS_FORMATS["cicflowmeter"]),
        "src_ip": _ip(f["Src IP"]),
        "src_port": _port(f["Src Port"]),
        "dst_ip": _ip(f["Dst IP"]),
        "dst_port": _port(f["Dst Port"]),
        "proto": proto,
        "tcp_flags": _tcp_only(FLAG_TABLE.gather(bits), proto),
        "packets": _total(f, [fwd_p, bwd_p], _int),
        "bytes": _total(f, [fwd_b, bwd_b], _int),
    }
    if "Flow Duration" in f.columns:
        cols["duration_s"] = _float(f["Flow Duration"]) / 1e6  # CICFlowMeter counts microseconds
    if "Label" in f.columns:
        cols["label"] = _text(f["Label"])
    required = {
        "proto": "Protocol",
        "ts": "Timestamp",
        "src_ip": "Src IP",
        "dst_ip": "Dst IP",
        "src_port": "Src Port",
        "dst_port": "Dst Port",
    }
    return cols, required


def _nfdump(f: pl.DataFrame) -> tuple[dict[str, pl.Series], dict[str, str]]:
    proto = _proto(f["pr"])
    cols = {
        "ts": _ts(f["ts"], TS_FORMATS["nfdump"]),
        "src_ip": _ip(f["sa"]),
        "dst_ip": _ip(f["da"]),
        "src_port": _port(f["sp"]),
        "dst_port": _port(f["dp"]),
        "proto": proto,
        "packets": _total(f, [_first(f, "ipkt"), _first(f, "opkt")], _int),
        "bytes": _total(f, [_first(f, "ibyt"), _first(f, "obyt")], _bytes),
    }
    if "td" in f.columns:
        cols["duration_s"] = _float(f["td"])
    if "flg" in f.columns:  # 6 (UAPRSF) or 8 (CEUAPRSF) positions, '.' for unset
        cols["tcp_flags"] = _tcp_only(_flags(f["flg"], "CEUAPRSF"), proto)
    required = {"proto": "pr", "ts": "ts", "src_ip": "sa", "dst_ip": "da", "src_port": "sp", "dst_port": "dp"}
    return cols, required


def _zeek(f: pl.DataFrame) -> tuple[dict[str, pl.Series], dict[str, str]]:
    proto = _proto(f["proto"])
    icmp = proto.is_in(["icmp", "icmpv6"])
    epoch = _float(f["ts"])
    ts = (epoch * 1e6).round(0).cast(pl.Int64, strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    if _null_more(epoch, f["ts"]):  # Zeek's JSON writer can also use ISO 8601
        ts = ts.zip_with(ts.is_not_null(), _ts(f["ts"], ["%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%S%.f"]))
    orig_p, resp_p = _port(f["id.orig_p"]), _port(f["id.resp_p"])
    none = _nulls(f.height, pl.Int32)

    def opt(c: str, parse: Callable[[pl.Series], pl.Series]) -> pl.Series:
        return parse(f[c]).fill_null(0) if c in f.columns else pl.Series(np.zeros(f.height, np.int64))

    # Zeek's history letters: upper case = originator; S syn, A ack, F fin, R reset. D (data)
    # says nothing about PSH, so it is not mapped.
    history = f["history"] if "history" in f.columns else pl.Series([None] * f.height, dtype=pl.String)
    cols = {
        "ts": ts,
        "src_ip": _ip(f["id.orig_h"]),
        "dst_ip": _ip(f["id.resp_h"]),
        # For ICMP Zeek puts the type in orig_p and the code in resp_p.
        "src_port": orig_p.zip_with(~icmp.fill_null(False), none),
        "dst_port": resp_p.zip_with(~icmp.fill_null(False), orig_p),
        "proto": proto,
        "tcp_flags": _tcp_only(_flags(history.fill_null(""), "FSRA"), proto),
        "duration_s": (_float(f["duration"]) if "duration" in f.columns else pl.Series(np.zeros(f.height))).fill_null(
            0.0
        ),
        "packets": (opt("orig_pkts", _int) + opt("resp_pkts", _int)).cast(pl.Int64),
        "bytes": (opt("orig_ip_bytes", _int) + opt("resp_ip_bytes", _int)).cast(pl.Int64),
    }
    if "conn_state" in f.columns:
        cols["conn_state"] = f["conn_state"]
    required = {"proto": "proto", "ts": "ts", "src_ip": "id.orig_h", "dst_ip": "id.resp_h", "dst_port": "id.resp_p"}
    return cols, required


# Every column some converter reads; the CSV reader skips the others (CIC files have ~90).
USED_COLUMNS = {
    *CIDDS_REQUIRED,
    "class",
    "attackType",
    *CIC_REQUIRED,
    "Flow Duration",
    *CIC_FWD_PACKETS,
    *CIC_BWD_PACKETS,
    *CIC_FWD_BYTES,
    *CIC_BWD_BYTES,
    *CIC_FLAG_COUNTS,
    *CIC_CWR,
    "Label",
    *NFDUMP_REQUIRED,
    "flg",
    "ipkt",
    "ibyt",
    "opkt",
    "obyt",
    *ZEEK_REQUIRED,
    "duration",
    "conn_state",
    "history",
    "orig_pkts",
    "resp_pkts",
    "orig_ip_bytes",
    "resp_ip_bytes",
}

CONVERTERS = {"cidds": _cidds, "cicflowmeter": _cic, "nfdump": _nfdump, "zeek_tsv": _zeek, "zeek_json": _zeek}


class GiveUp(Exception):
    """A clean block the fast path cannot take after all (too many distinct texts in a column)."""


@dataclass
class Coded:
    """Low-cardinality text as a code per row into `values` (None: null)."""

    codes: np.ndarray
    values: list[str | None]

    def where(self, keep: np.ndarray) -> Coded:
        """The same column, null where `keep` is False."""
        return Coded(np.where(keep, self.codes, len(self.values)).astype(np.int32), [*self.values, None])

    def is_in(self, *wanted: str) -> np.ndarray:
        return np.array([v in wanted for v in self.values], bool)[self.codes]

    def array(self, rows: np.ndarray | None) -> pa.Array:
        codes = self.codes if rows is None else self.codes[rows]
        return pa.array(self.values, pa.string()).take(codes)


@dataclass
class Fast:
    """A clean block split by `csvfast`: field spans of the used columns per row, and the rows' lines.

    A row is `ok` while every value it needs, parsed so far, has its plainest spelling; the others
    go through the careful polars path (`careful`), which gives the same results on plain values.
    """

    block: bytes
    names: list[str]
    sep: str
    slot: dict[str, int]
    starts: np.ndarray
    ends: np.ndarray
    line: np.ndarray
    line_spans: tuple[np.ndarray, np.ndarray]
    ok: np.ndarray
    location: pa.Array  # `line:N` of every row, made in the splitting thread
    cols: dict[str, np.ndarray | Coded | pa.Array] | None = None  # the converted columns, set by fast_split

    @property
    def buf(self) -> np.ndarray:
        return np.frombuffer(self.block, np.uint8)

    def has(self, name: str | None) -> bool:
        return name in self.slot

    def _field(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self.starts[self.slot[name]], self.ends[self.slot[name]]

    def ts(self, name: str) -> np.ndarray:
        return csvfast.parse_ts(self.buf, *self._field(name), self.ok)

    def float(self, name: str) -> np.ndarray:
        return csvfast.parse_float(self.buf, *self._field(name), self.ok)

    def int(self, name: str, top: int = 10**18 - 1) -> np.ndarray:
        return csvfast.parse_int(self.buf, *self._field(name), self.ok, top)

    def port(self, name: str) -> np.ndarray:
        return self.int(name, 65535).astype(np.int32)

    def ip(self, name: str) -> pa.Array:
        offsets, data = csvfast.ipv4_text(self.buf, *self._field(name), self.ok)
        return string_array(offsets, data)

    def text(self, name: str, fn: Callable[[str], str | None]) -> Coded:
        """Map each distinct text once; an empty field is null, as the CSV reader makes it."""
        starts, ends = self._field(name)
        codes, first = csvfast.intern(self.buf, starts, ends, FAST_DISTINCT)
        if len(codes) < len(starts):
            raise GiveUp(name)
        texts = [self.block[starts[r] : ends[r]].decode("utf-8", "replace") for r in first.tolist()]
        return Coded(codes, [fn(v) if v else None for v in texts])

    def table(self, cols: dict[str, np.ndarray | Coded | pa.Array]) -> pa.Table:
        """The event columns `cols` of the ok rows."""
        rows = None if self.ok.all() else np.flatnonzero(self.ok)
        out = {}
        for name, col in cols.items():
            if col is None:  # a column the file does not have (CIC without packet counts)
                continue
            if isinstance(col, np.ndarray):
                col = col if rows is None else col[rows]
                out[name] = pa.Array.from_buffers(EVENT_TYPES[name], len(col), [None, pa.py_buffer(col)])
            elif isinstance(col, Coded):
                out[name] = col.array(rows)
            else:
                out[name] = col if rows is None else col.take(rows)
        return pa.table(out)

    def careful(self) -> Lines:
        """The rows that are not ok, parsed by the careful path."""
        idx = np.flatnonzero(~self.ok)
        starts, ends = self.line_spans[0][idx], self.line_spans[1][idx]
        frame = _read_spans(self.block, starts, ends, self.names, self.sep)
        return Lines(frame, self.line[idx], self.block, int(self.line[0]), (starts, ends))


FAST_DISTINCT = 1024  # distinct texts per column and block that the fast path maps; more: careful path
FAST_MIN_OK = 0.5  # below this share of plain rows a block goes down the careful path whole
EVENT_TYPES = {n: t for n, t, _ in EVENT_COLUMNS}


def _fast_tcp_flags(f: Fast, name: str, letters: str, proto: Coded) -> Coded:
    return f.text(name, _flag_letters(letters)).where(proto.is_in("tcp"))


def _fast_cidds(f: Fast) -> dict[str, np.ndarray | Coded | pa.Array]:
    proto = f.text("Proto", _proto_name)
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
        "tcp_flags": _fast_tcp_flags(f, "Flags", "UAPRSF", proto),
    }
    if f.has("class"):
        cols["label"] = f.text("class", _label())
    if f.has("attackType"):
        cols["attack_type"] = f.text("attackType", _label(("", "---")))
    return cols


def _fast_total(f: Fast, names: list[str | None]) -> np.ndarray | None:
    present = [f.int(c) for c in names if f.has(c)]
    return sum(present[1:], present[0]) if present else None


def _fast_cic(f: Fast) -> dict[str, np.ndarray | Coded | pa.Array]:
    proto = f.text("Protocol", _proto_name)
    f.ok &= ~proto.is_in(None)  # not a protocol: the careful path quarantines the line
    bits = np.zeros(len(f.line), np.int32)
    for bit, c in enumerate([*CIC_FLAG_COUNTS, _first_of(f, *CIC_CWR)]):
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
        "packets": _fast_total(f, [_first_of(f, *CIC_FWD_PACKETS), _first_of(f, *CIC_BWD_PACKETS)]),
        "bytes": _fast_total(f, [_first_of(f, *CIC_FWD_BYTES), _first_of(f, *CIC_BWD_BYTES)]),
    }
    if f.has("Flow Duration"):
        # Polars divides by a constant as a product with its reciprocal: the same here, to the bit.
        cols["duration_s"] = f.float("Flow Duration") * (1 / 1e6)
    if f.has("Label"):
        cols["label"] = f.text("Label", _label())
    return cols


def _fast_nfdump(f: Fast) -> dict[str, np.ndarray | Coded | pa.Array]:
    proto = f.text("pr", _proto_name)
    f.ok &= ~proto.is_in(None)  # not a protocol: the careful path quarantines the line
    cols = {
        "ts": f.ts("ts"),
        "src_ip": f.ip("sa"),
        "dst_ip": f.ip("da"),
        "src_port": f.port("sp"),
        "dst_port": f.port("dp"),
        "proto": proto,
        "packets": _fast_total(f, ["ipkt", "opkt"]),
        "bytes": _fast_total(f, ["ibyt", "obyt"]),
    }
    if f.has("td"):
        cols["duration_s"] = f.float("td")
    if f.has("flg"):
        cols["tcp_flags"] = _fast_tcp_flags(f, "flg", "CEUAPRSF", proto)
    return cols


def _first_of(f: Fast, *names: str) -> str | None:
    return next((n for n in names if f.has(n)), None)


FAST_CONVERTERS = {"cidds": _fast_cidds, "cicflowmeter": _fast_cic, "nfdump": _fast_nfdump}


def fast_split(fmt: str, block: bytes, first_line: int, names: list[str], sep: str, newlines: int) -> Fast | None:
    """Split a clean block with `csvfast` and convert its plain rows; None when the careful path must take it whole."""
    if any(c not in names for c in REQUIRED[fmt]):
        return None  # iter_csv quarantines the file
    used = [n for n in names if n in USED_COLUMNS]
    slots = np.array([used.index(n) if n in USED_COLUMNS else -1 for n in names], np.int64)
    buf = np.frombuffer(block, np.uint8)
    starts, ends, row, clean = csvfast.split_fields(buf, ord(sep), len(names), slots, len(used), newlines)
    if not clean or not row.shape[1]:
        return None
    slot = {n: i for i, n in enumerate(used)}
    ok = np.ones(row.shape[1], bool)
    line = first_line + row[0]
    spans = (row[1], row[2])
    f = Fast(block, names, sep, slot, starts, ends, line, spans, ok, _locations(line))
    try:
        f.cols = FAST_CONVERTERS[fmt](f)
    except GiveUp:
        return None
    return f if ok.mean() >= FAST_MIN_OK else None


def _events(lines: Lines, fmt: str, src: str, bad: list[dict]) -> tuple[pa.Table, np.ndarray]:
    """String columns -> event columns and their line numbers; a line with an unusable required value goes to `bad`."""
    cols, required = CONVERTERS[fmt](lines.frame)
    cols = {k: v for k, v in cols.items() if v is not None}  # columns the file does not have
    n = lines.frame.height
    failed = np.zeros(n, bool)
    reasons: dict[int, str] = {}
    for out, raw in required.items():
        miss = cols[out].is_null().to_numpy()
        for i in np.flatnonzero(miss & ~failed):
            reasons[int(i)] = f"bad value in column {raw!r}"
        failed |= miss
    line = lines.line
    if failed.any():
        for i, reason in sorted(reasons.items()):
            bad.append(quarantine_row(src, f"line:{line[i]}", reason, lines.text(i)))
        keep = pl.Series(~failed)
        cols = {k: v.filter(keep) for k, v in cols.items()}
        line = line[~failed]
    # The oldest compatibility level gives plain Arrow strings: casting polars' default to the
    # events' string type costs more than the whole conversion.
    return pl.DataFrame(cols).to_arrow(compat_level=pl.CompatLevel.oldest()), line


def _locations(line: np.ndarray) -> pa.Array:
    """`line:N` for each line number."""
    return prefixed_numbers("line:", line)


def _conform(table: pa.Table, location: pa.Array, meta: dict[str, str]) -> pa.Table:
    """Event columns plus the day, the location and the file's constant columns."""
    rows = table.num_rows
    day = table["ts"].cast(pa.timestamp("us")).cast(pa.date32())
    table = table.append_column("event_date", day).append_column("source_location", location)
    for name, value in meta.items():
        table = table.append_column(name, _constant(value, 1 << max(rows - 1, 0).bit_length()).slice(0, rows))
    return conform_events(table)


@functools.lru_cache(maxsize=8)
def _constant(value: str, rows: int) -> pa.Array:
    """`value` repeated, kept for the next blocks: building it anew was ~4% of a clean block's convert."""
    return pa.repeat(value, rows)


def convert(lines: Lines | Fast, fmt: str, meta: dict[str, str], bad: list[dict]) -> pa.Table:
    """String columns (or a block split by csvfast) -> events; unusable lines go to `bad` (column named)."""
    src = meta["source_file"]
    if isinstance(lines, Lines):
        table, line = _events(lines, fmt, src, bad)
        return _conform(table, _locations(line), meta)
    ok = lines.ok
    table = _conform(lines.table(lines.cols), lines.location if ok.all() else lines.location.filter(ok), meta)
    if ok.all():
        return table
    rest, line = _events(lines.careful(), fmt, src, bad)
    both = pa.concat_tables([table, _conform(rest, _locations(line), meta)])
    return both.take(np.argsort(np.concatenate((lines.line[ok], line)), kind="stable"))  # file order


def _header_csv(fmt: str) -> Callable[[str], list[str] | None]:
    def parse(line: str) -> list[str] | None:
        names = header_fields(line)
        if fmt == "cicflowmeter":
            names = [CIC_ALIASES.get(n, n) for n in names]
        return names

    return parse


REQUIRED = {"cidds": CIDDS_REQUIRED, "cicflowmeter": CIC_REQUIRED, "nfdump": NFDUMP_REQUIRED}


def iter_csv(path: Path, fmt: str, meta: dict[str, str], limits: Limits = DEFAULT_LIMITS) -> Iterator[Chunk]:
    """Chunks of a CIDDS, CICFlowMeter or nfdump CSV file."""
    src = meta["source_file"]
    summary = {"seen": False, "skipped": 0}

    def keep(starts: np.ndarray, ends: np.ndarray, block: bytes) -> np.ndarray:
        # nfdump ends its CSV with a "Summary" section: that is not flow data.
        out = np.ones(len(starts), bool)
        if summary["seen"]:
            out[:] = False
        elif fmt == "nfdump" and b"\nSummary" in b"\n" + block:
            for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
                if block[s:e].strip() == b"Summary":
                    out[i:] = False
                    summary["seen"] = True
                    break
        summary["skipped"] += int((~out & (ends > starts)).sum())
        return out

    def fast(block: bytes, first_line: int, names: list[str], newlines: int) -> Fast | None:
        if fmt == "nfdump" and (summary["seen"] or b"\nSummary" in b"\n" + block):
            return None
        return fast_split(fmt, block, first_line, names, ",", newlines)

    if fmt == "nfdump":  # the trailer filter counts what it drops: split each block in turn, here
        blocks = read_delimited(path, ",", src, _header_csv(fmt), keep=keep, fast=fast, limits=limits)
        blocks = ((names, split and split(), bad, damage) for names, split, bad, damage in blocks)
    else:
        blocks = _in_threads(read_delimited(path, ",", src, _header_csv(fmt), fast=fast, limits=limits))
    for names, lines, bad, damage in blocks:
        if names is not None and (missing := [c for c in REQUIRED[fmt] if c not in names]):
            reason = f"missing columns: {', '.join(missing)}"
            yield Chunk(quarantine=[quarantine_row(src, "line:1", reason, ",".join(names))], format=fmt)
            return
        if damage:
            bad.append(quarantine_row(src, "end", damage, b""))
        if lines is None:
            if bad:
                yield Chunk(quarantine=bad, format=fmt)
            continue
        skipped, summary["skipped"] = summary["skipped"], 0
        yield Chunk(convert(lines, fmt, meta, bad), bad, fmt, skipped, canonical_ips=True)


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
                if missing := [c for c in ZEEK_REQUIRED if c not in state["names"]]:
                    reason = f"missing columns: {', '.join(missing)}"
                    yield Chunk(quarantine=[quarantine_row(src, "line:1", reason, block[:200])], format="zeek_tsv")
                    return

            def keep(starts: np.ndarray, ends: np.ndarray, blk: bytes) -> np.ndarray:
                arr = np.frombuffer(blk, np.uint8)
                return arr[np.minimum(starts, len(arr) - 1)] != ord("#")

            lines = split_lines(block, line_no, "\t", state["names"], src, False, bad, keep)
            line_no += block.count(b"\n")
            lines.frame = lines.frame.with_columns(
                pl.when(pl.col(c).is_in(["-", "(empty)"])).then(None).otherwise(pl.col(c)).alias(c)
                for c in lines.frame.columns
            )
            yield Chunk(convert(lines, "zeek_tsv", meta, bad), bad, "zeek_tsv", canonical_ips=True)
        rest = reader.take_rejected()
        if reader.damage:
            rest.append(quarantine_row(src, "end", reader.damage, b""))
        if rest:
            yield Chunk(quarantine=rest, format="zeek_tsv")


def iter_zeek_json(path: Path, meta: dict[str, str], limits: Limits = DEFAULT_LIMITS) -> Iterator[Chunk]:
    """Chunks of a Zeek conn.log written as JSON lines."""
    src = meta["source_file"]
    names = ["ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "duration", "conn_state", "history"]
    names += ["orig_pkts", "resp_pkts", "orig_ip_bytes", "resp_ip_bytes"]
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
            yield Chunk(convert(lines, "zeek_json", meta, bad), bad, "zeek_json", canonical_ips=True)
        if reader.damage:
            yield Chunk(quarantine=[quarantine_row(src, "end", reader.damage, b"")], format="zeek_json")
