"""Byte and text streams over input files: gzip transparently, damage tolerated, encodings sniffed.

Every parser reads through `open_binary`, so a `.gz` input is decompressed on the fly in bounded
pieces (never whole in memory) and a cut or corrupt gzip stream ends the data where it breaks
instead of raising: the parser then sees a truncated file, which it already handles, and the
stream's `damage` says what happened so the caller can quarantine it. Decompression is bounded by
ratio and size, text lines by length (`Limits`, from settings [ingest]); only regular files are opened.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
READ_SIZE = 1 << 20
GZIP_FREE = 64 << 20  # decompressed bytes never judged by the ratio (small files of repeated lines)
HEAD_KEPT = 256  # first bytes of an overlong line kept for its quarantine row


@dataclass(frozen=True)
class Limits:
    """Bounds on what one input can make ingest hold (settings [ingest])."""

    max_line: int = 1 << 20
    max_field: int = 65_536
    gzip_ratio: int = 250
    gzip_bytes: int = 64 << 30

    @classmethod
    def of(cls, settings: object) -> Limits:
        """The limits of a `Settings` (defaults when it has no [ingest] section)."""
        ing = getattr(settings, "ingest", None)
        if ing is None:
            return cls()
        return cls(ing.max_line_bytes, ing.max_field_bytes, ing.max_gzip_ratio, ing.max_gzip_bytes)


DEFAULT_LIMITS = Limits()


class NotRegularFile(OSError):
    """A path that is not a regular file (FIFO, device, socket, folder, symlink): never read."""


def file_kind(mode: int) -> str:
    """What a stat mode is, in words."""
    for test, name in (
        (stat.S_ISREG, "regular file"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return name
    return "special file"


def open_regular(path: Path) -> io.BufferedReader:
    """Open a regular file for reading; anything else (a symlink included) raises NotRegularFile, never blocks."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(0, f"not a regular file but a {file_kind(mode)}", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb", buffering=READ_SIZE)


class GunzipReader(io.RawIOBase):
    """Streaming gunzip that keeps every byte it can decompress and records damage instead of raising."""

    def __init__(self, raw: io.BufferedIOBase, limits: Limits = DEFAULT_LIMITS) -> None:
        self.raw = raw
        self.limits = limits
        self.produced = 0  # decompressed bytes so far
        self.dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.fed = False  # the current member has received input
        self.inbuf = b""  # compressed bytes read but not yet fed
        self.pending = b""
        self.done = False
        self.damage: str | None = None
        self.consumed = 0  # compressed bytes read so far

    def readable(self) -> bool:
        return True

    def _more(self) -> None:
        while not self.pending and not self.done:
            data, self.inbuf = self.dec.unconsumed_tail or self.inbuf, b""
            if not data:
                data = self.raw.read(READ_SIZE)
                self.consumed += len(data)
                if not data:
                    if self.fed:
                        self.damage = f"gzip stream cut short after {self.consumed} compressed bytes"
                        self.pending = self.dec.flush()
                    self.done = True
                    return
            try:
                self.pending = self.dec.decompress(data, READ_SIZE)
            except zlib.error as exc:
                self.damage = f"corrupt gzip data within the first {self.consumed} compressed bytes: {exc}"
                self.done = True
                return
            self.fed = True
            self.produced += len(self.pending)
            allowed = min(self.limits.gzip_bytes, max(GZIP_FREE, self.limits.gzip_ratio * self.consumed))
            if self.produced > allowed:
                self.pending = self.pending[: len(self.pending) - (self.produced - allowed)]
                self.damage = (
                    f"decompression stopped after {allowed} bytes ({self.limits.gzip_ratio}x the {self.consumed} "
                    f"compressed bytes read, at most {self.limits.gzip_bytes}): the rest is not read"
                )
                self.done = True
                return
            if self.dec.eof:
                rest = self.dec.unused_data
                # Concatenated members (as `cat a.gz b.gz` makes) are one stream.
                self.dec, self.fed = zlib.decompressobj(16 + zlib.MAX_WBITS), False
                if rest[:2] == GZIP_MAGIC:
                    self.inbuf = rest
                elif rest.strip(b"\x00"):
                    self.damage = "bytes after the end of the gzip stream ignored"
                    self.done = True

    def readinto(self, buffer) -> int:
        self._more()
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_binary(path: Path, limits: Limits = DEFAULT_LIMITS) -> io.BufferedReader:
    """Open a regular file for reading bytes; gzip is decompressed transparently (damage tolerated, bounded)."""
    raw = open_regular(path)
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return io.BufferedReader(GunzipReader(raw, limits), buffer_size=READ_SIZE)
    return raw


def stream_damage(stream: io.BufferedReader) -> str | None:
    """What went wrong in the compressed layer of a stream from `open_binary`, if anything."""
    raw = getattr(stream, "raw", None)
    return raw.damage if isinstance(raw, GunzipReader) else None


def head(path: Path, n: int = 65536, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The first `n` bytes of an input after decompression."""
    with open_binary(path, limits) as fh:
        out = b""
        while len(out) < n:
            block = fh.read(n - len(out))
            if not block:
                break
            out += block
        return out


def sniff_encoding(sample: bytes) -> str:
    """The text encoding of an input from its first bytes: UTF-16 by BOM, UTF-8 if valid, else latin-1."""
    if sample[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    if sample[:3] == codecs.BOM_UTF8:
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:  # not merely a character cut by the sample's end
            return "latin-1"
    return "utf-8"


def decode_head(sample: bytes) -> str:
    """Text of an input's first bytes in its sniffed encoding (undecodable bytes replaced)."""
    return sample.decode(sniff_encoding(sample), errors="replace").lstrip("\ufeff")


class Utf8Lines:
    """Read a text input as UTF-8 bytes in blocks that end on a line break.

    Non-UTF-8 inputs (UTF-16 by BOM, latin-1 when the start is not UTF-8) are transcoded; invalid
    UTF-8 later in a UTF-8 file is replaced (U+FFFD) so one bad byte never stops the file (unless
    `validate` is off, for consumers that replace it themselves). A line longer than
    `limits.max_line` is never held whole: it is yielded as an empty line (line numbers stay right)
    and `rejected` gets one quarantine row for it, located by its offset in the decoded text.
    """

    def __init__(
        self, path: Path, block: int = 8 << 20, validate: bool = True, limits: Limits = DEFAULT_LIMITS, src: str = ""
    ) -> None:
        self.stream = open_binary(path, limits)
        self.validate = validate  # False: the consumer decodes lossily itself (the CSV reader)
        sample = self.stream.peek(65536)[:65536]
        self.encoding = sniff_encoding(sample)
        self.block = block
        self.carry = b""
        self.eof = False
        self.decoder = None if self.encoding == "utf-8" else codecs.getincrementaldecoder(self.encoding)("replace")
        self.max_line = max(limits.max_line, 2)
        self.src = src or str(path)
        self.rejected: list[dict] = []  # quarantine rows of overlong lines, for the consumer to take
        self.read_pos = 0  # decoded bytes read so far
        self.skip: list | None = None  # [offset, length, first bytes] of the overlong line being skipped

    def take_rejected(self) -> list[dict]:
        """The quarantine rows of the overlong lines met so far (each handed out once)."""
        out, self.rejected = self.rejected, []
        return out

    def _overlong(self, at: int, length: int, first: bytes) -> None:
        from pipelines.schema import quarantine_row

        reason = f"line of {length} bytes, longer than the {self.max_line}-byte limit: not read"
        self.rejected.append(quarantine_row(self.src, f"byte:{at}", reason, first[:HEAD_KEPT]))

    def _drop_overlong(self, block: bytes, at: int) -> bytes:
        """`block` (whole lines) with every line over the limit emptied; windows of half the limit each hold a break otherwise."""
        if len(block) <= self.max_line:
            return block
        step, i, spans = self.max_line // 2, 0, []
        while i < len(block):
            if block.find(b"\n", i, i + step) >= 0:
                i += step
                continue
            start = block.rfind(b"\n", 0, i) + 1
            end = block.find(b"\n", i)
            end = len(block) if end < 0 else end
            if end - start > self.max_line:
                spans.append((start, end))
                self._overlong(at + start, end - start, block[start : start + HEAD_KEPT])
            i = end + 1
        if not spans:
            return block
        parts, last = [], 0
        for start, end in spans:
            parts.append(block[last:start])
            last = end
        parts.append(block[last:])
        return b"".join(parts)

    def _read(self) -> bytes:
        data = self.stream.read(self.block)
        if self.decoder is not None:
            data = self.decoder.decode(data, final=not data).encode("utf-8")
        elif self.read_pos == 0 and data[:3] == codecs.BOM_UTF8:
            data = data[3:]
        return data

    def blocks(self):
        """Yield blocks of whole lines (the last may lack its line break) as UTF-8 bytes."""
        while not self.eof:
            data = self._read()
            at = self.read_pos
            self.read_pos += len(data)
            if not data:
                self.eof = True
                if self.skip is not None:
                    self._overlong(*self.skip)
                    self.skip = None
                elif self.carry:
                    yield self._checked(self.carry, at - len(self.carry))
                return
            if self.skip is not None:  # inside an overlong line: drop up to its line break
                nl = data.find(b"\n")
                if nl < 0:
                    self.skip[1] += len(data)
                    continue
                self.skip[1] += nl
                self._overlong(*self.skip)
                self.skip = None
                data, at = data[nl:], at + nl
            data, at = self.carry + data, at - len(self.carry)
            cut = data.rfind(b"\n") + 1
            self.carry = data[cut:]
            if len(self.carry) > self.max_line:
                self.skip = [at + cut, len(self.carry), self.carry[:HEAD_KEPT]]
                self.carry = b""
            if cut:
                yield self._checked(data[:cut], at)

    def _checked(self, block: bytes, at: int) -> bytes:
        block = self._drop_overlong(block, at)
        return _valid_utf8(block) if self.validate else block

    @property
    def damage(self) -> str | None:
        return stream_damage(self.stream)

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> Utf8Lines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def text_lines(reader: Utf8Lines) -> Iterator[tuple[int, str]]:
    """(line number, text without its line break) of every line of a `Utf8Lines` reader (validate on)."""
    lineno = 0
    for block in reader.blocks():
        lines = block.split(b"\n")
        if block.endswith(b"\n"):
            lines.pop()
        for raw in lines:
            lineno += 1
            yield lineno, raw.decode("utf-8", "replace").rstrip("\r")


def _valid_utf8(data: bytes) -> bytes:
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace").encode("utf-8")
