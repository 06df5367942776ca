"""SQL fixture test of sql/detect/probes.sql: which events of each input family count as probes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.schema import conform_events

T0 = datetime(2025, 11, 26, 10, tzinfo=UTC)
C, S, X = "192.168.1.10", "192.168.9.1", "6.6.6.6"  # client, server, scanner


def _row(name: str, ms: int, kind: str, proto: str, src: str, sport, dst: str, dport, flags=None, **extra) -> dict:
    ts = T0 + timedelta(milliseconds=ms)
    return {
        "source_location": name, "ts": ts, "event_date": ts.date(), "source_kind": kind, "proto": proto,
        "src_ip": src, "src_port": sport, "dst_ip": dst, "dst_port": dport, "tcp_flags": flags, **extra,
    }  # fmt: skip


# (name, row, is a probe)
CASES = [
    # a completed handshake in a capture: nothing in it is a probe
    ("hs_syn", _row("hs_syn", 0, "pcap", "tcp", C, 50000, S, 443, "S"), False),
    ("hs_synack", _row("hs_synack", 1, "pcap", "tcp", S, 443, C, 50000, "SA"), False),
    ("hs_ack", _row("hs_ack", 2, "pcap", "tcp", C, 50000, S, 443, "A"), False),
    ("hs_data", _row("hs_data", 3, "pcap", "tcp", C, 50000, S, 443, "PA"), False),
    ("hs_fin", _row("hs_fin", 4, "pcap", "tcp", C, 50000, S, 443, "FA"), False),
    # a SYN scan: the probe to a closed port (answered RST-ACK) and to an open one (half-open)
    ("syn_closed", _row("syn_closed", 10, "pcap", "tcp", X, 40000, S, 23, "S"), True),
    ("rst_reply", _row("rst_reply", 11, "pcap", "tcp", S, 23, X, 40000, "RA"), False),
    ("syn_open", _row("syn_open", 12, "pcap", "tcp", X, 40000, S, 22, "S"), True),
    ("synack_open", _row("synack_open", 13, "pcap", "tcp", S, 22, X, 40000, "SA"), False),
    ("rst_teardown", _row("rst_teardown", 14, "pcap", "tcp", X, 40000, S, 22, "R"), False),
    # stealth probes without ACK, and ACK-bearing probes on conversations with no SYN anywhere
    ("null", _row("null", 20, "pcap", "tcp", X, 40001, S, 24, ""), True),
    ("xmas", _row("xmas", 21, "pcap", "tcp", X, 40001, S, 25, "FPU"), True),
    ("ack_probe", _row("ack_probe", 22, "pcap", "tcp", X, 40001, S, 26, "A"), True),
    ("maimon", _row("maimon", 23, "pcap", "tcp", X, 40001, S, 27, "FA"), True),
    # UDP: a query answered, a probe unanswered, an answer whose query was not captured
    ("dns_query", _row("dns_query", 30, "pcap", "udp", C, 53000, S, 53), True),
    ("dns_answer", _row("dns_answer", 31, "pcap", "udp", S, 53, C, 53000), False),
    ("udp_probe", _row("udp_probe", 32, "pcap", "udp", X, 40002, S, 161), True),
    ("lost_query_answer", _row("lost_query_answer", 33, "pcap", "udp", S, 123, C, 41000), False),
    # same millisecond in flow records: the side going to the service port opened it
    ("flow_query", _row("flow_query", 40, "flow", "udp", C, 53001, S, 53), True),
    ("flow_answer", _row("flow_answer", 40, "flow", "udp", S, 53, C, 53001), False),
    # ICMP requests are probes, replies and errors are not
    ("echo", _row("echo", 50, "pcap", "icmp", X, None, S, 8), True),
    ("echo_reply", _row("echo_reply", 51, "pcap", "icmp", S, None, X, 0), False),
    ("unreachable", _row("unreachable", 52, "pcap", "icmp", S, None, X, 3), False),
    # TCP flow records (CIDDS): flags of one direction
    ("flow_syn_only", _row("flow_syn_only", 60, "flow", "tcp", X, 40003, S, 3389, "S"), True),
    ("flow_session", _row("flow_session", 61, "flow", "tcp", C, 50001, S, 445, "FSPA"), False),
    ("flow_rst_ack", _row("flow_rst_ack", 62, "flow", "tcp", S, 3389, X, 40003, "RA"), False),
    # Zeek connection states
    ("zeek_s0", _row("zeek_s0", 70, "flow", "tcp", X, 40004, S, 8080, "S", conn_state="S0"), True),
    ("zeek_rej", _row("zeek_rej", 71, "flow", "tcp", X, 40005, S, 8081, "S", conn_state="REJ"), True),
    ("zeek_sf", _row("zeek_sf", 72, "flow", "tcp", C, 50002, S, 443, "SA", conn_state="SF"), False),
    # every firewall drop, sensor connection and honeypot hit
    ("firewall", _row("firewall", 80, "firewall", "tcp", X, 40006, S, 3306, "S"), True),
    ("sensor", _row("sensor", 81, "sensor", "tcp", X, 40007, S, 2222, None), True),
    ("honeypot", _row("honeypot", 82, "honeypot", "tcp", X, 40008, S, 80, None), True),
]


def test_probe_definition_per_input_family() -> None:
    events = conform_events(pa.Table.from_pylist([row for _, row, _ in CASES]))  # noqa: F841
    con = duckdb.connect()
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    ensure_probes(con)
    got = sorted(r[0] for r in con.execute("SELECT source_location FROM probes").fetchall())
    assert got == sorted(name for name, _, is_probe in CASES if is_probe)
    assert con.execute("SELECT count(*) FROM probes").fetchone()[0] == len(got)  # no record counted twice
