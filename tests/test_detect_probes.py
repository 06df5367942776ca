"""SQL fixture test of sql/detect/probes.sql: which events of each input family count as probes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa

from pipelines.detect import ensure_probes
from pipelines.schema import conform_events
from pipelines.steps import GROUP_QUERY

T0 = datetime(2025, 11, 26, 10, tzinfo=UTC)
C, S, X = "192.168.1.10", "192.168.9.1", "6.6.6.6"  # client, server, scanner


def _row(name: str, ms: int, kind: str, proto: str, src: str, sport, dst: str, dport, flags=None, **extra) -> dict:
    ts = T0 + timedelta(milliseconds=ms)
    return {
        "source_location": name, "ts": ts, "event_date": ts.date(), "source_kind": kind, "proto": proto,
        "src_ip": src, "src_port": sport, "dst_ip": dst, "dst_port": dport, "tcp_flags": flags,
        "conn_state": None, "outcome": None, "resp_packets": None, **extra,
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
    # UDP: a query answered (a service the client uses: not a probe), a probe unanswered, an answer whose
    # query was not captured
    ("dns_query", _row("dns_query", 30, "pcap", "udp", C, 53000, S, 53), False),
    ("dns_answer", _row("dns_answer", 31, "pcap", "udp", S, 53, C, 53000), False),
    ("udp_probe", _row("udp_probe", 32, "pcap", "udp", X, 40002, S, 161), True),
    ("lost_query_answer", _row("lost_query_answer", 33, "pcap", "udp", S, 123, C, 41000), False),
    # same millisecond in flow records: the side going to the service port opened it
    ("flow_query", _row("flow_query", 40, "flow", "udp", C, 53001, S, 53), False),
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


def _judged(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB whose `events` holds the rows, with the contacts, used_services and probes views over them."""
    events = conform_events(pa.Table.from_pylist(rows))  # noqa: F841 (scanned by DuckDB)
    con = duckdb.connect()
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    ensure_probes(con)
    return con


def test_probe_definition_per_input_family() -> None:
    con = _judged([row for _, row, _ in CASES])
    got = sorted(r[0] for r in con.execute("SELECT source_location FROM probes").fetchall())
    assert got == sorted(name for name, _, is_probe in CASES if is_probe)
    assert con.execute("SELECT count(*) FROM probes").fetchone()[0] == len(got)  # no record counted twice


FLAG_BITS = "FSRPAU"  # the six classic TCP flags, in the events' letter order (FSRPAUEC)
COMBOS = ["".join(f for i, f in enumerate(FLAG_BITS) if mask >> i & 1) for mask in range(64)]
ANSWER_SHAPES = {"SA", "R", "RA"}  # what a host sends in answer (or to abort its own half-open attempt)


def _probe_names(rows: list[dict]) -> set[str]:
    con = _judged(rows)
    names = [r[0] for r in con.execute("SELECT source_location FROM probes").fetchall()]
    assert len(names) == len(set(names))  # no record counted twice
    return set(names)


def test_every_tcp_flag_combination_is_judged_by_its_conversation() -> None:
    """All 64 combinations of SYN/FIN/RST/PSH/ACK/URG: sent first to a target that never answers, to one
    that answers with a reset, and inside a real conversation (after a completed handshake, from either
    side, and caught mid-way with no SYN in the capture)."""
    assert len(set(COMBOS)) == 64
    rows, want = [], set()
    for i, flags in enumerate(COMBOS):
        port = 1000 + i
        # an unanswered target: every first packet is a probe but the answer shapes
        rows.append(_row(f"silent_{flags}", 0, "pcap", "tcp", X, 40000, S, port, flags))
        # a target that answers with RST-ACK: the same, and the reset is never a probe
        rows.append(_row(f"refused_{flags}", 0, "pcap", "tcp", X, 41000, S, port, flags))
        rows.append(_row(f"refused_reply_{flags}", 1, "pcap", "tcp", S, port, X, 41000, "RA"))
        if flags not in ANSWER_SHAPES:
            want |= {f"silent_{flags}", f"refused_{flags}"}
        # a completed handshake, then the combination from the client and from the server: no probe at all
        rows.append(_row(f"hs_syn_{flags}", 10, "pcap", "tcp", C, 50000, S, port, "S"))
        rows.append(_row(f"hs_synack_{flags}", 11, "pcap", "tcp", S, port, C, 50000, "SA"))
        rows.append(_row(f"hs_ack_{flags}", 12, "pcap", "tcp", C, 50000, S, port, "A"))
        rows.append(_row(f"hs_client_{flags}", 13, "pcap", "tcp", C, 50000, S, port, flags))
        rows.append(_row(f"hs_server_{flags}", 14, "pcap", "tcp", S, port, C, 50000, flags))
        # a live exchange already open when the capture started (data both ways, no SYN), then the combination
        rows.append(_row(f"mid_data_{flags}", 20, "pcap", "tcp", C, 51000, S, port, "PA"))
        rows.append(_row(f"mid_ack_{flags}", 21, "pcap", "tcp", S, port, C, 51000, "A"))
        rows.append(_row(f"mid_client_{flags}", 22, "pcap", "tcp", C, 51000, S, port, flags))
        rows.append(_row(f"mid_server_{flags}", 23, "pcap", "tcp", S, port, C, 51000, flags))
    got = _probe_names(rows)
    assert got == want
    assert len(want) == 2 * (64 - len(ANSWER_SHAPES))


def test_half_open_and_connect_scans_of_an_open_port() -> None:
    rows = [
        # nmap -sS of an open port: SYN, SYN-ACK, the scanner's RST: the SYN is the probe
        _row("half_syn", 0, "pcap", "tcp", X, 40000, S, 22, "S"),
        _row("half_synack", 1, "pcap", "tcp", S, 22, X, 40000, "SA"),
        _row("half_rst", 2, "pcap", "tcp", X, 40000, S, 22, "R"),
        # a SYN-FIN probe answered with SYN-ACK and reset: still no handshake, a probe
        _row("synfin", 3, "pcap", "tcp", X, 40001, S, 22, "FS"),
        _row("synfin_synack", 4, "pcap", "tcp", S, 22, X, 40001, "SA"),
        # nmap -sT of an open port completes the handshake: a conversation, not a probe
        _row("connect_syn", 5, "pcap", "tcp", X, 40002, S, 22, "S"),
        _row("connect_synack", 6, "pcap", "tcp", S, 22, X, 40002, "SA"),
        _row("connect_ack", 7, "pcap", "tcp", X, 40002, S, 22, "A"),
        _row("connect_rst", 8, "pcap", "tcp", X, 40002, S, 22, "RA"),
        # an unsolicited SYN-ACK (backscatter of a spoofed flood) and our host's reset: neither is a probe
        _row("backscatter", 9, "pcap", "tcp", S, 80, X, 40003, "SA"),
        _row("backscatter_rst", 10, "pcap", "tcp", X, 40003, S, 80, "R"),
    ]
    assert _probe_names(rows) == {"half_syn", "synfin"}


def test_udp_and_icmp_every_shape() -> None:
    rows = [
        # the side that speaks first sends the probes; the answering side never does, and a query the
        # service answered is a contact that succeeded, not a probe
        _row("udp_answered", 0, "pcap", "udp", X, 40000, S, 161),
        _row("udp_answer", 1, "pcap", "udp", S, 161, X, 40000),
        _row("udp_silent", 2, "pcap", "udp", X, 40001, S, 162),
        _row("udp_again", 3, "pcap", "udp", X, 40001, S, 162),
        # an answer whose query was not captured (service port to a high port)
        _row("udp_orphan_answer", 4, "pcap", "udp", S, 53, C, 53000),
    ]
    want = {"udp_silent", "udp_again"}
    requests = {"icmp": {8, 13, 15, 17}, "icmpv6": {128}}
    for proto, types in requests.items():
        for t in range(256):
            name = f"{proto}_{t}"
            rows.append(_row(name, 10, "pcap", proto, X, None, S, t))
            if t in types:
                want.add(name)
    assert _probe_names(rows) == want


def test_records_that_say_their_outcome_are_judged_by_it() -> None:
    """Biflows and Zeek logs carry their contact's outcome (events.outcome, set by the parser from both directions)."""
    cases = {
        "failed": ("flow", "failed", None, True),
        "succeeded": ("flow", "succeeded", None, False),
        "firewall_unknown": ("firewall", "unknown", None, True),  # a drop says nothing of an answer: counts as before
        "sensor_unknown": ("sensor", "unknown", None, True),
        "zeek_midway": ("flow", "unknown", "OTH", False),  # a conversation caught mid-way is no probe
    }
    rows = [
        _row(name, i, kind, "tcp", X, 40000 + i, f"10.7.0.{i}", 1000 + i, "S", outcome=outcome, conn_state=state)
        for i, (name, (kind, outcome, state, _)) in enumerate(cases.items())
    ]
    assert _probe_names(rows) == {name for name, (*_, probe) in cases.items() if probe}


# (destination, protocol, sent to a multicast or broadcast group)
GROUP_DESTINATIONS = [
    ("224.0.0.251", "udp", True),  # mDNS
    ("239.255.255.250", "udp", True),  # SSDP
    ("224.0.0.22", "igmp", True),  # multicast whatever the protocol
    ("255.255.255.255", "udp", True),
    ("FF02::FB", "udp", True),  # IPv6 multicast, either case
    ("ff02::1:3", "tcp", True),
    ("192.168.1.255", "udp", True),  # the directed broadcast of a /24 (NetBIOS name service)
    ("192.168.1.255", "tcp", False),  # a host may own .255 of a wider subnet
    ("240.0.0.1", "udp", False),  # reserved, not multicast
    ("223.255.255.254", "udp", False),
    ("fe80::ff", "udp", False),
    ("2001:db8::ff02", "udp", False),
    ("not-an-address", "udp", False),
]


def test_records_sent_to_a_group_are_one_definition_for_contacts_and_the_shard_filter() -> None:
    """contacts.to_group, the macro it reads and the shard filter (UDP group queries, which every shard
    reads) agree on every destination, and a record sent to a group is never a probe."""
    rows = [
        _row(f"g{i}", i, "pcap", proto, X, 40000 + i, dst, 5353, "S" if proto == "tcp" else None)
        for i, (dst, proto, _) in enumerate(GROUP_DESTINATIONS)
    ]
    con = _judged(rows)
    got = dict(
        con.execute(
            f"SELECT source_location, [to_group, sent_to_group(dst_ip, proto), coalesce({GROUP_QUERY}, false)] "
            "FROM contacts"
        ).fetchall()
    )
    want = {f"g{i}": [group, group, group and proto == "udp"] for i, (_, proto, group) in enumerate(GROUP_DESTINATIONS)}
    assert got == want
    nulls = con.execute("SELECT sent_to_group(NULL, 'udp'), sent_to_group('10.0.0.255', NULL)").fetchone()
    assert nulls == (False, False)  # never null: a missing address or protocol is no group
    probes = {r[0] for r in con.execute("SELECT source_location FROM probes").fetchall()}
    assert not probes & {name for name, (to_group, *_) in got.items() if to_group}
