"""Text formats: detection from content, and the field mapping of every flow, firewall and JSON log."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.ingest import detect_format, iter_file

CIDDS = (
    "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,class,"
    "attackType,attackID,attackDescription\n"
    "2017-03-15 00:01:16.632,0.000,TCP  ,192.168.100.5,445,192.168.220.16,58844,1,108,1,.AP...,0,normal,---,---,---\n"
    "2017-03-15 00:01:17.000,1.250,TCP  ,192.168.220.16,58844,192.168.100.5,445,3,1.2 M,1,....S.,0,attacker,portScan,7,nmap\n"
    "2017-03-15 00:01:18.5,0.000,ICMP ,10.0.0.1,0,10.0.0.2,3.3,1,70,1,......,0,victim,pingScan,8,---\n"
)
CIC_IMPROVED = (
    "id,Flow ID,Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration,Total Fwd Packet,Total Bwd packets,"
    "Total Length of Fwd Packet,Total Length of Bwd Packet,FIN Flag Count,SYN Flag Count,RST Flag Count,"
    "PSH Flag Count,ACK Flag Count,URG Flag Count,CWR Flag Count,ECE Flag Count,Label\n"
    "1,f,172.16.0.1,55191,192.168.10.50,4005,6,2017-07-07 17:51:49.618008,49,1,1,0,0,0,1,1,0,1,0,0,0,Portscan\n"
    "2,g,192.168.10.3,53,192.168.10.9,61000,17,2017-07-07 17:52:00.000001,2000000,2,2,80,160,0,0,0,0,0,0,0,0,BENIGN\n"
)
CIC_ORIGINAL = (
    "Flow ID, Source IP, Source Port, Destination IP, Destination Port, Protocol, Timestamp, Flow Duration,"
    " Total Fwd Packets, Total Backward Packets,Total Length of Fwd Packets, Total Length of Bwd Packets,"
    " Fwd Header Length, Fwd Header Length, SYN Flag Count, Label\n"
    "x,192.168.10.5,443,192.168.10.8,50000,6,3/7/2017 8:55,100,1,0,0,0,20,20,1,BENIGN\n"
)
NFDUMP = (
    "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,smk,dmk,dtos,dir,nh,nhb,svln,dvln,"
    "ismc,odmc,idmc,osmc,mpls1,mpls2,mpls3,mpls4,mpls5,mpls6,mpls7,mpls8,mpls9,mpls10,cl,sl,al,ra,eng,exid,tr\n"
    "2025-11-26 03:04:05,2025-11-26 03:04:06,1.500,203.0.113.9,10.0.0.5,51234,22,TCP,......S.,0,0,2,120,0,0,0,0,0,0,0,"
    "0,0,0,0.0.0.0,0.0.0.0,0,0,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,00:00:00:00:00:00,0-0-0,0-0-0,"
    "0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0-0-0,0.000,0.000,0.000,0.0.0.0,0/0,1,1970-01-01 00:00:00.000\n"
    "Summary\n"
    "flows,bytes,packets,avg_bps,avg_pps,avg_bpp\n"
    "1,120,2,640,1,60\n"
)
ZEEK_FIELDS = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration", "orig_bytes",
    "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes",
    "resp_pkts", "resp_ip_bytes", "tunnel_parents",
]  # fmt: skip
ZEEK_ROWS = [
    ["1764126245.123456", "C1", "203.0.113.7", "40000", "10.0.0.9", "23", "tcp", "-", "-", "-", "-", "S0", "F", "T",
     "0", "S", "1", "40", "0", "0", "-"],
    ["1764126246.000000", "C2", "2001:db8::7", "8", "2001:db8::9", "0", "icmp", "-", "0.5", "56", "56", "OTH", "F",
     "T", "0", "-", "1", "84", "1", "84", "-"],
    ["1764126247.5", "C3", "203.0.113.7", "40001", "10.0.0.9", "80", "tcp", "http", "0.25", "100", "2000", "SF", "F",
     "T", "0", "ShADadfF", "5", "400", "4", "2200", "-"],
]  # fmt: skip


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def rows_of(path: Path, settings, year: int | None = None) -> tuple[list[dict], list[dict]]:
    chunks = list(iter_file(path, settings, year=year))
    return [r for c in chunks for r in c.events.to_pylist()], [q for c in chunks for q in c.quarantine]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_cidds_fields_labels_and_flags(tmp_path: Path, settings) -> None:
    path = write(tmp_path, "week2.txt", CIDDS)
    assert detect_format(path) == "cidds"
    rows, bad = rows_of(path, settings)
    assert not bad and len(rows) == 3
    first, second, third = rows
    assert first["ts"] == utc(2017, 3, 15, 0, 1, 16, 632000) and str(first["event_date"]) == "2017-03-15"
    assert (first["src_ip"], first["src_port"], first["dst_ip"], first["dst_port"]) == (
        "192.168.100.5",
        445,
        "192.168.220.16",
        58844,
    )
    assert (first["proto"], first["tcp_flags"], first["label"], first["attack_type"]) == ("tcp", "PA", "normal", None)
    assert (second["bytes"], second["packets"], second["duration_s"]) == (1_200_000, 3, 1.25)
    assert (second["tcp_flags"], second["label"], second["attack_type"]) == ("S", "attacker", "portScan")
    assert (third["proto"], third["dst_port"], third["tcp_flags"], third["attack_type"]) == (
        "icmp",
        3,
        None,
        "pingScan",
    )
    assert {r["source_kind"] for r in rows} == {"flow"} and [r["source_location"] for r in rows] == [
        "line:2",
        "line:3",
        "line:4",
    ]


def test_cicflowmeter_both_header_styles(tmp_path: Path, settings) -> None:
    improved = write(tmp_path, "cic.csv", CIC_IMPROVED)
    original = write(tmp_path, "Monday-WorkingHours.pcap_ISCX.csv", CIC_ORIGINAL)
    assert detect_format(improved) == detect_format(original) == "cicflowmeter"
    rows, bad = rows_of(improved, settings)
    assert not bad
    assert [(r["src_ip"], r["dst_port"], r["proto"], r["tcp_flags"], r["label"]) for r in rows] == [
        ("172.16.0.1", 4005, "tcp", "SRA", "Portscan"),
        ("192.168.10.3", 61000, "udp", None, "BENIGN"),
    ]
    assert rows[0]["ts"] == utc(2017, 7, 7, 17, 51, 49, 618008) and rows[1]["duration_s"] == 2.0
    assert (rows[1]["packets"], rows[1]["bytes"]) == (4, 240)
    rows, bad = rows_of(original, settings)
    assert not bad and rows[0]["ts"] == utc(2017, 7, 3, 8, 55) and rows[0]["src_port"] == 443
    assert rows[0]["tcp_flags"] == "S" and rows[0]["source_format"] == "cicflowmeter"


def test_nfdump_csv_and_its_summary_trailer(tmp_path: Path, settings) -> None:
    path = write(tmp_path, "nfcapd.csv", NFDUMP)
    assert detect_format(path) == "nfdump"
    chunks = list(iter_file(path, settings))
    rows = [r for c in chunks for r in c.events.to_pylist()]
    assert not [q for c in chunks for q in c.quarantine] and sum(c.skipped for c in chunks) == 3
    (row,) = rows
    assert (row["src_ip"], row["src_port"], row["dst_ip"], row["dst_port"], row["proto"]) == (
        "203.0.113.9",
        51234,
        "10.0.0.5",
        22,
        "tcp",
    )
    assert (row["tcp_flags"], row["packets"], row["bytes"], row["duration_s"]) == ("S", 2, 120, 1.5)
    assert row["ts"] == utc(2025, 11, 26, 3, 4, 5) and row["source_format"] == "nfdump"


def test_zeek_conn_log_tsv_and_json(tmp_path: Path, settings) -> None:
    tsv = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    tsv += "#fields\t" + "\t".join(ZEEK_FIELDS) + "\n#types\t" + "\t".join(["string"] * len(ZEEK_FIELDS)) + "\n"
    tsv += "".join("\t".join(r) + "\n" for r in ZEEK_ROWS) + "#close\t2025-11-26-03-00-00\n"
    js = "".join(json.dumps(dict(zip(ZEEK_FIELDS, r, strict=True))) + "\n" for r in ZEEK_ROWS).replace('"-"', "null")
    paths = [write(tmp_path, "conn.log", tsv), write(tmp_path, "conn.json", js)]
    assert [detect_format(p) for p in paths] == ["zeek_tsv", "zeek_json"]
    results = []
    for path in paths:
        rows, bad = rows_of(path, settings)
        assert not bad and len(rows) == 3, path
        results.append(
            [
                (
                    r["ts"],
                    r["src_ip"],
                    r["src_port"],
                    r["dst_port"],
                    r["proto"],
                    r["tcp_flags"],
                    r["conn_state"],
                    r["packets"],
                    r["bytes"],
                )
                for r in rows
            ]
        )
    assert results[0] == results[1]
    assert results[0] == [
        (utc(2025, 11, 26, 3, 4, 5, 123456), "203.0.113.7", 40000, 23, "tcp", "S", "S0", 1, 40),
        (utc(2025, 11, 26, 3, 4, 6), "2001:db8::7", None, 8, "icmpv6", None, "OTH", 2, 168),  # Zeek: icmp for v6 too
        (utc(2025, 11, 26, 3, 4, 7, 500000), "203.0.113.7", 40001, 80, "tcp", "FSA", "SF", 9, 2600),
    ]


def test_ufw_iptables_iso_and_ipv6_lines(tmp_path: Path, settings) -> None:
    lines = [
        "Aug 20 00:01:05 vps kernel: [3217909.838554] [UFW BLOCK] IN=eth0 OUT= MAC=52:54 SRC=109.205.213.90 "
        "DST=194.58.102.129 LEN=40 TOS=0x00 PREC=0x00 TTL=240 ID=1830 PROTO=TCP SPT=51638 DPT=48580 WINDOW=1024 "
        "RES=0x00 SYN URGP=0 ",
        "Aug 20 00:01:06 vps kernel: [3217910.1] [UFW ALLOW] IN=eth0 OUT= SRC=1.1.1.1 DST=194.58.102.129 LEN=60 "
        "TOS=0x00 PREC=0x00 TTL=50 ID=7 DF PROTO=UDP SPT=53 DPT=33000 LEN=40 ",
        "Aug 20 00:01:07 vps CRON[123]: (root) CMD (run-parts /etc/cron.hourly)",
        "2023-08-20T00:01:08.250000+02:00 fw kernel: IPTables-Dropped: IN=eth1 OUT= SRC=2001:db8::66 DST=2001:db8::1 "
        "LEN=72 TC=0 HOPLIMIT=55 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=1 SEQ=1 ",
        "Aug 20 00:01:09 vps kernel: [1.0] [UFW BLOCK] IN=eth0 OUT= SRC=5.5.5.5 DST=6.6.6.6 LEN=44 TOS=0x00 PREC=0x00 "
        "TTL=243 ID=54321 PROTO=TCP SPT=1 DPT=2 WINDOW=65535 RES=0x00 ACK FIN URGP=0",
    ]
    path = write(tmp_path, "ufw_vps_2023-08-20.log", "\n".join(lines) + "\n")
    assert detect_format(path) == "ufw"
    chunks = list(iter_file(path, settings))
    rows = [r for c in chunks for r in c.events.to_pylist()]
    assert not [q for c in chunks for q in c.quarantine] and sum(c.skipped for c in chunks) == 1
    assert [(r["ts"], r["src_ip"], r["dst_port"], r["proto"], r["tcp_flags"], r["action"]) for r in rows] == [
        (utc(2023, 8, 20, 0, 1, 5), "109.205.213.90", 48580, "tcp", "S", "BLOCK"),
        (utc(2023, 8, 20, 0, 1, 6), "1.1.1.1", 33000, "udp", None, "ALLOW"),
        (utc(2023, 8, 19, 22, 1, 8, 250000), "2001:db8::66", 128, "icmpv6", None, "IPTables-Dropped"),
        (utc(2023, 8, 20, 0, 1, 9), "5.5.5.5", 2, "tcp", "FA", "BLOCK"),
    ]
    assert (rows[0]["ttl"], rows[0]["ip_id"], rows[0]["tcp_window"], rows[0]["bytes"]) == (240, 1830, 1024, 40)
    assert rows[2]["ttl"] == 55 and rows[2]["ip_id"] is None and rows[1]["bytes"] == 60
    assert {r["source_format"] for r in rows} == {"ufw"} and {r["source_kind"] for r in rows} == {"firewall"}


def test_firewall_year_from_parameter_name_mtime_and_new_year(tmp_path: Path, settings) -> None:
    line = "{d} 23:59:59 h kernel: [UFW BLOCK] IN=e OUT= SRC=1.2.3.4 DST=5.6.7.8 LEN=40 TTL=1 ID=1 PROTO=TCP SPT=1 DPT=2 WINDOW=1 RES=0x00 SYN URGP=0\n"
    plain = write(tmp_path, "kern.log", line.format(d="Dec 31") + line.format(d="Jan  1"))
    os.utime(plain, (datetime(2021, 6, 1).timestamp(),) * 2)
    assert [r["ts"].year for r in rows_of(plain, settings)[0]] == [2021, 2022]  # mtime year, then the new year
    assert [r["ts"].year for r in rows_of(plain, settings, year=2019)[0]] == [2019, 2020]
    named = write(tmp_path, "fw-2024-01-01.log.gz", gzip.compress(line.format(d="Dec 31").encode()))
    assert detect_format(named) == "ufw"
    assert [r["ts"] for r in rows_of(named, settings)[0]] == [utc(2023, 12, 31, 23, 59, 59)]


def test_sensor_jsonl(tmp_path: Path, settings) -> None:
    recs = [
        {"ts": "2025-11-26T03:04:05.123456Z", "event": "connect", "transport": "tcp", "src_ip": "198.51.100.4",
         "src_port": 51234, "dst_ip": "10.0.0.2", "dst_port": 2222, "sent_data": True, "payload_hex": "474554",
         "bytes": 1234, "duration_s": 0.52, "sensor": "edge-1"},
        {"ts": "2025-11-26T03:04:06Z", "event": "datagram", "transport": "udp", "src_ip": "198.51.100.5",
         "src_port": 5000, "dst_ip": "10.0.0.2", "dst_port": 1161, "sent_data": False, "payload_hex": "",
         "bytes": 0, "duration_s": 0.0, "sensor": ""},
    ]  # fmt: skip
    path = write(tmp_path, "sensor-20251126T03.jsonl", "".join(json.dumps(r) + "\n" for r in recs))
    assert detect_format(path) == "sensor_jsonl"
    rows, bad = rows_of(path, settings)
    assert not bad
    a, b = rows
    assert (a["ts"], a["src_ip"], a["src_port"], a["dst_port"], a["proto"], a["tcp_flags"]) == (
        utc(2025, 11, 26, 3, 4, 5, 123456),
        "198.51.100.4",
        51234,
        2222,
        "tcp",
        "S",
    )
    assert (a["action"], a["payload_hex"], a["bytes"], a["duration_s"], a["sensor"]) == (
        "connect",
        "474554",
        1234,
        0.52,
        "edge-1",
    )
    assert (b["proto"], b["tcp_flags"], b["action"], b["payload_hex"], b["sensor"]) == (
        "udp",
        None,
        "datagram",
        None,
        "default",
    )
    assert {r["source_kind"] for r in rows} == {"sensor"}


def test_honeypot_json_paper_shape_and_hostile_text(tmp_path: Path, settings) -> None:
    recs = [
        {"ip": "45.95.147.10", "port": 40112, "dst_ip": "10.0.0.3", "dst_port": 80, "utc": "2025-11-26 03:04:05",
         "transport_protocol": "tcp", "proto": "http", "action": "request", "method": "GET",
         "uri": "/../../etc/passwd?x=<script>alert(1)</script>", "headers": {"user-agent": "Mozilla/5.0 zgrab/0.x"},
         "pack_datagram": "474554202f", "data_length": 5, "whois": "x", "asn": 1, "lat": 1.5},
        {"ip": "2001:db8::99", "utc": "2025-11-26 03:04:06"},
        {"ip": "45.95.147.11", "utc": "2025-11-26 03:04:07", "headers": "Host: a\r\nUser-Agent: curl/8\r\n", "uri": {"a": 1}},
        {"ip": "not-an-ip", "utc": "2025-11-26 03:04:08"},
        {"utc": "2025-11-26 03:04:09"},
    ]  # fmt: skip
    path = write(tmp_path, "honeypot.json", "".join(json.dumps(r) + "\n" for r in recs))
    assert detect_format(path) == "honeypot_json"
    rows, bad = rows_of(path, settings)
    assert [q["location"] for q in bad] == ["line:4", "line:5"]
    a, b, c = rows
    assert (a["src_ip"], a["src_port"], a["dst_ip"], a["dst_port"], a["proto"]) == (
        "45.95.147.10",
        40112,
        "10.0.0.3",
        80,
        "tcp",
    )
    assert (a["http_method"], a["uri"], a["user_agent"], a["payload_hex"], a["bytes"], a["action"]) == (
        "GET",
        "/../../etc/passwd?x=<script>alert(1)</script>",
        "Mozilla/5.0 zgrab/0.x",
        "474554202f",
        5,
        "request",
    )
    assert a["ts"] == utc(2025, 11, 26, 3, 4, 5) and a["source_kind"] == "honeypot"
    assert (b["src_ip"], b["src_port"], b["dst_port"], b["uri"]) == ("2001:db8::99", None, None, None)
    assert (c["user_agent"], c["uri"]) == ("curl/8", '{"a": 1}')


def test_cowrie(tmp_path: Path, settings) -> None:
    recs = [
        {"eventid": "cowrie.session.connect", "src_ip": "88.223.26.58", "src_port": 52577, "dst_ip": "172.17.0.3",
         "dst_port": 2222, "timestamp": "2018-05-06T17:44:05.866769Z", "session": "s1", "sensor": "hp1"},
        {"eventid": "cowrie.login.failed", "username": "root'; DROP TABLE events;--", "password": "x",
         "src_ip": "88.223.26.58", "timestamp": "2018-05-06T17:44:07Z", "session": "s1", "sensor": "hp1"},
        {"eventid": "cowrie.client.version", "version": "SSH-2.0-Go", "src_ip": "88.223.26.58",
         "timestamp": "2018-05-06T17:44:06Z", "sensor": "hp1"},
    ]  # fmt: skip
    path = write(tmp_path, "cowrie.json.2018-05-06", "".join(json.dumps(r) + "\n" for r in recs))
    assert detect_format(path) == "cowrie"
    rows, bad = rows_of(path, settings)
    assert not bad and [r["action"] for r in rows] == [
        "cowrie.session.connect",
        "cowrie.login.failed",
        "cowrie.client.version",
    ]
    assert (rows[0]["src_ip"], rows[0]["src_port"], rows[0]["dst_ip"], rows[0]["dst_port"], rows[0]["sensor"]) == (
        "88.223.26.58",
        52577,
        "172.17.0.3",
        2222,
        "hp1",
    )
    assert rows[1]["username"] == "root'; DROP TABLE events;--" and rows[2]["user_agent"] == "SSH-2.0-Go"


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("capture.csv", CIDDS, "cidds"),
        ("notes.pcap", "just some text\n", None),
        ("data.json", '{"hello": "world"}\n', None),
        ("flows.log", CIC_IMPROVED, "cicflowmeter"),
        ("x.bin", b"\x00\x01\x02\x03" * 10, None),
    ],
)
def test_detection_ignores_the_file_name(tmp_path: Path, name: str, content: str | bytes, fmt: str | None) -> None:
    assert detect_format(write(tmp_path, name, content)) == fmt


def test_formats_lists_every_registered_parser(capsys: pytest.CaptureFixture[str]) -> None:
    """`scansense ingest --formats` needs no paths and prints each registered format: name, kind, directions, signature."""
    from pipelines import catalog
    from pipelines.cli import main
    from pipelines.ingest.formats import DIRECTIONS, FORMATS

    with pytest.raises(SystemExit) as done:
        main(["ingest", "--formats"])
    assert done.value.code == 0
    table, legend = capsys.readouterr().out.split("\n\n")
    header, *lines = table.splitlines()
    assert header.split() == ["name", "kind", "directions", "recognises"]
    listed = {name: (kind, way, text) for name, kind, way, text in (line.split(None, 3) for line in lines)}
    assert listed == {f.name: (f.kind, f.directions, f.recognises) for f in FORMATS}
    explained = {line.split(None, 1)[0] for line in legend.splitlines()[1:]}
    assert explained == set(DIRECTIONS) >= {way for _, way, _ in listed.values()}
    expected = {"pcap", "pcapng", "cidds", "cicflowmeter", "nfdump", "zeek_tsv", "zeek_json"}
    expected |= {"ufw", "cowrie", "honeypot_json", "sensor_jsonl"}
    assert set(listed) == expected
    comment = catalog.table("ingest_files").column_comments["format"]  # the warehouse names them too
    assert [name for name in listed if name not in comment] == []


@pytest.mark.parametrize(("content", "fmt"), [(CIDDS, "cidds"), (CIC_IMPROVED, "cicflowmeter"), (NFDUMP, "nfdump")])
def test_registered_kind_is_the_events_kind(tmp_path: Path, settings, content: str, fmt: str) -> None:
    """The registry's kind of a detected format is the source_kind its reader's events carry."""
    from pipelines.ingest.formats import BY_NAME

    path = write(tmp_path, "input.txt", content)
    assert detect_format(path) == fmt
    rows, _ = rows_of(path, settings)
    assert rows and {r["source_kind"] for r in rows} == {BY_NAME[fmt].kind} == {"flow"}


def test_netfilter_tcp_sequence_and_options_when_logged(tmp_path: Path, settings) -> None:
    """iptables' --log-tcp-sequence (SEQ=, ACK=) and --log-tcp-options (OPT (hex)) fill tcp_seq/tcp_options."""
    head = "Aug 20 00:01:05 vps kernel: [1.0] [UFW BLOCK] IN=eth0 OUT= SRC=109.205.213.90 DST=194.58.102.129 LEN=44 "
    lines = [
        head + "TTL=41 ID=9 PROTO=TCP SPT=51638 DPT=22 SEQ=3735928559 ACK=0 WINDOW=1024 RES=0x00 SYN URGP=0 "
        "OPT (020405B4) ",
        head + "TTL=64 ID=9 PROTO=TCP SPT=51638 DPT=23 SEQ=7 ACK=0 WINDOW=64240 RES=0x00 SYN URGP=0 "
        "OPT (020405B40402080A0000000100000000010303070000) ",
        head + "TTL=64 ID=9 PROTO=TCP SPT=51638 DPT=24 WINDOW=64240 RES=0x00 SYN URGP=0 ",
        head + "TTL=64 ID=9 PROTO=ICMP TYPE=8 CODE=0 ID=1 SEQ=5 ",
        head + "TTL=64 ID=9 PROTO=TCP SPT=1 DPT=25 SEQ=4294967296 ACK=0 WINDOW=1 RES=0x00 SYN URGP=0 ",
    ]
    path = write(tmp_path, "ufw_vps_2023-08-20.log", "\n".join(lines) + "\n")
    chunks = list(iter_file(path, settings))
    rows = [r for c in chunks for r in c.events.to_pylist()]
    assert [(r["tcp_seq"], r["tcp_options"], r["tcp_mss"]) for r in rows] == [
        (3735928559, "2", 1460),
        (7, "2,4,8,1,3", 1460),
        (None, None, None),  # not logged: unknown, not "no options"
        (None, None, None),  # an ICMP echo's SEQ= is not a TCP sequence number
    ]
    bad = [q for c in chunks for q in c.quarantine]
    assert len(bad) == 1 and "SEQ=" in bad[0]["reason"]
