"""The demo generator: deterministic bytes, every file valid in its own format, timestamps inside the
UTC day, truth consistent with what was written, distinct vantage points, real address blocks, and
at least 12 research organizations of different behaviour."""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dpkt
import pytest
from iptocc import country_code

from pipelines.generate import FILES, generate
from pipelines.generate import scenario as sc
from pipelines.generate.writers import CIDDS_HEADER

DAY = date(2025, 11, 26)
DAYS = 2
UFW = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) (?P<time>\d\d:\d\d:\d\d) vps kernel: \[\d+\.\d{6}\] \[UFW BLOCK\] "
    r"IN=eth0 OUT= MAC=[0-9a-f:]+ SRC=(?P<src>\S+) DST=(?P<dst>\S+) LEN=\d+ TOS=0x00 PREC=0x00 TTL=(?P<ttl>\d+) "
    r"ID=(?P<id>\d+)(?: DF)? PROTO=(?P<proto>TCP|UDP|ICMP) (?:SPT=\d+ DPT=(?P<dpt>\d+) (?:WINDOW=\d+ RES=0x00 SYN URGP=0|LEN=\d+)"
    r"|TYPE=(?P<type>\d+) CODE=\d+ ID=\d+ SEQ=\d+) $"
)
KINDS = {
    "fast_vertical",
    "fast_horizontal",
    "udp",
    "slow_vertical",
    "slow_horizontal",
    "distributed",
    "research",
    "internal_vertical",
    "benign",
    "ntp_client",
    "browser",
    "name_services",
    "p2p_client",
    "iot_reconnect",
}
SCAN_KINDS = KINDS - {"benign", "ntp_client", "browser", "name_services", "p2p_client", "iot_reconnect"}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gen")
    info = generate(folder, days=DAYS, start=DAY, seed=4)
    assert info["days"] == [(DAY + timedelta(days=i)).isoformat() for i in range(DAYS)]
    assert info["files"] == 5 * DAYS and info["orgs"] >= 12
    return folder


def _bounds(day: date) -> tuple[float, float]:
    t0 = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    return t0, t0 + 86_400


def _packets(path: Path) -> list[tuple[float, object]]:
    with open(path, "rb") as fh:
        return [(ts, dpkt.ethernet.Ethernet(buf).data) for ts, buf in dpkt.pcap.Reader(fh)]


@pytest.fixture(scope="module")
def probes(out: Path) -> dict[str, list[tuple[str, str, int, float]]]:
    """Per file, every record as (src, dst, dst_port, ts, day index), read with independent parsers (not ours)."""
    found: dict[str, list] = defaultdict(list)
    for i in range(DAYS):
        folder = out / "landing" / (DAY + timedelta(days=i)).isoformat()
        for ts, ip in _packets(folder / "capture.pcap"):
            l4 = ip.data
            port = getattr(l4, "dport", getattr(l4, "type", -1))
            fam = ipaddress.ip_address
            found["capture.pcap"].append((str(fam(ip.src)), str(fam(ip.dst)), port, ts, i))
        with open(folder / "flows.csv", newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                ts = datetime.strptime(r["Date first seen"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
                found["flows.csv"].append((r["Src IP Addr"], r["Dst IP Addr"], int(float(r["Dst Pt"])), ts, i))
        for line in (folder / "firewall.log").read_text(encoding="utf-8").splitlines():
            m = UFW.match(line)
            assert m, line
            ts = datetime.strptime(f"{DAY.year} {m['mon']} {m['day'].strip()} {m['time']}", "%Y %b %d %H:%M:%S")
            port = int(m["dpt"] or m["type"])
            found["firewall.log"].append((m["src"], m["dst"], port, ts.replace(tzinfo=UTC).timestamp(), i))
        for line in (folder / "sensor.jsonl").read_text(encoding="utf-8").splitlines():
            o = json.loads(line)
            ts = datetime.strptime(o["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
            found["sensor.jsonl"].append((o["src_ip"], o["dst_ip"], o["dst_port"], ts, i))
        for line in (folder / "honeypot.json").read_text(encoding="utf-8").splitlines():
            o = json.loads(line)
            ts = datetime.strptime(o["utc"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
            found["honeypot.json"].append((o["ip"], o.get("dst_ip"), o.get("dst_port"), ts, i))
    return found


@pytest.fixture(scope="module")
def truth(out: Path) -> list[dict]:
    with open(out / "truth.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0]) == ["src_ip", "label", "kind", "org", "start", "end"]
    return rows


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


# The full-size day every small-day test stands for: any change to what the generator writes shows
# here, and is made on purpose (update the digests with the change and say why).
FULL_SIZE_DAY_SHA256 = {
    "capture.pcap": "aa06fe5abdf911ac373633899f7c000f33ccbd1ddb642d8c6921fc28d33fc330",
    "firewall.log": "8ba41e29a8f4ad4249581820471be4d2cb40dd54ceba049dced965ccca4ee3c2",
    "flows.csv": "05b5b32944e746f203ececb3440c73b4b4bd67ba0084791288fd65f8a670f054",
    "honeypot.json": "8c7464ec5526cdc874001f0ec46a1856a1bcfb56a3a2b5d1617b8c38a7fa949c",
    "sensor.jsonl": "d2ed60bfb65992dbdb22cd17ee16aad195ca2d560b66e7b46a539cd4d963ca5f",
}


def test_full_size_day_matches_its_stored_digest(out: Path) -> None:
    folder = out / "landing" / DAY.isoformat()
    got = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FULL_SIZE_DAY_SHA256}
    assert got == FULL_SIZE_DAY_SHA256


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", days=1, seed=11, scale=0.1)
    generate(tmp_path / "b", days=1, seed=11, scale=0.1)
    generate(tmp_path / "c", days=1, seed=12, scale=0.1)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_layout_and_volume(out: Path, probes: dict) -> None:
    for i in range(DAYS):
        folder = out / "landing" / (DAY + timedelta(days=i)).isoformat()
        assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    per_day = sum(len(v) for v in probes.values()) / DAYS
    assert 200_000 <= per_day <= 350_000  # about 175,000 before the look-alikes of scans (issue 25)
    assert all(len(probes[name]) > 0 for name in FILES)


def test_every_record_inside_its_utc_day(probes: dict) -> None:
    for name, recs in probes.items():
        for *_, ts, i in recs:
            lo, hi = _bounds(DAY + timedelta(days=i))
            assert lo <= ts < hi, (name, ts, i)


def test_pcap_is_valid_for_scapy_and_carries_the_expected_traffic(out: Path) -> None:
    from scapy.all import ICMP, IP, TCP, UDP, Ether, IPv6, PcapReader, raw

    path = out / "landing" / DAY.isoformat() / "capture.pcap"
    head = path.read_bytes()[:24]
    assert head[:4] == bytes.fromhex("d4c3b2a1") and int.from_bytes(head[20:24], "little") == 1  # LE, µs, Ethernet
    flags, protos, families = Counter(), Counter(), Counter()
    with PcapReader(str(path)) as reader:
        for i, pkt in enumerate(reader):
            if i >= 6_000:
                break
            families[6 if IPv6 in pkt else 4] += 1
            if TCP in pkt:
                flags[str(pkt[TCP].flags)] += 1
            protos[next((p.__name__ for p in (TCP, UDP, ICMP) if p in pkt), "other")] += 1
            if i % 29 == 0:  # checksums as a real stack computes them
                rebuilt = Ether(raw(pkt))
                for layer in (IP, TCP, UDP, ICMP):
                    if layer in rebuilt:
                        del rebuilt[layer].chksum
                rebuilt = Ether(raw(rebuilt))
                for layer in (IP, TCP, UDP, ICMP, IPv6):
                    if layer in pkt and hasattr(pkt[layer], "chksum"):
                        assert pkt[layer].chksum == rebuilt[layer].chksum, (layer.__name__, pkt.summary())
    assert {"S", "SA", "A", "PA", "FA"} <= set(flags) and ({"R", "RA"} & set(flags))
    assert protos["UDP"] and protos["ICMP"] and protos["other"] == 0
    assert families[6] > 0 and families[4] > families[6]
    # the whole file decodes with dpkt; the UDP scan's ICMP port-unreachables and the v6 sessions are there
    pkts = _packets(path)
    assert any(isinstance(ip.data, dpkt.icmp.ICMP) and ip.data.type == 3 for _, ip in pkts)
    assert any(isinstance(ip, dpkt.ip6.IP6) and isinstance(ip.data, dpkt.tcp.TCP) for _, ip in pkts)


def test_flow_csv_is_cidds(out: Path) -> None:
    path = out / "landing" / DAY.isoformat() / "flows.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == CIDDS_HEADER
    classes, attack_ids = Counter(), set()
    for r in csv.DictReader(lines):
        assert re.fullmatch(r"[U.][A.][P.][R.][S.][F.]", r["Flags"]), r
        assert r["Proto"].strip() in {"TCP", "UDP", "ICMP"}
        float(r["Duration"])
        ipaddress.ip_address(r["Src IP Addr"]), ipaddress.ip_address(r["Dst IP Addr"])
        assert re.fullmatch(r"\d+|\d+\.\d M", r["Bytes"]), r["Bytes"]
        classes[r["class"]] += 1
        if r["class"] in ("attacker", "victim"):
            assert r["attackType"] == "portScan" and r["attackID"] != "---"
            attack_ids.add(r["attackID"])
        else:
            assert (r["attackType"], r["attackID"], r["attackDescription"]) == ("---", "---", "---")
    assert set(classes) == {"normal", "attacker", "victim"} and attack_ids == {"1", "2", "3", "4"}


def test_truth_matches_the_files(truth: list[dict], probes: dict) -> None:
    sources = {src for recs in probes.values() for src, *_ in recs}
    assert {r["src_ip"] for r in truth} <= sources  # every labelled source appears in some file
    assert {r["label"] for r in truth} == {"scan", "benign"} and {r["kind"] for r in truth} <= KINDS
    labels = defaultdict(set)
    for r in truth:
        labels[r["src_ip"]].add(r["label"])
        assert (r["label"] == "scan") == (r["kind"] in SCAN_KINDS)
        assert (r["kind"] == "research") == bool(r["org"])
        start, end = datetime.fromisoformat(r["start"]), datetime.fromisoformat(r["end"])
        assert start <= end and start.date() == end.date()
    assert not [ip for ip, ls in labels.items() if len(ls) > 1]  # nobody is both a scanner and benign
    kinds = Counter(r["kind"] for r in truth)
    research_hosts = sum(o.hosts + len(sc.org_v6_hosts(o)) for o in sc.ORGS)
    expected = {"fast_vertical": 2, "fast_horizontal": 2, "udp": 1, "slow_vertical": 4, "slow_horizontal": 2,
                "distributed": 60, "research": research_hosts, "internal_vertical": 1}  # fmt: skip
    assert {k: kinds[k] for k in expected} == {k: v * DAYS for k, v in expected.items()}
    # label counts agree with the flow export: one attack id per slow scan of that segment
    attackers = {src for src, *_ in probes["flows.csv"]} & {r["src_ip"] for r in truth if r["kind"].startswith("slow")}
    assert len(attackers) == 4 * DAYS


def test_scanners_probe_many_targets_and_single_target_sources_are_benign(truth: list[dict], probes: dict) -> None:
    targets = defaultdict(set)
    for recs in probes.values():
        for src, dst, port, *_ in recs:
            targets[src].add((dst, port))
    scanners = {r["src_ip"] for r in truth if r["label"] == "scan"}
    assert all(len(targets[s]) >= 2 for s in scanners)
    firewall = defaultdict(set)
    for src, dst, port, *_ in probes["firewall.log"]:
        firewall[src].add((dst, port))
    single = {s for s, t in firewall.items() if len(t) == 1}
    assert len(single) > 1000 and not single & scanners


def test_each_file_is_its_own_vantage_point(probes: dict) -> None:
    dst = {name: {r[1] for r in recs} for name, recs in probes.items()}
    assert dst["firewall.log"] == {sc.VPS}
    assert dst["sensor.jsonl"] == {sc.SENSOR_IP}
    assert dst["honeypot.json"] == {sc.HONEYPOT_IP}
    for name in ("capture.pcap", "flows.csv"):
        assert not dst[name] & {sc.VPS, sc.SENSOR_IP, sc.HONEYPOT_IP}
    pcap_hosts = {a for r in probes["capture.pcap"] for a in r[:2]}
    flow_hosts = {a for r in probes["flows.csv"] for a in r[:2]}
    assert set(sc.HOME_SERVERS) <= pcap_hosts and not set(sc.OFFICE_CLIENTS) & pcap_hosts
    assert not (set(sc.HOME_SERVERS) | set(sc.HOME_CLIENTS)) & flow_hosts


def test_day_night_rhythm_and_research_at_night(truth: list[dict], probes: dict) -> None:
    def local_hour(ts: float) -> int:
        return (datetime.fromtimestamp(ts, UTC).hour + sc.LOCAL_OFFSET_H) % 24

    benign_web = [ts for _, dst, port, ts, _ in probes["capture.pcap"] if dst in sc.WEB_SERVERS and port == 443]
    by_hour = Counter(local_hour(ts) for ts in benign_web)
    assert sum(by_hour[h] for h in range(10, 12)) > 3 * sum(by_hour[h] for h in range(3, 5))
    research = {r["src_ip"] for r in truth if r["kind"] == "research"}
    hours = [local_hour(ts) for src, _, _, ts, _ in probes["firewall.log"] if src in research]
    night = sum(1 for h in hours if h >= 19 or h < 7)
    assert night > 0.6 * len(hours)


def test_organizations_lists_and_behaviour(out: Path, truth: list[dict], probes: dict) -> None:
    orgs_dir = out / "orgs"
    lists = {p.name.removesuffix("_v4.txt"): p for p in orgs_dir.glob("*_v4.txt")}
    assert len(lists) >= 12
    nets = {org: [ipaddress.ip_network(x) for x in p.read_text().split()] for org, p in lists.items()}
    for p in orgs_dir.glob("*_v6.txt"):
        nets[p.name.removesuffix("_v6.txt")] += [ipaddress.ip_network(x) for x in p.read_text().split()]
    research = [r for r in truth if r["kind"] == "research"]
    assert {r["org"] for r in research} == set(lists)
    for r in research:  # every research source lies in its organization's listed blocks
        assert any(ipaddress.ip_address(r["src_ip"]) in n for n in nets[r["org"]]), r
    rdns = [
        line.split(" # ")
        for line in (orgs_dir / "mass_scanner.txt").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert len(rdns) == sum(o.hosts for o in sc.ORGS) and all(ipaddress.ip_address(ip) for ip, _ in rdns)
    # behaviour differs: port profiles and fingerprints seen at the firewall are distinct per organization
    org_of = {r["src_ip"]: r["org"] for r in research}
    ports, ttl_ids = defaultdict(set), defaultdict(set)
    fw_lines = (out / "landing" / DAY.isoformat() / "firewall.log").read_text().splitlines()
    for m in filter(None, map(UFW.match, fw_lines)):
        if m["src"] in org_of:
            ports[org_of[m["src"]]].add(m["dpt"] or "icmp")
            ttl_ids[org_of[m["src"]]].add((m["ttl"], m["id"] == "54321"))
    profiles = [frozenset(p) for p in ports.values()]
    assert len(profiles) >= 12 and len(set(profiles)) == len(profiles)
    assert sum(1 for v in ttl_ids.values() if any(z for _, z in v)) >= 2  # ZMap-style IP ID 54321
    uas = {json.loads(x)["headers"]["User-Agent"] for x in (out / "landing" / DAY.isoformat() / "honeypot.json").read_text().splitlines()
           if json.loads(x)["ip"] in org_of and "headers" in json.loads(x)}  # fmt: skip
    assert len(uas) >= 12


def test_addresses_geolocate_to_their_countries(truth: list[dict]) -> None:
    home = [
        *sc.HOME_SERVERS,
        *sc.HOME_CLIENTS,
        *sc.OFFICE_CLIENTS,
        sc.VPS,
        sc.SENSOR_IP,
        sc.HONEYPOT_IP,
        sc.HOME_V6_WEB,
    ]
    assert set(country_code(home)) == {"CN"}
    for country, blocks in sc.SCANNER_BLOCKS.items():
        for block in blocks:
            net = ipaddress.ip_network(block)
            sample = [str(net.network_address + k) for k in range(7, net.num_addresses, max(1, net.num_addresses // 8))]
            assert set(country_code(sample)) == {country}, block
    # scanners on the Internet geolocate; the one inside the site has a private address and no country
    scanners = sorted({r["src_ip"] for r in truth if r["label"] == "scan" and r["kind"] != "internal_vertical"})
    countries = Counter(country_code(scanners))
    assert None not in countries and len(countries) >= 12 and countries["CN"] > 0


def test_cli_contract(tmp_path: Path) -> None:
    import subprocess
    import sys

    scansense = str(Path(sys.executable).with_name("scansense"))
    args = ["generate", "--out", str(tmp_path), "--days", "1", "--start", "2025-12-31", "--seed", "3", "--json"]
    proc = subprocess.run([scansense, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["out"] == str(tmp_path) and result["days"] == ["2025-12-31"] and result["files"] == 5
    assert result["truth"] == str(tmp_path / "truth.csv") and Path(result["truth"]).is_file()
    assert result["records"] == sum(
        len((tmp_path / "landing" / "2025-12-31" / name).read_text(encoding="utf-8").splitlines())
        for name in ("flows.csv", "firewall.log", "sensor.jsonl", "honeypot.json")
    ) - 1 + len(_packets(tmp_path / "landing" / "2025-12-31" / "capture.pcap"))
