"""A CIDDS-001-like day (`scansense generate --profile cidds`): office traffic in CIDDS's CSV columns
with about 1% slow-scan flows from nmap -T1 (15 s between probes) and -T2 (0.4 s) horizontal and
vertical scans, labelled as CIDDS labels them (class attacker/victim, attackType portScan, attackID).
Vectorized with numpy and written with Polars: paper 002 used 1.5 M flows of week 2, day 2."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.generate.writers import CIDDS_HEADER

OFFICE = [f"192.168.{net}.{host}" for net in (100, 200, 210) for host in range(2, 60)]
SERVERS = [f"192.168.220.{h}" for h in range(2, 40)]
DNS = ["192.168.100.2", "192.168.100.3"]
# (kind, pacing seconds, probes, attack id)
SCANS = [  # about 1% of 1.5 M flows are scanner probes (plus as many victim replies)
    ("vertical", 15.0, 800, 1),
    ("vertical", 15.0, 800, 2),
    ("horizontal", 15.0, 400, 3),
    ("horizontal", 15.0, 400, 4),
    ("vertical", 0.4, 4000, 5),
    ("vertical", 0.4, 4000, 6),
    ("horizontal", 0.4, 2300, 7),
    ("horizontal", 0.4, 2300, 8),
]


def _benign(rng: np.random.Generator, n: int, t0: float) -> pl.DataFrame:
    rhythm = np.array([1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 10, 9, 8, 10, 10, 10, 9, 7, 4, 2, 1, 1, 1, 1], float)
    hours = rng.choice(24, size=n, p=rhythm / rhythm.sum()) + rng.random(n)
    ts = t0 + hours * 3600
    client = rng.integers(len(OFFICE), size=n)
    udp = rng.random(n) < 0.2
    server = rng.integers(len(SERVERS), size=n)
    sport = rng.integers(32768, 61000, size=n)
    dport = rng.choice([80, 443, 443, 445, 22, 993, 8080, 8443, 3389, 139, 135, 5985], size=n)
    # 3% of TCP attempts fail (server down, timeout); a client retries the service it uses, so the
    # failures repeat one port instead of walking through ports as a scan does
    failed = rng.random(n) < 0.03
    dport = np.where(failed, np.array([443, 445, 22])[client % 3], dport)
    server = np.where(failed, client % len(SERVERS), server)
    src = np.array(OFFICE, dtype=object)[client]
    dst = np.where(udp, np.array(DNS, dtype=object)[client % 2], np.array(SERVERS, dtype=object)[server])
    return pl.DataFrame(
        {
            "ts": ts,
            "proto": np.where(udp, "UDP", "TCP"),
            "src": src,
            "sport": sport,
            "dst": dst,
            "dport": np.where(udp, 53, dport),
            "packets": np.where(udp, 1, rng.integers(3, 40, size=n)),
            "bytes": np.where(udp, 70, rng.integers(200, 90_000, size=n)),
            "flags": np.where(udp, "......", np.where(failed, "....S.", ".AP.SF")),
            "duration": np.where(udp, 0.0, rng.random(n) * 10),
            "cls": "normal",
            "attack_type": "---",
            "attack_id": "---",
            "attack_desc": "---",
        }
    )


def _scans(rng: np.random.Generator, t0: float) -> tuple[pl.DataFrame, list[dict]]:
    frames, truth = [], []
    for i, (kind, gap, probes, attack_id) in enumerate(SCANS):
        attacker = f"192.168.100.{200 + i}" if i % 2 else f"192.168.210.{200 + i}"
        duration = probes * gap
        start = t0 + rng.uniform(0, 86_400 - duration - 60)
        ts = start + np.arange(probes) * gap + rng.random(probes) * 0.05
        if kind == "vertical":
            victim = np.full(probes, SERVERS[(3 * i) % len(SERVERS)], dtype=object)
            port = rng.permutation(np.arange(1, 65536))[:probes]
        else:
            # one port across the 192.168.0.0/16 site, hosts in random order (nmap -p PORT 192.168.0.0/16)
            space = np.array([f"192.168.{100 + k // 254}.{k % 254 + 1}" for k in range(124 * 254)], dtype=object)
            victim = space[rng.permutation(len(space))[:probes]]
            port = np.full(probes, (22, 445, 3389, 80)[i % 4])
        pacing = "-T1" if gap >= 15 else "-T2"
        sport = rng.integers(40000, 60000)
        common = {
            "cls": "attacker",
            "attack_type": "portScan",
            "attack_id": str(attack_id),
            "attack_desc": f"nmap {pacing} {kind}",
        }
        frames.append(
            pl.DataFrame(
                {
                    "ts": ts,
                    "proto": "TCP",
                    "src": np.full(probes, attacker, dtype=object),
                    "sport": np.full(probes, sport),
                    "dst": victim,
                    "dport": port,
                    "packets": 1,
                    "bytes": 44,
                    "flags": "....S.",
                    "duration": 0.0,
                }
                | common
            )
        )
        frames.append(
            pl.DataFrame(
                {
                    "ts": ts + 0.001,
                    "proto": "TCP",
                    "src": victim,
                    "sport": port,
                    "dst": np.full(probes, attacker, dtype=object),
                    "dport": np.full(probes, sport),
                    "packets": 1,
                    "bytes": 40,
                    "flags": ".A.R..",
                    "duration": 0.0,
                }
                | common
                | {"cls": "victim"}
            )
        )
        truth.append(
            {
                "src_ip": attacker,
                "label": "scan",
                "kind": f"slow_{kind}",
                "org": "",
                "start": datetime.fromtimestamp(start, UTC).isoformat(),
                "end": datetime.fromtimestamp(start + duration, UTC).isoformat(),
            }
        )
    return pl.concat([_typed(f) for f in frames]), truth


TYPES = {
    "ts": pl.Float64,
    "proto": pl.Utf8,
    "src": pl.Utf8,
    "sport": pl.Int64,
    "dst": pl.Utf8,
    "dport": pl.Int64,
    "packets": pl.Int64,
    "bytes": pl.Int64,
    "flags": pl.Utf8,
    "duration": pl.Float64,
    "cls": pl.Utf8,
    "attack_type": pl.Utf8,
    "attack_id": pl.Utf8,
    "attack_desc": pl.Utf8,
}


def _typed(df: pl.DataFrame) -> pl.DataFrame:
    return df.select([pl.col(c).cast(t) for c, t in TYPES.items()])


def generate_cidds(out: Path, seed: int = 7, start: date = date(2025, 11, 26), flows: int = 1_500_000) -> dict:
    """Write `out/landing/<date>/flows.csv` (CIDDS columns) and `out/truth.csv`."""
    rng = np.random.default_rng(seed)
    t0 = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
    scans, truth = _scans(rng, t0)
    benign = _benign(rng, max(0, flows - scans.height), t0)
    df = pl.concat([_typed(benign), _typed(scans)]).sort("ts")
    table = df.select(
        pl.from_epoch((pl.col("ts") * 1_000_000).cast(pl.Int64), time_unit="us")
        .dt.strftime("%Y-%m-%d %H:%M:%S%.3f")
        .alias("Date first seen"),
        pl.col("duration").round(3).alias("Duration"),
        pl.col("proto").alias("Proto"),
        pl.col("src").alias("Src IP Addr"),
        pl.col("sport").alias("Src Pt"),
        pl.col("dst").alias("Dst IP Addr"),
        pl.col("dport").alias("Dst Pt"),
        pl.col("packets").alias("Packets"),
        pl.col("bytes").alias("Bytes"),
        pl.lit(1).alias("Flows"),
        pl.col("flags").alias("Flags"),
        pl.lit(0).alias("Tos"),
        pl.col("cls").alias("class"),
        pl.col("attack_type").alias("attackType"),
        pl.col("attack_id").alias("attackID"),
        pl.col("attack_desc").alias("attackDescription"),
    )
    assert ",".join(table.columns) == CIDDS_HEADER
    folder = Path(out) / "landing" / start.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    table.write_csv(folder / "flows.csv")
    with open(Path(out) / "truth.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["src_ip", "label", "kind", "org", "start", "end"])
        writer.writeheader()
        writer.writerows(truth)
    attack = int((table["class"] == "attacker").sum())
    return {
        "out": str(out),
        "days": [start.isoformat()],
        "files": 1,
        "records": table.height,
        "attack_flows": attack,
        "attack_share": round(attack / table.height, 4),
        "truth": str(Path(out) / "truth.csv"),
    }
