"""Netfilter / UFW / iptables `LOG` lines in syslog files, one event per logged packet.

Classic syslog lines carry no year (`Aug 20 00:01:05 host kernel: ...`): the caller supplies it
(parameter, else a YYYY-MM-DD in the file name, else the file's modification year) and a
December-to-January step inside the file moves to the next year. RFC 3339 timestamps
(`2023-08-20T00:01:05.123+00:00 host kernel: ...`) carry their own. Syslog writes the host's
clock; it is taken as UTC. Lines of other programs are skipped (counted, not quarantined); a
netfilter line without its mandatory fields (a line cut in half) is quarantined with its number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pipelines.ingest.records import CHUNK_ROWS, Chunk, rows_table
from pipelines.ingest.streams import DEFAULT_LIMITS, Limits, Utf8Lines, text_lines
from pipelines.ingest.tcpoptions import layout
from pipelines.schema import canonical_ip, canonical_proto, conform_events, quarantine_row

MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
BSD_HEAD = re.compile(r"^(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d) \S+ ")
ISO_HEAD = re.compile(r"^(?P<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) \S+ ")
NETFILTER = re.compile(r"\bIN=\S* OUT=")
UFW_TAG = re.compile(r"\[UFW ([A-Z ]+?)\]")
PREFIX = re.compile(r"(?:kernel:\s*(?:\[\s*\d+\.\d+\]\s*)?)(?P<prefix>.*?)\s*IN=")
KV = re.compile(r"\b([A-Z]+)=(\S*)")
TCP_FLAGS = re.compile(r"\bRES=0x[0-9a-fA-F]+ ((?:[A-Z]{3} )*)URGP=")
# netfilter's nf_log_syslog.c writes "OPT (" and the options as %02X bytes after URGP= when asked.
TCP_OPT = re.compile(r"\bURGP=\d+ OPT \(((?:[0-9A-F]{2})*)\)")
FLAG_LETTER = {"FIN": "F", "SYN": "S", "RST": "R", "PSH": "P", "ACK": "A", "URG": "U", "ECE": "E", "CWR": "C"}
PORT_PROTOS = ("tcp", "udp", "136", "132")  # netfilter logs SPT/DPT for these (UDP-Lite, SCTP by number)
# Largest value each numeric field can hold; a larger one is damage and quarantines its line.
FIELD_MAX = {"SPT": 65535, "DPT": 65535, "TYPE": 255, "LEN": 2**32 - 1, "TTL": 255, "HOPLIMIT": 255}
FIELD_MAX |= {"ID": 2**32 - 1, "WINDOW": 65535, "SEQ": 2**32 - 1}
# The kernel's note that it dropped log lines over its own rate limit (`net_ratelimit: 27 callbacks suppressed`).
SUPPRESSED = re.compile(r"\bkernel:.*?\b(\d{1,12}) callbacks suppressed")
NAME_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)-?(0[1-9]|1[0-2])-?(0[1-9]|[12]\d|3[01])(?!\d)")


def year_for(path: Path, year: int | None) -> tuple[int, int | None]:
    """(year, month of the file-name date or None) for syslog lines of `path`."""
    if year:
        return year, None
    m = NAME_DATE.search(Path(path).name)
    if m:
        return int(m.group(1)), int(m.group(2))
    return datetime.fromtimestamp(Path(path).stat().st_mtime, UTC).year, None


def _int(kv: dict[str, str], key: str) -> int | None:
    v = kv.get(key)
    if not v or not v.isdigit():
        return None
    if len(v) > 10 or int(v) > FIELD_MAX[key]:
        raise ValueError(f"{key}={v[:24]} out of range")
    return int(v)


def parse_line(line: str, year: int) -> dict:
    """One netfilter LOG line -> an events row (raises ValueError when a mandatory field is missing)."""
    if m := BSD_HEAD.match(line):
        ts = datetime(year, MONTHS[m["mon"]], int(m["day"]), int(m["h"]), int(m["m"]), int(m["s"]), tzinfo=UTC)
    elif m := ISO_HEAD.match(line):
        ts = datetime.fromisoformat(m["iso"].replace("Z", "+00:00"))
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    else:
        raise ValueError("no syslog timestamp")
    pairs = KV.findall(line)
    kv: dict[str, str] = {}
    for key, value in pairs:  # the first occurrence is the IP header's (ICMP repeats ID, UDP repeats LEN)
        kv.setdefault(key, value)
    for key in ("SRC", "DST", "PROTO"):
        if not kv.get(key):
            raise ValueError(f"{key}= missing: line cut short?")
    proto = canonical_proto(kv["PROTO"])
    if proto is None:
        raise ValueError(f"PROTO={kv['PROTO'][:24]} is not a protocol")
    src, dst = canonical_ip(kv["SRC"]), canonical_ip(kv["DST"])
    if src is None or dst is None:
        raise ValueError("SRC or DST is not an IP address")
    row = {"ts": ts, "event_date": ts.date()}
    if proto == "tcp":
        if "URGP" not in kv or "DPT" not in kv:
            raise ValueError("TCP line without DPT/URGP: line cut short?")
        flags = TCP_FLAGS.search(line)
        words = flags.group(1).split() if flags else []
        row["tcp_flags"] = "".join(ch for w, ch in FLAG_LETTER.items() if w in words)
        row["tcp_window"] = _int(kv, "WINDOW")
        row["tcp_seq"] = _int(kv, "SEQ")  # with iptables' --log-tcp-sequence
        if opt := TCP_OPT.search(line):  # with --log-tcp-options: the option bytes in hex
            row["tcp_options"], row["tcp_mss"] = layout(bytes.fromhex(opt.group(1)))
    elif proto == "udp" and (sum(1 for k, _ in pairs if k == "LEN") < 2 or "DPT" not in kv):
        raise ValueError("UDP line without its UDP LEN: line cut short?")
    elif proto in ("icmp", "icmpv6") and "TYPE" not in kv:
        raise ValueError("ICMP line without TYPE: line cut short?")
    tag = UFW_TAG.search(line)
    if tag:
        action = tag.group(1).strip()
    else:
        prefix = PREFIX.search(line)
        action = (prefix["prefix"].strip(" :[]") if prefix else "") or "LOG"
    ports = proto in PORT_PROTOS
    row |= {
        "src_ip": src,
        "dst_ip": dst,
        "src_port": _int(kv, "SPT") if ports else None,
        "dst_port": _int(kv, "DPT") if ports else _int(kv, "TYPE") if proto in ("icmp", "icmpv6") else None,
        "proto": proto,
        "packets": 1,
        "bytes": _int(kv, "LEN"),
        "duration_s": 0.0,
        "action": action[:64],
        "ttl": _int(kv, "TTL") if "TTL" in kv else _int(kv, "HOPLIMIT"),
        "ip_id": _int(kv, "ID") if "TTL" in kv else None,
    }
    if (row["ip_id"] or 0) > 65535:
        raise ValueError("ID= out of range for IPv4")
    return row


def iter_firewall(
    path: Path, meta: dict[str, str], year: int | None, limits: Limits = DEFAULT_LIMITS
) -> Iterator[Chunk]:
    """Chunks of a netfilter/UFW/iptables log (plain or gzip)."""
    src = meta["source_file"]
    base_year, name_month = year_for(path, year)
    rows: list[dict] = []
    bad: list[dict] = []
    skipped = 0
    undercount = _Undercount()
    current_year, last_month = base_year, None
    with Utf8Lines(path, limits=limits, src=src) as reader:
        for lineno, line in text_lines(reader):
            if not line.strip():
                continue
            if not NETFILTER.search(line):
                if BSD_HEAD.match(line) or ISO_HEAD.match(line):
                    skipped += 1  # another program's syslog line: no probe, no damage
                    if m := SUPPRESSED.search(line):
                        undercount.suppressed += int(m.group(1))
                else:
                    bad.append(quarantine_row(src, f"line:{lineno}", "not a syslog line", line))
                continue
            m = BSD_HEAD.match(line)
            if m:
                month = MONTHS[m["mon"]]
                if last_month is None and name_month is not None and month > name_month + 1:
                    current_year -= 1  # a file named for early January that starts in December
                elif last_month is not None and month < last_month - 6:
                    current_year += 1  # December -> January inside the file
                last_month = month
            try:
                row = parse_line(line, current_year)
            except (ValueError, OverflowError) as exc:
                bad.append(quarantine_row(src, f"line:{lineno}", str(exc), line))
                continue
            row["source_location"] = f"line:{lineno}"
            undercount.ufw = undercount.ufw or UFW_TAG.search(line) is not None
            rows.append(row)
            if len(rows) >= CHUNK_ROWS:
                yield _chunk(rows, bad + reader.take_rejected(), meta, skipped, undercount.reason())
                rows, bad, skipped = [], [], 0
        bad += reader.take_rejected()
        if damage := reader.damage:
            bad.append(quarantine_row(src, "end", damage, b""))
    if rows or bad or skipped:
        yield _chunk(rows, bad, meta, skipped, undercount.reason())


class _Undercount:
    """What a log shows of lines it did not write: UFW's rate-limited logging, the kernel's suppressed lines.

    UFW logs through `-m limit --limit 3/min --limit-burst 10` on its logging rules (ufw's
    `before.rules`/`after.rules` and `user.rules` templates), so a source probing faster than three
    packets a minute is logged only in part. A plain iptables `LOG` rule may or may not have a
    limit; the file does not say, so only the kernel's own `callbacks suppressed` note flags it.
    """

    def __init__(self) -> None:
        self.ufw = False
        self.suppressed = 0

    def reason(self) -> str | None:
        parts = []
        if self.ufw:
            parts.append("UFW log lines: UFW logs through a rate limit (by default 3 lines a minute, burst 10)")
        if self.suppressed:
            parts.append(f"the kernel suppressed {self.suppressed} log lines (callbacks suppressed)")
        return "; ".join(parts) or None


def _chunk(rows: list[dict], bad: list[dict], meta: dict[str, str], skipped: int, undercounts: str | None) -> Chunk:
    for row in rows:
        row.update(meta)
    return Chunk(conform_events(rows_table(rows, bad)), bad, "ufw", skipped, undercounts=undercounts)
