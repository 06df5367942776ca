"""Content signatures of the input formats: magic bytes, header columns, JSON keys, log-line patterns.

Pure tests on a file's first bytes or lines, with no parser behind them, so that format detection
and `scansense ingest --formats` stay light (no numba, polars or scapy imported). Signatures are
minimal on purpose: a file with some columns missing is still recognised, so that its parser can
say which ones are missing.
"""

from __future__ import annotations

import re

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1),  # microseconds, little-endian
    b"\xa1\xb2\xc3\xd4": (">", 1),
    b"\x4d\x3c\xb2\xa1": ("<", 1000),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1000),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
PCAPNG_BOMS = (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d")
ZEEK_SEPARATOR = "#separator"  # a Zeek log header: the file is Zeek's even when its #fields line is missing
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


def is_pcap(sample: bytes) -> bool:
    """A pcap file header (either byte order, micro- or nanosecond)."""
    return sample[:4] in PCAP_MAGICS


def is_pcapng(sample: bytes) -> bool:
    """A pcapng section header block with its byte-order magic."""
    return sample[:4] == PCAPNG_MAGIC and sample[8:12] in PCAPNG_BOMS


def is_zeek_tsv(lines: list[str]) -> bool:
    """A `#fields<TAB>` line among the first header lines."""
    return any(ln.startswith("#fields\t") for ln in lines[:10])


def is_cidds(cols: set[str]) -> bool:
    """CIDDS's header columns."""
    return {"Date first seen", "Src IP Addr"} <= cols


def is_cicflowmeter(cols: set[str]) -> bool:
    """CICFlowMeter's header columns, in either spelling (`Src IP` or `Source IP`)."""
    named = {CIC_ALIASES.get(c, c) for c in cols}
    return {"Src IP", "Timestamp"} <= named and ("Flow Duration" in named or "Dst IP" in named)


def is_nfdump(cols: set[str]) -> bool:
    """nfdump's CSV header columns."""
    return {"ts", "sa", "da"} <= cols and ("te" in cols or "pr" in cols)


def is_cowrie(obj: dict) -> bool:
    """A Cowrie event: `eventid` with `src_ip`, or an eventid named `cowrie.*`."""
    return "eventid" in obj and ("src_ip" in obj or str(obj.get("eventid", "")).startswith("cowrie."))


def is_zeek_json(obj: dict) -> bool:
    """A Zeek conn.log record written as JSON."""
    return "id.orig_h" in obj and "id.resp_p" in obj


def is_sensor_jsonl(obj: dict) -> bool:
    """A record of the ScanSense sensor's hourly dump."""
    return "transport" in obj and "src_ip" in obj and "dst_port" in obj


def is_honeypot_json(obj: dict) -> bool:
    """A record of the paper's honeypot log."""
    return "ip" in obj and "utc" in obj


def is_netfilter(text: str) -> bool:
    """A netfilter (iptables/UFW) kernel log line somewhere in the text."""
    return any(SYSLOG_NETFILTER.search(ln) for ln in text.splitlines())
