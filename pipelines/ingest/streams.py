"""Byte and text streams over input files: gzip transparently, damage tolerated, encodings sniffed.

Every parser reads through `open_binary`, so a `.gz` input is decompressed on the fly in bounded
pieces (never whole in memory) and a cut or corrupt gzip stream ends the data where it breaks
instead of raising: the parser then sees a truncated file, which it already handles, and the
stream's `damage` says what happened so the caller can quarantine it.
"""

from __future__ import annotations

import codecs
import io
import zlib
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
READ_SIZE = 1 << 20


class GunzipReader(io.RawIOBase):
    """Streaming gunzip that keeps every byte it can decompress and records damage instead of raising."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self.raw = raw
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


def open_binary(path: Path) -> io.BufferedReader:
    """Open an input for reading bytes; gzip is decompressed transparently (damage tolerated)."""
    raw = open(path, "rb")  # noqa: SIM115 (returned to the caller, who closes it)
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return io.BufferedReader(GunzipReader(raw), buffer_size=READ_SIZE)
    return raw


def stream_damage(stream: io.BufferedReader) -> str | None:
    """What went wrong in the compressed layer of a stream from `open_binary`, if anything."""
    raw = getattr(stream, "raw", None)
    return raw.damage if isinstance(raw, GunzipReader) else None


def head(path: Path, n: int = 65536) -> bytes:
    """The first `n` bytes of an input after decompression."""
    with open_binary(path) as fh:
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
    """Read a text input as UTF-8 bytes in blocks that end on a line break, counting lines.

    Non-UTF-8 inputs (UTF-16 by BOM, latin-1 when the start is not UTF-8) are transcoded; invalid
    UTF-8 later in a UTF-8 file is replaced (U+FFFD) so one bad byte never stops the file (unless
    `validate` is off, for consumers that replace it themselves).
    """

    def __init__(self, path: Path, block: int = 8 << 20, validate: bool = True) -> None:
        self.stream = open_binary(path)
        self.validate = validate  # False: the consumer decodes lossily itself (the CSV reader)
        sample = self.stream.peek(65536)[:65536]
        self.encoding = sniff_encoding(sample)
        self.block = block
        self.carry = b""
        self.eof = False
        self.decoder = None if self.encoding == "utf-8" else codecs.getincrementaldecoder(self.encoding)("replace")

    def blocks(self):
        """Yield blocks of whole lines (the last may lack its line break) as UTF-8 bytes."""
        while not self.eof:
            data = self.stream.read(self.block)
            if not data:
                self.eof = True
                if self.decoder is not None:
                    data = self.decoder.decode(b"", final=True).encode("utf-8")
                    self.carry += data
                if self.carry:
                    yield self.carry
                return
            if self.decoder is not None:
                data = self.decoder.decode(data).encode("utf-8")
            elif self.carry == b"" and data[:3] == codecs.BOM_UTF8:
                data = data[3:]
            data = self.carry + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                self.carry = data
                continue
            self.carry = data[cut:]
            yield _valid_utf8(data[:cut]) if self.validate else data[:cut]

    @property
    def damage(self) -> str | None:
        return stream_damage(self.stream)

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> Utf8Lines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _valid_utf8(data: bytes) -> bytes:
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace").encode("utf-8")


def open_text(path: Path) -> io.TextIOWrapper:
    """Open a text input line by line: gzip transparently, encoding sniffed, bad bytes replaced."""
    stream = open_binary(path)
    encoding = sniff_encoding(stream.peek(65536)[:65536])
    return io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
