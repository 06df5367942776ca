"""Speed of our readers beside scapy, dpkt and tshark on the same file in one run (issue 3).

Each reader does comparable work: every packet's addresses, ports and TCP flags are decoded (ours
into Arrow columns, the others into Python values). scapy, and dpkt on large files, are timed on
a leading sample of packets and their rate extrapolated; the sample sizes are reported.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

SCAPY_SAMPLE = 20_000  # scapy builds a Python object per layer: ~10k packets/s, so a sample
DPKT_SAMPLE = 300_000  # dpkt is ~100k packets/s: a sample keeps the run short on big files
T0 = 1764115200  # 2025-11-26 00:00:00 UTC


def write_syn_capture(path: Path, packets: int, seed: int = 7) -> Path:
    """A classic pcap of minimal Ethernet/IPv4/TCP SYN frames (the small-packet worst case).

    Sources, destinations and ports vary (as in a scan) so that nothing is cached per value.
    Written with numpy in blocks, so gigabytes take seconds.
    """
    rng = np.random.default_rng(seed)
    frame = 14 + 20 + 20
    rec = 16 + frame
    template = np.zeros(rec, np.uint8)
    template[16 + 12 : 16 + 14] = (0x08, 0x00)
    template[16 + 14 : 16 + 24] = (0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6)
    template[16 + 46] = 0x50  # TCP data offset
    template[16 + 47] = 0x02  # SYN
    template[16 + 48 : 16 + 50] = (0x04, 0x00)  # window 1024
    template[8:12] = np.frombuffer(np.uint32(frame).tobytes(), np.uint8)
    template[12:16] = template[8:12]
    with open(path, "wb") as fh:
        fh.write(np.array([0xA1B2C3D4], "<u4").tobytes() + np.array([2, 4], "<u2").tobytes())
        fh.write(np.array([0, 0, 65535, 1], "<u4").tobytes())
        done = 0
        while done < packets:
            n = min(1_000_000, packets - done)
            block = np.tile(template, (n, 1))
            idx = np.arange(done, done + n, dtype=np.int64)
            block[:, 0:4] = (T0 + idx // 50_000).astype("<u4").view(np.uint8).reshape(n, 4)
            block[:, 4:8] = (idx % 50_000 * 20).astype("<u4").view(np.uint8).reshape(n, 4)
            block[:, 16 + 18 : 16 + 20] = (idx & 0xFFFF).astype(">u2").view(np.uint8).reshape(n, 2)  # IP id
            src = rng.integers(0x2D000000, 0x2D00FFFF, n).astype(">u4")
            dst = (0x0A000000 + rng.integers(0, 4096, n)).astype(">u4")
            block[:, 16 + 26 : 16 + 30] = src.view(np.uint8).reshape(n, 4)
            block[:, 16 + 30 : 16 + 34] = dst.view(np.uint8).reshape(n, 4)
            block[:, 16 + 34 : 16 + 36] = rng.integers(1024, 65535, n).astype(">u2").view(np.uint8).reshape(n, 2)
            block[:, 16 + 36 : 16 + 38] = rng.integers(1, 65535, n).astype(">u2").view(np.uint8).reshape(n, 2)
            fh.write(block.tobytes())
            done += n
    return path


def _ours(path: Path) -> tuple[int, float]:
    from pipelines.ingest import iter_file
    from pipelines.settings import load_settings

    settings = load_settings(env={})
    started = time.perf_counter()
    n = sum(chunk.events.num_rows for chunk in iter_file(path, settings))
    return n, time.perf_counter() - started


def _scapy(path: Path, fmt: str, limit: int) -> tuple[int, float]:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapNgReader, PcapReader

    reader_cls = PcapNgReader if fmt == "pcapng" else PcapReader
    n = 0
    started = time.perf_counter()
    with reader_cls(str(path)) as reader:
        for pkt in reader:
            ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
            if ip is not None:
                l4 = ip.payload
                _ = (ip.src, ip.dst, getattr(l4, "sport", None), getattr(l4, "dport", None))
                if isinstance(l4, TCP):
                    _ = str(l4.flags)
                elif isinstance(l4, UDP):
                    pass
            n += 1
            if n >= limit:
                break
    return n, time.perf_counter() - started


def _dpkt(path: Path, fmt: str, limit: int) -> tuple[int, float]:
    import dpkt

    n = 0
    started = time.perf_counter()
    with open(path, "rb") as fh:
        reader = dpkt.pcapng.Reader(fh) if fmt == "pcapng" else dpkt.pcap.Reader(fh)
        for _ts, buf in reader:
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
                l4 = ip.data
                _ = (ip.src, ip.dst, getattr(l4, "sport", None), getattr(l4, "dport", None))
                if isinstance(l4, dpkt.tcp.TCP):
                    _ = l4.flags
            n += 1
            if n >= limit:
                break
    return n, time.perf_counter() - started


def _tshark(path: Path) -> tuple[int, float] | None:
    if not shutil.which("tshark"):
        return None
    started = time.perf_counter()
    fields = ["ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "tcp.flags"]
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", *(x for f in fields for x in ("-e", f))]
    out = subprocess.run(cmd, capture_output=True, timeout=7200, check=False)
    return out.stdout.count(b"\n"), time.perf_counter() - started


def bench_capture(path: Path, scapy_sample: int = SCAPY_SAMPLE, dpkt_sample: int = DPKT_SAMPLE) -> dict:
    """Packets per second of ours, scapy, dpkt (and tshark if installed) on one capture, one run."""
    from pipelines.ingest import detect_format

    path = Path(path)
    fmt = detect_format(path)
    if fmt not in ("pcap", "pcapng"):
        raise ValueError(f"{path} is not a pcap or pcapng capture (detected: {fmt})")
    _ours(path)  # warm-up: imports and first-call costs are not what is measured
    ours, ours_s = _ours(path)
    s_n, s_s = _scapy(path, fmt, scapy_sample)
    d_n, d_s = _dpkt(path, fmt, dpkt_sample)
    tshark = _tshark(path)
    ours_pps, scapy_pps, dpkt_pps = ours / ours_s, s_n / s_s, d_n / d_s
    return {
        "file": str(path),
        "format": fmt,
        "packets": ours,
        "ours_pps": round(ours_pps),
        "scapy_pps": round(scapy_pps),
        "dpkt_pps": round(dpkt_pps),
        "tshark_pps": round(tshark[0] / tshark[1]) if tshark else None,
        "ratio_vs_scapy": round(ours_pps / scapy_pps, 1),
        "ratio_vs_dpkt": round(ours_pps / dpkt_pps, 1),
        "scapy_sample": s_n,
        "dpkt_sample": d_n,
    }


def bench_rows(path: Path) -> dict:
    """Rows per second of our reader on any input (flow CSVs, logs), plus Polars' bare CSV read for scale."""
    from pipelines.ingest import detect_format, iter_file
    from pipelines.settings import load_settings

    settings = load_settings(env={})
    list(iter_file(path, settings))  # warm-up (also warms the page cache for both readers)
    started = time.perf_counter()
    rows = bad = 0
    for chunk in iter_file(path, settings):
        rows += chunk.events.num_rows
        bad += len(chunk.quarantine)
    seconds = time.perf_counter() - started
    out = {"file": str(path), "format": detect_format(path), "rows": rows, "quarantined": bad}
    out["rows_per_s"] = round(rows / seconds)
    if out["format"] in ("cidds", "cicflowmeter", "nfdump"):
        import polars as pl

        started = time.perf_counter()
        n = pl.read_csv(path, infer_schema=False).height
        out["polars_read_csv_rows_per_s"] = round(n / (time.perf_counter() - started))
    return out
