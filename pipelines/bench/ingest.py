"""Packets per second of our capture reader beside scapy, dpkt and tshark, on the same file in one run."""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
from pathlib import Path

from pipelines.settings import load_settings

SCAPY_SAMPLE = 20_000  # scapy builds a Python object per packet: measured on a sample, rate extrapolated


def write_syn_capture(path: Path, packets: int) -> Path:
    """A classic pcap of `packets` minimal TCP SYN frames (the small-packet worst case)."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    frames = []
    for i in range(256):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i, 0, 64, 6, 0, bytes([45, 33, 1, i]), bytes([10, 0, 0, 1]))
        tcp = struct.pack("!HHIIBBHHH", 40000 + i, i + 1, 0, 0, 0x50, 0x02, 1024, 0, 0)
        frames.append(b"\x00" * 12 + b"\x08\x00" + ip + tcp)
    with open(path, "wb") as fh:
        fh.write(header)
        for n in range(packets):
            frame = frames[n % 256]
            fh.write(struct.pack("<IIII", 1764115200 + n // 100_000, n % 1_000_000, len(frame), len(frame)) + frame)
    return path


def bench_ingest(path: Path) -> dict:
    """Measure our reader, scapy and dpkt (and tshark where installed) on `path`."""
    from pipelines.ingest import iter_file

    settings = load_settings(env={})
    started = time.perf_counter()
    ours = sum(chunk.events.num_rows for chunk in iter_file(path, settings))
    ours_s = time.perf_counter() - started

    from scapy.all import PcapReader  # loads the layers, so packets are decoded as a user would see them

    started = time.perf_counter()
    n = 0
    with PcapReader(str(path)) as reader:
        for pkt in reader:
            _ = pkt.payload  # decode headers as a user would
            n += 1
            if n >= SCAPY_SAMPLE:
                break
    scapy_pps = n / (time.perf_counter() - started)

    import dpkt

    started = time.perf_counter()
    m = 0
    with open(path, "rb") as fh:
        for _ts, buf in dpkt.pcap.Reader(fh):
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            _ = (ip.src, ip.dst, getattr(ip.data, "sport", None), getattr(ip.data, "dport", None))
            m += 1
    dpkt_pps = m / (time.perf_counter() - started)

    tshark_pps = None
    if shutil.which("tshark"):
        started = time.perf_counter()
        out = subprocess.run(
            ["tshark", "-r", str(path), "-T", "fields", "-e", "ip.src", "-e", "tcp.dstport"],
            capture_output=True,
            timeout=3600,
        )
        tshark_pps = out.stdout.count(b"\n") / (time.perf_counter() - started)
    ours_pps = ours / ours_s
    return {
        "packets": ours,
        "ours_pps": round(ours_pps),
        "scapy_pps": round(scapy_pps),
        "dpkt_pps": round(dpkt_pps),
        "tshark_pps": round(tshark_pps) if tshark_pps else None,
        "ratio_vs_scapy": round(ours_pps / scapy_pps, 1),
        "ratio_vs_dpkt": round(ours_pps / dpkt_pps, 1),
        "scapy_sample": min(n, SCAPY_SAMPLE),
    }


def bench_csv(path: Path) -> dict:
    """Rows per second of our flow-CSV reader."""
    from pipelines.ingest import iter_file

    settings = load_settings(env={})
    started = time.perf_counter()
    rows = sum(chunk.events.num_rows for chunk in iter_file(path, settings))
    seconds = time.perf_counter() - started
    return {"rows": rows, "rows_per_s": round(rows / seconds)}
