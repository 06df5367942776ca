"""Benign look-alikes of scans in generated days (issue 25): each behaviour is written with its truth and
with the outcome signature its formats carry (answers and handshakes in the capture, reply flows in the
flow export), read back with independent parsers (dpkt, csv); and the scan from inside the site."""

from __future__ import annotations

import csv
import ipaddress
from collections import Counter, defaultdict
from datetime import UTC, date, datetime

import dpkt
import numpy as np
import pytest
from iptocc import country_code

from pipelines.generate import generate
from pipelines.generate import lookalikes as look
from pipelines.generate import scenario as sc
from pipelines.generate.activities import Day
from pipelines.generate.records import concat, day_start

DAY = date(2025, 11, 26)


class Packet(tuple):
    """(ts, src, dst, proto, sport, dport, tcp flags as letters)"""


def _flags(bits: int) -> str:
    return "".join(c for c, b in (("F", 1), ("S", 2), ("R", 4), ("P", 8), ("A", 16)) if bits & b)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One small generated day: its truth by address, its packets and its flows."""
    out = tmp_path_factory.mktemp("look")
    generate(out, days=1, start=DAY, seed=3, scale=0.1)
    folder = out / "landing" / DAY.isoformat()
    with open(out / "truth.csv", newline="", encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    packets = []
    with open(folder / "capture.pcap", "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            ip = dpkt.ethernet.Ethernet(buf).data
            l4 = ip.data
            fam = ipaddress.ip_address
            if isinstance(l4, dpkt.tcp.TCP | dpkt.udp.UDP):
                proto = "tcp" if isinstance(l4, dpkt.tcp.TCP) else "udp"
                flags = _flags(l4.flags) if proto == "tcp" else ""
                packets.append(
                    (ts, str(fam(ip.src)), str(fam(ip.dst)), proto, l4.sport, l4.dport, flags, bytes(l4.data))
                )
    with open(folder / "flows.csv", newline="", encoding="utf-8") as fh:
        flows = list(csv.DictReader(fh))
    return {"truth": truth, "packets": packets, "flows": flows}


def _kinds(truth: list[dict]) -> dict[str, set[tuple[str, str]]]:
    by_ip = defaultdict(set)
    for r in truth:
        by_ip[r["src_ip"]].add((r["label"], r["kind"]))
    return by_ip


def _udp_answered(packets: list, client: str, port: int) -> tuple[int, int, set[str]]:
    """Queries `client` sent to `port`, how many the server answered (same 4-tuple reversed), the servers."""
    queries = [(p[2], p[4]) for p in packets if p[1] == client and p[3] == "udp" and p[5] == port]
    replies = {(p[1], p[5]) for p in packets if p[2] == client and p[3] == "udp" and p[4] == port}
    return len(queries), sum(q in replies for q in queries), {s for s, _ in queries}


def _tcp_outcomes(packets: list, client: str) -> tuple[Counter, set[tuple[str, int]]]:
    """Per connection `client` opened: completed (SYN, SYN-ACK, ACK, data both ways, FIN), refused, unanswered."""
    sent, got = defaultdict(list), defaultdict(list)
    for p in packets:
        if p[3] != "tcp":
            continue
        if p[1] == client:
            sent[(p[2], p[4], p[5])].append(p)
        elif p[2] == client:
            got[(p[1], p[5], p[4])].append(p)
    outcome, targets = Counter(), set()
    for key, mine in sent.items():
        if mine[0][6] != "S":
            continue
        targets.add((key[0], key[2]))
        theirs = got.get(key, [])
        their_flags = [p[6] for p in theirs]
        if "SA" in their_flags:
            data_both = any(p[7] for p in mine) and any(p[7] for p in theirs)
            fin = any("F" in p[6] for p in mine) and any("F" in f for f in their_flags)
            outcome["completed" if data_both and fin and "A" in [p[6] for p in mine] else "half"] += 1
        elif "AR" in {"".join(sorted(f)) for f in their_flags}:
            outcome["refused"] += 1
        else:
            outcome["unanswered" if sum(p[6] == "S" for p in mine) == 3 else "other"] += 1
    return outcome, targets


def _flow_pairs(flows: list[dict], client: str, port: int, proto: str) -> tuple[int, int, Counter]:
    """The client's flows to `port`, how many have the server's reply flow, and the reply flows' TCP flags."""
    out = [r for r in flows if r["Src IP Addr"] == client and r["Dst Pt"] == str(port) and r["Proto"].strip() == proto]
    back = {
        (r["Src IP Addr"], r["Dst Pt"]): r["Flags"]
        for r in flows
        if r["Dst IP Addr"] == client and r["Src Pt"] == str(port)
    }
    answered = [back[(r["Dst IP Addr"], r["Src Pt"])] for r in out if (r["Dst IP Addr"], r["Src Pt"]) in back]
    return len(out), len(answered), Counter(answered)


def test_ntp_clients_query_several_pool_servers_and_get_answers(day: dict) -> None:
    kinds = _kinds(day["truth"])
    host, office = sc.NTP_CLIENTS[0], sc.OFFICE_NTP_CLIENTS[0]
    assert kinds[host] == kinds[office] == {("benign", look.NTP)}
    queries, answered, servers = _udp_answered(day["packets"], host, 123)
    assert queries >= 200 and len(servers) >= 8  # several pool servers, replaced through the day
    assert 0.8 <= answered / queries < 1.0  # the servers answer, the odd one is dead or a reply lost
    reply = next(p for p in day["packets"] if p[2] == host and p[4] == 123)
    assert reply[7][0] & 7 == 4 and len(reply[7]) == 48  # an NTP server packet (mode 4)
    sent, back, flags = _flow_pairs(day["flows"], office, 123, "UDP")
    assert sent >= 200 and 0.8 <= back / sent < 1.0 and set(flags) == {"......"}


def test_browsers_complete_most_https_sessions_among_a_few_failed_attempts(day: dict) -> None:
    host, office = sc.BROWSERS[0], sc.OFFICE_BROWSERS[0]
    kinds = _kinds(day["truth"])
    assert kinds[host] == kinds[office] == {("benign", look.BROWSER)}
    outcome, targets = _tcp_outcomes(day["packets"], host)
    total = sum(outcome.values())
    assert total >= 200 and outcome["completed"] / total >= 0.85
    assert outcome["refused"] >= 3 and outcome["unanswered"] >= 3 and not outcome["other"] and not outcome["half"]
    assert {p for _, p in targets} == {443} and len({h for h, _ in targets}) >= 50  # many CDN edges
    sent, back, flags = _flow_pairs(day["flows"], office, 443, "TCP")
    assert sent >= 200 and back / sent >= 0.9
    assert flags[".AP.SF"] >= 0.85 * sent and flags[".A.R.."] >= 3  # sessions both ways; refusals


def test_windows_name_services_chatter_to_many_lan_hosts_partly_answered(day: dict) -> None:
    host, office = sc.NAME_CHATTERERS[0], sc.OFFICE_NAME_CHATTERERS[0]
    kinds = _kinds(day["truth"])
    assert kinds[host] == kinds[office] == {("benign", look.NAMES)}
    queries = [p for p in day["packets"] if p[1] == host and p[5] == 137]
    lan = ipaddress.ip_network(sc.SITE_LAN)
    targets = {p[2] for p in queries}
    assert len(targets) >= 25 and all(ipaddress.ip_address(t) in lan for t in targets)
    answering = {p[1] for p in day["packets"] if p[2] == host and p[4] == 137}
    assert 0.2 <= len(answering) / len(targets) <= 0.8  # the Windows neighbours answer, the others never do
    groups = Counter((p[2], p[5]) for p in day["packets"] if p[1] == host and p[5] in (5353, 5355))
    assert groups[(sc.MDNS_GROUP, 5353)] > 10 and groups[(sc.LLMNR_GROUP, 5355)] > 10
    assert any(p[2] == host and p[4] == 5355 for p in day["packets"])  # an LLMNR owner answered
    sent, back, _ = _flow_pairs(day["flows"], office, 137, "UDP")
    assert sent >= 25 and 0.2 <= back / sent <= 0.8


def test_p2p_client_reaches_many_peers_on_high_ports_many_answering(day: dict) -> None:
    host, office = sc.P2P_CLIENT, sc.OFFICE_P2P_CLIENT
    kinds = _kinds(day["truth"])
    assert kinds[host] == kinds[office] == {("benign", look.P2P)}
    outcome, targets = _tcp_outcomes(day["packets"], host)
    total = sum(outcome.values())
    assert total >= 150 and 0.45 <= outcome["completed"] / total <= 0.75
    assert outcome["refused"] >= 10 and outcome["unanswered"] >= 10 and not outcome["other"]
    assert len({h for h, _ in targets}) >= 100 and min(p for _, p in targets) >= 1024
    dht = [p for p in day["packets"] if p[1] == host and p[3] == "udp"]
    answers = {(p[1], p[4]) for p in day["packets"] if p[2] == host and p[3] == "udp"}
    assert len(dht) >= 300 and 0.6 <= sum((p[2], p[5]) in answers for p in dht) / len(dht) <= 0.8
    flows = [r for r in day["flows"] if r["Src IP Addr"] == office and r["Proto"].strip() == "TCP"]
    assert len({r["Dst IP Addr"] for r in flows}) >= 100


def test_chatty_iot_device_reconnects_to_one_unreachable_server(day: dict) -> None:
    assert _kinds(day["truth"])[sc.IOT_DEVICE] == {("benign", look.IOT)}
    outcome, targets = _tcp_outcomes(day["packets"], sc.IOT_DEVICE)
    assert targets == {sc.IOT_BROKER}  # one host and port, over and over
    assert outcome["completed"] == outcome["half"] == 0 and outcome["refused"] and outcome["unanswered"]
    opened: dict[int, float] = {}  # each attempt's source port -> its first SYN
    for p in day["packets"]:
        if p[1] == sc.IOT_DEVICE and p[6] == "S":
            opened[p[4]] = min(opened.get(p[4], p[0]), p[0])
    per_minute = Counter(int(ts // 60) for ts in opened.values())
    assert len(opened) > 1000 and 20 <= np.median(list(per_minute.values())) <= 61  # 20-60 new attempts a minute
    # in the small hours of the site, when the office and home networks are quiet
    hours = {(datetime.fromtimestamp(ts, UTC).hour + sc.LOCAL_OFFSET_H) % 24 for ts in opened.values()}
    assert hours <= {2, 3, 4}


def test_scan_from_inside_the_site_is_a_labelled_daytime_vertical_scan(day: dict) -> None:
    assert _kinds(day["truth"])[sc.INTERNAL_SCANNER] == {("scan", look.INTERNAL_SCAN)}
    assert ipaddress.ip_address(sc.INTERNAL_SCANNER).is_private
    syns = [p for p in day["packets"] if p[1] == sc.INTERNAL_SCANNER and p[6] == "S"]
    assert {p[2] for p in syns} == {sc.INTERNAL_SERVER} and len({p[5] for p in syns}) == 1000
    answers = Counter(p[6] for p in day["packets"] if p[1] == sc.INTERNAL_SERVER and p[2] == sc.INTERNAL_SCANNER)
    assert answers["RA"] >= 990 and 1 <= answers["SA"] <= 5  # closed ports refuse, the server's services answer
    local = {(datetime.fromtimestamp(p[0], UTC).hour + sc.LOCAL_OFFSET_H) % 24 for p in syns}
    assert local <= set(range(10, 17))  # office hours in Asia/Shanghai, the default site time zone


@pytest.mark.parametrize("timezone", ["Asia/Shanghai", "America/New_York", "Europe/Berlin"])
def test_scan_from_inside_the_site_follows_the_site_time_zone(timezone: str) -> None:
    from zoneinfo import ZoneInfo

    from pipelines.generate import _utc_offset_h

    d = Day(t0=day_start(DAY), pool=sc.AddressPool())
    look.internal_scan(d, np.random.default_rng(1), _utc_offset_h(DAY, timezone))
    ts = concat(d.pcap)["ts"].to_numpy()
    local = {datetime.fromtimestamp(t, UTC).astimezone(ZoneInfo(timezone)).hour for t in ts}
    assert local <= set(range(10, 17)) and day_start(DAY) <= ts.min() and ts.max() < day_start(DAY) + 86_400


def test_lookalike_servers_sit_in_real_blocks_of_nobody_else() -> None:
    others = [*sc.EXTERNAL_SITES, *sc.CLIENT_V6_BLOCKS]
    others += [b for blocks in (*sc.CLIENT_BLOCKS.values(), *sc.SCANNER_BLOCKS.values()) for b in blocks]
    others += [b for org in sc.ORGS for b in org.blocks]
    mine = [*sc.NTP_POOL_BLOCKS, *sc.CDN_BLOCKS, *sc.P2P_BLOCKS]
    for block in mine:
        net = ipaddress.ip_network(block)
        assert not any(net.overlaps(ipaddress.ip_network(o)) for o in others if ipaddress.ip_network(o).version == 4)
        sample = [str(net.network_address + k) for k in range(7, net.num_addresses, max(1, net.num_addresses // 8))]
        assert None not in country_code(sample), block  # allocated, so offline geolocation places it
    assert len(set(mine)) == len(mine)
