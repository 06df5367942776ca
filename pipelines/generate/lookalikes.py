"""Benign behaviours that a counter of contacts mistakes for scans (issue 25), and a real scan from inside
the site in office hours. Each behaviour has its own hosts and its own truth kind, so a false alarm
names the behaviour; each record carries the outcome its format can hold: in the capture the other
side's packets (answers, handshakes, resets) or their absence, in the flow export the reply flow."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.generate import scenario as sc
from pipelines.generate.activities import (
    NMAP,
    OFFICE_RHYTHM,
    WEB_OUT,
    Day,
    Service,
    Values,
    _isn,
    _obj,
    _records,
    _repeat,
    _scan,
    _truth,
    dns_query,
    tcp_sessions,
)

# Truth kinds of the look-alikes (label benign) and of the inside scan (label scan).
NTP, BROWSER, NAMES, P2P, IOT = "ntp_client", "browser", "name_services", "p2p_client", "iot_reconnect"
INTERNAL_SCAN = "internal_vertical"
BITTORRENT = Service(4, (68, 17, 5), (68, 1400, 1400))  # handshake, bitfield/interested, piece requests
SYN_RETRY_S = (1.0, 3.0)  # a SYN that gets no answer is sent again 1 s and 3 s later (Windows, Linux)


@dataclass(frozen=True)
class Servers:
    """The Internet servers the look-alikes talk to, drawn once per seed: the same ones every day."""

    ntp: np.ndarray
    cdn: np.ndarray
    peers: np.ndarray
    peer_ports: np.ndarray  # each peer listens on its own high port


def servers(seed: int, pool: sc.AddressPool) -> Servers:
    """Draw the NTP pool servers, CDN edges and P2P peers (their blocks are nobody else's)."""
    rng = np.random.default_rng([seed, 0, 1])
    peers = _obj(pool.draw(rng, sc.P2P_BLOCKS, 5000))
    return Servers(
        ntp=_obj(pool.draw(rng, sc.NTP_POOL_BLOCKS, 300)),
        cdn=_obj(pool.draw(rng, sc.CDN_BLOCKS, 3000)),
        peers=peers,
        peer_ports=np.where(rng.random(len(peers)) < 0.1, 6881, rng.integers(10000, 65000, size=len(peers))),
    )


def _scaled(n: int, scale: float, floor: int) -> int:
    """`n` times the background scale, never below `floor` (a behaviour keeps its shape on small days)."""
    return max(floor, int(n * scale))


def _benign(actor: Values, kind: str) -> dict:
    return _truth(actor, "benign", kind)


# --- building blocks ----------------------------------------------------------------------------


def udp_exchanges(
    rng: np.random.Generator,
    ts: np.ndarray,
    client: np.ndarray,
    server: np.ndarray,
    cport: np.ndarray,
    sport: np.ndarray | int,
    query: Values,
    answer: Values,
    answered: np.ndarray,
    kind: str,
    rtt: np.ndarray | float = 0.03,
) -> list[pl.DataFrame]:
    """Datagrams from `client` to `server` and, where `answered`, the server's reply `rtt` later."""
    n = len(ts)
    sport_a = np.broadcast_to(np.asarray(sport), (n,))
    rtt_a = np.broadcast_to(np.asarray(rtt, dtype=float), (n,)) + rng.gamma(2.0, 0.002, n)
    q = {"ttl": 64, "ip_id": rng.integers(1, 65535, size=n), "df": False, "payload": query}
    frames = [_records(ts, client, server, "udp", cport, sport_a, _benign(client, kind), **q)]
    m = answered
    if m.any():
        k = int(m.sum())
        a = {"ttl": 54, "ip_id": rng.integers(1, 65535, size=k), "df": True, "payload": answer}
        who = client[m]
        frames.append(_records(ts[m] + rtt_a[m], server[m], who, "udp", sport_a[m], cport[m], _benign(who, kind), **a))
    return frames


def failed_connects(
    rng: np.random.Generator,
    ts: np.ndarray,
    client: np.ndarray,
    server: np.ndarray,
    port: np.ndarray,
    refused: np.ndarray,
    kind: str,
    client_ttl: int = 64,
) -> list[pl.DataFrame]:
    """TCP connection attempts that fail: a SYN refused with a RST-ACK, or a SYN sent three times unanswered."""
    n = len(ts)
    cport, seq = rng.integers(32768, 61000, size=n), _isn(rng, n)
    syn = {"flags": "S", "ack": 0, "ttl": client_ttl, "df": True, "window": 64240, "opts": 2}
    ids = rng.integers(1, 60000, size=n)
    frames = [_records(ts, client, server, "tcp", cport, port, _benign(client, kind), seq=seq, **syn, ip_id=ids)]
    silent = ~refused
    for i, after in enumerate(SYN_RETRY_S, start=1):
        who = client[silent]
        frames.append(
            _records(
                ts[silent] + after,
                who,
                server[silent],
                "tcp",
                cport[silent],
                port[silent],
                _benign(who, kind),
                seq=seq[silent],
                **syn,
                ip_id=ids[silent] + i,
            )
        )
    if refused.any():
        k, who = int(refused.sum()), client[refused]
        reset = {"flags": "RA", "seq": 0, "ack": (seq[refused] + 1) & 0xFFFFFFFF, "ttl": 52, "ip_id": 0, "df": True}
        rts = ts[refused] + 0.01 + rng.gamma(2.0, 0.01, k)
        frames.append(
            _records(
                rts,
                server[refused],
                who,
                "tcp",
                port[refused],
                cport[refused],
                _benign(who, kind),
                **reset,
                window=0,
                opts=0,
            )
        )
    return frames


def flow_pairs(
    rng: np.random.Generator,
    ts: np.ndarray,
    client: np.ndarray,
    server: np.ndarray,
    proto: str,
    port: np.ndarray,
    outcome: np.ndarray,
    kind: str,
    req_bytes: tuple[int, int],
    resp_bytes: tuple[int, int],
) -> list[pl.DataFrame]:
    """Connections as a NetFlow export holds them: the client's flow and, unless it failed, the server's.

    `outcome` per connection: "ok" (UDP answered; TCP handshake, data both ways, FIN), "refused" (TCP:
    SYN, then the server's RST-ACK flow) or "silent" (no reply flow; TCP: three SYNs in 3 s).
    """
    n = len(ts)
    tcp = proto == "tcp"
    ok, refused = outcome == "ok", outcome == "refused"
    cport = rng.integers(32768, 61000, size=n)
    pk_req = np.where(ok, rng.integers(4, 30, size=n) if tcp else 1, np.where(refused, 1, 3 if tcp else 1))
    by_req = np.where(ok, rng.integers(*req_bytes, size=n) * (pk_req if tcp else 1), pk_req * (52 if tcp else 0))
    by_req = np.where(~tcp & ~ok, rng.integers(*req_bytes, size=n), by_req)
    dur = np.where(ok & tcp, rng.gamma(1.5, 2.0, n), np.where(tcp & ~ok & ~refused, 3.0, 0.0))
    flags = np.where(ok, "APSF", "S") if tcp else ""
    req = {"flags": flags, "packets": pk_req, "bytes": by_req, "duration": dur}
    frames = [_records(ts, client, server, proto, cport, port, _benign(client, kind), **req)]
    back = ok | refused if tcp else ok
    if back.any():
        k, who = int(back.sum()), client[back]
        pk = np.where(ok[back], rng.integers(4, 40, size=k) if tcp else 1, 1)
        by = np.where(ok[back], rng.integers(*resp_bytes, size=k) * (pk if tcp else 1), 40)
        fl = np.where(ok[back], "APSF", "AR") if tcp else ""
        resp = {"flags": fl, "packets": pk, "bytes": by, "duration": dur[back]}
        rts = ts[back] + rng.gamma(2.0, 0.01, k)
        frames.append(_records(rts, server[back], who, proto, port[back], cport[back], _benign(who, kind), **resp))
    return frames


# --- NTP clients on pool servers ---------------------------------------------------------------


def _ntp_polls(d: Day, rng: np.random.Generator, servers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One client's NTP queries of the day: four pool servers at a time, polled every 64-1024 s, replaced
    after each re-resolution of the pool name (restarts, roaming); a dead server never answers and is
    given up after eight polls."""
    restarts = np.sort(rng.uniform(0, 86_400, size=int(rng.integers(3, 7))))
    bounds = np.concatenate([[0.0], restarts, [86_400.0]])
    ts, server, answered = [], [], []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        chosen = rng.choice(servers, size=4, replace=False)
        dead = rng.random(4) < 0.08
        for s, is_dead in zip(chosen, dead, strict=True):
            poll = float(rng.choice([64, 256, 512, 1024], p=[0.05, 0.15, 0.3, 0.5]))  # chrony settles at 1024 s
            t = np.arange(lo + rng.uniform(0, poll), hi, poll) + rng.random() * 0.5
            if is_dead:  # unreachable after eight polls: the client drops it for another pool address
                t = t[:8]
            ts.append(t)
            server.append(_repeat(s, len(t)))
            answered.append(np.full(len(t), not is_dead) & (rng.random(len(t)) > 0.02))  # 2% lost
    return d.t0 + np.concatenate(ts), np.concatenate(server), np.concatenate(answered)


def _ntp_packet(mode: int, ts: float) -> bytes:
    """A 48-byte NTPv4 packet: client (mode 3) or server (mode 4, stratum 2) with its transmit time."""
    secs = int(ts) + 2_208_988_800  # NTP era 0 starts in 1900
    frac = int((ts % 1) * (1 << 32))
    stratum, ref = (2, b"\xcb\x6b\x06\x58") if mode == 4 else (0, b"\x00" * 4)
    head = struct.pack("!BBbb", (4 << 3) | mode, stratum, 6 if mode == 3 else 10, -23 if mode == 4 else 0)
    return head + b"\x00" * 8 + ref + b"\x00" * 24 + struct.pack("!II", secs, frac)  # reference, origin, receive: 0


def ntp_clients(d: Day, rng: np.random.Generator, srv: Servers, scale: float) -> None:
    """Linux hosts on the tap and office hosts on the flow export keep time with several pool servers."""
    for i, host in enumerate(sc.NTP_CLIENTS[: _scaled(len(sc.NTP_CLIENTS), scale, 1)]):
        ts, server, answered = _ntp_polls(d, rng, srv.ntp)
        n = len(ts)
        client = _repeat(host, n)
        cport = np.full(n, 123) if i % 2 else rng.integers(32768, 61000, size=n)  # ntpd: 123; chrony: random
        query = [_ntp_packet(3, t) for t in ts]
        answer = [_ntp_packet(4, t + 0.02) for t in ts[answered]]
        d.pcap += udp_exchanges(rng, ts, client, server, cport, 123, query, answer, answered, NTP, 0.02)
    for host in sc.OFFICE_NTP_CLIENTS[: _scaled(len(sc.OFFICE_NTP_CLIENTS), scale, 1)]:
        ts, server, answered = _ntp_polls(d, rng, srv.ntp)
        outcome = np.where(answered, "ok", "silent")
        d.flows += flow_pairs(
            rng, ts, _repeat(host, len(ts)), server, "udp", np.full(len(ts), 123), outcome, NTP, (76, 77), (76, 77)
        )


# --- browsers on CDNs ---------------------------------------------------------------------------


def _browsing(
    d: Day, rng: np.random.Generator, cdn: np.ndarray, sessions: int, failures: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One desktop's day: page loads in office hours, each opening a few connections to popular CDN
    edges (Zipf-like), and `failures` attempts spread over many edges (stale addresses, blocked ones)."""
    pages = max(1, sessions // 5)
    page_ts = d.rhythm(rng, pages, OFFICE_RHYTHM)
    per_page = rng.multinomial(sessions - pages, np.full(pages, 1 / pages)) + 1
    ts = np.repeat(page_ts, per_page) + rng.random(sessions) * 2.0
    rank = np.minimum(rng.zipf(1.3, size=sessions) - 1, len(cdn) - 1)
    own = rng.permutation(len(cdn))  # each desktop has its own favourite sites
    server = cdn[own[rank]]
    fail_ts = d.rhythm(rng, failures, OFFICE_RHYTHM)
    fail_server = cdn[rng.integers(len(cdn), size=failures)]
    return ts, server, fail_ts, fail_server


def browsers(d: Day, rng: np.random.Generator, srv: Servers, scale: float) -> None:
    """Desktops with thousands of completed HTTPS sessions to CDN edges and a few hundred failed attempts."""
    sessions, failures = _scaled(2000, scale, 200), _scaled(200, scale, 20)
    for host in sc.BROWSERS[: _scaled(len(sc.BROWSERS), scale, 1)]:
        ts, server, fail_ts, fail_server = _browsing(d, rng, srv.cdn, sessions, failures)
        client = _repeat(host, len(ts))
        d.pcap.append(tcp_sessions(rng, ts, client, server, 443, *WEB_OUT[:3], 128, _benign(host, BROWSER)))
        refused = rng.random(failures) < 0.5
        d.pcap += failed_connects(
            rng, fail_ts, _repeat(host, failures), fail_server, np.full(failures, 443), refused, BROWSER, 128
        )
    for host in sc.OFFICE_BROWSERS[: _scaled(len(sc.OFFICE_BROWSERS), scale, 1)]:
        ts, server, fail_ts, fail_server = _browsing(d, rng, srv.cdn, sessions, failures)
        all_ts, all_server = np.concatenate([ts, fail_ts]), np.concatenate([server, fail_server])
        outcome = np.concatenate([_repeat("ok", len(ts)), np.where(rng.random(failures) < 0.5, "refused", "silent")])
        d.flows += flow_pairs(
            rng,
            all_ts,
            _repeat(host, len(all_ts)),
            all_server,
            "tcp",
            np.full(len(all_ts), 443),
            outcome,
            BROWSER,
            (120, 900),
            (200, 1400),
        )


# --- Windows name services on the LAN -----------------------------------------------------------


def _nbstat(qid: int, answer: bool = False) -> bytes:
    """A NetBIOS node status query for '*' (what Windows sends to learn a neighbour's names), or its answer."""
    name = b"\x20" + b"CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" + b"\x00"
    if not answer:
        return struct.pack("!HHHHHH", qid, 0x0000, 1, 0, 0, 0) + name + struct.pack("!HH", 0x21, 1)
    names = b"DESKTOP-7QK2M1 \x00\x04\x00" + b"WORKGROUP      \x00\x84\x00"
    body = struct.pack("!HHIH", 0x21, 1, 0, 1 + len(names) + 46) + b"\x02" + names + b"\x00" * 46
    return struct.pack("!HHHHHH", qid, 0x8400, 0, 1, 0, 0) + name + body


def _name_queries(
    rng: np.random.Generator, d: Day, host: str, neighbours: list[str], windows: set[str], volume: float
) -> list[pl.DataFrame]:
    """One Windows desktop's NetBIOS node status queries to many neighbours (answered by the Windows ones,
    retried twice by the others), with LLMNR and mDNS queries to their multicast groups, partly answered."""
    kind, frames = NAMES, []
    targets = rng.choice([h for h in neighbours if h != host], size=int(150 * volume), replace=False)
    ask = rng.integers(1, 4, size=len(targets))
    dst = np.repeat(targets, ask)
    n = len(dst)
    ts = d.rhythm(rng, n, OFFICE_RHYTHM)
    windows_host = np.array([h in windows for h in dst])
    qid = rng.integers(1, 65535, size=n)
    query, answer = [_nbstat(int(q)) for q in qid], [_nbstat(int(q), True) for q in qid[windows_host]]
    frames += udp_exchanges(
        rng, ts, _repeat(host, n), dst, np.full(n, 137), 137, query, answer, windows_host, kind, 0.001
    )
    silent = ~windows_host
    for retry in (1, 2):  # NetBIOS tries three times, 1.5 s apart, while nobody answers
        k = int(silent.sum())
        again = [query[i] for i in np.flatnonzero(silent)]
        frames += udp_exchanges(
            rng,
            ts[silent] + 1.5 * retry,
            _repeat(host, k),
            dst[silent],
            np.full(k, 137),
            137,
            again,
            b"",
            np.zeros(k, bool),
            kind,
        )
    for group, port, share, names in (
        (sc.LLMNR_GROUP, 5355, 0.3, ("wpad", "fileserver", "printer-2f", "nas")),
        (sc.MDNS_GROUP, 5353, 0.5, ("_googlecast._tcp.local", "_ipp._tcp.local", "_spotify-connect._tcp.local")),
    ):
        k = int(rng.integers(120, 260) * volume) + 1
        qt = d.rhythm(rng, k, OFFICE_RHYTHM)
        asked = rng.integers(len(names), size=k)
        query = [dns_query(names[i], 0 if port == 5353 else int(rng.integers(1, 65535))) for i in asked]
        cport = np.full(k, 5353) if port == 5353 else rng.integers(49152, 65535, size=k)
        frames += udp_exchanges(
            rng, qt, _repeat(host, k), _repeat(group, k), cport, port, query, b"", np.zeros(k, bool), kind
        )
        # The owner of the name answers, LLMNR to the asker, mDNS to the group: an answer to a group query
        # pairs with no record of the capture, so its truth is the responder's own (a benign LAN host).
        ok = rng.random(k) < share
        m = int(ok.sum())
        responder = _obj(rng.choice(sorted(windows), size=m))
        to = _repeat(host, m) if port == 5355 else _repeat(group, m)
        header = {"ttl": 255 if port == 5353 else 1, "ip_id": 0, "df": False}
        answer = [dns_query(names[i], 0, answer=True) for i in asked[ok]]
        truth = _benign(responder, kind)
        frames.append(_records(qt[ok] + 0.002, responder, to, "udp", port, cport[ok], truth, **header, payload=answer))
    return frames


def name_services(d: Day, rng: np.random.Generator, scale: float) -> None:
    """Windows desktops resolving their neighbours: NetBIOS udp/137 to many LAN hosts, LLMNR and mDNS."""
    volume = max(0.2, min(1.0, scale))
    lan = [h for h in sc.LAN_HOSTS if h not in (sc.INTERNAL_SCANNER, *sc.NAME_CHATTERERS)]
    windows = {h for h in lan if int(h.rsplit(".", 1)[1]) % 2 == 0}
    for host in sc.NAME_CHATTERERS[: _scaled(len(sc.NAME_CHATTERERS), scale, 1)]:
        d.pcap += _name_queries(rng, d, host, lan, windows, volume)
    office_windows = set(sc.OFFICE_CLIENTS[::2])
    for host in sc.OFFICE_NAME_CHATTERERS[: _scaled(len(sc.OFFICE_NAME_CHATTERERS), scale, 1)]:
        targets = rng.choice(sc.OFFICE_CLIENTS, size=int(150 * volume), replace=False)
        dst = np.repeat(targets, rng.integers(1, 4, size=len(targets)))
        ts = d.rhythm(rng, len(dst), OFFICE_RHYTHM)
        outcome = np.where([h in office_windows for h in dst], "ok", "silent")
        d.flows += flow_pairs(
            rng,
            ts,
            _repeat(host, len(dst)),
            _obj(dst),
            "udp",
            np.full(len(dst), 137),
            outcome,
            NAMES,
            (78, 79),
            (229, 230),
        )


# --- a BitTorrent-like client -------------------------------------------------------------------


def _swarm(
    d: Day, rng: np.random.Generator, srv: Servers, connects: int, dht: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A download's day: peer connections (60% complete, 20% refused, 20% unanswered) and DHT queries."""
    start = d.t0 + rng.uniform(0, 86_400 * 0.4)
    end = min(d.t0 + 86_399.0, start + rng.uniform(6, 14) * 3600)
    pick = rng.integers(len(srv.peers), size=connects)
    ts = np.sort(rng.uniform(start, end, size=connects))
    outcome = rng.choice(np.array(["ok", "refused", "silent"], dtype=object), size=connects, p=[0.6, 0.2, 0.2])
    dht_pick = rng.integers(len(srv.peers), size=dht)
    dht_ts = np.sort(rng.uniform(start, end, size=dht))
    return ts, srv.peers[pick], srv.peer_ports[pick], outcome, dht_ts, dht_pick


def _krpc(tid: int, answer: bool = False) -> bytes:
    """A BitTorrent DHT ping (bencoded KRPC) or its reply."""
    node = bytes((tid * 7 + i) % 256 for i in range(20))
    t = struct.pack("!H", tid)
    if answer:
        return b"d1:rd2:id20:" + node + b"e1:t2:" + t + b"1:y1:re"
    return b"d1:ad2:id20:" + node + b"e1:q4:ping1:t2:" + t + b"1:y1:qe"


def p2p_clients(d: Day, rng: np.random.Generator, srv: Servers, scale: float) -> None:
    """A torrent client on the tap and one on the flow export: many peers on high ports, many answering."""
    connects, dht = _scaled(1200, scale, 150), _scaled(2500, scale, 300)
    ts, peer, port, outcome, dht_ts, dht_pick = _swarm(d, rng, srv, connects, dht)
    host = sc.P2P_CLIENT
    ok = outcome == "ok"
    d.pcap.append(
        tcp_sessions(
            rng, ts[ok], _repeat(host, int(ok.sum())), peer[ok], port[ok], *BITTORRENT[:3], 64, _benign(host, P2P)
        )
    )
    bad = ~ok
    d.pcap += failed_connects(
        rng, ts[bad], _repeat(host, int(bad.sum())), peer[bad], port[bad], outcome[bad] == "refused", P2P
    )
    tids = rng.integers(0, 65536, size=dht)
    answered = rng.random(dht) < 0.7
    d.pcap += udp_exchanges(
        rng,
        dht_ts,
        _repeat(host, dht),
        srv.peers[dht_pick],
        np.full(dht, 51413),
        srv.peer_ports[dht_pick],
        [_krpc(int(t)) for t in tids],
        [_krpc(int(t), True) for t in tids[answered]],
        answered,
        P2P,
        0.12,
    )
    ts, peer, port, outcome, dht_ts, dht_pick = _swarm(d, rng, srv, connects, dht)
    host = sc.OFFICE_P2P_CLIENT
    d.flows += flow_pairs(rng, ts, _repeat(host, connects), peer, "tcp", port, outcome, P2P, (60, 400), (600, 1400))
    dht_outcome = np.where(rng.random(dht) < 0.7, "ok", "silent")
    d.flows += flow_pairs(
        rng,
        dht_ts,
        _repeat(host, dht),
        srv.peers[dht_pick],
        "udp",
        srv.peer_ports[dht_pick],
        dht_outcome,
        P2P,
        (90, 110),
        (90, 120),
    )


# --- one chatty IoT device ----------------------------------------------------------------------


def iot_device(d: Day, rng: np.random.Generator) -> None:
    """A camera reconnecting to a cloud broker that is gone, in the quiet small hours: 20-60 attempts a
    minute to one host and port for an hour, refused while the host is up, then unanswered."""
    per_minute = float(rng.uniform(20, 60))
    n = int(60 * per_minute)
    start = d.at_local(rng.uniform(2.0, 3.5))[0]
    ts = start + np.arange(n) * (60.0 / per_minute) + rng.random(n) * 0.2
    broker, port = sc.IOT_BROKER
    refused = np.arange(n) < n // 2  # the broker's host went down half way through
    d.pcap += failed_connects(rng, ts, _repeat(sc.IOT_DEVICE, n), _repeat(broker, n), np.full(n, port), refused, IOT)


# --- a scan from inside the site --------------------------------------------------------------


def internal_scan(d: Day, rng: np.random.Generator, site_offset_h: float) -> None:
    """A desktop of the site's private LAN scans 1,000 ports of the file server with nmap -T4, in office
    hours of the site's time zone: the lateral movement a sensor inside the network is there to see."""
    hour = rng.uniform(10.0, 16.0)
    start = d.t0 + ((hour - site_offset_h) % 24) * 3600
    start = min(start, d.t0 + 86_400 - 120)
    ports = rng.permutation(np.arange(1, 1201))[:1000]
    ts = start + np.arange(1000) * rng.uniform(0.004, 0.02) + rng.random(1000) * 0.002
    sport = int(rng.integers(40000, 65000))
    target = _repeat(sc.INTERNAL_SERVER, 1000)
    d.pcap.append(_scan(rng, ts, sc.INTERNAL_SCANNER, target, ports, sport, 128, NMAP, INTERNAL_SCAN))


def lookalikes(d: Day, rng: dict[str, np.random.Generator], srv: Servers, scale: float, site_offset_h: float) -> None:
    """Every look-alike of the day and the inside scan, each from its own random stream."""
    ntp_clients(d, rng["ntp"], srv, scale)
    browsers(d, rng["browsers"], srv, scale)
    name_services(d, rng["names"], scale)
    p2p_clients(d, rng["p2p"], srv, scale)
    iot_device(d, rng["iot"])
    internal_scan(d, rng["internal_scan"], site_offset_h)
