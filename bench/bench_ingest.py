"""Ingestion speed and memory, measured side by side in one run (issue 3).

    .venv/bin/python bench/bench_ingest.py --json                       # speed, ~1 minute
    .venv/bin/python bench/bench_ingest.py --memory-gb 2 --json         # plus the 2 GB capture memory check

- capture: our pcap reader vs scapy vs dpkt (vs tshark if installed) on one generated capture of
  small TCP SYN frames (`pipelines.ingest.bench.bench_capture`), and on the real
  probing_nmap.pcapng (pcapng, real traffic) when ../shared/data is present;
- csv: our CIDDS flow-CSV reader in rows/s, with Polars' bare `read_csv` of the same file beside it;
- lake: `ingest_paths` end to end (parse + Parquet/zstd lake + registry) for both files;
- memory (--memory-gb): a capture of that size ingested by `scansense ingest` under
  `/usr/bin/time -v`; its maximum resident set size and wall time.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines import progress  # noqa: E402
from pipelines.ingest.bench import bench_capture, bench_rows, write_syn_capture  # noqa: E402

REAL_CAPTURE = ROOT.parent / "shared" / "data" / "pcap" / "probing_nmap.pcapng"


def write_cidds_csv(path: Path, rows: int, seed: int = 7) -> Path:
    """A CIDDS-001-shaped flow CSV with varied values (random addresses, ports, times, flags, classes)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2017-03-15T00:00:00", "ms")
    ts = start + np.sort(rng.integers(0, 86_400_000, rows)).astype("timedelta64[ms]")

    def ips(prefix: str, n: int) -> pl.Series:
        a, b = rng.integers(0, 256, n), rng.integers(1, 255, n)
        return pl.Series([prefix] * n) + pl.Series(a).cast(pl.String) + "." + pl.Series(b).cast(pl.String)

    proto = rng.choice(np.array(["TCP  ", "UDP  ", "ICMP "]), rows, p=[0.8, 0.17, 0.03])
    frame = pl.DataFrame(
        {
            "Date first seen": pl.Series(ts).dt.to_string("%Y-%m-%d %H:%M:%S%.3f"),
            "Duration": pl.Series(rng.exponential(0.5, rows).round(3)),
            "Proto": proto,
            "Src IP Addr": ips("192.168.", rows),
            "Src Pt": rng.integers(1, 65535, rows),
            "Dst IP Addr": ips("10.0.", rows),
            "Dst Pt": rng.integers(1, 65535, rows),
            "Packets": rng.integers(1, 40, rows),
            "Bytes": rng.integers(40, 60_000, rows),
            "Flows": np.ones(rows, np.int64),
            "Flags": rng.choice(np.array([".A..S.", "....S.", ".AP.SF", ".A.R..", "......"]), rows),
            "Tos": np.zeros(rows, np.int64),
            "class": rng.choice(np.array(["normal", "attacker", "victim"]), rows, p=[0.9, 0.05, 0.05]),
            "attackType": rng.choice(np.array(["---", "portScan", "pingScan"]), rows, p=[0.9, 0.08, 0.02]),
            "attackID": rng.choice(np.array(["---", "1", "2"]), rows),
            "attackDescription": np.full(rows, "---"),
        }
    )
    frame.write_csv(path)
    return path


def lake_rate(path: Path) -> dict:
    """Events per second of `ingest_paths` into an empty warehouse (parse + write + registry)."""
    from pipelines.ingest import ingest_paths
    from pipelines.settings import load_settings

    with tempfile.TemporaryDirectory(dir=path.parent) as wh:
        settings = load_settings(env={"SCANSENSE_WAREHOUSE": wh})
        started = time.perf_counter()
        summary = ingest_paths([path], settings)
        seconds = time.perf_counter() - started
        size = sum(f.stat().st_size for f in Path(wh).rglob("*.parquet"))
    return {
        "rows": summary.rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(summary.rows / seconds),
        "lake_mb": round(size / 1e6, 1),
    }


def memory_check(folder: Path, gigabytes: float) -> dict:
    """Ingest a generated capture of `gigabytes` with `scansense ingest` under /usr/bin/time -v."""
    packets = int(gigabytes * 1e9 / 70)  # 16-byte record header + 54-byte frame
    capture = write_syn_capture(folder / "big.pcap", packets)
    wh = folder / "warehouse"
    cmd = ["/usr/bin/time", "-v", str(ROOT / ".venv" / "bin" / "scansense"), "ingest", str(capture)]
    cmd += ["--warehouse", str(wh), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {"error": out.stderr[-2000:]}
    shutil.rmtree(wh, ignore_errors=True)
    size = capture.stat().st_size
    capture.unlink()
    return {
        "capture_bytes": size,
        "packets": packets,
        "max_rss_mb": round(int(rss.group(1)) / 1024) if rss else None,
        "wall": wall.group(1) if wall else None,
        "ingest": result,
        "command": " ".join(cmd[:3] + ["ingest", "big.pcap", "--warehouse", "W", "--json"]),
    }


def main() -> int:
    """Run the measurements and print them (JSON on the last line with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=2_000_000, help="generated capture size")
    parser.add_argument("--rows", type=int, default=2_000_000, help="generated CIDDS CSV size")
    parser.add_argument("--memory-gb", type=float, default=0.0, help="also run the memory check on a capture this big")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    steps = ("write inputs", "capture", "real capture", "csv", "lake", *(["memory"] if args.memory_gb else []))
    bar, step = progress.step_bar(steps, args.json, desc="bench ingest")
    with bar, tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        step("write inputs")
        capture = write_syn_capture(folder / "syn.pcap", args.packets)
        csv = write_cidds_csv(folder / "flows.csv", args.rows)
        step("capture")
        result = {"capture": bench_capture(capture)}
        step("real capture")
        if REAL_CAPTURE.is_file():
            result["real_capture"] = bench_capture(REAL_CAPTURE)
        step("csv")
        result["csv"] = bench_rows(csv)
        step("lake")
        result["lake"] = {"capture": lake_rate(capture), "csv": lake_rate(csv)}
        capture.unlink()
        csv.unlink()
        if args.memory_gb:
            step("memory")
            result["memory"] = memory_check(folder, args.memory_gb)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
