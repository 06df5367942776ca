"""Synthetic scanning organizations for tests and benchmarks (the project generator covers whole days).

Each organization scans from a few /24s in one or two ASNs (some ASNs are shared clouds), hits
its own port set (drawn from a Zipf-like pool so popular ports overlap between organizations),
in its own hours, with its own tool fingerprints and sometimes an HTTP user agent. Unaffiliated
scanners fill the rest. Reference lists are written in both formats of ../shared/data/scanner_orgs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipelines.schema import conform_events

ORG_NAMES = (
    "censys", "shodan", "shadowserver", "stretchoid", "binaryedge", "quake", "rapid7", "onyphe", "criminalip",
    "internettl", "zoomeye", "fofa", "leakix", "driftnet", "netlas", "modat", "ipip", "recyber", "intrinsec",
    "bitsight", "hunter", "odin", "alphastrike", "hadrian",
)  # fmt: skip
COUNTRIES = {"US": (38.0, -97.0), "DE": (51.0, 10.0), "NL": (52.3, 4.9), "GB": (51.5, -0.1), "SG": (1.35, 103.8),
             "JP": (35.7, 139.7), "FR": (48.9, 2.35), "CA": (45.4, -75.7), "CN": (39.9, 116.4), "RU": (55.8, 37.6)}  # fmt: skip
PORT_POOL = np.array(
    [22, 80, 443, 23, 21, 25, 53, 110, 143, 445, 3389, 8080, 8443, 3306, 5432, 6379, 27017, 9200, 5900, 1433,
     11211, 161, 123, 1900, 5060, 8000, 8888, 9000, 2375, 2376, 5000, 5001, 7001, 8081, 9090, 10000, 502, 102,
     47808, 20000, 1883, 8883, 5683, 4840, 2222, 2323, 8291, 37777, 554, 1723, 389, 636, 993, 995, 465, 587,
     873, 2049, 111, 135, 139, 4443, 6443, 10250, 2379, 9100, 3000, 5601, 15672, 61616, 4369, 50000, 9042]
)  # fmt: skip
SENSOR_NET = "203.0.113."


@dataclass
class Synthetic:
    """Events and geo rows of a synthetic population, with each source's true organization."""

    events: pa.Table
    geo_ip: pa.Table
    truth: dict[str, str | None]
    listed: set[str]  # sources whose organization the written reference lists reveal


def _ip(net: tuple[int, int, int], host: int) -> str:
    return f"{net[0]}.{net[1]}.{net[2]}.{host}"


def _public_net(rng: np.random.Generator, used: set) -> tuple[int, int, int]:
    while True:
        a = int(rng.integers(11, 223))
        if a in (10, 100, 127, 169, 172, 192, 198, 203):
            continue
        net = (a, int(rng.integers(0, 256)), int(rng.integers(0, 256)))
        if net not in used:
            used.add(net)
            return net


def generate_orgs(
    n_orgs: int = 14,
    sources_per_org: tuple[int, int] = (8, 30),
    unaffiliated: int = 80,
    days: int = 1,
    start: date = date(2025, 11, 26),
    seed: int = 0,
    probes: tuple[int, int] = (20, 120),
    orgs_dir: Path | None = None,
) -> Synthetic:
    """Build a population of organized and unaffiliated scanners; write reference lists to `orgs_dir`."""
    rng = np.random.default_rng(seed)
    names = [ORG_NAMES[i] if i < len(ORG_NAMES) else f"org{i}" for i in range(n_orgs)]
    used: set = set()
    popularity = 1.0 / np.arange(1, len(PORT_POOL) + 1) ** 0.8
    popularity /= popularity.sum()
    clouds = [(14061, "DIGITALOCEAN-ASN"), (16509, "AMAZON-02"), (63949, "Akamai Connected Cloud")]
    src_org, src_ip, src_ports, src_hours, src_fp, geo_rows, lists = [], [], [], [], [], [], {}
    taken: set[str] = set()
    for o, name in enumerate(names):
        size = int(rng.integers(sources_per_org[0], sources_per_org[1] + 1))
        n_nets = max(int(rng.integers(1, 4)), -(-size // 150))  # at most ~150 sources per /24
        nets = [_public_net(rng, used) for _ in range(n_nets)]
        own_asn = (64512 + o, f"{name.upper()} Inc")
        asn = clouds[int(rng.integers(0, 3))] if rng.random() < 0.6 else own_asn
        country = list(COUNTRIES)[int(rng.integers(0, len(COUNTRIES)))]
        ports = rng.choice(PORT_POOL, size=int(rng.integers(5, 25)), replace=False, p=popularity)
        hour0, span = int(rng.integers(0, 24)), int(rng.integers(2, 7))
        fp = {
            "zmap": rng.random() < 0.4,
            "window": int(rng.choice([1024, 65535, 29200])),
            "ttl": int(rng.choice([64, 128, 255])),
            "ua": f"Mozilla/5.0 (compatible; {name.capitalize()}Scanner/{rng.integers(1, 4)}.0)"
            if rng.random() < 0.5
            else None,
        }
        # The last /24 of an organization with several is left off the lists: sources the lists miss.
        listed_nets = nets[:-1] if len(nets) > 1 and rng.random() < 0.3 else nets
        lists[name] = listed_nets
        for _ in range(size):
            net = nets[int(rng.integers(0, len(nets)))]
            ip = _ip(net, int(rng.integers(1, 255)))
            while ip in taken:
                ip = _ip(net, int(rng.integers(1, 255)))
            taken.add(ip)
            src_org.append(name)
            src_ip.append(ip)
            src_ports.append(ports)
            src_hours.append((hour0, span))
            src_fp.append(fp | {"ttl": fp["ttl"] - int(rng.integers(3, 25))})  # hops differ per source
            lat, lon = COUNTRIES[country]
            geo_rows.append((ip, country, asn[0], asn[1], lat + rng.normal(0, 0.5), lon + rng.normal(0, 0.5)))
    for _ in range(unaffiliated):
        net = _public_net(rng, used)
        ip = _ip(net, int(rng.integers(1, 255)))
        country = list(COUNTRIES)[int(rng.integers(0, len(COUNTRIES)))]
        lat, lon = COUNTRIES[country]
        src_org.append(None)
        src_ip.append(ip)
        src_ports.append(rng.choice(PORT_POOL, size=int(rng.integers(1, 40)), replace=False, p=popularity))
        src_hours.append((int(rng.integers(0, 24)), int(rng.integers(1, 24))))
        src_fp.append({"zmap": rng.random() < 0.2, "window": int(rng.choice([1024, 65535, 29200, 14600, 64240])),
                       "ttl": int(rng.choice([64, 128, 255])) - int(rng.integers(5, 25)), "ua": None})  # fmt: skip
        asn = (int(rng.integers(1000, 60000)), f"ISP-{int(rng.integers(0, 500))}")
        geo_rows.append((ip, country, asn[0], asn[1], lat + rng.normal(0, 2), lon + rng.normal(0, 2)))
    events = _events(rng, src_ip, src_ports, src_hours, src_fp, days, start, probes)
    geo = pa.table(
        {
            "ip": [g[0] for g in geo_rows],
            "country_code": [g[1] for g in geo_rows],
            "asn": pa.array([g[2] for g in geo_rows], pa.int64()),
            "as_org": [g[3] for g in geo_rows],
            "lat": [float(g[4]) for g in geo_rows],
            "lon": [float(g[5]) for g in geo_rows],
            "ip_class": ["public"] * len(geo_rows),
        }
    )
    listed = {
        ip
        for ip, org in zip(src_ip, src_org, strict=True)
        if org and tuple(int(p) for p in ip.split(".")[:3]) in lists[org]
    }
    if orgs_dir is not None:
        _write_lists(Path(orgs_dir), lists, src_ip, src_org)
    return Synthetic(events=events, geo_ip=geo, truth=dict(zip(src_ip, src_org, strict=True)), listed=listed)


def _events(rng, src_ip, src_ports, src_hours, src_fp, days, start, probes) -> pa.Table:
    counts = rng.integers(probes[0], probes[1] + 1, size=len(src_ip))
    idx = np.repeat(np.arange(len(src_ip)), counts)
    total = len(idx)
    day = rng.integers(0, days, size=total)
    hour0 = np.array([h[0] for h in src_hours])[idx]
    span = np.array([h[1] for h in src_hours])[idx]
    seconds = ((hour0 + (rng.random(total) * span)) % 24) * 3600.0
    base = int(datetime.combine(start, datetime.min.time(), tzinfo=UTC).timestamp() * 1_000_000)
    ts = pa.array(base + day * 86_400_000_000 + (seconds * 1_000_000).astype(np.int64), pa.timestamp("us", tz="UTC"))
    port_choice = np.empty(total, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for i, ports in enumerate(src_ports):
        lo, hi = offsets[i], offsets[i + 1]
        port_choice[lo:hi] = rng.choice(ports, size=hi - lo)
    stray = rng.random(total) < 0.05  # a few probes off the organization's port set
    port_choice[stray] = rng.integers(1, 65536, size=int(stray.sum()))
    fps = [src_fp[i] for i in idx]
    ua = [f["ua"] for f in fps]
    table = pa.table(
        {
            "ts": ts,
            "event_date": ts.cast(pa.date32()),
            "src_ip": pa.array([src_ip[i] for i in idx], pa.string()),
            "dst_ip": pa.array([SENSOR_NET + str(int(h)) for h in rng.integers(1, 255, size=total)], pa.string()),
            "src_port": pa.array(rng.integers(1024, 65536, size=total), pa.int32()),
            "dst_port": pa.array(port_choice, pa.int32()),
            "proto": pa.array(["tcp"] * total, pa.string()),
            "tcp_flags": pa.array(["S"] * total, pa.string()),
            "packets": pa.array(np.ones(total, dtype=np.int64)),
            "ttl": pa.array([f["ttl"] for f in fps], pa.int32()),
            "ip_id": pa.array(
                [54321 if f["zmap"] else int(x) for f, x in zip(fps, rng.integers(0, 65536, size=total), strict=True)],
                pa.int32(),
            ),
            "tcp_window": pa.array([f["window"] for f in fps], pa.int32()),
            "user_agent": pa.array(ua, pa.string()),
            "uri": pa.array(["/" if u else None for u in ua], pa.string()),
            "source_kind": pa.array(["pcap"] * total, pa.string()),
        }
    )
    return conform_events(table)


def _write_lists(folder: Path, lists: dict, src_ip: list[str], src_org: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    maltrail = []
    for i, (name, nets) in enumerate(sorted(lists.items())):
        if i % 3 == 2:  # every third organization only through rDNS comments, as in maltrail
            for ip, org in zip(src_ip, src_org, strict=True):
                if org == name and tuple(int(p) for p in ip.split(".")[:3]) in nets:
                    maltrail.append(f"{ip} # scan-{ip.replace('.', '-')}.{name}.io")
        else:
            (folder / f"{name}_v4.txt").write_text("".join(f"{a}.{b}.{c}.0/24\n" for a, b, c in nets))
    (folder / "mass_scanner.txt").write_text("# synthetic maltrail-style list\n" + "\n".join(maltrail) + "\n")
