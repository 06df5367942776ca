"""Line-oriented inputs: flow CSVs (CIDDS, CICFlowMeter), netfilter/UFW logs, JSON lines
(our sensor, the organization paper's honeypot log, Cowrie). Each bad line goes to quarantine
with its line number; the good ones become events."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from pipelines.schema import EVENTS_SCHEMA, conform_events, quarantine_row

CHUNK = 100_000
CIDDS_COLUMNS = [
    "Date first seen",
    "Duration",
    "Proto",
    "Src IP Addr",
    "Src Pt",
    "Dst IP Addr",
    "Dst Pt",
    "Packets",
    "Bytes",
    "Flows",
    "Flags",
    "Tos",
    "class",
    "attackType",
    "attackID",
]
CIC_REQUIRED = ["Src IP", "Src Port", "Dst IP", "Dst Port", "Protocol", "Timestamp"]
PROTO_NUM = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
MONTHS = {
    m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)
}
UFW_LINE = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2})\s+(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d)\s+\S+\s+kernel:.*?(?:\[(?P<tag>UFW [A-Z ]+)\]|(?P<prefix>\S*))?\s*IN="
)
KV = re.compile(r"\b([A-Z]+)=(\S*)")
TCP_FLAG_WORDS = (
    ("FIN", "F"),
    ("SYN", "S"),
    ("RST", "R"),
    ("PSH", "P"),
    ("ACK", "A"),
    ("URG", "U"),
    ("ECE", "E"),
    ("CWR", "C"),
)


def open_text(path: Path) -> io.TextIOBase:
    """Open a text input: gzip transparently; UTF-8 (BOM, UTF-16 detected); undecodable bytes replaced."""
    raw = open(path, "rb")
    head = raw.read(4)
    raw.seek(0)
    stream = gzip.open(raw) if head[:2] == b"\x1f\x8b" else raw
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return io.TextIOWrapper(stream, encoding="utf-16", errors="replace", newline="")
    return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")


def _ts(value: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"timestamp is not text: {value!r}"[:80])
    value = value.strip().replace("T", " ").rstrip("Z")
    for fmt in (
        "%Y-%m-%d %H:%M:%S.%f",
        "%Y-%m-%d %H:%M:%S",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
        "%m/%d/%Y %I:%M:%S %p",
    ):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return (
        datetime.fromisoformat(value).astimezone(UTC)
        if "+" in value
        else datetime.fromisoformat(value).replace(tzinfo=UTC)
    )


def _bytes(value: str) -> int:
    value = value.strip()
    if value.endswith(" M"):
        return int(float(value[:-2]) * 1_000_000)
    if value.endswith(" K"):
        return int(float(value[:-2]) * 1_000)
    return int(float(value))


def _cidds_flags(flags: str) -> str:
    # CIDDS writes 6 positions 'UAPRSF' with '.' for unset; we use the FSRPAUEC letter order.
    present = {c for c in flags.strip() if c != "."}
    return "".join(c for c in "FSRPAUEC" if c in present)


def _table(rows: list[dict]) -> pa.Table:
    table = pa.Table.from_pylist(rows, schema=EVENTS_SCHEMA)
    return conform_events(table)


def _finish(row: dict) -> dict:
    row["event_date"] = row["ts"].date()
    return row


def iter_csv(path: Path, fmt: str, sensor: str) -> Iterator[tuple[pa.Table, list[dict]]]:
    """CIDDS-001/002 or CICFlowMeter flow CSVs, one event per flow."""
    src = str(path)
    with open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return
        required = CIDDS_COLUMNS[:11] if fmt == "cidds" else CIC_REQUIRED
        missing = [c for c in required if c not in header]
        if missing:
            yield (
                _table([]),
                [quarantine_row(src, "line:1", f"missing columns: {', '.join(missing)}", ",".join(header))],
            )
            return
        col = {h: i for i, h in enumerate(header)}
        rows, bad = [], []
        for lineno, rec in enumerate(reader, start=2):
            if not rec:
                continue
            if len(rec) != len(header):
                bad.append(
                    quarantine_row(
                        src, f"line:{lineno}", f"expected {len(header)} fields, found {len(rec)}", ",".join(rec)
                    )
                )
                continue
            try:
                rows.append(
                    _finish(_cidds_row(rec, col) if fmt == "cidds" else _cic_row(rec, col))
                    | {
                        "source_kind": "flow",
                        "source_format": fmt,
                        "source_file": src,
                        "source_location": f"line:{lineno}",
                        "sensor": sensor,
                    }
                )
            except (ValueError, KeyError, IndexError) as exc:
                bad.append(quarantine_row(src, f"line:{lineno}", f"bad value: {exc}", ",".join(rec)))
            if len(rows) >= CHUNK:
                yield _table(rows), bad
                rows, bad = [], []
        yield _table(rows), bad


def _cidds_row(rec: list[str], col: dict[str, int]) -> dict:
    proto = rec[col["Proto"]].strip().lower()
    label = rec[col["class"]].strip() if "class" in col else None
    attack = rec[col["attackType"]].strip() if "attackType" in col else None
    return {
        "ts": _ts(rec[col["Date first seen"]]),
        "duration_s": float(rec[col["Duration"]]),
        "proto": proto,
        "src_ip": _ip(rec[col["Src IP Addr"]]),
        "src_port": int(float(rec[col["Src Pt"]])),
        "dst_ip": _ip(rec[col["Dst IP Addr"]]),
        "dst_port": int(float(rec[col["Dst Pt"]])),
        "packets": int(rec[col["Packets"]]),
        "bytes": _bytes(rec[col["Bytes"]]),
        "tcp_flags": _cidds_flags(rec[col["Flags"]]) if proto == "tcp" else None,
        "label": label or None,
        "attack_type": None if attack in (None, "", "---") else attack,
    }


def _cic_row(rec: list[str], col: dict[str, int]) -> dict:
    proto = PROTO_NUM.get(rec[col["Protocol"]].strip(), rec[col["Protocol"]].strip())
    flags = ""
    for name, letter in (
        ("FIN Flag Count", "F"),
        ("SYN Flag Count", "S"),
        ("RST Flag Count", "R"),
        ("PSH Flag Count", "P"),
        ("ACK Flag Count", "A"),
        ("URG Flag Count", "U"),
    ):
        if name in col and rec[col[name]].strip() not in ("", "0"):
            flags += letter
    packets = (
        sum(
            int(float(rec[col[c]]))
            for c in ("Total Fwd Packet", "Total Bwd packets", "Total Fwd Packets", "Total Backward Packets")
            if c in col
        )
        or 1
    )
    return {
        "ts": _ts(rec[col["Timestamp"]]),
        "src_ip": _ip(rec[col["Src IP"]]),
        "src_port": int(float(rec[col["Src Port"]])),
        "dst_ip": _ip(rec[col["Dst IP"]]),
        "dst_port": int(float(rec[col["Dst Port"]])),
        "proto": proto,
        "tcp_flags": flags if proto == "tcp" else None,
        "packets": packets,
        "bytes": 0,
        "duration_s": float(rec[col["Flow Duration"]]) / 1e6 if "Flow Duration" in col else 0.0,
        "label": rec[col["Label"]].strip() if "Label" in col else None,
    }


def _ip(value: str) -> str:
    import ipaddress

    if not isinstance(value, str):
        raise ValueError(f"address is not text: {value!r}"[:80])
    return str(ipaddress.ip_address(value.strip()))


def _text(value) -> str | None:
    """Attacker-controlled fields as text, whatever JSON type they arrived as."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def iter_firewall(path: Path, year: int, sensor: str) -> Iterator[tuple[pa.Table, list[dict]]]:
    """Netfilter/UFW/iptables LOG lines; syslog carries no year, so `year` supplies it."""
    src = str(path)
    rows, bad = [], []
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            m = UFW_LINE.match(line)
            kv = dict(KV.findall(line))
            if not m or "SRC" not in kv or "DST" not in kv or "PROTO" not in kv:
                bad.append(quarantine_row(src, f"line:{lineno}", "not a netfilter LOG line (or cut short)", line))
                continue
            try:
                proto = kv["PROTO"].lower()
                if proto in ("tcp", "udp") and ("DPT" not in kv or "SPT" not in kv):
                    raise ValueError("ports missing: line cut short")
                if not line.rstrip().endswith(("URGP=0", "URGP=1")) and proto == "tcp" and "URGP" not in kv:
                    raise ValueError("line cut short")
                ts = datetime(year, MONTHS[m["mon"]], int(m["day"]), *map(int, m["time"].split(":")), tzinfo=UTC)
                flags = (
                    "".join(letter for word, letter in TCP_FLAG_WORDS if re.search(rf"\b{word}\b", line))
                    if proto == "tcp"
                    else None
                )
                tag = m["tag"] or m["prefix"] or ""
                rows.append(
                    _finish(
                        {
                            "ts": ts,
                            "src_ip": _ip(kv["SRC"]),
                            "dst_ip": _ip(kv["DST"]),
                            "src_port": int(kv["SPT"]) if "SPT" in kv else None,
                            "dst_port": int(kv["DPT"]) if "DPT" in kv else (int(kv["TYPE"]) if "TYPE" in kv else None),
                            "proto": "icmpv6" if proto == "icmpv6" else proto,
                            "tcp_flags": flags,
                            "packets": 1,
                            "bytes": int(kv.get("LEN", "0") or 0),
                            "duration_s": 0.0,
                            "action": tag.replace("UFW ", "").strip() or "LOG",
                            "ttl": int(kv["TTL"]) if kv.get("TTL", "").isdigit() else None,
                            "ip_id": int(kv["ID"]) if kv.get("ID", "").isdigit() else None,
                            "tcp_window": int(kv["WINDOW"]) if kv.get("WINDOW", "").isdigit() else None,
                            "source_kind": "firewall",
                            "source_format": "ufw",
                            "source_file": src,
                            "source_location": f"line:{lineno}",
                            "sensor": sensor,
                        }
                    )
                )
            except (ValueError, KeyError) as exc:
                bad.append(quarantine_row(src, f"line:{lineno}", f"bad value: {exc}", line))
            if len(rows) >= CHUNK:
                yield _table(rows), bad
                rows, bad = [], []
    yield _table(rows), bad


def iter_jsonl(path: Path, fmt: str, sensor: str) -> Iterator[tuple[pa.Table, list[dict]]]:
    """JSON lines of our sensor, the organization paper's honeypot log, or Cowrie."""
    src = str(path)
    convert = {"sensor_jsonl": _sensor_row, "honeypot_json": _honeypot_row, "cowrie": _cowrie_row}[fmt]
    kind = "sensor" if fmt == "sensor_jsonl" else "honeypot"
    rows, bad = [], []
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
                row = _finish(convert(obj))
                row |= {
                    "source_kind": kind,
                    "source_format": fmt,
                    "source_file": src,
                    "source_location": f"line:{lineno}",
                }
                row.setdefault("sensor", sensor)
                row["sensor"] = row["sensor"] or sensor
                rows.append(row)
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
                bad.append(quarantine_row(src, f"line:{lineno}", f"bad record: {exc}", line.rstrip("\r\n")))
            if len(rows) >= CHUNK:
                yield _table(rows), bad
                rows, bad = [], []
    yield _table(rows), bad


def _port(value) -> int | None:
    if value in (None, ""):
        return None
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    return port


def _sensor_row(o: dict) -> dict:
    transport = str(o.get("transport", "tcp")).lower()
    return {
        "ts": _ts(o["ts"]),
        "src_ip": _ip(o["src_ip"]),
        "dst_ip": _ip(o["dst_ip"]) if o.get("dst_ip") else None,
        "src_port": _port(o.get("src_port")),
        "dst_port": _port(o["dst_port"]),
        "proto": transport,
        "tcp_flags": "S" if transport == "tcp" else None,
        "packets": 1,
        "bytes": int(o.get("bytes") or 0),
        "duration_s": float(o.get("duration_s") or 0.0),
        "action": _text(o.get("event")),
        "payload_hex": _text(o.get("payload_hex")) or None,
        "sensor": _text(o.get("sensor")),
    }


def _honeypot_row(o: dict) -> dict:
    headers = o.get("headers") or {}
    ua = None
    if isinstance(headers, dict):
        ua = next((str(v) for k, v in headers.items() if str(k).lower() == "user-agent"), None)
    return {
        "ts": _ts(str(o["utc"])),
        "src_ip": _ip(o["ip"]),
        "dst_ip": _ip(o["dst_ip"]) if o.get("dst_ip") else None,
        "src_port": _port(o.get("port")),
        "dst_port": _port(o.get("dst_port")),
        "proto": str(o.get("transport_protocol") or "tcp").lower()[:16],
        "packets": 1,
        "bytes": int(o.get("data_length") or 0),
        "duration_s": 0.0,
        "action": _text(o.get("action")),
        "http_method": _text(o.get("method")),
        "uri": _text(o.get("uri")),
        "user_agent": ua,
        "payload_hex": _text(o.get("pack_datagram")) or None,
    }


def _cowrie_row(o: dict) -> dict:
    return {
        "ts": _ts(str(o["timestamp"])),
        "src_ip": _ip(o["src_ip"]),
        "dst_ip": _ip(o["dst_ip"]) if o.get("dst_ip") else None,
        "src_port": _port(o.get("src_port")),
        "dst_port": _port(o.get("dst_port")),
        "proto": "tcp",
        "packets": 1,
        "bytes": 0,
        "duration_s": float(o.get("duration") or 0.0),
        "action": _text(o.get("eventid")),
        "username": _text(o.get("username")),
        "user_agent": _text(o.get("version")),
        "sensor": _text(o.get("sensor")),
    }
