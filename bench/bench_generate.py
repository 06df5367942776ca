"""Generation speed, measured in one run: N demo days, the CIDDS-like day, and the numpy pcap writer
against scapy building the same packets one by one (on a sample). Prints one JSON object.

    .venv/bin/python bench/bench_generate.py --days 3 --flows 1500000 --scapy-sample 20000
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np


def _pcap_writer(sample: int) -> dict:
    """Our writer on one day's tap traffic versus scapy layers + wrpcap on its first `sample` packets."""
    from scapy.all import ICMP, IP, TCP, UDP, Ether, IPv6, Raw, wrpcap

    from pipelines.generate import activities as act
    from pipelines.generate import scenario as sc
    from pipelines.generate.pcap import write_pcap
    from pipelines.generate.records import concat, day_start

    pool = sc.AddressPool()
    d = act.Day(t0=day_start(date(2025, 11, 26)), pool=pool)
    clients = pool.draw(np.random.default_rng(1), sc.CLIENT_BLOCKS["CN"], 500)
    v6 = pool.draw(np.random.default_rng(2), sc.CLIENT_V6_BLOCKS, 20)
    act.benign_pcap(d, np.random.default_rng(3), clients, v6, 1.0)
    act.fast_scans(d, np.random.default_rng(4))
    df = concat(d.pcap)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write_pcap(Path(tmp) / "ours.pcap", df, sc.HOME_NET)
        ours = time.perf_counter() - t
        rows = df.head(sample).to_dicts()
        t = time.perf_counter()
        packets = []
        for r in rows:
            if ":" in r["src"]:
                ip = IPv6(src=r["src"], dst=r["dst"], hlim=r["ttl"])
            else:
                ip = IP(src=r["src"], dst=r["dst"], ttl=r["ttl"], id=r["ip_id"] or 0)
            if r["proto"] == "tcp":
                l4 = TCP(sport=r["sport"], dport=r["dport"], flags=r["flags"], seq=r["seq"] or 0, ack=r["ack"] or 0)
            elif r["proto"] == "udp":
                l4 = UDP(sport=r["sport"], dport=r["dport"])
            else:
                l4 = ICMP(type=r["dport"], code=r["code"] or 0)
            # explicit MACs: without them scapy resolves each address through ARP
            pkt = Ether(src="00:1b:21:3a:4f:01", dst="00:16:3e:00:00:01") / ip / l4 / Raw(b"x" * (r["plen"] or 0))
            pkt.time = r["ts"]
            packets.append(pkt)
        wrpcap(str(Path(tmp) / "scapy.pcap"), packets)
        theirs = time.perf_counter() - t
    return {
        "packets": df.height,
        "ours_s": round(ours, 3),
        "ours_packets_per_s": round(df.height / ours),
        "scapy_sample": len(rows),
        "scapy_packets_per_s": round(len(rows) / theirs),
        "ratio": round((df.height / ours) / (len(rows) / theirs), 1),
    }


def main() -> None:
    """Run the three measurements and print them as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--flows", type=int, default=1_500_000)
    parser.add_argument("--scapy-sample", type=int, default=20_000)
    args = parser.parse_args()

    from pipelines.generate import generate, generate_cidds

    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        demo = generate(Path(tmp) / "demo", days=args.days)
        result["demo"] = {"days": args.days, "records": demo["records"], "seconds": round(time.perf_counter() - t, 2)}
        t = time.perf_counter()
        cidds = generate_cidds(Path(tmp) / "cidds", flows=args.flows)
        result["cidds"] = {
            "flows": cidds["records"],
            "attack_share": cidds["attack_share"],
            "seconds": round(time.perf_counter() - t, 2),
        }
    result["pcap_writer"] = _pcap_writer(args.scapy_sample)
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
