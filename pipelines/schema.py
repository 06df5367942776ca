"""The canonical record shapes every stage agrees on: events and quarantine rows."""

from __future__ import annotations

import pyarrow as pa

# One probe: a packet, a flow, a log line. Parsers fill what their format carries and leave the
# rest null; `ts` is always UTC. Column comments become DuckDB COMMENTs on `events`.
EVENT_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("ts", pa.timestamp("us", tz="UTC"), "Time of the probe, UTC."),
    ("event_date", pa.date32(), "UTC calendar day of ts; the lake partition key."),
    ("src_ip", pa.string(), "Source (scanner) address, IPv4 or IPv6 text."),
    ("dst_ip", pa.string(), "Destination (victim) address, IPv4 or IPv6 text."),
    ("src_port", pa.int32(), "Source port; null for ICMP."),
    ("dst_port", pa.int32(), "Destination port (scanned port); ICMP type for ICMP."),
    ("proto", pa.string(), "Transport protocol: tcp, udp, icmp, icmpv6 or the IP protocol number."),
    ("tcp_flags", pa.string(), "TCP flags as letters in the order FSRPAUEC, e.g. S, SA, FPU; null if not TCP."),
    ("packets", pa.int64(), "Packets in the record (1 for a packet or log line)."),
    ("bytes", pa.int64(), "Bytes in the record (IP length for a packet)."),
    ("duration_s", pa.float64(), "Flow or connection duration in seconds; 0 for a packet."),
    ("conn_state", pa.string(), "Zeek-style connection state where known (S0, REJ, SF, ...)."),
    ("action", pa.string(), "Firewall action (BLOCK, ALLOW, DROP) or sensor/honeypot event kind."),
    ("ttl", pa.int32(), "IP TTL / hop limit where known."),
    ("ip_id", pa.int32(), "IPv4 identification field where known (54321 marks some scanners)."),
    ("tcp_window", pa.int32(), "TCP window size where known (1024 marks masscan/nmap SYN probes)."),
    ("http_method", pa.string(), "HTTP method from honeypot logs; attacker-controlled text."),
    ("uri", pa.string(), "Requested URI from honeypot logs; attacker-controlled text."),
    ("user_agent", pa.string(), "HTTP user agent or client banner; attacker-controlled text."),
    ("username", pa.string(), "Login name tried on a honeypot; attacker-controlled text."),
    ("payload_hex", pa.string(), "First bytes sent by the peer, hex, bounded; attacker-controlled."),
    ("label", pa.string(), "Ground-truth label carried by the input (CIDDS class, CIC Label), else null."),
    ("attack_type", pa.string(), "Ground-truth attack type carried by the input, else null."),
    ("source_kind", pa.string(), "Input family: pcap, flow, firewall, honeypot, sensor."),
    ("source_format", pa.string(), "Exact input format detected from content (pcap, pcapng, cidds, ...)."),
    ("source_file", pa.string(), "Path of the input file the record came from."),
    ("source_location", pa.string(), "Where in the file: line number or byte offset."),
    ("sensor", pa.string(), "Name of the sensor that saw the record (settings or file metadata)."),
]

EVENTS_SCHEMA = pa.schema([pa.field(n, t) for n, t, _ in EVENT_COLUMNS])
EVENT_COMMENTS = {n: c for n, _, c in EVENT_COLUMNS}

QUARANTINE_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("source_file", pa.string(), "Path of the input file holding the rejected record."),
    ("location", pa.string(), "Line number (line:N) or byte offset (byte:N) of the record."),
    ("reason", pa.string(), "Why the record was rejected, in words."),
    ("raw", pa.string(), "The rejected bytes, text or hex, truncated to 1 KiB; attacker-controlled."),
]
QUARANTINE_SCHEMA = pa.schema([pa.field(n, t) for n, t, _ in QUARANTINE_COLUMNS])
QUARANTINE_COMMENTS = {n: c for n, _, c in QUARANTINE_COLUMNS}

RAW_LIMIT = 1024


def empty_events() -> pa.Table:
    """Return an events table with no rows."""
    return EVENTS_SCHEMA.empty_table()


def conform_events(table: pa.Table) -> pa.Table:
    """Return `table` with exactly the events columns, in order, missing ones null, types cast."""
    cols = []
    for name, typ, _ in EVENT_COLUMNS:
        if name in table.column_names:
            col = table.column(name)
            cols.append(col if col.type == typ else col.cast(typ))
        else:
            cols.append(pa.nulls(table.num_rows, typ))
    return pa.Table.from_arrays(cols, schema=EVENTS_SCHEMA)


def quarantine_row(source_file: str, location: str, reason: str, raw: bytes | str) -> dict:
    """Build one quarantine record, keeping at most RAW_LIMIT bytes of the offending input."""
    if isinstance(raw, bytes):
        try:
            text = raw[:RAW_LIMIT].decode("utf-8")
        except UnicodeDecodeError:
            text = raw[:RAW_LIMIT].hex()
    else:
        text = raw[:RAW_LIMIT]
    return {"source_file": source_file, "location": location, "reason": reason, "raw": text}


def quarantine_table(rows: list[dict]) -> pa.Table:
    """Turn quarantine records into an Arrow table of QUARANTINE_SCHEMA."""
    return pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)
