"""Threshold Random Walk (sql/detect/scan_trw.sql) on tiny event tables: outcomes per input family,
first contacts only, the walk's step count and ratio, and the sources it must not judge."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest
from event_rows import events_con

from pipelines import catalog
from pipelines.detect.trw import scan_trw
from pipelines.settings import Settings, Trw

DAY = date(2025, 11, 26)
T0 = datetime(2025, 11, 26, 10, tzinfo=UTC)
S = Settings().trw
X, C = "203.0.113.7", "192.168.1.10"  # scanner, client


def _pkt(s: float, src: str, sport: int, dst: str, dport: int, flags: str | None, **extra) -> dict:
    return {"ts": T0 + timedelta(seconds=s), "src_ip": src, "src_port": sport, "dst_ip": dst, "dst_port": dport,
            "tcp_flags": flags, **extra}  # fmt: skip


def handshake(s: float, client: str, server: str, port: int = 443, sport: int = 50000) -> list[dict]:
    """A completed connection as a tap sees it: SYN, SYN-ACK, ACK, data, FIN."""
    return [
        _pkt(s, client, sport, server, port, "S"),
        _pkt(s + 0.01, server, port, client, sport, "SA"),
        _pkt(s + 0.02, client, sport, server, port, "A"),
        _pkt(s + 0.03, client, sport, server, port, "PA"),
        _pkt(s + 0.04, server, port, client, sport, "FA"),
    ]


def syn_sweep(src: str, hosts: int, reply: str | None = None, t: float = 100.0) -> list[dict]:
    """SYNs to `hosts` addresses on port 23, each answered with `reply` (None: no answer)."""
    rows = []
    for i in range(hosts):
        dst = f"10.1.0.{i + 1}"
        rows.append(_pkt(t + i, src, 40000 + i, dst, 23, "S"))
        if reply:
            rows.append(_pkt(t + i + 0.001, dst, 23, src, 40000 + i, reply))
    return rows


def _rows(con: duckdb.DuckDBPyConnection, params: Trw = S) -> dict[str, dict]:
    return {r["src_ip"]: r for r in scan_trw(con, DAY, params).to_pylist()}


def test_a_sweep_of_unanswered_hosts_is_called_after_four_failures() -> None:
    rows = _rows(events_con(syn_sweep(X, 10) + handshake(0, C, "192.168.9.1")))
    x = rows[X]
    # (1 - 0.2) / (1 - 0.8) = 4 per failure; beta / alpha = 99 is first passed at 4^4 = 256
    assert (x["decision"], x["steps"], x["first_contacts"], x["failures"]) == ("scanner", 4, 10, 10)
    assert x["likelihood_ratio"] == pytest.approx(256.0)
    assert x["is_scan"] and x["decided_at"] == T0 + timedelta(seconds=103)
    assert x["inputs"] == "pcap" and (x["theta0"], x["theta1"], x["alpha"], x["beta"]) == (0.8, 0.2, 0.01, 0.99)


def test_refused_connections_fail_and_syn_acks_succeed() -> None:
    refused = _rows(events_con(syn_sweep(X, 6, reply="RA")))[X]
    assert (refused["decision"], refused["steps"]) == ("scanner", 4)
    # a SYN scan that finds every port open (SYN-ACK, then the scanner's RST): the prober left each contact
    # half-open, so under the one definition of a contact's outcome (sql/detect/contacts.sql) each failed
    open_ports = syn_sweep(X, 6, reply="SA") + [
        _pkt(100 + i + 0.002, X, 40000 + i, f"10.1.0.{i + 1}", 23, "R") for i in range(6)
    ]
    row = _rows(events_con(open_ports))[X]
    assert (row["decision"], row["steps"], row["failures"]) == ("scanner", 4, 6)
    assert row["is_scan"]


def test_benign_clients_are_cleared_and_only_first_contacts_count() -> None:
    rows = handshake(0, C, "192.168.9.1") + handshake(5, C, "192.168.9.2") + handshake(9, C, "192.168.9.3", sport=50001)
    rows += handshake(12, C, "192.168.9.4", sport=50002)
    # after its first successful contact, this client fails to reach the same server ten times: not first contacts
    rows += [_pkt(20 + i, C, 51000 + i, "192.168.9.1", 8080, "S") for i in range(10)]
    c = _rows(events_con(rows))[C]
    assert (c["decision"], c["steps"], c["first_contacts"], c["failures"]) == ("benign", 4, 4, 0)
    # one host hammered: one first contact, never enough to decide (a vertical scan is not TRW's case)
    hammer = _rows(
        events_con([_pkt(i, X, 40000 + i, "10.0.0.1", 1000 + i, "S") for i in range(50)] + handshake(0, C, "10.0.0.2"))
    )
    assert (hammer[X]["decision"], hammer[X]["first_contacts"], hammer[X]["steps"]) == ("pending", 1, 1)
    assert hammer[X]["likelihood_ratio"] == pytest.approx(4.0)


def test_inputs_without_outcomes_are_not_judged() -> None:
    """A one-way capture (a darknet: nothing ever answered), firewall drops and sensor records: no rows."""
    darknet = syn_sweep(X, 20)
    firewall = [
        dict(r, source_kind="firewall", source_format="ufw", source_file="fw.log")
        for r in syn_sweep("198.51.100.1", 20)
    ]
    sensor = [
        dict(r, source_kind="sensor", source_format="sensor_jsonl", source_file="s.jsonl")
        for r in syn_sweep("198.51.100.2", 20)
    ]
    assert scan_trw(events_con(darknet + firewall + sensor), DAY, S).num_rows == 0


def test_zeek_states_and_udp_and_biflows() -> None:
    zeek = {"source_kind": "flow", "source_format": "zeek_tsv", "source_file": "conn.log"}
    rows = [dict(_pkt(i, X, 40000 + i, f"10.2.0.{i}", 445, "S"), conn_state="S0", **zeek) for i in range(1, 4)]
    rows.append(dict(_pkt(4, X, 40004, "10.2.0.4", 445, "S"), conn_state="REJ", **zeek))
    # RSTO: established, then the originator reset (also how a half-open scan of an open port ends): a success
    rows += [dict(_pkt(i, C, 50000 + i, f"10.3.0.{i}", 443, "SAF"), conn_state=st, **zeek)
             for i, st in enumerate(["SF", "S1", "RSTO", "RSTR"], start=1)]  # fmt: skip
    rows.append(dict(_pkt(9, "198.51.100.9", 1, "10.3.0.9", 443, "A"), conn_state="OTH", **zeek))  # not judged
    # UDP in a capture: queries answered succeed, probes unanswered fail
    udp = "198.51.100.5"
    for i in range(5):
        rows.append(_pkt(30 + i, udp, 41000, f"10.4.0.{i}", 161, None, proto="udp"))
    rows.append(_pkt(40, C, 53000, "192.168.9.53", 53, None, proto="udp"))
    rows.append(_pkt(40.001, "192.168.9.53", 53, C, 53000, None, proto="udp"))
    # biflow records carry the outcome their parser read from both directions (events.outcome)
    cic = {"source_kind": "flow", "source_format": "cicflowmeter", "source_file": "cic.csv"}
    bi = "198.51.100.7"
    rows += [dict(_pkt(50 + i, bi, 42000 + i, f"10.5.0.{i}", 22, f), packets=p, outcome="failed", **cic)
             for i, (f, p) in enumerate([("S", 1), ("SRA", 2), ("S", 2), ("SRA", 2)])]  # fmt: skip
    good = "198.51.100.8"
    rows += [dict(_pkt(60 + i, good, 43000 + i, f"10.6.0.{i}", 22, f), packets=p, outcome="succeeded", **cic)
             for i, (f, p) in enumerate([("SRA", 3), ("FSPA", 12), ("SA", 3), ("SRA", 4)])]  # fmt: skip
    got = _rows(events_con(rows))
    assert (got[X]["decision"], got[X]["steps"], got[X]["inputs"]) == ("scanner", 4, "flow")
    # C: four successes in Zeek states and one answered DNS query
    assert (got[C]["decision"], got[C]["failures"], got[C]["inputs"]) == ("benign", 0, "flow,pcap")
    assert "198.51.100.9" not in got
    assert (got[udp]["decision"], got[udp]["steps"]) == ("scanner", 4)
    assert (got[bi]["decision"], got[bi]["failures"]) == ("scanner", 4)
    assert (got[good]["decision"], got[good]["failures"]) == ("benign", 0)


def test_parameters_move_the_thresholds() -> None:
    # alpha = 0.001: beta / alpha = 990, first passed at 4^5 = 1024
    x = _rows(events_con(syn_sweep(X, 10) + handshake(0, C, "192.168.9.1")), Trw(alpha=0.001))[X]
    assert (x["steps"], x["likelihood_ratio"]) == (5, pytest.approx(1024.0))
    # theta1 = 0.5: a failure weighs (1 - 0.5) / 0.2 = 2.5; ln 99 / ln 2.5 = 5.01, so six failures
    y = _rows(events_con(syn_sweep(X, 10) + handshake(0, C, "192.168.9.1")), Trw(theta1=0.5))[X]
    assert y["steps"] == math.ceil(math.log(99) / math.log(2.5))


def test_findings_have_the_catalog_shape_and_a_rerun_is_identical(settings) -> None:
    from pipelines.detect.findings import findings

    con = events_con(syn_sweep(X, 10) + handshake(0, C, "192.168.9.1") + handshake(1, C, "192.168.9.2"))
    first = scan_trw(con, DAY, S)
    assert first.equals(scan_trw(con, DAY, S))
    wanted = [c for c in catalog.table("scan_trw").schema.names if c != "event_date"]
    assert first.column_names == wanted
    con.register("scan_trw_rows", first)
    con.execute("CREATE TABLE scan_trw AS SELECT * FROM scan_trw_rows")
    found = findings(con, DAY, settings).to_pylist()
    assert [(f["detector"], f["src_ip"], f["kind"]) for f in found] == [("scan_trw", X, "horizontal")]
    assert '"steps":4' in found[0]["evidence"] and '"theta0":0.8' in found[0]["parameters"]
