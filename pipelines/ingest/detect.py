"""Which format an input is, from its content: magic bytes, the header line, the first JSON keys.

The formats and their signatures are registered in `pipelines.ingest.formats`; this module takes
the file's first bytes and lines and asks the formats of each stage in turn. The file name plays
no part: a pcap renamed `.txt` is still a pcap and a text file named `.pcap` is not one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipelines.ingest.formats import of_stage
from pipelines.ingest.signatures import ZEEK_SEPARATOR, header_fields
from pipelines.ingest.streams import DEFAULT_LIMITS, Limits, decode_head, head


def _first(stage: str, seen: object) -> str | None:
    """The first format of `stage` whose signature matches what the stage looks at."""
    return next((f.name for f in of_stage(stage) if f.signature(seen)), None)


def _json_object(line: str) -> dict | None:
    """The JSON object on a line; a line cut short still shows its keys."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        obj = dict.fromkeys(re.findall(r'"([A-Za-z_.]+)"\s*:', line), 1)
    return obj if isinstance(obj, dict) else None


def detect_format(path: Path, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """The input's format from its content (gzip transparently), or None when it is none we read."""
    sample = head(Path(path), limits=limits)
    if len(sample) == 65536 and sample.count(b"\n") < 2:  # a long first line: look further for the next ones
        sample = head(Path(path), min(4 << 20, 4 * limits.max_line), limits)
    if not sample:
        return None
    if fmt := _first("magic", sample):
        return fmt
    text = decode_head(sample)
    lines = [ln for ln in text.splitlines() if ln.strip()][:50]
    if not lines:
        return None
    first = lines[0].strip()
    if (fmt := _first("log_header", lines)) or first.startswith(ZEEK_SEPARATOR):
        return fmt  # a log header claims the file: None when its format's line is missing
    objects = [ln.strip() for ln in lines if ln.lstrip().startswith("{")]
    if first.startswith("{") or len(objects) * 2 >= len(lines):  # one damaged record is not the file
        return next(
            (f for ln in objects if (obj := _json_object(ln)) is not None and (f := _first("json_keys", obj))), None
        )
    if "," in first and (fmt := _first("csv_header", set(header_fields(first)))):
        return fmt
    return _first("log_lines", text)
