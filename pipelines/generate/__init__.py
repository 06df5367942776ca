"""Labelled synthetic traffic for N days (`scansense generate`): a small CN network with a day/night
rhythm, and hidden in it fast, UDP, slow (nmap -T1/-T2 pacing), distributed and research scans.

Each file is a separate vantage point, so no probe is recorded twice: the pcap taps the monitored
servers, flows.csv exports another segment, firewall.log is an Internet-facing server, sensor.jsonl
our listener and honeypot.json a web/SSH honeypot. Deterministic for a seed.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from pipelines.generate import scenario as sc
from pipelines.generate.writers import write_cidds, write_honeypot, write_pcap, write_sensor, write_ufw

LOCAL_OFFSET_H = 8  # Asia/Shanghai, the home time zone of the scenario
# Relative activity of benign users per local hour: quiet at night, busy in office hours.
DAY_RHYTHM = np.array([2, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 10, 9, 10, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2], float)
SENSOR_TCP = (2222, 2323, 8080, 8443, 3389, 5900)
SENSOR_UDP = (5353, 1123, 1161)
HOSTILE_STRINGS = [
    "<script>alert(1)</script>",
    "{{7*7}}",
    "'; DROP TABLE events; --",
    "admin\u202egnp.exe",
    "line1\nline2",
]


class Day:
    """Collects one day's records per vantage point and the ground truth."""

    def __init__(self, day: date, rng: np.random.Generator) -> None:
        self.day, self.rng = day, rng
        self.t0 = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        self.pcap: list[dict] = []
        self.flows: list[dict] = []
        self.fw: list[dict] = []
        self.sensor: list[dict] = []
        self.honeypot: list[dict] = []
        self.truth: list[dict] = []

    def local_time(self, hours: np.ndarray) -> np.ndarray:
        """UTC epoch seconds for local hours-of-day (0..24, fractional) on this UTC day."""
        return self.t0 + ((hours - LOCAL_OFFSET_H) % 24) * 3600

    def rhythm_times(self, n: int) -> np.ndarray:
        hours = self.rng.choice(24, size=n, p=DAY_RHYTHM / DAY_RHYTHM.sum()) + self.rng.random(n)
        return self.local_time(hours)

    def label(self, src: str, label: str, kind: str, start: float, end: float, org: str = "") -> None:
        self.truth.append(
            {
                "src_ip": src,
                "label": label,
                "kind": kind,
                "org": org,
                "start": datetime.fromtimestamp(start, UTC).isoformat(),
                "end": datetime.fromtimestamp(end, UTC).isoformat(),
            }
        )

    def addr(self, pattern: str) -> str:
        return pattern.format(int(self.rng.integers(1, 255)), int(self.rng.integers(1, 255)))

    def eph(self) -> int:
        return int(self.rng.integers(32768, 61000))


def _benign_pcap(d: Day, sessions: int) -> None:
    """Web, DNS, mail and SSH sessions with complete handshakes, following the day rhythm."""
    countries = list(sc.CLIENT_BLOCKS)
    clients = [
        d.addr(d.rng.choice(sc.CLIENT_BLOCKS[c]))
        for c in d.rng.choice(countries, size=600, p=[0.6, 0.15, 0.1, 0.08, 0.07])
    ]
    clients += ["2001:da8:8000::" + format(i, "x") for i in range(1, 40)]  # CERNET2 IPv6 clients
    # Each client keeps to the one or two servers it uses; DNS goes to the site's resolver.
    web_servers = sc.HOME_SERVERS[2:10]
    affinity = {c: [web_servers[int(i)] for i in d.rng.integers(len(web_servers), size=2)] for c in clients}
    for ts in d.rhythm_times(sessions):
        client = clients[int(d.rng.integers(len(clients)))]
        v6 = ":" in client
        kind = d.rng.random()
        server = (
            "2001:da8:8000:1::80"
            if v6
            else sc.HOME_SERVERS[1]
            if kind < 0.25
            else affinity[client][int(kind * 100) % 2]
        )
        if kind < 0.25:  # DNS over UDP
            sport = d.eph()
            d.pcap.append(
                {
                    "ts": ts,
                    "src": client,
                    "dst": server,
                    "proto": "udp",
                    "sport": sport,
                    "dport": 53,
                    "payload": b"\x12\x34" + b"\x00" * 26,
                }
            )
            d.pcap.append(
                {
                    "ts": ts + 0.002,
                    "src": server,
                    "dst": client,
                    "proto": "udp",
                    "sport": 53,
                    "dport": sport,
                    "payload": b"\x12\x34" + b"\x00" * 60,
                }
            )
            continue
        port = 443 if kind < 0.75 else 80 if kind < 0.92 else 25 if kind < 0.97 else 22
        sport, rtt = d.eph(), 0.01 + d.rng.random() * 0.08
        seq = [
            ("S", client, server, sport, port),
            ("SA", server, client, port, sport),
            ("A", client, server, sport, port),
            ("PA", client, server, sport, port),
            ("PA", server, client, port, sport),
            ("FA", client, server, sport, port),
            ("A", server, client, port, sport),
        ]
        for i, (flags, a, b, pa_, pb) in enumerate(seq):
            d.pcap.append(
                {
                    "ts": ts + i * rtt,
                    "src": a,
                    "dst": b,
                    "proto": "tcp",
                    "sport": pa_,
                    "dport": pb,
                    "flags": flags,
                    "payload": b"x" * (300 if flags == "PA" else 0),
                    "ttl": 57,
                }
            )


def _fast_scans(d: Day) -> None:
    """Fast vertical and horizontal SYN scans and a UDP scan seen on the tap."""
    rng = d.rng
    vert = d.addr(sc.ATTACKER_BLOCKS["RU"])
    target = sc.HOME_SERVERS[0]
    start = d.local_time(np.array([rng.uniform(22, 23.5)]))[0]  # night, as paper 000 observed
    ports = rng.permutation(np.arange(1, 1025))[:1000]
    for i, port in enumerate(ports):
        ts = start + i * 0.02
        d.pcap.append(
            {
                "ts": ts,
                "src": vert,
                "dst": target,
                "proto": "tcp",
                "sport": 61000,
                "dport": int(port),
                "flags": "S",
                "window": 1024,
                "ttl": 44,
                "ip_id": int(rng.integers(1, 65535)),
            }
        )
        reply = "SA" if port in (22, 25, 80, 443) else "RA"
        d.pcap.append(
            {
                "ts": ts + 0.001,
                "src": target,
                "dst": vert,
                "proto": "tcp",
                "sport": int(port),
                "dport": 61000,
                "flags": reply,
            }
        )
    d.label(vert, "scan", "fast_vertical", start, start + 20)

    horiz = d.addr(sc.ATTACKER_BLOCKS["NL"])
    start = d.local_time(np.array([rng.uniform(1, 5)]))[0]
    hosts = sc.HOME_CLIENTS + sc.HOME_SERVERS
    for i, host in enumerate(hosts * 2):
        port = 22 if i < len(hosts) else 3389
        ts = start + i * 0.05
        d.pcap.append(
            {
                "ts": ts,
                "src": horiz,
                "dst": host,
                "proto": "tcp",
                "sport": 45000 + i % 7,
                "dport": port,
                "flags": "S",
                "window": 1024,
                "ttl": 48,
                "ip_id": 54321,
            }
        )
    d.label(horiz, "scan", "fast_horizontal", start, start + len(hosts) * 0.1)

    udp = d.addr(sc.ATTACKER_BLOCKS["BR"])
    start = d.local_time(np.array([rng.uniform(9, 17)]))[0]
    target = sc.HOME_SERVERS[3]
    for i, port in enumerate(rng.permutation(np.arange(1, 1025))[:300]):
        ts = start + i * 0.1
        d.pcap.append(
            {"ts": ts, "src": udp, "dst": target, "proto": "udp", "sport": 50000, "dport": int(port), "payload": b""}
        )
        if port != 53:
            d.pcap.append(
                {
                    "ts": ts + 0.001,
                    "src": target,
                    "dst": udp,
                    "proto": "icmp",
                    "sport": 0,
                    "dport": 3,
                    "code": 3,
                    "payload": b"\x00" * 28,
                }
            )
    d.label(udp, "scan", "udp", start, start + 30)


def _benign_flows(d: Day, n: int) -> None:
    """Office traffic of another segment, as CIDDS-style flows."""
    office = [f"202.112.12.{i}" for i in range(10, 200)]
    external = [d.addr(p) for p in ("74.125.{}.{}", "61.135.{}.{}", "23.45.{}.{}", "123.125.{}.{}") for _ in range(60)]
    resolvers = ["114.114.114.114", "223.5.5.5"]
    for ts in d.rhythm_times(n):
        a = office[int(d.rng.integers(len(office)))]
        b = external[int(d.rng.integers(len(external)))]
        port = int(d.rng.choice([443, 443, 443, 80, 53, 993, 22]))
        if port == 53:
            d.flows.append(
                {
                    "ts": ts,
                    "src": a,
                    "dst": resolvers[int(a.rsplit(".", 1)[1]) % 2],
                    "proto": "udp",
                    "sport": d.eph(),
                    "dport": 53,
                    "packets": 1,
                    "bytes": 70,
                }
            )
        else:
            d.flows.append(
                {
                    "ts": ts,
                    "src": a,
                    "dst": b,
                    "proto": "tcp",
                    "sport": d.eph(),
                    "dport": port,
                    "flags": "APSF",
                    "packets": int(d.rng.integers(5, 40)),
                    "bytes": int(d.rng.integers(600, 90000)),
                    "duration": float(d.rng.random() * 20),
                }
            )


def _slow_scans(d: Day) -> None:
    """nmap -T1 (15 s between probes) and -T2 (0.4 s) scans hidden in the flow export."""
    rng = d.rng
    office = [f"202.112.12.{i}" for i in range(10, 200)]
    plans = [
        ("slow_vertical", "KR", 15.0, [(office[5], int(p)) for p in rng.permutation(np.arange(1, 1025))[:480]], 1),
        ("slow_horizontal", "IN", 15.0, [(h, 3389) for h in office[:190]], 2),
        ("slow_horizontal", "VN", 0.4, [(h, p) for p in (445, 139, 135, 5985) for h in office[:190]], 3),
    ]
    for kind, country, gap, targets, attack_id in plans:
        src = d.addr(sc.ATTACKER_BLOCKS[country])
        start = d.local_time(np.array([rng.uniform(0, 24 - len(targets) * gap / 3600 - 0.1)]))[0]
        for i, (host, port) in enumerate(targets):
            ts = start + i * gap + rng.random() * 0.05
            pacing = "-T1" if gap >= 15 else "-T2"
            d.flows.append(
                {
                    "ts": ts,
                    "src": src,
                    "dst": host,
                    "proto": "tcp",
                    "sport": 60000 + i % 3,
                    "dport": port,
                    "flags": "S",
                    "packets": 1,
                    "bytes": 44,
                    "cls": "attacker",
                    "attack_type": "portScan",
                    "attack_id": attack_id,
                    "attack_desc": f"nmap {pacing} {kind.split('_')[1]}",
                }
            )
            d.flows.append(
                {
                    "ts": ts + 0.001,
                    "src": host,
                    "dst": src,
                    "proto": "tcp",
                    "sport": port,
                    "dport": 60000 + i % 3,
                    "flags": "AR",
                    "packets": 1,
                    "bytes": 40,
                    "cls": "victim",
                    "attack_type": "portScan",
                    "attack_id": attack_id,
                    "attack_desc": f"nmap {pacing} {kind.split('_')[1]}",
                }
            )
        d.label(src, "scan", kind, start, start + len(targets) * gap)


def _firewall(d: Day) -> None:
    """The Internet-facing server: background noise, a slow vertical crawl, a distributed scan."""
    rng = d.rng
    for _ in range(400):  # one probe of one port: noise, not a scan
        src = d.addr(sc.ATTACKER_BLOCKS[str(rng.choice(list(sc.ATTACKER_BLOCKS)))])
        ts = d.t0 + rng.random() * 86_399
        d.fw.append(
            {
                "ts": ts,
                "src": src,
                "dst": sc.VPS,
                "proto": "tcp",
                "sport": d.eph(),
                "dport": int(rng.choice([22, 23, 80, 443, 445, 3389])),
                "ttl": 50,
            }
        )
        d.label(src, "benign", "benign", ts, ts)
    crawler = d.addr(sc.ATTACKER_BLOCKS["DE"])
    start = d.t0 + 600
    for i, port in enumerate(rng.permutation(np.arange(1024, 65535))[:1300]):
        d.fw.append(
            {
                "ts": start + i * 60 + rng.random() * 5,
                "src": crawler,
                "dst": sc.VPS,
                "proto": "tcp",
                "sport": 61000,
                "dport": int(port),
                "ttl": 248,
                "window": 1024,
            }
        )
    d.label(crawler, "scan", "slow_vertical", start, start + 1300 * 60)
    start = d.local_time(np.array([rng.uniform(20, 23)]))[0]
    countries = list(sc.ATTACKER_BLOCKS)
    for i in range(60):  # many sources, few probes each, one coordinated sweep of the port range
        src = d.addr(sc.ATTACKER_BLOCKS[countries[i % len(countries)]])
        for j in range(4):
            d.fw.append(
                {
                    "ts": start + i * 2 + j * 7.0,
                    "src": src,
                    "dst": sc.VPS,
                    "proto": "tcp",
                    "sport": 40000 + i,
                    "dport": 1000 + i * 4 + j,
                    "ttl": 51,
                    "ip_id": 54321,
                    "window": 1024,
                }
            )
        d.label(src, "scan", "distributed", start + i * 2, start + i * 2 + 21)


def _research(d: Day) -> None:
    """Research organizations at the firewall, the sensor and the honeypot, busiest at their peak hours."""
    rng = d.rng
    for org in sc.ORGS:
        for src in sc.org_hosts(org):
            n = int(org.probes_per_host * rng.uniform(0.8, 1.2))
            hours = np.where(rng.random(n) < 0.75, rng.choice(org.peak_hours, n) + rng.random(n), rng.random(n) * 24)
            times = np.sort(d.local_time(hours))
            for k, ts in enumerate(times):
                where = rng.random()
                ip_id = org.ip_id if org.ip_id is not None else int(rng.integers(1, 65535))
                if org.udp_ports and where < 0.15:
                    port = int(rng.choice(org.udp_ports))
                    d.fw.append(
                        {
                            "ts": ts,
                            "src": src,
                            "dst": sc.VPS,
                            "proto": "udp",
                            "sport": d.eph(),
                            "dport": port,
                            "ttl": org.ttl,
                            "ip_id": ip_id,
                            "size": 60,
                        }
                    )
                elif where < 0.6:
                    d.fw.append(
                        {
                            "ts": ts,
                            "src": src,
                            "dst": sc.VPS,
                            "proto": "tcp",
                            "sport": d.eph(),
                            "dport": int(rng.choice(org.ports)),
                            "ttl": org.ttl,
                            "ip_id": ip_id,
                            "window": org.window,
                        }
                    )
                elif where < 0.8:
                    d.sensor.append(
                        {
                            "ts": ts,
                            "src": src,
                            "dst": sc.SENSOR_IP,
                            "proto": "tcp",
                            "sport": d.eph(),
                            "dport": int(SENSOR_TCP[k % len(SENSOR_TCP)]),
                            "payload": f"GET / HTTP/1.1\r\nUser-Agent: {org.user_agent}\r\n\r\n".encode()
                            if k % 2
                            else b"",
                        }
                    )
                else:
                    d.honeypot.append(
                        {
                            "ts": ts,
                            "src": src,
                            "sport": d.eph(),
                            "dst": sc.HONEYPOT_IP,
                            "dport": 80,
                            "method": "GET",
                            "uri": org.uri if k % 3 else "/",
                            "ua": org.user_agent,
                        }
                    )
            d.label(src, "scan", "research", float(times[0]), float(times[-1]), org.name)


def _attackers_at_sensor(d: Day) -> None:
    """Brute-forcers and exploit probes at the sensor and honeypot, some with hostile strings."""
    rng = d.rng
    for i in range(25):
        src = d.addr(sc.ATTACKER_BLOCKS[str(rng.choice(list(sc.ATTACKER_BLOCKS)))])
        start = d.t0 + rng.random() * 80_000
        n = int(rng.integers(5, 60))
        for k in range(n):
            ts = start + k * rng.uniform(10, 60)  # slower than a scanner's rate
            if k % 3 == 0:
                port = int(rng.choice(SENSOR_UDP))
                d.sensor.append(
                    {
                        "ts": ts,
                        "src": src,
                        "dst": sc.SENSOR_IP,
                        "proto": "udp",
                        "sport": d.eph(),
                        "dport": port,
                        "payload": b"\x00\x01",
                    }
                )
            else:
                d.honeypot.append(
                    {
                        "ts": ts,
                        "src": src,
                        "sport": d.eph(),
                        "dst": sc.HONEYPOT_IP,
                        "dport": 80,
                        "method": "POST" if k % 2 else "GET",
                        "uri": "/cgi-bin/" + HOSTILE_STRINGS[k % len(HOSTILE_STRINGS)],
                        "ua": HOSTILE_STRINGS[(k + i) % len(HOSTILE_STRINGS)],
                        "payload": b"user=admin&pass=admin",
                    }
                )
        # Login and exploit attempts on a handful of ports: hostile, but not a port scan.
        d.label(src, "benign", "benign", start, start + n * 30)


def write_orgs(out: Path) -> list[str]:
    """Reference organization lists in the shape of ../shared/data/scanner_orgs."""
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for org in sc.ORGS:
        (out / f"{org.name}_v4.txt").write_text(org.block + "\n", encoding="utf-8")
        lines += [f"{ip} # scan-{i}.{org.domain}" for i, ip in enumerate(sc.org_hosts(org))]
    (out / "mass_scanner.txt").write_text("# IP # reverse DNS name\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return [o.name for o in sc.ORGS]


def generate(out: Path, days: int = 1, start: date = date(2025, 11, 26), seed: int = 7) -> dict:
    """Write `days` labelled days to `out/landing/<date>/`, `out/truth.csv` and `out/orgs/`."""
    out = Path(out)
    truth: list[dict] = []
    files = records = 0
    dates = []
    for i in range(days):
        day = start + timedelta(days=i)
        d = Day(day, np.random.default_rng([seed, i]))
        _benign_pcap(d, 9000)
        _fast_scans(d)
        _benign_flows(d, 30000)
        _slow_scans(d)
        _firewall(d)
        _research(d)
        _attackers_at_sensor(d)
        folder = out / "landing" / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        end = d.t0 + 86_400 - 0.001
        for rows in (d.pcap, d.flows, d.fw, d.sensor, d.honeypot):
            rows[:] = [r for r in rows if d.t0 <= r["ts"] <= end]  # every record inside its UTC day
        records += write_pcap(folder / "capture.pcap", d.pcap)
        records += write_cidds(folder / "flows.csv", d.flows)
        records += write_ufw(folder / "firewall.log", d.fw)
        records += write_sensor(folder / "sensor.jsonl", d.sensor, "sensor-1")
        records += write_honeypot(folder / "honeypot.json", d.honeypot)
        files += 5
        truth += d.truth
        dates.append(day.isoformat())
    with open(out / "truth.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["src_ip", "label", "kind", "org", "start", "end"])
        writer.writeheader()
        writer.writerows(truth)
    orgs = write_orgs(out / "orgs")
    return {
        "out": str(out),
        "days": dates,
        "files": files,
        "records": records,
        "truth": str(out / "truth.csv"),
        "orgs": len(orgs),
    }
