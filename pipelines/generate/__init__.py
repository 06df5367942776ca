"""Labelled synthetic traffic for N days (`scansense generate`): a small CN network with a day/night
rhythm, and hidden in it fast, UDP, slow (nmap -T1/-T2 pacing), distributed and research scans, a
scan from inside the site, and benign clients that look like scanners to a counter of contacts
(`lookalikes.py`: NTP, browsers, Windows name services, P2P, a chatty IoT device).

Each file is a separate vantage point, so no probe is recorded twice: the pcap taps the monitored
network, flows.csv exports another segment, firewall.log is an Internet-facing server, sensor.jsonl
our listener and honeypot.json a web/SSH honeypot. `truth.csv` is derived from the records written,
so every labelled source appears in some file. Deterministic for a seed (same bytes twice).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from pipelines.generate import activities as act
from pipelines.generate import lookalikes as look
from pipelines.generate import scenario as sc
from pipelines.generate.cidds import generate_cidds
from pipelines.generate.pcap import write_pcap
from pipelines.generate.records import concat, day_start, iso
from pipelines.generate.writers import TRUTH_FIELDS, write_cidds, write_honeypot, write_sensor, write_ufw
from pipelines.layout import landing_layout

__all__ = ["generate", "generate_cidds", "write_orgs"]

FILES = ("capture.pcap", "flows.csv", "firewall.log", "sensor.jsonl", "honeypot.json")
SENSOR_NAME = "sensor-1"
# A stable stream per activity: changing one activity's draws never shifts another's.
STREAMS = {"benign_pcap": 1, "fast": 2, "slow_pcap": 3, "flows": 4, "slow_flows": 5, "noise": 6,
           "fw_scans": 7, "research": 8, "bots": 9, "ntp": 10, "browsers": 11, "names": 12, "p2p": 13, "iot": 14,
           "internal_scan": 15}  # fmt: skip


def _population(seed: int, pool: sc.AddressPool) -> tuple[list[str], list[str]]:
    """The Internet clients of the monitored services, the same people every day."""
    rng = np.random.default_rng([seed, 0])
    names = list(sc.CLIENT_WEIGHTS)
    p = np.array([sc.CLIENT_WEIGHTS[c] for c in names])
    countries = rng.choice(len(names), size=1500, p=p / p.sum())
    clients = [pool.draw(rng, sc.CLIENT_BLOCKS[names[i]])[0] for i in countries]
    return clients, pool.draw(rng, sc.CLIENT_V6_BLOCKS, 60)


def _day(
    day: date,
    index: int,
    seed: int,
    pool: sc.AddressPool,
    clients: list[str],
    v6: list[str],
    servers: look.Servers,
    scale: float = 1.0,
    timezone: str = "Asia/Shanghai",
) -> act.Day:
    d = act.Day(t0=day_start(day), pool=pool)

    def rng(name: str) -> np.random.Generator:
        return np.random.default_rng([seed, index + 1, STREAMS[name]])

    act.benign_pcap(d, rng("benign_pcap"), clients, v6, scale=scale)
    act.fast_scans(d, rng("fast"))
    act.slow_scan_pcap(d, rng("slow_pcap"))
    act.benign_flows(d, rng("flows"), scale=scale)
    act.slow_scans_flows(d, rng("slow_flows"))
    act.firewall_noise(d, rng("noise"), scale=scale)
    act.firewall_scans(d, rng("fw_scans"))
    act.research(d, rng("research"), scale=scale)
    act.bots(d, rng("bots"), scale=scale)
    streams = {name: rng(name) for name in ("ntp", "browsers", "names", "p2p", "iot", "internal_scan")}
    look.lookalikes(d, streams, servers, scale, _utc_offset_h(day, timezone))
    return d


def _utc_offset_h(day: date, timezone: str) -> float:
    """Hours the site's clock is ahead of UTC at noon UTC of `day` (the site's daytime for the inside scan)."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    offset = noon.astimezone(ZoneInfo(timezone)).utcoffset()
    return offset.total_seconds() / 3600 if offset is not None else 0.0


def _inside(df: pl.DataFrame, t0: float) -> pl.DataFrame:
    """Records whose timestamp, as written (microseconds), falls inside the UTC day."""
    us = (pl.col("ts") * 1_000_000).round()
    return df.filter((us >= t0 * 1_000_000) & (us < (t0 + 86_400) * 1_000_000))


def truth_rows(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One row per (source, label, kind, org) with the first and last time of its activity."""
    parts = [f.select("actor", "label", "kind", "org", "ts") for f in frames if f.height]
    return (
        pl.concat(parts)
        .filter(pl.col("actor").is_not_null())
        .group_by("actor", "label", "kind", "org")
        .agg(pl.col("ts").min().alias("start"), pl.col("ts").max().alias("end"))
        .sort("start", "actor", "kind")
    )


def write_orgs(out: Path) -> list[str]:
    """Reference organization lists in the shape of ../shared/data/scanner_orgs (CIDR lists, IP # rDNS)."""
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# IP # reverse DNS name (synthetic scanners of the demo)"]
    for org in sc.ORGS:
        (out / f"{org.name}_v4.txt").write_text("\n".join(org.blocks) + "\n", encoding="utf-8")
        if org.v6_block:
            (out / f"{org.name}_v6.txt").write_text(org.v6_block + "\n", encoding="utf-8")
        lines += [f"{ip} # {sc.rdns(org, i)}" for i, ip in enumerate(sc.org_hosts(org))]
    (out / "mass_scanner.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [o.name for o in sc.ORGS]


def generate(
    out: Path,
    days: int = 1,
    start: date = date(2025, 11, 26),
    seed: int = 7,
    scale: float = 1.0,
    on_day: Callable[[date], None] | None = None,
    timezone: str = "Asia/Shanghai",
) -> dict:
    """Write `days` labelled days to `out/landing/<date>/`, `out/truth.csv` and `out/orgs/`.

    `scale` multiplies the background (benign traffic, firewall noise, research scanners, bots);
    the planted scans stay whole, so a small day (scale 0.1) still holds every kind of scan.
    `on_day(day)` hears when each day is written (a progress display). `timezone` is the site's
    (settings `[site] timezone`): the scan from inside the site happens in its office hours.
    """
    out = Path(out)
    pool = sc.AddressPool()
    clients, v6 = _population(seed, pool)
    servers = look.servers(seed, pool)
    truth: list[pl.DataFrame] = []
    files = records = 0
    dates: list[str] = []
    for i in range(days):
        day = start + timedelta(days=i)
        pool.new_day()
        d = _day(day, i, seed, pool, clients, v6, servers, scale, timezone)
        folder = landing_layout(out / "landing").day_dir(day)
        folder.mkdir(parents=True, exist_ok=True)
        parts = {
            name: _inside(concat(rows), d.t0)
            for name, rows in zip(FILES, (d.pcap, d.flows, d.fw, d.sensor, d.honeypot), strict=True)
        }
        records += write_pcap(
            folder / "capture.pcap", parts["capture.pcap"], (*sc.HOME_NET, sc.SITE_LAN, "2001:da8:8000::/48")
        )
        records += write_cidds(folder / "flows.csv", parts["flows.csv"])
        records += write_ufw(folder / "firewall.log", parts["firewall.log"])
        records += write_sensor(folder / "sensor.jsonl", parts["sensor.jsonl"], SENSOR_NAME)
        records += write_honeypot(folder / "honeypot.json", parts["honeypot.json"])
        files += len(FILES)
        truth.append(truth_rows(list(parts.values())))
        dates.append(day.isoformat())
        if on_day is not None:
            on_day(day)
    table = pl.concat(truth) if truth else pl.DataFrame(schema={c: pl.Utf8 for c in TRUTH_FIELDS})
    with open(out / "truth.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(TRUTH_FIELDS)
        for actor, label, kind, org, first, last in table.iter_rows():
            writer.writerow([actor, label, kind, org, iso(first), iso(last)])
    orgs = write_orgs(out / "orgs")
    return {
        "out": str(out),
        "days": dates,
        "files": files,
        "records": records,
        "truth": str(out / "truth.csv"),
        "orgs": len(orgs),
        "scanners": int(sum(t.filter(pl.col("label") == "scan")["actor"].n_unique() for t in truth)),
    }
