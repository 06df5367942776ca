"""JSON-lines logs: the project's sensor dumps, the organization paper's honeypot log, Cowrie.

One event per record. Every string taken from these logs is attacker-controlled and stored
verbatim (never interpreted); non-string values in text fields are kept as their JSON text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from pipelines.ingest.records import CHUNK_ROWS, Chunk, rows_table
from pipelines.ingest.streams import DEFAULT_LIMITS, Limits, Utf8Lines, text_lines
from pipelines.schema import canonical_ip, canonical_proto, conform_events, quarantine_row

HEADER_UA = re.compile(r"(?im)^user-agent:\s*(.*?)\s*$")
COUNT_MAX = 2**63 - 1
# What a bad record can raise while being read: each quarantines that record only.
RECORD_ERRORS = (ValueError, KeyError, TypeError, OverflowError, OSError, RecursionError, AttributeError)


def _when(value: object) -> datetime:
    """A UTC datetime from ISO text (Z or offset; naive = UTC) or epoch seconds."""
    if isinstance(value, bool):
        raise ValueError("timestamp is a boolean")
    if isinstance(value, int | float):
        if not -1e11 < value < 1e11:
            raise ValueError(f"epoch timestamp out of range: {value!r}"[:80])
        return datetime.fromtimestamp(float(value), UTC)
    if not isinstance(value, str):
        raise ValueError(f"timestamp is not text: {value!r}"[:80])
    ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _ip(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"address is not text: {value!r}"[:80])
    text = canonical_ip(value)
    if text is None:
        raise ValueError(f"not an IP address: {value!r}"[:80])
    return text


def _proto(value: object) -> str:
    proto = canonical_proto(str(value)[:32])
    if proto is None:
        raise ValueError(f"not a protocol: {value!r}"[:80])
    return proto


def _duration(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("duration is a boolean")
    out = float(value or 0.0)
    if not math.isfinite(out):
        raise ValueError(f"duration out of range: {value!r}"[:80])
    return out


def _opt_ip(value: object) -> str | None:
    return _ip(value) if value not in (None, "") else None


def _port(value: object) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError("port is a boolean")
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range: {port}")
    return port


def _text(value: object) -> str | None:
    """Attacker-controlled field as text, whatever JSON type it arrived as."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _count(value: object) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, bool):
        raise ValueError("count is a boolean")
    out = int(value)
    if not 0 <= out <= COUNT_MAX:
        raise ValueError(f"count out of range: {value!r}"[:80])
    return out


RATE_SUMMARY = "dropped_rate"  # the sensor's `event` of a summary of probes dropped over its per-source rate


def sensor_rows(o: dict) -> list[dict]:
    """A sensor dump record as events: one probe, or a drop summary as one event per port (`packets` = count).

    A summary (`"event": "dropped_rate"`) counts the probes one source sent in one second past the
    sensor's per-source rate: `count` in all and `ports` {dst_port: count}; the counts must agree.
    """
    if o.get("event") != RATE_SUMMARY:
        return [sensor_row(o)]
    ports = o.get("ports")
    if not isinstance(ports, dict) or not ports:
        raise ValueError("drop summary without its ports")
    counts = {_port(p): _count(n) for p, n in ports.items()}
    if None in counts or sum(counts.values()) != _count(o.get("count")) or 0 in counts.values():
        raise ValueError("drop summary: ports and count disagree")
    base = sensor_row(o | {"dst_port": next(iter(counts)), "bytes": 0})
    return [base | {"dst_port": port, "packets": n} for port, n in sorted(counts.items())]


def sensor_row(o: dict) -> dict:
    """A `scansense sensor` dump record (docs: formats, sensor JSONL)."""
    transport = _proto(o.get("transport") or "tcp")
    return {
        "ts": _when(o["ts"]),
        "src_ip": _ip(o["src_ip"]),
        "dst_ip": _opt_ip(o.get("dst_ip")),
        "src_port": _port(o.get("src_port")),
        "dst_port": _port(o["dst_port"]),
        "proto": transport,
        # A TCP connection attempt starts with the peer's SYN; a datagram has no flags.
        "tcp_flags": "S" if transport == "tcp" else None,
        "packets": 1,
        "bytes": _count(o.get("bytes")),
        "duration_s": _duration(o.get("duration_s")),
        "action": _text(o.get("event")),
        "payload_hex": _text(o.get("payload_hex")) or None,
        "sensor": _text(o.get("sensor")) or None,
    }


def _user_agent(headers: object) -> str | None:
    if isinstance(headers, dict):
        return next((_text(v) for k, v in headers.items() if str(k).lower() == "user-agent"), None)
    if isinstance(headers, str):
        try:
            parsed = json.loads(headers)
        except ValueError:
            m = HEADER_UA.search(headers)
            return m.group(1) if m else None
        return _user_agent(parsed) if isinstance(parsed, dict) else None
    return None


def honeypot_row(o: dict) -> dict:
    """A record of the organization paper's honeypot log (its Table 1 keys; only ip and utc required)."""
    transport = _proto(o.get("transport_protocol") or "tcp")
    return {
        "ts": _when(o["utc"]),
        "src_ip": _ip(o["ip"]),
        "dst_ip": _opt_ip(o.get("dst_ip")),
        "src_port": _port(o.get("port")),
        "dst_port": _port(o.get("dst_port")),
        "proto": transport,
        "packets": 1,
        "bytes": _count(o.get("data_length")),
        "duration_s": 0.0,
        "action": _text(o.get("action")),
        "http_method": _text(o.get("method")),
        "uri": _text(o.get("uri")),
        "user_agent": _user_agent(o.get("headers")),
        "payload_hex": _text(o.get("pack_datagram")) or None,
    }


def cowrie_row(o: dict) -> dict:
    """A Cowrie honeypot event (eventid becomes the action; the SSH client version the user agent)."""
    return {
        "ts": _when(o["timestamp"]),
        "src_ip": _ip(o["src_ip"]),
        "dst_ip": _opt_ip(o.get("dst_ip")),
        "src_port": _port(o.get("src_port")),
        "dst_port": _port(o.get("dst_port")),
        "proto": "tcp",
        "packets": 1,
        "bytes": 0,
        "duration_s": _duration(o.get("duration")),
        "action": _text(o.get("eventid")),
        "username": _text(o.get("username")),
        "user_agent": _text(o.get("version")),
        "sensor": _text(o.get("sensor")) or None,
    }


ROWS: dict[str, tuple[str, Callable[[dict], list[dict]]]] = {
    "sensor_jsonl": ("sensor", sensor_rows),
    "honeypot_json": ("honeypot", lambda o: [honeypot_row(o)]),
    "cowrie": ("honeypot", lambda o: [cowrie_row(o)]),
}


def iter_jsonl(path: Path, fmt: str, meta: dict[str, str], limits: Limits = DEFAULT_LIMITS) -> Iterator[Chunk]:
    """Chunks of a JSON-lines log of one of the formats in ROWS."""
    src = meta["source_file"]
    _, convert = ROWS[fmt]
    rows: list[dict] = []
    bad: list[dict] = []
    dropped = 0  # probes the sensor summarized instead of recording (drop summaries)
    with Utf8Lines(path, limits=limits, src=src) as reader:
        for lineno, line in text_lines(reader):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
                converted = convert(obj)
            except RECORD_ERRORS as exc:
                reason = f"missing field {exc}" if isinstance(exc, KeyError) else f"bad record: {exc}"
                if isinstance(exc, RecursionError):
                    reason = "bad record: JSON nested too deeply"
                bad.append(quarantine_row(src, f"line:{lineno}", reason[:300], line))
                continue
            if obj.get("event") == RATE_SUMMARY and fmt == "sensor_jsonl":
                dropped += sum(r["packets"] for r in converted)
            for row in converted:
                row["event_date"] = row["ts"].date()
                row["source_location"] = f"line:{lineno}"
                rows.append(row)
            if len(rows) >= CHUNK_ROWS:
                yield _chunk(rows, bad + reader.take_rejected(), fmt, meta, dropped)
                rows, bad = [], []
        bad += reader.take_rejected()
        if damage := reader.damage:
            bad.append(quarantine_row(src, "end", damage, b""))
    if rows or bad:
        yield _chunk(rows, bad, fmt, meta, dropped)


def _chunk(rows: list[dict], bad: list[dict], fmt: str, meta: dict[str, str], dropped: int = 0) -> Chunk:
    for row in rows:
        sensor = row.get("sensor")
        row.update(meta)
        if sensor:
            row["sensor"] = sensor  # the record names its sensor: that wins over the setting
    reason = (
        f"the sensor dropped {dropped} probes over its per-source rate: kept as per-second summaries "
        "(one event per source, second and port, packets = count), so counts of records are lower bounds"
        if dropped
        else None
    )
    return Chunk(conform_events(rows_table(rows, bad)), bad, fmt, undercounts=reason)
