"""Verdicts that hold on ordinary networks, one test per class of traffic (issue 25): clients are
never scanners, a device alone on a quiet sensor is no fast scan, a scan from inside the site is
malicious in the daytime."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
from event_rows import events_con

from pipelines.detect import distributed, fast, port_ratio, slow, trw
from pipelines.settings import Settings

DAY = date(2025, 11, 26)
T0 = datetime(2025, 11, 26, 8, tzinfo=UTC)
S = Settings()
SCANSENSE = str(Path(sys.executable).with_name("scansense"))


def _pkt(t: datetime, src: str, sport: int, dst: str, dport: int, flags: str | None, proto: str = "tcp") -> dict:
    return {"ts": t, "src_ip": src, "src_port": sport, "dst_ip": dst, "dst_port": dport, "tcp_flags": flags,
            "proto": proto}  # fmt: skip


def _session(t: datetime, client: str, sport: int, server: str, port: int = 443) -> list[dict]:
    """A completed, used TCP session as a tap sees it: handshake, data both ways, FIN."""
    ms = timedelta(milliseconds=1)
    return [
        _pkt(t, client, sport, server, port, "S"),
        _pkt(t + ms, server, port, client, sport, "SA"),
        _pkt(t + 2 * ms, client, sport, server, port, "A"),
        _pkt(t + 3 * ms, client, sport, server, port, "PA"),
        _pkt(t + 4 * ms, server, port, client, sport, "PA"),
        _pkt(t + 5 * ms, client, sport, server, port, "FA"),
    ]


def _flagged(con: duckdb.DuckDBPyConnection, settings: Settings = S) -> dict[str, set[str]]:
    """Sources each detector flags on DAY."""
    got = {
        "scan_fast": fast.scan_fast(con, DAY, settings.fast)["src_ip"].to_pylist(),
        "scan_slow": slow.scan_slow(con, DAY, settings.slow)
        .filter(slow.scan_slow(con, DAY, settings.slow)["is_scan"])["src_ip"]
        .to_pylist(),
        "scan_trw": [r["src_ip"] for r in trw.scan_trw(con, DAY, settings.trw).to_pylist() if r["is_scan"]],
        "port_ratio": [r["src_ip"] for r in port_ratio.port_ratio(con, DAY, settings.slow).to_pylist() if r["is_scan"]],
        "scan_distributed": distributed.scan_distributed(con, DAY, settings.distributed)["src_ip"].to_pylist(),
    }
    return {k: set(v) for k, v in got.items()}


def _browsers_ntp_and_name_services() -> list[dict]:
    """A morning of an office: desktops browsing (a few failed HTTPS attempts among many sessions), NTP
    to pool servers that answer, NetBIOS and mDNS chatter to broadcast and multicast addresses."""
    rows: list[dict] = []
    for d in range(3):
        desktop = f"192.168.1.{20 + d}"
        for i in range(240):  # a session every 30 s to one of 120 CDN servers, for two hours
            t = T0 + timedelta(seconds=30 * i + d)
            rows += _session(t, desktop, 50000 + i, f"151.101.{i % 120 // 250}.{i % 120 + 1}")
            if i % 4 == 0:  # one attempt in four to another CDN node is never answered, retried once
                dead = f"104.16.{d}.{i // 4 + 1}"
                rows.append(_pkt(t + timedelta(seconds=1), desktop, 52000 + i, dead, 443, "S"))
                rows.append(_pkt(t + timedelta(seconds=4), desktop, 52000 + i, dead, 443, "S"))
        for i in range(16):  # NTP: a query every 8 minutes to one of 8 pool servers, each answered
            t = T0 + timedelta(minutes=8 * i, seconds=d)
            server = f"162.159.200.{i % 8 + 1}"
            rows.append(_pkt(t, desktop, 123, server, 123, None, "udp"))
            rows.append(_pkt(t + timedelta(milliseconds=20), server, 123, desktop, 123, None, "udp"))
        for i in range(120):  # NetBIOS name service and mDNS: broadcasts and multicast, never answered
            t = T0 + timedelta(minutes=i, seconds=d)
            rows.append(_pkt(t, desktop, 137, "192.168.1.255", 137, None, "udp"))
            rows.append(_pkt(t, desktop, 5353, "224.0.0.251", 5353, None, "udp"))
    return rows


def _ntp_biflows() -> list[dict]:
    """NTP clients in a biflow export (one record holds both directions): answered queries to pool servers."""
    flow = {"source_kind": "flow", "source_format": "cicflowmeter", "source_file": "flows.csv", "proto": "udp"}
    rows = []
    for c in range(4):
        for i in range(60):  # every 2 minutes, a new pool server: the growing set a slow horizontal scan has
            t = T0 + timedelta(minutes=2 * i, seconds=c)
            server = f"91.189.{i // 50}.{i % 50 + 1}"
            rows.append({"ts": t, "src_ip": f"192.168.10.{c + 10}", "src_port": 123, "dst_ip": server,
                         "dst_port": 123, "packets": 2, "resp_packets": 1, "outcome": "succeeded", **flow})  # fmt: skip
    return rows


def _horizontal_syn_scan(src: str, n: int, every_s: float, port: int = 445) -> list[dict]:
    """A scanner walking a network on one port; nothing answers."""
    return [
        _pkt(T0 + timedelta(seconds=every_s * i), src, 40000 + i, f"10.9.{i // 250}.{i % 250 + 1}", port, "S")
        for i in range(n)
    ]


def test_clients_whose_contacts_mostly_succeed_are_never_scanners() -> None:
    scanner = "203.0.113.66"
    rows = _browsers_ntp_and_name_services() + _ntp_biflows() + _horizontal_syn_scan(scanner, 90, 80)
    flagged = _flagged(events_con(rows))
    everyone = set().union(*flagged.values())
    assert everyone <= {scanner}, flagged
    # the same scanner among them is still found (the rule keeps failed first contacts as probes)
    assert scanner in flagged["scan_slow"] and scanner in flagged["scan_trw"]


def test_failed_attempts_to_a_service_count_when_the_source_never_uses_it() -> None:
    """The same failed HTTPS attempts without the sessions around them: a slow horizontal scan of 443."""
    desktop = "192.168.1.20"
    rows = [
        r for r in _browsers_ntp_and_name_services() if r["src_ip"] == desktop and r["dst_ip"].startswith("104.16.")
    ]
    assert rows
    assert desktop in _flagged(events_con(rows))["scan_slow"]


def test_one_device_on_a_quiet_sensor_retrying_one_server_is_no_fast_scan() -> None:
    """Alone in its capture, the paper's T is 2 probes a minute: a device retrying its dead cloud endpoint
    40 times a minute (two ports of one host) must not count as a fast scan; a real sweep still does."""
    iot = "192.168.1.50"
    rows = [
        _pkt(T0 + timedelta(seconds=1.5 * i), iot, 30000 + i, "52.28.1.1", (8883, 443)[i % 2], "S") for i in range(400)
    ]
    rows += [_pkt(t["ts"], t["dst_ip"], t["dst_port"], iot, t["src_port"], "RA") for t in list(rows)]
    con = events_con(rows)
    assert fast.scan_fast(con, DAY, S.fast).num_rows == 0
    sweep = events_con(rows + _horizontal_syn_scan("192.168.1.99", 60, 0.5, port=22))
    assert set(fast.scan_fast(sweep, DAY, S.fast)["src_ip"].to_pylist()) == {"192.168.1.99"}
    # alone, the device's T is the paper's 2 probes a minute: only the distinct-targets floor keeps it out
    without_floor = fast.scan_fast(con, DAY, dataclasses.replace(S.fast, min_targets=2))
    assert set(without_floor["src_ip"].to_pylist()) == {iot} and max(without_floor["threshold"].to_pylist()) <= 3.5


def _run_as_a_user(folder: Path) -> dict:
    """`scansense run` of 2025-11-26 from `folder` with relative paths and no SCANSENSE_ variables; its --json."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANSENSE_")}
    done = subprocess.run(
        [SCANSENSE, "run", "--date", "2025-11-26", "--landing", "landing", "--warehouse", "wh", "--no-email", "--json"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ufw(t: datetime, src: str, dst: str, dport: int) -> str:
    return (
        f"{t:%b %d %H:%M:%S} gw kernel: [{t.timestamp():.6f}] [UFW BLOCK] IN=eth1 OUT= SRC={src} DST={dst} "
        f"LEN=44 TOS=0x00 PREC=0x00 TTL=45 ID=54321 PROTO=TCP SPT=41234 DPT={dport} WINDOW=1024 RES=0x00 SYN URGP=0"
    )


def test_a_daytime_scan_from_inside_the_site_is_malicious_and_exported(tmp_path: Path) -> None:
    """A 1,000-port scan from a private address at 10:00 in the site's time zone (02:00 UTC), run as a user
    would from the project's folder with relative paths: malicious, with its reason, in every export."""
    inside, victim = "10.20.30.40", "10.20.30.1"
    start = datetime(2025, 11, 26, 2, 0, tzinfo=UTC)
    lines = [_ufw(start + timedelta(seconds=0.2 * i), inside, victim, 1 + i) for i in range(1000)]
    # and an ordinary outside source, seen once, so the day has more than the scanner
    lines.append(_ufw(start + timedelta(minutes=30), "198.51.100.7", victim, 22))
    day_dir = tmp_path / "landing" / "2025-11-26"
    day_dir.mkdir(parents=True)
    (day_dir / "ufw.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _run_as_a_user(tmp_path)["published"]
    with duckdb.connect(str(tmp_path / "wh" / "scansense.duckdb"), read_only=True) as con:
        malicious, reasons, time_score, geo_score = con.execute(
            "SELECT malicious, reasons, time_score, geo_score FROM source_risk WHERE src_ip = $ip", {"ip": inside}
        ).fetchone()
    assert malicious and "scan from inside the site" in reasons
    assert (time_score, geo_score) == (0, 0)  # daytime, private: the paper's score alone says 50
    exports = sorted((tmp_path / "wh" / "exports" / "2025-11-26").iterdir())
    assert len(exports) == len(S.export.formats)
    for path in exports:
        assert inside in path.read_text(encoding="utf-8"), path.name
        assert "198.51.100.7" not in path.read_text(encoding="utf-8"), path.name


ZEEK_HEADER = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2025-11-26-10-00-00
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
"""


def _icmp_sweep(sweeper: str) -> list[dict]:
    """nmap -sn style host discovery: an echo request to every host of a /24 in a minute; a third answer.
    Zeek logs ICMP with the type in id.orig_p and the code in id.resp_p, conn_state OTH."""
    start = datetime(2025, 11, 26, 3, 0, tzinfo=UTC).timestamp()
    return [
        {"ts": round(start + 0.2 * i, 6), "uid": f"C{i:05d}", "id.orig_h": sweeper, "id.orig_p": 8,
         "id.resp_h": f"10.50.0.{i + 1}", "id.resp_p": 0, "proto": "icmp", "duration": 0.001 if i % 3 == 0 else None,
         "orig_bytes": 0, "resp_bytes": 0 if i % 3 == 0 else None, "conn_state": "OTH", "missed_bytes": 0,
         "history": None, "orig_pkts": 1, "orig_ip_bytes": 28, "resp_pkts": 1 if i % 3 == 0 else 0,
         "resp_ip_bytes": 28 if i % 3 == 0 else 0}
        for i in range(254)
    ]  # fmt: skip


def _zeek_tsv(records: list[dict]) -> str:
    fields = ZEEK_HEADER.splitlines()[6].split("\t")[1:]
    lines = ["\t".join("-" if r.get(f) is None else str(r[f]) for f in fields) for r in records]
    return ZEEK_HEADER + "\n".join(lines) + "\n#close\t2025-11-26-11-00-00\n"


def _zeek_json(records: list[dict]) -> str:
    return "\n".join(json.dumps({k: v for k, v in r.items() if v is not None}) for r in records) + "\n"


def test_an_icmp_sweep_in_zeek_conn_logs_is_found(tmp_path: Path) -> None:
    """Host discovery in a Zeek conn log, TSV and JSON as Zeek's documentation lays them out: found and scored."""
    day_dir = tmp_path / "landing" / "2025-11-26"
    day_dir.mkdir(parents=True)
    (day_dir / "conn.log").write_text(_zeek_tsv(_icmp_sweep("198.51.100.20")), encoding="utf-8")
    (day_dir / "conn.json").write_text(_zeek_json(_icmp_sweep("198.51.100.21")), encoding="utf-8")
    _run_as_a_user(tmp_path)
    with duckdb.connect(str(tmp_path / "wh" / "scansense.duckdb"), read_only=True) as con:
        kinds = con.execute("SELECT DISTINCT src_ip, proto, dst_port FROM events ORDER BY ALL").fetchall()
        found = {r[0] for r in con.execute("SELECT DISTINCT src_ip FROM findings").fetchall()}
    assert kinds == [("198.51.100.20", "icmp", 8), ("198.51.100.21", "icmp", 8)]
    assert found == {"198.51.100.20", "198.51.100.21"}


def _split_by_day(csv_path: Path, landing: Path) -> list[date]:
    """Write a CICFlowMeter CSV into landing/<day>/ by the day of each row's Timestamp, header on each."""
    import csv

    with csv_path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        at = header.index("Timestamp")
        days: dict[str, list[list[str]]] = {}
        for row in reader:
            days.setdefault(row[at][:10], []).append(row)
    for day, rows in days.items():
        (landing / day).mkdir(parents=True, exist_ok=True)
        with (landing / day / csv_path.name).open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows([header, *rows])
    return sorted(date.fromisoformat(d) for d in days)


def test_an_office_week_of_benign_flows_flags_no_one_and_the_port_scan_is_still_malicious(
    shared_data: Path, settings: Settings
) -> None:
    """CIC-IDS2017's benign sample (desktops browsing, NTP, NetBIOS, LDAP, DNS), every day in order into one
    warehouse: no detector flags anyone, across days included. Its PortScan sample is found on its day."""
    from pipelines.run import run_day

    days = _split_by_day(shared_data / "flows" / "cicids2017_benign_5000.csv", settings.landing)
    assert len(days) == 5
    for day in days:
        assert run_day(day, settings, send_email=False).published
    with duckdb.connect(str(settings.warehouse / "scansense.duckdb"), read_only=True) as con:
        assert con.execute("SELECT detector, src_ip FROM findings").fetchall() == []
        assert con.execute("SELECT count(*) FROM source_risk WHERE malicious").fetchone() == (0,)
    scan = settings.replace(
        "paths", landing=str(settings.landing) + "-scan", warehouse=str(settings.warehouse) + "-scan"
    )
    (day,) = _split_by_day(shared_data / "flows" / "cicids2017_portscan_5000.csv", scan.landing)
    assert run_day(day, scan, send_email=False).published
    with duckdb.connect(str(scan.warehouse / "scansense.duckdb"), read_only=True) as con:
        verdicts = con.execute("SELECT src_ip, malicious FROM source_risk WHERE traffic_score > 0").fetchall()
    assert verdicts == [("172.16.0.1", True)]
