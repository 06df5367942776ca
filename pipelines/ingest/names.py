"""File names as text, losslessly: a name's bytes need not be UTF-8, the lake's columns must be.

A path becomes the text stored in `ingest_files.path`, `quarantine.source_file` and
`events.source_file` by one rule, reversible for any bytes: valid UTF-8 is kept as it is, a byte
that is not part of valid UTF-8 is written `\\xNN` (two lower-case hex digits) and a backslash is
doubled (`\\\\`), so the text always leads back to the one name it came from (`path_bytes`).
"""

from __future__ import annotations

import os
import re

_ESCAPE = re.compile("[\\\\\udc80-\udcff]")  # a backslash, or a byte surrogateescape could not decode
_UNESCAPE = re.compile(rb"\\(\\|x[0-9a-f]{2})")


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    return "\\\\" if ch == "\\" else f"\\x{ord(ch) - 0xDC00:02x}"


def path_text(path: str | bytes | os.PathLike) -> str:
    """The stored text of a path (module doc): UTF-8 kept, other bytes as `\\xNN`, backslashes doubled."""
    text = os.fsencode(path).decode("utf-8", "surrogateescape")
    return _ESCAPE.sub(_escape, text)


def path_bytes(text: str) -> bytes:
    """The path's bytes back from its stored text (the inverse of `path_text`)."""
    return _UNESCAPE.sub(lambda m: b"\\" if m.group(1) == b"\\" else bytes([int(m.group(1)[1:], 16)]), text.encode())


def path_of(text: str) -> str:
    """The path (an `os` string, surrogate-escaped where not UTF-8) whose stored text is `text`."""
    return os.fsdecode(path_bytes(text))
