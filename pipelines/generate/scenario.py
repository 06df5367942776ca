"""Who is on the synthetic network: the monitored hosts, the benign clients, the scanners and the
research organizations. Addresses come from real allocations of their countries so that offline
geolocation places them; the monitored network sits in the home country (CN)."""

from __future__ import annotations

from dataclasses import dataclass, field

HOME_SERVERS = [f"202.112.10.{i}" for i in range(10, 30)]  # CERNET (CN): web, DNS, mail, SSH servers
HOME_CLIENTS = [f"202.112.11.{i}" for i in range(20, 120)]
VPS = "101.34.56.78"  # Internet-facing server behind the firewall log (CN, Tencent Cloud)
SENSOR_IP = "47.100.20.30"  # our listener (CN, Aliyun)
HONEYPOT_IP = "47.100.20.31"

# Benign clients on the Internet, per country: real blocks of those countries.
CLIENT_BLOCKS = {
    "CN": ["114.114.{}.{}", "61.135.{}.{}", "123.125.{}.{}"],
    "US": ["74.125.{}.{}", "23.45.{}.{}"],
    "DE": ["88.198.{}.{}"],
    "JP": ["133.242.{}.{}"],
    "SG": ["128.199.{}.{}"],
}

# Attackers' blocks (non-research), by country.
ATTACKER_BLOCKS = {
    "RU": "5.188.{}.{}",
    "NL": "185.220.{}.{}",
    "US": "45.33.{}.{}",
    "BR": "177.54.{}.{}",
    "KR": "1.234.{}.{}",
    "IN": "49.36.{}.{}",
    "CN": "222.186.{}.{}",
    "VN": "113.161.{}.{}",
    "DE": "91.92.{}.{}",
    "FR": "51.15.{}.{}",
}


@dataclass(frozen=True)
class Org:
    """A research-scanning organization and how it behaves."""

    name: str
    block: str  # a /24, "a.b.c.0/24"
    domain: str
    ports: tuple[int, ...]
    peak_hours: tuple[int, ...]  # local (Asia/Shanghai) hours of most activity
    probes_per_host: int  # probes per source per day at the VPS
    ttl: int
    ip_id: int | None  # fixed IP ID fingerprint (54321 = ZMap), None = random
    window: int
    user_agent: str
    uri: str = "/"
    udp_ports: tuple[int, ...] = field(default_factory=tuple)


ORGS = [
    Org(
        "censys",
        "167.94.138.0/24",
        "censys-scanner.com",
        (22, 80, 443, 3389, 5900, 8080, 8443),
        (22, 23, 0, 1),
        60,
        241,
        54321,
        65535,
        "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
    ),
    Org(
        "shodan",
        "198.20.69.0/24",
        "census.shodan.io",
        (21, 22, 23, 80, 443, 502, 2323, 7547, 8080),
        (2, 3, 4),
        45,
        50,
        None,
        14600,
        "Mozilla/5.0 (compatible; Shodan/1.0)",
        "/robots.txt",
        (53, 123, 161, 1900),
    ),
    Org(
        "shadowserver",
        "184.105.139.0/24",
        "scan.shadowserver.org",
        (23, 80, 443, 445, 1433, 3389, 6379, 11211),
        (10, 11, 12),
        35,
        54,
        None,
        5840,
        "Mozilla/5.0 (compatible; Shadowserver; +https://shadowserver.org)",
        "/",
        (53, 123, 161, 389, 11211),
    ),
    Org(
        "binaryedge",
        "45.83.64.0/24",
        "binaryedge.ninja",
        (80, 81, 443, 8000, 8081, 8888, 9200),
        (6, 7, 8),
        40,
        235,
        None,
        1024,
        "Mozilla/5.0 (compatible; BinaryEdge)",
        "/.env",
    ),
    Org(
        "rapid7",
        "5.63.151.0/24",
        "sonar.rapid7.com",
        (80, 443, 8443, 9443, 10443),
        (14, 15),
        30,
        52,
        None,
        29200,
        "Mozilla/5.0 (compatible; Project Sonar)",
        "/",
    ),
    Org(
        "onyphe",
        "91.230.168.0/24",
        "probe.onyphe.net",
        (22, 25, 110, 143, 993, 995),
        (16, 17),
        30,
        249,
        None,
        65535,
        "Mozilla/5.0 (compatible; ONYPHE/2.0; +https://www.onyphe.io)",
        "/favicon.ico",
    ),
    Org(
        "driftnet",
        "87.236.176.0/24",
        "internet-measurement.com",
        (80, 443, 1883, 5683, 8883),
        (18, 19),
        35,
        243,
        None,
        42340,
        "Mozilla/5.0 (compatible; InternetMeasurement/1.0; +https://internet-measurement.com/)",
        "/",
    ),
    Org(
        "stretchoid",
        "192.241.192.0/24",
        "stretchoid.com",
        (1, 7, 9, 13, 17, 19, 37),
        (20, 21),
        25,
        245,
        None,
        1024,
        "stretchoid",
        "/",
    ),
    Org(
        "leakix",
        "194.163.147.0/24",
        "leakix.net",
        (80, 443, 3000, 5601, 9200, 27017),
        (8, 9, 10),
        30,
        47,
        None,
        64240,
        "l9explore/1.2.2",
        "/.git/config",
    ),
    Org(
        "paloaltonetworks",
        "205.210.31.0/24",
        "scan.xpanse.paloaltonetworks.com",
        (443, 4443, 8443, 10000),
        (4, 5, 6),
        30,
        246,
        None,
        65535,
        "Expanse, a Palo Alto Networks company, searches across the global IPv4 space",
        "/",
    ),
    Org(
        "internetcensus",
        "23.251.102.0/24",
        "internet-census.org",
        (102, 502, 20000, 44818, 47808),
        (12, 13),
        25,
        240,
        None,
        1024,
        "Mozilla/5.0 (compatible; InternetCensus)",
        "/",
    ),
    Org(
        "criminalip",
        "45.146.164.0/24",
        "criminalip.com",
        (22, 80, 443, 8080, 9090, 9443),
        (0, 1, 2),
        30,
        244,
        None,
        8192,
        "Mozilla/5.0 (compatible; CriminalIP/1.0)",
        "/login",
    ),
    Org(
        "quake",
        "106.75.8.0/24",
        "quake.360.cn",
        (80, 443, 3306, 6379, 7001, 8080),
        (22, 23),
        35,
        50,
        None,
        29200,
        "Mozilla/5.0 (compatible; 360-Quake)",
        "/console",
    ),
]


def org_hosts(org: Org, n: int = 6) -> list[str]:
    """The source addresses an organization scans from (a few hosts of its /24)."""
    base = org.block.split("/")[0].rsplit(".", 1)[0]
    step = 17 + len(org.name)
    return [f"{base}.{(10 + i * step) % 250 + 1}" for i in range(n)]
