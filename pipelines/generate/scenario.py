"""Who is on the synthetic network: the monitored hosts, the benign clients, the scanners and the
research organizations. Every address block is a real allocation of the country it is listed under
(checked against RIR delegations with `iptocc`), so offline geolocation places each source; the
monitored network sits in the home country (CN, CERNET)."""

from __future__ import annotations

import functools
import ipaddress
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

LOCAL_OFFSET_H = 8  # Asia/Shanghai (UTC+8, no daylight saving): the home time zone
# Draws in a row that find only used addresses before a block set counts as full: 0.98**200 = 2%,
# so blocks are full at about 98-99% use, never by chance while they still have room.
FULL_AFTER_MISSES = 200

# --- the monitored network (tap -> capture.pcap): CERNET, Beijing -------------------------------
GATEWAY = "202.112.10.1"
MONITOR = "202.112.10.5"  # pings the gateway every minute: many probes, one target, benign
WEB_SERVERS = [f"202.112.10.{i}" for i in range(10, 18)]
MAIL_SERVER = "202.112.10.20"
DNS_SERVER = "202.112.10.21"
SSH_SERVER = "202.112.10.22"
OTHER_SERVERS = [f"202.112.10.{i}" for i in range(23, 30)]
HOME_SERVERS = [*WEB_SERVERS, MAIL_SERVER, DNS_SERVER, SSH_SERVER, *OTHER_SERVERS]
HOME_CLIENTS = [f"202.112.11.{i}" for i in range(20, 220)]
HOME_NET = ("202.112.10.0/24", "202.112.11.0/24")  # what a horizontal sweep of the site covers
HOME_V6_WEB = "2001:da8:8000:1::80"  # CERNET2
UPSTREAM_RESOLVERS = ["114.114.114.114", "223.5.5.5"]  # the site resolver forwards to these
# Open services per server: replies are SYN-ACK there, RST elsewhere.
OPEN_PORTS: dict[str, tuple[int, ...]] = {
    **{s: (80, 443) for s in WEB_SERVERS},
    MAIL_SERVER: (25, 587, 993),
    DNS_SERVER: (53,),
    SSH_SERVER: (22,),
    **{s: (22, 3306) for s in OTHER_SERVERS},
    **{c: () for c in HOME_CLIENTS},
}

# --- benign look-alikes of scans (issue 25): one role per address, so a flag names its behaviour ------
# A private office VLAN mirrored to the tap: Windows desktops, a file server, a camera.
SITE_LAN = "10.21.0.0/16"
LAN_HOSTS = [f"10.21.8.{i}" for i in range(10, 250)]  # the desktops' neighbours; even ones run Windows
NAME_CHATTERERS = ["10.21.8.31", "10.21.8.33", "10.21.8.35", "10.21.8.37"]  # NetBIOS, LLMNR and mDNS chatter
INTERNAL_SCANNER = "10.21.8.66"  # a compromised desktop: a 1,000-port scan of the file server in office hours
INTERNAL_SERVER = "10.21.1.20"  # Windows file server
OPEN_PORTS[INTERNAL_SERVER] = (135, 139, 445, 3389, 5985)
IOT_DEVICE = "10.21.9.23"  # a camera that keeps reconnecting to a cloud broker that is gone
IOT_BROKER = ("47.96.128.40", 8883)  # MQTT over TLS at a cloud provider (CN, Aliyun)
MDNS_GROUP, LLMNR_GROUP = "224.0.0.251", "224.0.0.252"
# Public hosts of the monitored network that are clients only: Linux boxes on NTP, desktops browsing, a torrent client.
NTP_CLIENTS = [f"202.112.11.{i}" for i in range(221, 227)]
BROWSERS = ["202.112.11.231", "202.112.11.232"]
P2P_CLIENT = "202.112.11.240"
# Servers they talk to, drawn once per seed (the same servers every day): real allocations.
NTP_POOL_BLOCKS = ("203.107.6.0/24", "120.25.112.0/20", "139.199.208.0/20", "162.159.200.0/24", "17.253.0.0/20",
                   "193.182.111.0/24")  # fmt: skip
CDN_BLOCKS = ("23.32.0.0/20", "2.16.0.0/20", "151.101.0.0/20", "13.224.0.0/20", "183.60.0.0/20", "58.215.0.0/20",
              "36.99.0.0/20", "59.82.0.0/20", "180.97.0.0/20")  # fmt: skip
P2P_BLOCKS = ("113.64.0.0/20", "125.118.0.0/20", "27.38.0.0/20", "175.0.0.0/20", "1.64.0.0/20", "73.0.0.0/20",
              "84.60.0.0/20", "178.64.0.0/20", "222.209.0.0/20", "182.150.0.0/20")  # fmt: skip

# --- the other segment (flow export -> flows.csv) ------------------------------------------------
OFFICE_CLIENTS = [f"202.112.12.{i}" for i in range(10, 200)]
OFFICE_SERVERS = [f"202.112.13.{i}" for i in range(10, 30)]
OFFICE_SWEEP = "202.112.12.0/22"  # the range a horizontal sweep of that segment walks

# Office hosts of that segment that are clients only (same roles as on the tap).
OFFICE_NTP_CLIENTS = [f"202.112.12.{i}" for i in range(200, 204)]
OFFICE_BROWSERS = ["202.112.12.210", "202.112.12.211"]
OFFICE_P2P_CLIENT = "202.112.12.220"
OFFICE_NAME_CHATTERERS = ["202.112.12.230", "202.112.12.231"]

# --- single vantage points -----------------------------------------------------------------------
VPS = "101.34.56.78"  # Internet-facing server behind the firewall log (CN, Tencent Cloud)
SENSOR_IP = "47.100.20.30"  # our listener (CN, Aliyun)
HONEYPOT_IP = "47.100.20.31"  # web/SSH honeypot (CN, Aliyun)
SENSOR_TCP = (2222, 2323, 3389, 5900, 8080, 8443)
SENSOR_UDP = (1123, 1161, 5353)

# Benign Internet clients of the monitored services, per country (weights: mostly domestic).
CLIENT_BLOCKS: dict[str, tuple[str, ...]] = {
    "CN": ("36.110.0.0/20", "114.80.0.0/20", "116.228.0.0/20", "120.204.0.0/20", "183.192.0.0/20", "223.104.0.0/20"),
    "US": ("74.125.0.0/20", "23.45.0.0/20"),
    "HK": ("119.236.0.0/20", "42.2.0.0/20"),
    "JP": ("126.0.0.0/20",),
    "SG": ("139.59.96.0/20",),
    "DE": ("88.198.0.0/20",),
    "KR": ("121.134.0.0/20",),
    "TW": ("114.32.0.0/20",),
    "GB": ("86.0.0.0/20",),
}
CLIENT_WEIGHTS = {
    "CN": 0.66,
    "US": 0.07,
    "HK": 0.06,
    "JP": 0.05,
    "SG": 0.04,
    "DE": 0.03,
    "KR": 0.04,
    "TW": 0.03,
    "GB": 0.02,
}
CLIENT_V6_BLOCKS = ("2001:da8:a000::/48", "2409:8a00::/32")  # CERNET2 and China Mobile
# Web sites the monitored clients browse (CN and US content networks).
EXTERNAL_SITES = ("61.135.169.0/24", "220.181.38.0/24", "180.101.49.0/24", "142.250.0.0/20", "104.16.0.0/20")

# Scanners, bots and background radiation: real blocks of many countries, some in CN.
SCANNER_BLOCKS: dict[str, tuple[str, ...]] = {
    "CN": ("222.186.0.0/20", "61.177.172.0/22", "218.92.0.0/20", "183.136.0.0/20", "117.50.0.0/20"),
    "RU": ("95.165.0.0/20", "176.59.0.0/20", "185.156.73.0/24", "80.66.88.0/24"),
    "NL": ("89.248.160.0/20", "80.82.64.0/20", "93.174.88.0/21"),
    "US": ("45.33.0.0/20", "104.131.0.0/20", "162.243.0.0/20", "198.199.64.0/20"),
    "BR": ("177.54.0.0/20", "179.108.0.0/20", "187.19.0.0/20"),
    "KR": ("1.234.0.0/20", "211.253.0.0/20"),
    "IN": ("49.36.0.0/20", "117.192.0.0/20", "59.88.0.0/20"),
    "VN": ("113.161.0.0/20", "14.160.0.0/20", "123.24.0.0/20"),
    "DE": ("144.76.0.0/20", "78.46.0.0/20"),
    "FR": ("51.15.0.0/20", "163.172.0.0/20", "62.210.0.0/20"),
    "GB": ("2.96.0.0/20", "31.48.0.0/20"),
    "UA": ("46.219.0.0/20", "176.36.0.0/20"),
    "IR": ("2.176.0.0/20", "78.38.0.0/20"),
    "TR": ("85.105.0.0/20", "88.247.0.0/20"),
    "ID": ("36.66.0.0/20", "114.4.0.0/20"),
    "TW": ("1.160.0.0/20",),
    "RO": ("5.2.128.0/20", "86.120.0.0/20"),
    "BG": ("87.121.0.0/20", "77.70.0.0/20"),
    "EG": ("41.32.0.0/20", "156.192.0.0/20"),
    "ZA": ("41.0.0.0/20", "105.224.0.0/20"),
    "AR": ("181.0.0.0/20", "190.210.0.0/20"),
    "MX": ("187.189.0.0/20", "201.141.0.0/20"),
    "TH": ("171.96.0.0/20", "58.8.0.0/20"),
    "PK": ("39.32.0.0/20", "182.176.0.0/20"),
    "JP": ("153.127.0.0/20",),
    "SG": ("8.216.0.0/20",),
}
# How often each country is the origin of Internet background probes (firewall noise, bots).
NOISE_WEIGHTS = {
    "CN": 0.16, "US": 0.14, "RU": 0.08, "NL": 0.06, "BR": 0.06, "IN": 0.06, "VN": 0.05, "KR": 0.04,
    "DE": 0.04, "FR": 0.03, "GB": 0.03, "UA": 0.02, "IR": 0.02, "TR": 0.02, "ID": 0.03, "TW": 0.02,
    "RO": 0.02, "BG": 0.02, "EG": 0.01, "ZA": 0.01, "AR": 0.01, "MX": 0.01, "TH": 0.02, "PK": 0.01,
    "JP": 0.01, "SG": 0.02,
}  # fmt: skip


class AddressPool:
    """Hands out addresses from CIDR blocks, each address to one role ("scan" or "benign") for good.

    Addresses are fresh while the blocks have room; once a long run of draws finds only used ones,
    the blocks count as full and a role gets back one of its own earlier addresses, not already
    handed out today: scanners and clients recur across days as real ones do, and a year of days
    never waits for an address that does not exist (issue 27).
    """

    def __init__(self) -> None:
        self.used: set[str] = set(HOME_SERVERS) | set(HOME_CLIENTS) | set(OFFICE_CLIENTS) | set(OFFICE_SERVERS)
        self.today: set[str] = set()  # handed out since new_day(): never twice a day
        self._own: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)  # (role, blocks) -> addresses
        self._full: set[tuple[str, ...]] = set()  # block sets with no fresh address left

    def new_day(self) -> None:
        """Start a day: an address handed out today is not handed out again until the next one."""
        self.today = set()

    def draw(
        self, rng: np.random.Generator, blocks: tuple[str, ...] | list[str], n: int = 1, role: str = "benign"
    ) -> list[str]:
        """`n` addresses for `role` from `blocks` (never .0 or .255 of a /24): fresh ones while there are."""
        key = tuple(blocks)
        out: list[str] = []
        misses = 0
        while len(out) < n:
            if key in self._full:
                out.append(self._again(rng, role, key))
                continue
            net = _network(key[int(rng.integers(len(key)))])
            if net.version == 6:
                ip = str(net.network_address + int(rng.integers(1, 1 << 32)))
            else:
                offset = int(rng.integers(1, net.num_addresses - 1))
                if offset % 256 in (0, 255):
                    continue
                ip = str(net.network_address + offset)
            if ip in self.used:
                misses += 1
                if misses >= FULL_AFTER_MISSES:
                    self._full.add(key)
                continue
            misses = 0
            self.used.add(ip)
            self.today.add(ip)
            self._own[role, key].append(ip)
            out.append(ip)
        return out

    def _again(self, rng: np.random.Generator, role: str, key: tuple[str, ...]) -> str:
        """One of `role`'s earlier addresses in the full blocks `key`, preferably one not handed out today."""
        own = self._own[role, key]
        if not own:
            raise RuntimeError(f"no address left in {', '.join(key)} and none of them ever given to role {role!r}")
        for _ in range(FULL_AFTER_MISSES):
            ip = own[int(rng.integers(len(own)))]
            if ip not in self.today:
                break
        else:  # more demand today than the role ever had addresses: let one repeat rather than wait
            ip = next((a for a in own if a not in self.today), ip)
        self.today.add(ip)
        return ip

    def _disown(self, ip: str, role: str, blocks: tuple[str, ...] | list[str]) -> None:
        """Take back an address just drawn for `role` that it must not use (it stays used)."""
        own = self._own[role, tuple(blocks)]
        if own and own[-1] == ip:
            own.pop()
        self.today.discard(ip)

    def country(self, rng: np.random.Generator, country: str, n: int = 1, role: str = "scan") -> list[str]:
        """`n` scanner addresses allocated to `country`, outside every organization's blocks.

        Some country blocks hold an organization's /24s (89.248.160.0/20 holds recyber's): an
        anonymous scanner drawn there would sit on the organization's reference list while the
        truth calls it unaffiliated.
        """
        out: list[str] = []
        while len(out) < n:
            ip = self.draw(rng, SCANNER_BLOCKS[country], role=role)[0]
            if _in_org_block(ip):
                self._disown(ip, role, SCANNER_BLOCKS[country])
            else:
                out.append(ip)
        return out

    def anywhere(self, rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
        """`n` background (benign) addresses, countries drawn by NOISE_WEIGHTS; returns (ips, countries)."""
        names = list(NOISE_WEIGHTS)
        p = np.array([NOISE_WEIGHTS[c] for c in names])
        countries = [names[i] for i in rng.choice(len(names), size=n, p=p / p.sum())]
        return [self.country(rng, c, role="benign")[0] for c in countries], countries


@dataclass(frozen=True)
class Org:
    """A research-scanning organization and how it behaves: its own /24s, ports, hours, pace and fingerprints."""

    name: str
    blocks: tuple[str, ...]  # real /24s of the organization (from the public scanner lists)
    country: str  # where those blocks are allocated
    domain: str  # reverse-DNS domain of its scanners
    hosts: int  # scanning addresses it uses
    tcp_ports: tuple[int, ...]
    udp_ports: tuple[int, ...]
    peak_hours: tuple[int, ...]  # local (Asia/Shanghai) hours of most activity
    probes: int  # probes per host per day over all vantage points
    burst: int  # probes a host sends in one sweep before pausing
    gap_s: float  # seconds between probes inside a sweep
    ttl: int  # TTL as received (its initial TTL minus the hops to us)
    ip_id: int | None  # fixed IPv4 identification (54321 = ZMap), None = random
    window: int  # TCP window of its SYN probes
    tcp_options: int  # 0 none (ZMap/masscan), 1 MSS only (nmap-like), 2 a full Linux stack
    user_agent: str
    uris: tuple[str, ...]
    icmp: bool = False  # also sends ICMP echo requests
    ssh_banner: str = ""  # client banner when it grabs SSH
    v6_block: str = ""  # an IPv6 prefix it also scans from
    asn: int | None = None  # AS number when known, for the honeypot's whois fields
    as_org: str = ""


ORGS: list[Org] = [
    Org("censys", ("167.94.138.0/24", "162.142.125.0/24"), "US", "censys-scanner.com", 8,
        (21, 22, 80, 443, 2082, 3389, 5432, 5900, 7547, 8080, 8443, 8888, 9000, 10443), (53, 123, 161),
        (22, 23, 0, 1), 90, 6, 1.0, 241, 54321, 65535, 0,
        "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)", ("/", "/favicon.ico"),
        icmp=True, ssh_banner="SSH-2.0-Go", v6_block="2602:80d:1000::/48", asn=398324, as_org="CENSYS-ARIN-01"),
    Org("shodan", ("207.90.244.0/24",), "US", "shodan.io", 6,
        (21, 23, 102, 502, 1883, 2323, 4911, 7547, 8080, 9100, 20000, 47808), (53, 123, 161, 1900, 5353),
        (2, 3, 4), 120, 40, 0.3, 50, None, 14600, 2,
        "Mozilla/5.0 (compatible; Shodan/1.0; +https://www.shodan.io/bot)", ("/", "/robots.txt", "/sitemap.xml")),
    Org("shadowserver", ("64.62.156.0/24", "65.49.1.0/24"), "US", "shadowserver.org", 8,
        (23, 80, 443, 445, 1433, 3389, 5900, 6379, 9200, 11211, 27017), (19, 53, 123, 161, 389, 1900, 11211),
        (3, 4, 5), 70, 12, 2.0, 52, None, 65535, 2,
        "Mozilla/5.0 (compatible; Shadowserver Scanner; +https://www.shadowserver.org)", ("/",),
        icmp=True, v6_block="2001:470:1:332::/64", asn=6939, as_org="HURRICANE"),
    Org("binaryedge", ("45.79.209.0/24", "104.237.151.0/24"), "US", "binaryedge.ninja", 5,
        (80, 81, 443, 2375, 5000, 8000, 8081, 8888, 9200, 11211), (),
        (5, 6, 7), 60, 60, 0.05, 47, None, 1024, 0,
        "Mozilla/5.0 (compatible; BinaryEdge/1.0; +https://www.binaryedge.io)", ("/.env", "/", "/server-status"),
        asn=63949, as_org="Akamai Connected Cloud"),
    Org("rapid7", ("71.6.233.0/24", "109.123.117.0/24"), "US", "rapid7.com", 6,
        (80, 443, 8443, 9443, 10443, 4443, 3389), (53, 123, 500, 1900),
        (20, 21), 50, 5, 8.0, 238, None, 29200, 2,
        "Mozilla/5.0 (compatible; Project Sonar; +https://sonar.labs.rapid7.com)", ("/", "/robots.txt")),
    Org("onyphe", ("91.230.168.0/24", "195.184.76.0/24"), "FR", "onyphe.net", 6,
        (22, 25, 110, 143, 465, 587, 993, 995), (),
        (23, 0), 45, 8, 4.0, 245, None, 65535, 2,
        "Mozilla/5.0 (compatible; ONYPHE/2.0; +https://www.onyphe.io)", ("/", "/favicon.ico", "/admin"),
        ssh_banner="SSH-2.0-ONYPHE"),
    Org("driftnet", ("87.236.176.0/24", "193.163.125.0/24"), "GB", "internet-measurement.com", 6,
        (80, 443, 1883, 5683, 8883, 8000), (5683, 161),
        (1, 2), 55, 10, 1.5, 243, None, 42340, 1,
        "Mozilla/5.0 (compatible; InternetMeasurement/1.0; +https://internet-measurement.com/)", ("/",)),
    Org("stretchoid", ("20.64.106.0/24", "20.65.194.0/24"), "US", "stretchoid.com", 7,
        (7, 9, 13, 17, 19, 37, 111, 179, 1080), (7, 9, 13, 17),
        (19, 20), 35, 3, 20.0, 110, None, 1024, 0,
        "Mozilla/5.0 (compatible; Stretchoid/1.0; +https://stretchoid.com/)", ("/",), asn=8075, as_org="MICROSOFT-CORP"),
    Org("paloaltonetworks", ("147.185.132.0/24", "198.235.24.0/24"), "US", "cortex-xpanse.com", 7,
        (443, 4443, 8443, 10000, 10443, 500, 1194), (500, 1194, 4500),
        (21, 22, 23), 40, 4, 12.0, 250, 54321, 65535, 0,
        "Expanse, a Palo Alto Networks company, searches across the global IPv4 space multiple times per day "
        "to identify customers' presences on the Internet. If you would like to be excluded from our scans, "
        "please send IP addresses/domains to: scaninfo@paloaltonetworks.com",
        ("/",)),
    Org("criminalip", ("185.242.226.0/24",), "US", "criminalip.com", 4,
        (22, 80, 443, 8080, 9090, 9443, 3000, 5601), (),
        (0, 1, 2), 60, 20, 0.5, 244, None, 8192, 2,
        "Mozilla/5.0 (compatible; CriminalIP/1.0; +https://www.criminalip.io)", ("/login", "/", "/api/v1/status")),
    Org("quake", ("101.199.254.0/24", "180.163.220.0/24"), "CN", "360.cn", 6,
        (80, 443, 3306, 6379, 7001, 8080, 8088, 9200), (53, 161),
        (2, 3), 65, 25, 0.8, 51, None, 29200, 2,
        "Mozilla/5.0 (compatible; 360-Quake/1.0; +https://quake.360.net)", ("/console", "/", "/nacos")),
    Org("fofa", ("106.75.13.0/24", "45.142.154.0/24"), "CN", "fofa.info", 5,
        (80, 443, 7001, 8080, 8443, 9001, 50070, 6443), (),
        (4, 5), 50, 15, 1.2, 49, None, 64240, 2,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/96.0 Safari/537.36 fofa",
        ("/", "/favicon.ico")),
    Org("bitsight", ("109.105.208.0/24", "109.105.209.0/24"), "PT", "bitsight.com", 4,
        (25, 80, 443, 465, 993), (),
        (18, 19), 30, 2, 30.0, 115, None, 64240, 2,
        "Mozilla/5.0 (compatible; BitSightBot/1.0)", ("/", "/.well-known/security.txt")),
    Org("recyber", ("89.248.163.0/24", "89.248.165.0/24"), "NL", "recyber.net", 5,
        (1, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 30000, 60000), (),
        (0, 1), 80, 80, 0.02, 245, 54321, 1024, 0,
        "Mozilla/5.0 (compatible; ReCyber/1.0)", ("/",)),
    Org("shadowforce", ("192.165.198.0/24",), "SE", "shadowforce.io", 4,
        (80, 443, 6443, 2379, 10250), (),
        (1, 2, 3), 35, 7, 3.0, 54, None, 32120, 2,
        "Mozilla/5.0 (compatible; ShadowForce/1.0)", ("/version", "/api", "/metrics")),
    Org("cyberok", ("85.142.100.0/24",), "RU", "cyberok.ru", 5,
        (22, 80, 443, 3389, 8080, 102, 502), (161,),
        (4, 5, 6), 50, 10, 2.5, 243, None, 1024, 1,
        "Mozilla/5.0 (compatible; CyberOK/1.0)", ("/", "/robots.txt"), icmp=True),
    Org("hunter", ("8.216.8.0/24",), "SG", "hunter.how", 4,
        (80, 443, 8080, 8443, 9443, 7443), (),
        (22, 23), 40, 20, 0.6, 46, None, 65535, 2,
        "Mozilla/5.0 (compatible; HunterBot/1.0; +https://hunter.how)", ("/", "/robots.txt")),
    Org("edgewatch", ("185.114.175.0/24",), "ES", "edgewatch.io", 4,
        (22, 80, 443, 8443, 3389), (),
        (20, 21, 22), 30, 3, 15.0, 239, None, 29200, 2,
        "Mozilla/5.0 (compatible; EdgeWatch/1.0)", ("/",), ssh_banner="SSH-2.0-edgewatch"),
]  # fmt: skip


def org_hosts(org: Org) -> list[str]:
    """The fixed scanning addresses of an organization, spread over its /24s."""
    hosts = []
    for i in range(org.hosts):
        base = org.blocks[i % len(org.blocks)].split("/")[0].rsplit(".", 1)[0]
        hosts.append(f"{base}.{(11 + 29 * i + 3 * len(org.name)) % 250 + 2}")
    return hosts


def org_v6_hosts(org: Org, n: int = 2) -> list[str]:
    """IPv6 scanning addresses of an organization, if it scans over IPv6."""
    if not org.v6_block:
        return []
    net = ipaddress.ip_network(org.v6_block)
    return [str(net.network_address + 0x100 + 17 * i) for i in range(n)]


def rdns(org: Org, i: int) -> str:
    """The reverse-DNS name of an organization's i-th scanner."""
    return f"scan-{i:02d}.{org.domain}"


@functools.cache
def _network(block: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR block parsed once (the pool draws thousands of addresses a day from a few dozen blocks)."""
    return ipaddress.ip_network(block)


@functools.cache
def _org_ranges() -> tuple[tuple[int, int, int], ...]:
    """Every organization block as (IP version, first address, last address), as integers."""
    nets = [ipaddress.ip_network(b) for org in ORGS for b in (*org.blocks, *([org.v6_block] if org.v6_block else []))]
    return tuple((n.version, int(n.network_address), int(n.broadcast_address)) for n in nets)


def _in_org_block(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    version, value = address.version, int(address)
    return any(version == v and first <= value <= last for v, first, last in _org_ranges())
