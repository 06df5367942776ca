"""The slow model leaves out probes to services the source uses (established TCP, answered UDP):
a client's failed first contacts to its servers over a day are not a horizontal scan, while a
scanner's targets, answered with SYN-ACK or RST but never conversed with, remain."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from test_detect_units import _con

from pipelines.detect import slow
from pipelines.settings import Slow

DAY = date(2025, 11, 26)
T0 = datetime(2025, 11, 26, 1, 0, tzinfo=UTC)
SERVERS = [f"180.101.49.{i}" for i in range(10, 17)]


def _flow(src: str, dst: str, sport: int, dport: int, proto: str, flags: str | None, at: datetime) -> dict:
    return {
        "ts": at,
        "src_ip": src,
        "dst_ip": dst,
        "src_port": sport,
        "dst_port": dport,
        "proto": proto,
        "tcp_flags": flags,
        "source_kind": "flow",
        "packets": 1,
    }


def _client_day(client: str, proto: str) -> list[dict]:
    """A client's first contacts to seven servers on 443, an hour apart, each server then used."""
    rows = []
    for i, server in enumerate(SERVERS):
        at = T0 + timedelta(hours=i)
        if proto == "tcp":  # a SYN that timed out, then the retry's whole connection
            rows.append(_flow(client, server, 50000 + i, 443, "tcp", "S", at))
            rows.append(_flow(client, server, 51000 + i, 443, "tcp", "FSPA", at + timedelta(seconds=3)))
        else:  # a QUIC flow and the server's answer
            rows.append(_flow(client, server, 50000 + i, 443, "udp", None, at))
            rows.append(_flow(server, client, 443, 50000 + i, "udp", None, at + timedelta(milliseconds=30)))
    return rows


def _scans(rows: list[dict]) -> set[tuple[str, str]]:
    table = slow.scan_slow(_con(rows), DAY, Slow())
    return {(r["src_ip"], r["kind"]) for r in table.to_pylist() if r["is_scan"]}


def test_first_contacts_to_servers_the_client_uses_are_not_a_slow_scan() -> None:
    assert _scans(_client_day("202.112.12.110", "tcp")) == set()
    assert _scans(_client_day("202.112.12.111", "udp")) == set()


def test_the_same_contacts_left_unanswered_are_a_slow_scan() -> None:
    """Without the conversations the same SYNs (or datagrams) are seven new hosts in seven windows."""
    syns = [r for r in _client_day("202.112.12.110", "tcp") if r["tcp_flags"] == "S"]
    datagrams = [r for r in _client_day("202.112.12.111", "udp") if r["src_ip"] == "202.112.12.111"]
    assert _scans(syns + datagrams) == {("202.112.12.110", "horizontal"), ("202.112.12.111", "horizontal")}


def test_a_syn_scan_answered_by_open_ports_is_still_a_slow_scan() -> None:
    """A SYN scan's targets answer (SYN-ACK, RST) and the scanner resets: no conversation, every target counts."""
    scanner, victim, rows = "198.51.100.7", "192.0.2.10", []
    for i in range(12):
        at = T0 + timedelta(minutes=5 * i)
        port = 1000 + i
        rows.append(_flow(scanner, victim, 40000, port, "tcp", "S", at))
        if i % 3 == 0:  # open: SYN-ACK, the scanner resets
            rows.append(_flow(victim, scanner, port, 40000, "tcp", "SA", at + timedelta(milliseconds=1)))
            rows.append(_flow(scanner, victim, 40000, port, "tcp", "R", at + timedelta(milliseconds=2)))
        else:  # closed: RST-ACK
            rows.append(_flow(victim, scanner, port, 40000, "tcp", "RA", at + timedelta(milliseconds=1)))
    table = slow.scan_slow(_con(rows), DAY, Slow())
    (scan,) = [r for r in table.to_pylist() if r["is_scan"]]
    assert (scan["src_ip"], scan["kind"], scan["targets"]) == (scanner, "vertical", 12)
