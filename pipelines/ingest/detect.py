"""Which format an input is, from its content: magic bytes, the header line, the first JSON keys.

The file name is only a hint (it breaks ties between look-alikes); a pcap renamed `.txt` is
still a pcap and a text file named `.pcap` is not one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipelines.ingest.streams import DEFAULT_LIMITS, Limits, decode_head, head

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1),  # microseconds, little-endian
    b"\xa1\xb2\xc3\xd4": (">", 1),
    b"\x4d\x3c\xb2\xa1": ("<", 1000),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1000),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
PCAPNG_BOMS = (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d")

FORMAT_KIND = {
    "pcap": "pcap",
    "pcapng": "pcap",
    "cidds": "flow",
    "cicflowmeter": "flow",
    "nfdump": "flow",
    "zeek_tsv": "flow",
    "zeek_json": "flow",
    "ufw": "firewall",
    "cowrie": "honeypot",
    "honeypot_json": "honeypot",
    "sensor_jsonl": "sensor",
}

SYSLOG_NETFILTER = re.compile(r"\bSRC=[0-9a-fA-F:.]+ DST=[0-9a-fA-F:.]+ ")
CIC_ALIASES = {
    "Source IP": "Src IP",
    "Destination IP": "Dst IP",
    "Source Port": "Src Port",
    "Destination Port": "Dst Port",
}


def header_fields(line: str) -> list[str]:
    """The column names of a CSV header line, trimmed (CIC-IDS2017 pads them with spaces)."""
    return [h.strip().strip('"') for h in line.split(",")]


def _csv_format(first: str) -> str | None:
    cols = set(header_fields(first))
    # Signatures are minimal on purpose: a file with some columns missing is still recognised,
    # so that its parser can say which ones are missing.
    if {"Date first seen", "Src IP Addr"} <= cols:
        return "cidds"
    named = {CIC_ALIASES.get(c, c) for c in cols}
    if {"Src IP", "Timestamp"} <= named and ("Flow Duration" in named or "Dst IP" in named):
        return "cicflowmeter"
    if {"ts", "sa", "da"} <= cols and ("te" in cols or "pr" in cols):
        return "nfdump"
    return None


def _json_format(line: str) -> str | None:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        # A first line cut short still shows its keys.
        obj = dict.fromkeys(re.findall(r'"([A-Za-z_.]+)"\s*:', line), 1)
    if not isinstance(obj, dict):
        return None
    if "eventid" in obj and ("src_ip" in obj or str(obj.get("eventid", "")).startswith("cowrie.")):
        return "cowrie"
    if "id.orig_h" in obj and "id.resp_p" in obj:
        return "zeek_json"
    if "transport" in obj and "src_ip" in obj and "dst_port" in obj:
        return "sensor_jsonl"
    if "ip" in obj and "utc" in obj:
        return "honeypot_json"
    return None


def detect_format(path: Path, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """The input's format from its content (gzip transparently), or None when it is none we read."""
    sample = head(Path(path), limits=limits)
    if len(sample) == 65536 and sample.count(b"\n") < 2:  # a long first line: look further for the next ones
        sample = head(Path(path), min(4 << 20, 4 * limits.max_line), limits)
    if not sample:
        return None
    if sample[:4] in PCAP_MAGICS:
        return "pcap"
    if sample[:4] == PCAPNG_MAGIC and sample[8:12] in PCAPNG_BOMS:
        return "pcapng"
    text = decode_head(sample)
    lines = [ln for ln in text.splitlines() if ln.strip()][:50]
    if not lines:
        return None
    first = lines[0].strip()
    if first.startswith("#separator") or any(ln.startswith("#fields\t") for ln in lines[:10]):
        return "zeek_tsv" if any(ln.startswith("#fields\t") for ln in lines[:10]) else None
    objects = [ln.strip() for ln in lines if ln.lstrip().startswith("{")]
    if first.startswith("{") or len(objects) * 2 >= len(lines):  # one damaged record is not the file
        return next((f for ln in objects if (f := _json_format(ln))), None)
    if "," in first and (fmt := _csv_format(first)):
        return fmt
    if any(SYSLOG_NETFILTER.search(ln) for ln in text.splitlines()):
        return "ufw"
    return None
