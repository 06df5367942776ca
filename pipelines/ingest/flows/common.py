"""What every flow format shares: splitting text into lines and columns, the column casts, the
compiled fast path for clean CSV blocks, and the conversion of columns to events.

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
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from pipelines.ingest import csvfast
from pipelines.ingest.arrowtext import prefixed_numbers, string_array
from pipelines.ingest.records import Chunk
from pipelines.ingest.signatures import header_fields
from pipelines.ingest.streams import DEFAULT_LIMITS, Limits, Utf8Lines
from pipelines.schema import EVENT_COLUMNS, canonical_ip, canonical_proto, conform_events, quarantine_row

IPV4_RE = r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"


def nulls(n: int, dtype: pl.DataType) -> pl.Series:
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


def _read(body: bytes, names: list[str], sep: str, used: frozenset[str]) -> pl.DataFrame:
    """Parse lines of known-good shape as strings, only the `used` columns (and the last)."""
    wanted = [i for i, n in enumerate(names) if n in used or i == len(names) - 1]
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


def _read_spans(
    block: bytes, starts: np.ndarray, ends: np.ndarray, names: list[str], sep: str, used: frozenset[str]
) -> pl.DataFrame:
    """Parse the lines block[starts:ends], each known to hold the right number of fields."""
    spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
    frame = _read(b"\n".join(block[a:b] for a, b in spans), names, sep, used) if spans else None
    if frame is None or frame.height != len(spans):  # the reader disagreed with the line split: Python split
        rows = [block[a:b].decode("utf-8", "replace").split(sep) for a, b in spans]
        frame = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")
    return frame


def split_lines(
    block: bytes,
    first_line: int,
    sep: str,
    names: list[str],
    used: frozenset[str],
    src: str,
    quotes: bool,
    bad: list[dict],
    keep: Callable[[np.ndarray, np.ndarray, bytes], np.ndarray] | None = None,
    newlines: int | None = None,
    max_field: int = DEFAULT_LIMITS.max_field,
) -> Lines:
    """Split a block of whole lines into good rows; wrong field counts go to `bad` with their line number.

    Only the `used` columns (and the last, which shows a short line) are parsed. Blank lines are ignored; `keep(start, end, block)` may drop further lines (comments, trailers); a
    quoted field longer than `max_field` bytes quarantines its line.
    """
    ncols = len(names)
    # Fast path: nothing odd in the block, so the reader sees exactly its lines. It refuses a line
    # with too many fields and leaves the last column null on a line with too few: either sends
    # the block down the careful path below (as does a legitimately empty last field).
    if keep is None and block and b"\r" not in block and not (quotes and b'"' in block) and not block.startswith(b"\n"):
        nlines = (block.count(b"\n") if newlines is None else newlines) + (not block.endswith(b"\n"))
        try:
            frame = _read(block, names, sep, used)
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
    frame = _read_spans(block, starts[idx], ends[idx], names, sep, used)
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
    used: frozenset[str],
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
                args = (block, line_no, sep, names, used, src, quotes, bad, keep, newlines)
                yield names, functools.partial(_split_block, fast, *args, max_field=limits.max_field), bad, None
                line_no += newlines
            elif bad:
                yield names, None, bad, None
        yield names, None, reader.take_rejected(), reader.damage


def _split_block(
    fast: Callable[[bytes, int, list[str], int], Fast | None] | None, block: bytes, *args, max_field: int
) -> Lines | Fast:
    """`fast(block, first line, names, line breaks)`, else `split_lines(block, *args)`."""
    line_no, _sep, names, _used, *_, newlines = args
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


def null_more(out: pl.Series, src: pl.Series) -> bool:
    return out.null_count() > src.null_count()


def as_float(s: pl.Series) -> pl.Series:
    out = s.cast(pl.Float64, strict=False)
    if null_more(out, s):  # padded values: strip only when needed (it costs a copy)
        out = out.zip_with(out.is_not_null(), s.str.strip_chars().cast(pl.Float64, strict=False))
    return out


def as_int(s: pl.Series, dtype: pl.DataType = pl.Int64) -> pl.Series:
    out = s.cast(dtype, strict=False)
    if null_more(out, s):  # "12.0", " 12": through float
        out = out.zip_with(out.is_not_null(), as_float(s).floor().cast(dtype, strict=False))
    return out


def as_port(s: pl.Series) -> pl.Series:
    # CIDDS and nfdump write ICMP type.code in the port column ("3.3"): the integer part is the type.
    out = as_int(s, pl.Int32)
    return out.zip_with(((out >= 0) & (out <= 65535)).fill_null(False), nulls(len(out), pl.Int32))


def as_ts(s: pl.Series, formats: list[str]) -> pl.Series:
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


def as_ip(s: pl.Series) -> pl.Series:
    """Addresses as canonical text; null where the value is not an IP address."""
    ok = s.str.contains(IPV4_RE)
    if ok.all():
        return s
    out = s.zip_with(ok.fill_null(False), nulls(len(s), pl.String))
    mapping = {}
    for value in s.filter(~ok.fill_null(False)).drop_nulls().unique().to_list():
        if (text := canonical_ip(value)) is not None:
            mapping[value] = text
    if mapping:
        out = out.zip_with(out.is_not_null(), s.replace_strict(mapping, default=None, return_dtype=pl.String))
    return out


def by_value(s: pl.Series, fn: Callable[[str], object], dtype: pl.DataType) -> pl.Series:
    """Apply `fn` once per distinct value (for low-cardinality text: protocols, flags, labels)."""
    mapping = {v: fn(v) for v in s.drop_nulls().unique().to_list()}
    if not mapping:
        return nulls(len(s), dtype)
    if dtype == pl.String and all(k == v for k, v in mapping.items()):
        return s  # nothing to change (labels usually): skip the per-row lookup
    return s.replace_strict(mapping, default=None, return_dtype=dtype)


def proto_name(v: str) -> str | None:
    return canonical_proto(v[:32])


def flag_letters(letters: str) -> Callable[[str], str]:
    """Flag letters in FSRPAUEC order from a text holding some of `letters` ('.' or others ignored)."""
    return lambda v: "".join(c for c in "FSRPAUEC" if c in letters and c in v)


def label_of(none: tuple[str, ...] = ("",)) -> Callable[[str], str | None]:
    return lambda v: None if v.strip() in none else v.strip()


def as_proto(s: pl.Series) -> pl.Series:
    return by_value(s, proto_name, pl.String)


def as_flags(s: pl.Series, letters: str) -> pl.Series:
    return by_value(s, flag_letters(letters), pl.String)


def as_bytes(s: pl.Series) -> pl.Series:
    """nfdump/CIDDS byte counts, which abbreviate large values ('1.2 M')."""
    out = s.cast(pl.Int64, strict=False)
    if not null_more(out, s):
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


def as_text(s: pl.Series, none: tuple[str, ...] = ("",)) -> pl.Series:
    return by_value(s, label_of(none), pl.String)


def first_present(frame: pl.DataFrame, *names: str) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def tcp_only(flags: pl.Series, proto: pl.Series) -> pl.Series:
    return flags.zip_with((proto == "tcp").fill_null(False), nulls(len(flags), pl.String))


def total(f: pl.DataFrame, names: list[str | None], parse: Callable[[pl.Series], pl.Series]) -> pl.Series | None:
    present = [parse(f[c]).fill_null(0) for c in names if c]
    if not present:
        return None
    out = present[0]
    for more in present[1:]:
        out = out + more
    return out.cast(pl.Int64)


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
    used: frozenset[str]
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
        frame = _read_spans(self.block, starts, ends, self.names, self.sep, self.used)
        return Lines(frame, self.line[idx], self.block, int(self.line[0]), (starts, ends))


FAST_DISTINCT = 1024  # distinct texts per column and block that the fast path maps; more: careful path


FAST_MIN_OK = 0.5  # below this share of plain rows a block goes down the careful path whole


EVENT_TYPES = {n: t for n, t, _ in EVENT_COLUMNS}


def fast_tcp_flags(f: Fast, name: str, letters: str, proto: Coded) -> Coded:
    return f.text(name, flag_letters(letters)).where(proto.is_in("tcp"))


def fast_total(f: Fast, names: list[str | None]) -> np.ndarray | None:
    present = [f.int(c) for c in names if f.has(c)]
    return sum(present[1:], present[0]) if present else None


def first_of(f: Fast, *names: str) -> str | None:
    return next((n for n in names if f.has(n)), None)


Columns = dict[str, pl.Series]
# A careful converter may add this column: per row, why the record is quarantined (null: kept).
REJECT = "_reject"
FastColumns = dict[str, np.ndarray | Coded | pa.Array]


@dataclass(frozen=True)
class FlowFormat:
    """One flow format: its columns and its converters (the careful polars one, the compiled fast one)."""

    name: str  # the format's name in the registry (ingest_files.format)
    required: tuple[str, ...]  # columns without which the file is quarantined whole
    used: frozenset[str]  # every column the converters read; the readers skip the others
    # frame -> (event columns, {event column: its source column, which must parse on every kept line});
    # a column REJECT, if present, quarantines the rows where it holds a reason
    careful: Callable[[pl.DataFrame], tuple[Columns, dict[str, str]]]
    fast: Callable[[Fast], FastColumns] | None = None  # plain rows of a clean CSV block, None: careful path only
    aliases: dict[str, str] = field(default_factory=dict)  # header spellings read as another name
    trailer: bytes | None = None  # a line that ends the flow data (nfdump's "Summary" section)


def fast_split(
    fmt: FlowFormat, block: bytes, first_line: int, names: list[str], sep: str, newlines: int
) -> Fast | None:
    """Split a clean block with `csvfast` and convert its plain rows; None when the careful path must take it whole."""
    if fmt.fast is None or any(c not in names for c in fmt.required):
        return None  # iter_csv quarantines the file
    used = [n for n in names if n in fmt.used]
    slots = np.array([used.index(n) if n in fmt.used else -1 for n in names], np.int64)
    buf = np.frombuffer(block, np.uint8)
    starts, ends, row, clean = csvfast.split_fields(buf, ord(sep), len(names), slots, len(used), newlines)
    if not clean or not row.shape[1]:
        return None
    slot = {n: i for i, n in enumerate(used)}
    ok = np.ones(row.shape[1], bool)
    line = first_line + row[0]
    spans = (row[1], row[2])
    f = Fast(block, names, fmt.used, sep, slot, starts, ends, line, spans, ok, _locations(line))
    try:
        f.cols = fmt.fast(f)
    except GiveUp:
        return None
    return f if ok.mean() >= FAST_MIN_OK else None


def _events(lines: Lines, fmt: FlowFormat, src: str, bad: list[dict]) -> tuple[pa.Table, np.ndarray]:
    """String columns -> event columns and their line numbers; a line with an unusable required value goes to `bad`."""
    cols, required = fmt.careful(lines.frame)
    cols = {k: v for k, v in cols.items() if v is not None}  # columns the file does not have
    n = lines.frame.height
    failed = np.zeros(n, bool)
    reasons: dict[int, str] = {}
    if (reject := cols.pop(REJECT, None)) is not None:  # records the format says are not traffic
        for i in np.flatnonzero(reject.is_not_null().to_numpy()):
            reasons[int(i)] = reject[int(i)]
            failed[i] = True
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


def convert(lines: Lines | Fast, fmt: FlowFormat, meta: dict[str, str], bad: list[dict]) -> pa.Table:
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


def _header_csv(fmt: FlowFormat) -> Callable[[str], list[str] | None]:
    def parse(line: str) -> list[str] | None:
        return [fmt.aliases.get(n, n) for n in header_fields(line)]

    return parse


def iter_csv(path: Path, fmt: FlowFormat, meta: dict[str, str], limits: Limits = DEFAULT_LIMITS) -> Iterator[Chunk]:
    """Chunks of a flow CSV file of format `fmt` (CIDDS, CICFlowMeter, nfdump)."""
    src = meta["source_file"]
    summary = {"seen": False, "skipped": 0}

    def keep(starts: np.ndarray, ends: np.ndarray, block: bytes) -> np.ndarray:
        # A trailer line (nfdump's "Summary" section) ends the flow data.
        out = np.ones(len(starts), bool)
        if summary["seen"]:
            out[:] = False
        elif fmt.trailer and b"\n" + fmt.trailer in b"\n" + block:
            for i, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
                if block[s:e].strip() == fmt.trailer:
                    out[i:] = False
                    summary["seen"] = True
                    break
        summary["skipped"] += int((~out & (ends > starts)).sum())
        return out

    def fast(block: bytes, first_line: int, names: list[str], newlines: int) -> Fast | None:
        if fmt.trailer and (summary["seen"] or b"\n" + fmt.trailer in b"\n" + block):
            return None
        return fast_split(fmt, block, first_line, names, ",", newlines)

    if fmt.trailer:  # the trailer filter counts what it drops: split each block in turn, here
        blocks = read_delimited(path, ",", src, _header_csv(fmt), fmt.used, keep=keep, fast=fast, limits=limits)
        blocks = ((names, split and split(), bad, damage) for names, split, bad, damage in blocks)
    else:
        blocks = _in_threads(read_delimited(path, ",", src, _header_csv(fmt), fmt.used, fast=fast, limits=limits))
    for names, lines, bad, damage in blocks:
        if names is not None and (missing := [c for c in fmt.required if c not in names]):
            reason = f"missing columns: {', '.join(missing)}"
            yield Chunk(quarantine=[quarantine_row(src, "line:1", reason, ",".join(names))], format=fmt.name)
            return
        if damage:
            bad.append(quarantine_row(src, "end", damage, b""))
        if lines is None:
            if bad:
                yield Chunk(quarantine=bad, format=fmt.name)
            continue
        skipped, summary["skipped"] = summary["skipped"], 0
        yield Chunk(convert(lines, fmt, meta, bad), bad, fmt.name, skipped, canonical_ips=True)
