"""Real third-party captures and logs (issue 3, "Checks on real captures"); skipped when ../shared/data is absent."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.ingest import detect_format, ingest_paths, iter_file

pytestmark = pytest.mark.shared_data


def _rows(path: Path, settings, year: int | None = None):
    chunks = list(iter_file(path, settings, year=year))
    table = [c.events for c in chunks]
    return table, [q for c in chunks for q in c.quarantine], chunks


@pytest.fixture(scope="module")
def pcap_lake(shared_data: Path, tmp_path_factory) -> duckdb.DuckDBPyConnection:
    from pipelines.settings import load_settings

    wh = tmp_path_factory.mktemp("real") / "warehouse"
    settings = load_settings(env={"SCANSENSE_WAREHOUSE": str(wh)})
    summary = ingest_paths(sorted((shared_data / "pcap").glob("*.pcap*")), settings)
    assert summary.errors == [] and summary.quarantined == 0
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events AS SELECT * FROM read_parquet($g, hive_partitioning = false)",
        {"g": str(wh / "lake" / "events" / "*" / "*.parquet")},
    )
    return con


def test_probing_nmap_counts_by_protocol(pcap_lake: duckdb.DuckDBPyConnection) -> None:
    rows = pcap_lake.execute(
        "SELECT proto, count(*) FROM events WHERE source_file LIKE '%probing_nmap.pcapng' GROUP BY 1"
    ).fetchall()
    assert dict(rows) == {"tcp": 42204, "udp": 552, "icmp": 255}  # 43,011 IPv4 packets


def test_synscan_pcap_and_pcapng_give_identical_rows(pcap_lake: duckdb.DuckDBPyConnection) -> None:
    cols = (
        "ts, event_date, src_ip, dst_ip, src_port, dst_port, proto, tcp_flags, packets, bytes, ttl, ip_id, tcp_window"
    )
    counts = dict(
        pcap_lake.execute(
            "SELECT source_format, count(*) FROM events WHERE source_file LIKE '%synscan.pcap%' GROUP BY 1"
        ).fetchall()
    )
    assert counts == {"pcap": 2011, "pcapng": 2011}
    diff = pcap_lake.execute(
        f"""SELECT count(*) FROM (
            (SELECT {cols} FROM events WHERE source_format = 'pcap' AND source_file LIKE '%synscan.pcap'
             EXCEPT ALL SELECT {cols} FROM events WHERE source_file LIKE '%synscan.pcapng')
            UNION ALL
            (SELECT {cols} FROM events WHERE source_file LIKE '%synscan.pcapng'
             EXCEPT ALL SELECT {cols} FROM events WHERE source_format = 'pcap' AND source_file LIKE '%synscan.pcap'))"""
    ).fetchone()[0]
    assert diff == 0


def test_masscan_behind_vlan_tags(pcap_lake: duckdb.DuckDBPyConnection) -> None:
    total, ports = pcap_lake.execute(
        """SELECT count(*), count(DISTINCT dst_port) FILTER (WHERE src_ip = '172.31.15.102')
           FROM events WHERE source_file LIKE '%masscan_vlan_tcp.pcap'"""
    ).fetchone()
    assert (total, ports) == (1005, 1001)


def test_fast_path_agrees_with_scapy_on_real_packets(shared_data: Path, settings) -> None:
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.utils import PcapNgReader

    path = shared_data / "pcap" / "probing_nmap.pcapng"
    ours = next(iter(iter_file(path, settings))).events.slice(0, 3000).to_pylist()
    theirs = []
    with PcapNgReader(str(path)) as reader:
        for pkt in reader:
            ip = pkt[IP]
            l4 = ip.payload
            row = {"src_ip": ip.src, "dst_ip": ip.dst, "ttl": ip.ttl, "ip_id": ip.id, "bytes": ip.len}
            if isinstance(l4, TCP | UDP):
                row |= {"src_port": l4.sport, "dst_port": l4.dport}
            elif isinstance(l4, ICMP):
                row |= {"src_port": None, "dst_port": l4.type}
            row["tcp_flags"] = str(l4.flags) if isinstance(l4, TCP) else None
            theirs.append(row)
            if len(theirs) == 3000:
                break
    order = {c: i for i, c in enumerate("FSRPAUEC")}  # scapy prints flags in its own order
    for t in theirs:
        if t["tcp_flags"] is not None:
            t["tcp_flags"] = "".join(sorted(t["tcp_flags"], key=order.__getitem__))
    assert [{k: r[k] for k in theirs[i]} for i, r in enumerate(ours)] == theirs


def test_ufw_log_keeps_all_but_the_cut_last_line(shared_data: Path, settings) -> None:
    path = shared_data / "firewall" / "ufw_vps_2023-08-20.log"
    assert detect_format(path) == "ufw"
    tables, bad, _ = _rows(path, settings)
    assert sum(t.num_rows for t in tables) == 3978
    assert len(bad) == 1 and bad[0]["location"] == "line:3979"
    days = {d for t in tables for d in t["event_date"].to_pylist()}
    assert {str(d) for d in days} == {"2023-08-20"}  # year from the file name
    slow = [
        p
        for t in tables
        for s, p in zip(t["src_ip"].to_pylist(), t["dst_port"].to_pylist(), strict=True)
        if s == "31.220.1.38"
    ]
    assert len(set(slow)) > 1000  # the slow vertical scan the data's README describes


@pytest.mark.parametrize(
    ("name", "label"), [("cicids2017_portscan_5000.csv", "Portscan"), ("cicids2017_benign_5000.csv", "BENIGN")]
)
def test_cicids2017_samples_load_with_labels(shared_data: Path, settings, name: str, label: str) -> None:
    path = shared_data / "flows" / name
    assert detect_format(path) == "cicflowmeter"
    tables, bad, _ = _rows(path, settings)
    labels = {v for t in tables for v in t["label"].to_pylist()}
    # The benign sample holds 4 of the exporter's protocol-0, port-0 records (8.6.0.1 -> 8.0.6.4): quarantined.
    garbage = 4 if label == "BENIGN" else 0
    assert sum(t.num_rows for t in tables) == 5000 - garbage and len(bad) == garbage and labels == {label}
    assert all("protocol 0 and ports 0" in q["reason"] for q in bad)
    assert all(t["src_ip"].null_count == 0 and t["ts"].null_count == 0 for t in tables)


def test_cowrie_days_load_with_their_fields(shared_data: Path, settings) -> None:
    files = sorted((shared_data / "honeypot" / "cowrie").glob("cowrie.json.*"))
    assert len(files) == 3
    for path in files:
        assert detect_format(path) == "cowrie"
        tables, bad, _ = _rows(path, settings)
        rows = [r for t in tables for r in t.to_pylist()]
        assert rows and not bad
        connects = [r for r in rows if r["action"] == "cowrie.session.connect"]
        assert connects and all(r["dst_port"] is not None and r["src_port"] is not None for r in connects)
        assert any(r["username"] for r in rows if r["action"] == "cowrie.login.failed")
