"""How each contact went (events.outcome, resp_packets, resp_bytes), judged at ingest from what a record shows.

One test per family of formats: Zeek conn logs (conn_state and the responder's counts), bidirectional
flows (CICFlowMeter, nfdump biflows), the registry's directions property that decides who judges,
Zeek ICMP sweeps, and the exporter's own records that are not traffic.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.ingest import detect_format, iter_file

# Zeek's conn.log as its ASCII writer prints it (base/protocols/conn/main.zeek, Conn::Info).
ZEEK_FIELDS = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "duration", "orig_bytes",
    "resp_bytes", "conn_state", "local_orig", "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes",
    "resp_pkts", "resp_ip_bytes", "tunnel_parents",
]  # fmt: skip
ZEEK_TYPES = [
    "time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count", "count", "string",
    "bool", "bool", "count", "string", "count", "count", "count", "count", "set[string]",
]  # fmt: skip
INTS = {"id.orig_p", "id.resp_p", "orig_bytes", "resp_bytes", "missed_bytes", "orig_pkts", "orig_ip_bytes"}
INTS |= {"resp_pkts", "resp_ip_bytes"}


def zeek_tsv(rows: list[list[str]], fields: list[str] = ZEEK_FIELDS, types: list[str] = ZEEK_TYPES) -> str:
    """A conn.log with Zeek's header and footer lines."""
    head = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    head += "#open\t2025-11-26-03-00-00\n#fields\t" + "\t".join(fields) + "\n#types\t" + "\t".join(types) + "\n"
    return head + "".join("\t".join(r) + "\n" for r in rows) + "#close\t2025-11-26-04-00-00\n"


def zeek_json(rows: list[list[str]], fields: list[str] = ZEEK_FIELDS) -> str:
    """The same records as Zeek's JSON writer prints them: numbers as numbers, unset fields left out."""
    out = []
    for row in rows:
        rec = {}
        for name, value in zip(fields, row, strict=True):
            if value in ("-", "(empty)"):
                continue
            if name == "ts" or name == "duration":
                rec[name] = float(value)
            elif name in INTS:
                rec[name] = int(value)
            elif name in ("local_orig", "local_resp"):
                rec[name] = value == "T"
            else:
                rec[name] = value
        out.append(json.dumps(rec))
    return "\n".join(out) + "\n"


def conn(
    src: str, sport: int, dst: str, dport: int, proto: str, state: str, orig: tuple[int | None, int],
    resp: tuple[int | None, int], history: str = "-", ts: float = 1764126245.5,
) -> list[str]:  # fmt: skip
    """One conn.log record; orig and resp are (payload bytes or None for unset, packets)."""

    def text(v: int | None) -> str:
        return "-" if v is None else str(v)

    duration = "-" if orig[0] is None and resp[0] is None else "0.25"
    return [
        f"{ts:.6f}", "CAbc123", src, str(sport), dst, str(dport), proto, "-", duration, text(orig[0]), text(resp[0]),
        state, "F", "T", "0", history, str(orig[1]), str(orig[1] * 40 + (orig[0] or 0)), str(resp[1]),
        str(resp[1] * 40 + (resp[0] or 0)), "-",
    ]  # fmt: skip


def land(tmp_path: Path, name: str, text: str, settings) -> tuple[list[dict], list[dict]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    chunks = list(iter_file(path, settings))
    return [r for c in chunks for r in c.events.to_pylist()], [q for c in chunks for q in c.quarantine]


def outcomes(rows: list[dict]) -> list[tuple]:
    return [(r["dst_port"], r["conn_state"], r["outcome"], r["resp_packets"], r["resp_bytes"]) for r in rows]


def test_zeek_outcome_from_conn_state_and_the_responders_counts(tmp_path: Path, settings) -> None:
    """A web session with payload succeeded; no answer, a refusal, a half-open SYN and a connect scan's
    handshake without payload failed; a UDP service answered or did not; no SYN seen is unknown."""
    c = "10.0.0.5"
    rows = [
        conn(c, 40001, "10.0.0.9", 80, "tcp", "SF", (120, 5), (2400, 4), "ShADadfF"),  # used
        conn(c, 40002, "10.0.0.9", 23, "tcp", "S0", (None, 1), (None, 0), "S"),  # never answered
        conn(c, 40003, "10.0.0.9", 25, "tcp", "REJ", (0, 1), (0, 1), "Sr"),  # refused
        conn(c, 40004, "10.0.0.9", 22, "tcp", "RSTO", (0, 3), (0, 1), "ShAR"),  # connect scan: handshake, no payload
        conn(c, 40005, "10.0.0.9", 21, "tcp", "RSTOS0", (0, 2), (0, 0), "SR"),  # SYN then reset, no SYN-ACK
        conn(c, 40006, "10.0.0.9", 443, "tcp", "S1", (517, 3), (1400, 2), "ShAD"),  # open, used
        conn(c, 40007, "10.0.0.9", 8080, "tcp", "OTH", (0, 2), (0, 2), "Aa"),  # midstream, no SYN seen
        conn(c, 40008, "10.0.0.9", 3389, "tcp", "RSTRH", (0, 0), (0, 2), "HR"),  # SYN-ACK, RST: no SYN of ours seen
        conn(c, 40009, "10.0.0.53", 53, "udp", "SF", (38, 1), (120, 1), "Dd"),  # the service answered
        conn(c, 40010, "10.0.0.54", 161, "udp", "S0", (40, 1), (0, 0), "D"),  # no answer
        conn(c, 40011, "10.0.0.55", 5353, "udp", "SHR", (0, 0), (60, 1), "d"),  # only the responder spoke
    ]
    expected = [
        (80, "SF", "succeeded", 4, 2400),
        (23, "S0", "failed", 0, None),
        (25, "REJ", "failed", 1, 0),
        (22, "RSTO", "failed", 1, 0),
        (21, "RSTOS0", "failed", 0, 0),
        (443, "S1", "succeeded", 2, 1400),
        (8080, "OTH", "unknown", 2, 0),
        (3389, "RSTRH", "unknown", 2, 0),
        (53, "SF", "succeeded", 1, 120),
        (161, "S0", "failed", 0, 0),
        (5353, "SHR", "unknown", 1, 60),
    ]
    for name, text in (("conn.log", zeek_tsv(rows)), ("conn.json", zeek_json(rows))):
        got, bad = land(tmp_path, name, text, settings)
        assert not bad and outcomes(got) == expected, name


CIC_HEAD = (
    "Flow ID,Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration,Total Fwd Packet,Total Bwd packets,"
    "Total Length of Fwd Packet,Total Length of Bwd Packet,FIN Flag Count,SYN Flag Count,RST Flag Count,"
    "PSH Flag Count,ACK Flag Count,URG Flag Count,CWR Flag Count,ECE Flag Count,Label\n"
)


def cic(dport: int, proto: int, fwd: int, bwd: int, fwd_b: int, bwd_b: int, flags: str, label: str = "BENIGN") -> str:
    counts = ",".join("1" if f in flags else "0" for f in "FSRPAU") + ",0,0"
    return (
        f"f,192.168.10.5,50000,192.168.10.50,{dport},{proto},2017-07-07 17:51:49.618008,1000,{fwd},{bwd},"
        f"{fwd_b},{bwd_b},{counts},{label}\n"
    )


CIC_ROWS = [
    cic(443, 6, 6, 5, 517, 4200, "FSPA"),  # handshake and a TLS exchange
    cic(80, 6, 3, 1, 0, 0, "FSA"),  # SYN, SYN-ACK, ACK, FIN: handshake, nothing carried (connect scan)
    cic(22, 6, 1, 0, 0, 0, "S"),  # SYN never answered
    cic(25, 6, 1, 1, 0, 0, "SRA"),  # SYN, RST-ACK: refused
    cic(8080, 6, 2, 1, 0, 0, "SRA"),  # SYN, SYN-ACK, RST: half-open (a SYN scan of an open port)
    cic(53, 17, 1, 1, 40, 120, ""),  # DNS answered
    cic(161, 17, 1, 0, 40, 0, ""),  # SNMP never answered
    cic(0, 1, 1, 1, 56, 56, ""),  # ICMP echo and reply: says nothing about a sweep
    cic(3306, 6, 1, 1, 0, 0, "FRA"),  # no SYN: a FIN probe and its reset
    cic(5000, 6, 1, 0, 0, 0, "R"),  # a lone reset: a teardown
    cic(9000, 6, 4, 4, 900, 1200, "PA"),  # no SYN: an exchange split by the exporter's timeout, used
]
CIC_EXPECTED = [
    (443, "succeeded", 5, 4200),
    (80, "failed", 1, 0),
    (22, "failed", 0, 0),
    (25, "failed", 1, 0),
    (8080, "failed", 1, 0),
    (53, "succeeded", 1, 120),
    (161, "failed", 0, 0),
    (0, "unknown", 1, 56),
    (3306, "failed", 1, 0),
    (5000, "unknown", 0, 0),
    (9000, "succeeded", 4, 1200),
]


def test_biflow_outcome_from_backward_counts_and_flags(tmp_path: Path, settings) -> None:
    """CICFlowMeter biflows (flags OR-ed over both sides): the same judgment on the compiled path (plain
    values) and the careful one (CIC-IDS2017's original day/month/year times, which only it reads)."""
    plain, bad = land(tmp_path, "cic.csv", CIC_HEAD + "".join(CIC_ROWS), settings)
    assert not bad
    got = [(r["dst_port"], r["outcome"], r["resp_packets"], r["resp_bytes"]) for r in plain]
    assert got == CIC_EXPECTED
    original = "".join(r.replace("2017-07-07 17:51:49.618008", "07/07/2017 17:51:49") for r in CIC_ROWS)
    careful, bad = land(tmp_path, "cic_original.csv", CIC_HEAD + original, settings)
    assert not bad
    assert [(r["dst_port"], r["outcome"], r["resp_packets"], r["resp_bytes"]) for r in careful] == CIC_EXPECTED


NFDUMP_HEAD = "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt\n"


def nf(dport: int, proto: str, flags: str, ipkt: int, ibyt: int, opkt: int, obyt: int, src: str = "10.0.0.5") -> str:
    return (
        f"2025-11-26 03:04:05.000,2025-11-26 03:04:06.000,1.000,{src},10.0.0.9,40000,{dport},{proto},{flags},0,0,"
        f"{ipkt},{ibyt},{opkt},{obyt}\n"
    )


def test_nfdump_biflows_are_judged_and_uniflows_left_to_their_reverse(tmp_path: Path, settings) -> None:
    """Reverse counters (opkt, obyt) make a record two-way; without them the record holds one direction."""
    rows = [
        nf(443, "TCP", "...AP.SF", 8, 1400, 7, 9000),  # handshake, payload beyond any header: used
        nf(25, "TCP", "...A.RS.", 1, 44, 1, 40),  # SYN, RST-ACK: refused
        nf(80, "TCP", "...A..SF", 3, 160, 1, 60),  # handshake, headers only: cannot prove payload
        nf(53, "UDP", "........", 1, 60, 1, 160),  # answered
        nf(23, "TCP", "......S.", 2, 120, 0, 0),  # plain uni-flow (or an unanswered biflow): the reverse decides
        nf(443, "TCP", "...AP.SF", 8, 1400, 7, 9000, src="2001:db8::5"),  # IPv6: the careful path, same rule
    ]
    got, bad = land(tmp_path, "nfcapd.csv", NFDUMP_HEAD + "".join(rows), settings)
    assert not bad
    assert [(r["dst_port"], r["outcome"], r["resp_packets"], r["resp_bytes"]) for r in got] == [
        (443, "succeeded", 7, 9000),
        (25, "failed", 1, 40),
        (80, "unknown", 1, 60),
        (53, "succeeded", 1, 160),
        (23, None, None, None),
        (443, "succeeded", 7, 9000),
    ]


CIDDS = (
    "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,class,"
    "attackType,attackID,attackDescription\n"
    "2017-03-15 00:01:17.000,1.250,TCP  ,192.168.220.16,58844,192.168.100.5,445,1,60,1,....S.,0,attacker,portScan,7,x\n"
)
UFW = (
    "Aug 20 00:01:05 vps kernel: [3217909.838554] [UFW BLOCK] IN=eth0 OUT= MAC=52:54 SRC=109.205.213.90 "
    "DST=194.58.102.129 LEN=40 TOS=0x00 PREC=0x00 TTL=240 ID=1830 PROTO=TCP SPT=51638 DPT=48580 WINDOW=1024 "
    "RES=0x00 SYN URGP=0\n"
)
SENSOR = json.dumps(
    {"ts": "2025-11-26T03:04:05Z", "event": "connect", "transport": "tcp", "src_ip": "198.51.100.4",
     "src_port": 51234, "dst_ip": "10.0.0.2", "dst_port": 2222, "sent_data": True, "payload_hex": "474554",
     "bytes": 3, "duration_s": 0.5, "sensor": "edge-1"}
) + "\n"  # fmt: skip
HONEYPOT = json.dumps({"ip": "45.95.147.10", "port": 40112, "dst_port": 80, "utc": "2025-11-26 03:04:05"}) + "\n"
COWRIE = json.dumps(
    {"eventid": "cowrie.session.connect", "src_ip": "45.95.147.12", "src_port": 5000, "dst_ip": "10.0.0.3",
     "dst_port": 22, "session": "s1", "timestamp": "2025-11-26T03:04:05.000000Z"}
) + "\n"  # fmt: skip


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("flows.csv", CIDDS),
        ("kern.log", UFW),
        ("sensor.jsonl", SENSOR),
        ("honeypot.json", HONEYPOT),
        ("cowrie.json", COWRIE),
        ("cic.csv", CIC_HEAD + CIC_ROWS[0]),
        ("conn.log", zeek_tsv([conn("10.0.0.5", 1, "10.0.0.9", 80, "tcp", "SF", (1, 3), (1, 3))])),
    ],
)
def test_registry_directions_decide_who_judges_the_outcome(tmp_path: Path, settings, name: str, text: str) -> None:
    """two_way records carry an outcome and the responder's counts; one_way records leave both to the
    reverse records (null); sources that cannot see an answer (firewall drops, decoys, sensors) say unknown."""
    from pipelines.ingest.formats import BY_NAME, NO_ANSWER, ONE_WAY, TWO_WAY

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    directions = BY_NAME[detect_format(path)].directions
    rows, bad = land(tmp_path, name, text, settings)
    assert rows and not bad
    if directions == TWO_WAY:
        assert all(r["outcome"] in ("succeeded", "failed", "unknown") and r["resp_packets"] is not None for r in rows)
    elif directions == ONE_WAY:
        assert all(r["outcome"] is None and r["resp_packets"] is None and r["resp_bytes"] is None for r in rows)
    else:
        assert directions == NO_ANSWER
        assert all(r["outcome"] == "unknown" and r["resp_packets"] is None for r in rows)


def test_zeek_icmp_sweep_lands_with_the_type_as_port_in_tsv_and_json(tmp_path: Path, settings) -> None:
    """nmap -sn / an ICMP census in a Zeek conn log: the type in id.orig_p, the code in id.resp_p, conn_state
    OTH, proto icmp for IPv4 and IPv6 alike. They land as dst_port = type, src_port null, icmp or icmpv6."""
    sweep = [
        conn("192.168.1.66", 8, f"192.168.1.{i}", 0, "icmp", "OTH", (56, 1), (56, 1) if i % 3 else (None, 0))
        for i in range(1, 31)
    ]
    sweep.append(conn("192.168.1.66", 13, "192.168.1.40", 0, "icmp", "OTH", (12, 1), (None, 0)))  # timestamp request
    sweep.append(conn("2001:db8::66", 128, "2001:db8::1", 0, "icmp", "OTH", (56, 1), (56, 1)))  # ICMPv6 echo request
    for name, text in (("conn.log", zeek_tsv(sweep)), ("conn.json", zeek_json(sweep))):
        rows, bad = land(tmp_path, name, text, settings)
        assert not bad and len(rows) == 32, name
        assert {(r["src_port"], r["dst_port"], r["proto"]) for r in rows[:30]} == {(None, 8, "icmp")}
        assert (rows[30]["dst_port"], rows[30]["proto"]) == (13, "icmp")
        assert (rows[31]["src_port"], rows[31]["dst_port"], rows[31]["proto"]) == (None, 128, "icmpv6")
        assert {r["outcome"] for r in rows} == {"unknown"}  # an echo reply does not make a sweep benign
        assert len({r["dst_ip"] for r in rows}) == 32


def test_cicflowmeter_protocol_zero_records_are_quarantined_with_a_reason(tmp_path: Path, settings) -> None:
    """The exporter's protocol-0, port-0 records (frames it could not decode) are not traffic; good rows land."""
    garbage = "f,8.6.0.1,0,8.0.6.4,0,0,2017-07-03 13:39:41.836214,112999135,190,0,0,0,0,0,0,0,0,0,0,0,BENIGN\n"
    text = CIC_HEAD + CIC_ROWS[0] + garbage + CIC_ROWS[5] + garbage
    rows, bad = land(tmp_path, "cic.csv", text, settings)
    assert [r["dst_port"] for r in rows] == [443, 53]
    assert [q["location"] for q in bad] == ["line:3", "line:5"]
    assert all("protocol 0 and ports 0" in q["reason"] and "8.6.0.1" in q["raw"] for q in bad)
    # a real flow of protocol 0 with ports is kept: only the exporter's placeholder shape is refused
    hopopt = "f,10.0.0.1,0,10.0.0.2,7,0,2017-07-03 13:39:41.836214,1,1,0,0,0,0,0,0,0,0,0,0,0,BENIGN\n"
    rows, bad = land(tmp_path, "cic2.csv", CIC_HEAD + hopopt, settings)
    assert not bad and [(r["proto"], r["dst_port"]) for r in rows] == [("0", 7)]
