"""Text meant for a terminal: control characters from data are shown escaped, never sent raw."""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode line separators and bidirectional overrides that
# can rewrite or hide what an analyst's terminal shows. Tab and newline are escaped too: inside a
# table cell they would break the layout.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """Return `text` with every control character written as an escape (ESC -> \\x1b, CR -> \\r)."""
    return _CONTROL.sub(_escape, text)


def escape_lines(text: str) -> str:
    """Like `escape_controls`, but keep the newlines that separate the lines of a report."""
    return "\n".join(escape_controls(line) for line in text.split("\n"))
