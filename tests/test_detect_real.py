"""The detectors on real third-party captures and logs in ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.detect import ensure_probes, fast, slow
from pipelines.ingest import iter_file
from pipelines.settings import Settings

S = Settings()
NMAP_SOURCES = {f"192.168.181.{h}" for h in range(140, 149)}  # -sS -sU -sT -sN -sX -sF -sA -sW -sM


def _load(path: Path, year: int | None = None) -> tuple[duckdb.DuckDBPyConnection, object]:
    """Parse one file with ingest's parser into `events`; return the connection and its busiest day."""
    tables = [chunk.events for chunk in iter_file(path, S, year=year) if chunk.events is not None]
    events = pa.concat_tables(tables)  # noqa: F841 (scanned by DuckDB)
    con = duckdb.connect()
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    day = con.execute("SELECT event_date FROM events GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    return con, day


def _fast_sources(con: duckdb.DuckDBPyConnection, day, mode: str = "mean") -> set[str]:
    return set(fast.scan_fast(con, day, S.replace("fast", mode=mode).fast)["src_ip"].to_pylist())


@pytest.mark.parametrize("mode", ["mean", "robust"])
def test_all_nine_nmap_scan_types_are_found(shared_data: Path, mode: str) -> None:
    con, day = _load(shared_data / "pcap" / "probing_nmap.pcapng")
    assert _fast_sources(con, day, mode) == NMAP_SOURCES


def test_nmap_probes_of_every_scan_type_count(shared_data: Path) -> None:
    # SYN, UDP, connect, NULL, XMAS, FIN, ACK, Window and Maimon probes all reach 1,000 ports
    con, _ = _load(shared_data / "pcap" / "probing_nmap.pcapng")
    ensure_probes(con)
    ports = dict(con.execute("SELECT src_ip, count(DISTINCT dst_port) FROM probes GROUP BY 1").fetchall())
    assert set(ports) == NMAP_SOURCES  # the target's ICMP errors are not probes
    assert all(n == 1000 for ip, n in ports.items() if ip != "192.168.181.141")
    assert ports["192.168.181.141"] > 200  # -sU: nmap's UDP scan is slowed by ICMP rate limits


def test_synscan_found_and_pcap_and_pcapng_give_identical_rows(shared_data: Path) -> None:
    results = []
    for name in ("synscan.pcap", "synscan.pcapng"):
        con, day = _load(shared_data / "pcap" / name)
        results.append(fast.scan_fast(con, day, S.fast))
    assert set(results[0]["src_ip"].to_pylist()) == {"172.16.0.8"}
    assert results[0].equals(results[1])


def test_masscan_behind_a_vlan_tag_is_found(shared_data: Path) -> None:
    con, day = _load(shared_data / "pcap" / "masscan_vlan_tcp.pcap")
    assert _fast_sources(con, day) == {"172.31.15.102"}


def test_firewall_slow_vertical_scanner_and_no_single_target_source(shared_data: Path) -> None:
    con, day = _load(shared_data / "firewall" / "ufw_vps_2023-08-20.log", year=2023)
    rows = slow.scan_slow(con, day, S.slow).to_pylist()
    scans = [r for r in rows if r["is_scan"]]
    slow_one = [r for r in scans if r["src_ip"] == "31.220.1.38"]
    assert {r["kind"] for r in slow_one} == {"vertical"}
    assert sum(r["targets"] for r in slow_one) > 500  # most of its 1,390 ports, one a minute
    flagged = {r["src_ip"] for r in scans} | _fast_sources(con, day)
    ensure_probes(con)
    single = {
        r[0]
        for r in con.execute(
            "SELECT src_ip FROM probes GROUP BY src_ip HAVING count(DISTINCT (dst_ip, dst_port)) = 1"
        ).fetchall()
    }
    assert single and not (flagged & single)
