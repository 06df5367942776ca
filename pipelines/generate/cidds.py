"""A CIDDS-001-like day (`scansense generate --profile cidds`), shaped like the slice paper 002
evaluated: week 2, day 2, 07:30-14:35, 1.5 M unidirectional flows (about 3,554 a minute), of which
about 1% are slow port scans by nmap -T1 (15 s between probes) and -T2 (0.4 s), horizontal and
vertical, labelled as CIDDS labels them (class attacker for the scanner's flows, victim for the
replies, attackType portScan, one attackID per scan). Office clients in 192.168.100/200/210.0/24
use servers in 192.168.220.0/24 and the Internet. Built with numpy index arrays and written with
Polars: no Python loop per flow."""

from __future__ import annotations

import csv
import ipaddress
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.generate.records import day_start, iso
from pipelines.generate.writers import CIDDS_HEADER, TRUTH_FIELDS, cidds_table
from pipelines.layout import landing_layout

WINDOW = (7.5, 14 + 35 / 60)  # hours of the day covered, as in paper 002
CLIENTS = [f"192.168.{net}.{host}" for net in (100, 200, 210) for host in range(2, 62)]
SERVERS = [f"192.168.220.{h}" for h in range(2, 42)]
DNS = SERVERS[:2]
MONITOR = SERVERS[39]  # pings every server every five minutes
EXTERNAL = [
    str(ipaddress.ip_address(f"{a}.0.0.0") + 7919 * i % 65000 + 2) for a in (52, 104, 142, 151, 185) for i in range(60)
]
# Authoritative name servers the site resolvers query on cache misses (popularity is Zipf-like).
AUTHORITATIVE = [
    str(ipaddress.ip_address(f"{a}.0.0.0") + 104_729 * i % 9_000_000 + 1) for a in (8, 13, 64, 198) for i in range(100)
]
MISS_SHARE = 0.06  # client queries the resolver cannot answer from its cache
BROADCAST = ["192.168.100.255", "192.168.200.255", "192.168.210.255"]
SSDP = "239.255.255.250"
SWEEP_SPACE = 124 * 256  # a horizontal scan walks random addresses of 192.168.100.0-192.168.223.255
# (kind, pacing s, share of the scan probes, fixed port for horizontal scans)
SCANS = [
    ("vertical", 15.0, 0.04, None),
    ("vertical", 15.0, 0.035, None),
    ("horizontal", 15.0, 0.03, 22),
    ("horizontal", 15.0, 0.03, 445),
    ("vertical", 0.4, 0.26, None),
    ("vertical", 0.4, 0.22, None),
    ("horizontal", 0.4, 0.2, 3389),
    ("horizontal", 0.4, 0.185, 80),
]
# Benign services: (share of connections, transport, port, where the server is)
SERVICES = [
    (0.24, "tcp", 445, "server"),
    (0.10, "tcp", 80, "server"),
    (0.08, "tcp", 443, "server"),
    (0.06, "tcp", 993, "server"),
    (0.03, "tcp", 25, "server"),
    (0.02, "tcp", 22, "server"),
    (0.02, "tcp", 3389, "server"),
    (0.15, "udp", 53, "dns"),
    (0.02, "udp", 123, "server"),
    (0.19, "tcp", 443, "external"),
    (0.05, "tcp", 80, "external"),
    (0.025, "udp", 137, "broadcast"),
    (0.015, "udp", 1900, "ssdp"),
]
# Benign failures, the hard negatives: as on real networks they repeat against a few broken
# services rather than spreading over random targets.
FAILED_SHARE = 0.02  # attempts with no answer (a bare SYN flow): a retired file server, a dead site
REFUSED_SHARE = 0.01  # attempts refused with a reset: a closed port (8080) on the client's own server
TRANSIENT_SHARE = 0.0005  # attempts lost on the way to their usual target (each a one-off)
DEAD_SERVER = "192.168.220.45"  # still mapped as a network drive (SMB) by the clients
DEAD_SITE = "52.84.125.33"  # a site that went away


def _minute_weights() -> np.ndarray:
    """Office load per minute of the window: ramp-up until 09:00, a lunch dip, steady otherwise."""
    minutes = np.arange(int(WINDOW[0] * 60), int(WINDOW[1] * 60))
    hour = minutes / 60
    w = np.clip((hour - 7.5) / 1.5, 0.35, 1.0)
    return np.where((hour >= 12) & (hour < 13), w * 0.7, w), minutes


Column = np.ndarray | str | int | float  # one value per flow, or one for all


def _flows(
    ts: np.ndarray,
    proto: Column,
    src: Column,
    dst: Column,
    sport: Column,
    dport: Column,
    packets: Column,
    nbytes: Column,
    flags: Column,
    duration: Column,
    addresses: list[str],
) -> pl.DataFrame:
    """Flows, one per time in `ts`, with `src` and `dst` as indexes into `addresses`."""
    names = pl.Series(addresses, dtype=pl.Utf8)

    def per_flow(value: Column) -> np.ndarray:
        return value if isinstance(value, np.ndarray) else np.full(len(ts), value)

    return pl.DataFrame(
        {
            "ts": ts,
            "proto": per_flow(proto),
            "src": names.gather(per_flow(src)),
            "dst": names.gather(per_flow(dst)),
            "sport": per_flow(sport).astype(np.int32),
            "dport": per_flow(dport).astype(np.int32),
            "packets": per_flow(packets).astype(np.int64),
            "bytes": per_flow(nbytes).astype(np.int64),
            "flags": per_flow(flags),
            "duration": per_flow(duration),
        }
    )


def _benign(rng: np.random.Generator, n_rows: int, t0: float, addresses: list[str]) -> pl.DataFrame:
    """Office connections as request and reply flows, trimmed to exactly `n_rows` flows."""
    index = {a: i for i, a in enumerate(addresses)}
    n = int(n_rows / 1.9) + 1000
    weights, minutes = _minute_weights()
    ts = t0 + (minutes[rng.choice(len(minutes), size=n, p=weights / weights.sum())] + rng.random(n)) * 60
    shares = np.array([s[0] for s in SERVICES])
    svc = rng.choice(len(SERVICES), size=n, p=shares / shares.sum())
    udp = np.array([s[1] == "udp" for s in SERVICES])[svc]
    dport = np.array([s[2] for s in SERVICES])[svc]
    where = np.array([s[3] for s in SERVICES])[svc]
    client = np.array([index[c] for c in CLIENTS])[rng.integers(len(CLIENTS), size=n)]
    # each client keeps to a few servers and sites
    server = np.array([index[s] for s in SERVERS])[(client * 7 + rng.integers(0, 3, size=n)) % len(SERVERS)]
    external = np.array([index[e] for e in EXTERNAL])[(client * 13 + rng.integers(0, 25, size=n)) % len(EXTERNAL)]
    dns = np.array([index[s] for s in DNS])[client % 2]
    bcast = np.array([index[b] for b in BROADCAST])[client % 3]
    dst = np.select(
        [where == "server", where == "dns", where == "external", where == "broadcast"],
        [server, dns, external, bcast],
        default=index[SSDP],
    )
    sport = np.where(dport == 137, 137, rng.integers(32768, 61000, size=n))
    fail = rng.random(n)
    outside = where == "external"
    failed = ~udp & (fail < FAILED_SHARE)
    lost = ~udp & (fail >= 1 - TRANSIENT_SHARE)
    refused = ~udp & ~outside & (fail >= FAILED_SHARE) & (fail < FAILED_SHARE + REFUSED_SHARE)
    dst = np.where(failed, np.where(outside, index[DEAD_SITE], index[DEAD_SERVER]), dst)
    dport = np.where(failed, np.where(outside, 443, 445), np.where(refused, 8080, dport))
    failed_any = failed | lost
    answered = ~failed_any & ~np.isin(where, ("broadcast", "ssdp"))
    pk_req = np.where(udp, rng.integers(1, 3, size=n), np.where(failed_any | refused, 1, rng.integers(3, 40, size=n)))
    pk_resp = np.where(udp | refused, 1, rng.integers(3, 60, size=n))
    by_req = np.where(
        dport == 53,
        rng.integers(60, 90, size=n),
        np.where(udp, rng.integers(80, 1300, size=n), pk_req * rng.integers(52, 400, size=n)),
    )
    by_resp = np.where(
        udp, rng.integers(90, 1300, size=n), np.where(refused, 40, pk_resp * rng.integers(52, 1460, size=n))
    )
    by_resp = np.where((rng.random(n) < 0.01) & ~udp & ~refused, rng.integers(1_000_000, 30_000_000, size=n), by_resp)
    dur = np.where(udp | failed_any | refused, 0.0, np.round(rng.gamma(1.2, 2.0, n), 3))
    req_flags = np.where(udp, "", np.where(failed_any | refused, "S", "APSF"))
    resp_flags = np.where(udp, "", np.where(refused, "AR", "APSF"))
    proto = np.where(udp, "udp", "tcp")
    rtt = rng.gamma(2, 0.004, n)
    a = answered
    req = _flows(ts, proto, client, dst, sport, dport, pk_req, by_req, req_flags, dur, addresses)
    resp = _flows(
        ts[a] + rtt[a],
        proto[a],
        dst[a],
        client[a],
        dport[a],
        sport[a],
        pk_resp[a],
        by_resp[a],
        resp_flags[a],
        dur[a],
        addresses,
    )
    # Recursive resolution: on a miss the resolver asks an authoritative server, a new one now and
    # then; a classic look-alike of a slow horizontal scan on port 53 (many hosts, one port, all day).
    miss = (dport == 53) & (rng.random(n) < MISS_SHARE)
    m = int(miss.sum())
    auth = np.array([index[x] for x in AUTHORITATIVE])[(rng.zipf(1.4, size=m) - 1) % len(AUTHORITATIVE)]
    qt, res = ts[miss] + 0.0003, dst[miss]
    qport = rng.integers(1024, 65535, size=m)
    ask = _flows(qt, "udp", res, auth, qport, 53, 1, rng.integers(60, 110, size=m), "", 0.0, addresses)
    got = _flows(
        qt + rng.gamma(2, 0.01, m), "udp", auth, res, 53, qport, 1, rng.integers(90, 500, size=m), "", 0.0, addresses
    )
    # the monitoring server pings every server every five minutes (echo request and reply flows)
    rounds = np.arange(t0 + WINDOW[0] * 3600 + 17, t0 + WINDOW[1] * 3600, 300.0)
    tgt = np.array([index[s] for s in SERVERS[:39]])
    pt = (rounds[:, None] + np.arange(len(tgt))[None, :] * 0.05).ravel()
    pd_ = np.tile(tgt, len(rounds))
    mon = index[MONITOR]
    ping = _flows(pt, "icmp", mon, pd_, 0, 8, 1, 84, "", 0.0, addresses)
    pong = _flows(pt + 0.0005, "icmp", pd_, mon, 0, 0, 1, 84, "", 0.0, addresses)
    df = pl.concat([req, resp, ask, got, ping, pong])
    keep = np.sort(rng.choice(df.height, size=min(n_rows, df.height), replace=False))
    return df[keep].with_columns(
        pl.lit("normal").alias("cls"),
        pl.lit("---").alias("attack_type"),
        pl.lit("---").alias("attack_id"),
        pl.lit("---").alias("attack_desc"),
    )


def _scans(rng: np.random.Generator, n_rows: int, t0: float, addresses: list[str]) -> tuple[pl.DataFrame, list[dict]]:
    """The slow scans, sized so that their flows (probes and replies) number about `n_rows`."""
    index = {a: i for i, a in enumerate(addresses)}

    def at(address: str) -> int:
        if address not in index:
            index[address] = len(addresses)
            addresses.append(address)
        return index[address]

    alive = {index[a] for a in CLIENTS + SERVERS}
    live_share = len(alive) / SWEEP_SPACE
    per_probe = sum(s * (2.0 if kind == "vertical" else 1.0 + live_share) for kind, _, s, _ in SCANS)
    probes_total = n_rows / per_probe
    frames, truth = [], []
    lo, hi = t0 + WINDOW[0] * 3600, t0 + WINDOW[1] * 3600
    for i, (kind, gap, share, port) in enumerate(SCANS):
        probes = max(2, int(round(share * probes_total)))
        attacker = f"192.168.{(100, 200, 210)[i % 3]}.{200 + i}"
        start = rng.uniform(lo + 60, max(lo + 61, hi - probes * gap - 60))
        ts = start + np.arange(probes) * gap + rng.random(probes) * 0.05
        ts = ts[ts < hi]
        probes = len(ts)
        if kind == "vertical":
            victim = np.full(probes, index[SERVERS[(5 * i + 3) % 38]])
            dport = rng.permutation(np.arange(1, 65536))[:probes]
        else:  # one port on random addresses of the site (nmap -p PORT 192.168.100.0-223.255)
            hosts = rng.permutation(SWEEP_SPACE)[:probes]
            victim = np.array([at(f"192.168.{100 + h // 256}.{h % 256}") for h in hosts])
            dport = np.full(probes, port)
        src = np.full(probes, at(attacker))
        sport = np.full(probes, rng.integers(40000, 60000))
        pacing = "-T1" if gap >= 15 else "-T2"
        label = {"attack_type": "portScan", "attack_id": str(i + 1), "attack_desc": f"nmap {pacing} {kind}"}
        probe = _flows(ts, "tcp", src, victim, sport, dport, 1, 44, "S", 0.0, addresses)
        frames.append(
            probe.with_columns(pl.lit("attacker").alias("cls"), *[pl.lit(v).alias(k) for k, v in label.items()])
        )
        up = np.isin(victim, list(alive))
        reply = _flows(ts[up] + 0.001, "tcp", victim[up], src[up], dport[up], sport[up], 1, 40, "AR", 0.0, addresses)
        frames.append(
            reply.with_columns(pl.lit("victim").alias("cls"), *[pl.lit(v).alias(k) for k, v in label.items()])
        )
        truth.append(
            {
                "src_ip": attacker,
                "label": "scan",
                "kind": f"slow_{kind}",
                "org": "",
                "start": iso(float(ts[0])),
                "end": iso(float(ts[-1])),
            }
        )
    return pl.concat(frames), truth


def generate_cidds(
    out: Path, seed: int = 7, start: date = date(2025, 11, 26), flows: int = 1_500_000, attack_share: float = 0.01
) -> dict:
    """Write `out/landing/<date>/flows.csv` (CIDDS columns) and `out/truth.csv`; `attack_share` of the flows are scan flows."""
    rng = np.random.default_rng([seed, 1001])
    t0 = day_start(start)
    addresses = sorted(set(CLIENTS + SERVERS + EXTERNAL + AUTHORITATIVE + BROADCAST + [SSDP, DEAD_SERVER, DEAD_SITE]))
    scans, truth = _scans(rng, int(round(flows * attack_share)), t0, addresses)
    benign = _benign(rng, max(0, flows - scans.height), t0, addresses)
    df = pl.concat([benign, scans], how="vertical_relaxed").sort("ts", maintain_order=True)
    table = cidds_table(df.with_columns(pl.lit(None, dtype=pl.Int32).alias("code")))
    assert ",".join(table.columns) == CIDDS_HEADER
    folder = landing_layout(Path(out) / "landing").day_dir(start)
    folder.mkdir(parents=True, exist_ok=True)
    table.write_csv(folder / "flows.csv", float_precision=3)
    with open(Path(out) / "truth.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=TRUTH_FIELDS)
        writer.writeheader()
        writer.writerows(sorted(truth, key=lambda r: r["start"]))
    attacker = int((table["class"] == "attacker").sum())
    victim = int((table["class"] == "victim").sum())
    return {
        "out": str(out),
        "days": [start.isoformat()],
        "files": 1,
        "records": table.height,
        "attack_flows": attacker + victim,
        "attacker_flows": attacker,
        "victim_flows": victim,
        "attack_share": round((attacker + victim) / max(1, table.height), 4),
        "scans": len(truth),
        "truth": str(Path(out) / "truth.csv"),
    }
