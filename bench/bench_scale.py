"""One generated day of 50 million events (captures and flows) through `scansense run` (issue 16).

    .venv/bin/python bench/bench_scale.py --events 50000000 --json          # the issue's day
    .venv/bin/python bench/bench_scale.py --events 1000000 --keep /tmp/s1   # a quick look
    .venv/bin/python bench/bench_scale.py --keep /tmp/s50 --write-only      # write once, then run
    .venv/bin/python bench/bench_scale.py --keep /tmp/s50 --memory-limit 2GB --json   # again and again

The day is an Internet-facing /16 seen by a tap (hourly pcap files, 20% of the records) and a flow
exporter (hourly CIDDS-001 CSV files, 80%): about 1,000,000 sources of which 5% scan. 1% of the
scanners are fast (4,000 ports of one host in two minutes), the others sweep one port across the
site at a few probes an hour; the benign 95% hold conversations with the site's 2,000 servers
(flows: request and reply records; packets: a handshake, data both ways and a FIN, answered). Built
hour by hour with numpy and written by the project's own writers, so memory stays bounded.

Then `scansense run` runs the day under `/usr/bin/time -v`: printed are the wall time per step (the
run's own `seconds`), the peak RSS of the process, the fast scanners found out of those planted and
what the warehouse holds. `--memory-limit` is passed to DuckDB (`SCANSENSE_SCALE_MEMORY_LIMIT`).

With `--celery W --shards N` the day runs instead through Airflow on this machine
(deploy/airflow_local.py: PostgreSQL, Redis, scheduler, W Celery workers): printed are each task's
wall time (first start to last end over its mapped instances), the whole DAG run's, and the peak RSS
of every process kind, sampled twice a second with psutil (task processes are short-lived forks).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from pipelines import progress
from pipelines.generate.pcap import write_pcap
from pipelines.generate.writers import write_cidds

ROOT = Path(__file__).resolve().parents[1]
DAY = "2025-11-26"
DAY_START = 1_764_115_200  # 2025-11-26T00:00:00Z
HOME = 0xCA700000  # 202.112.0.0/16, the monitored site
HOME_NET = ("202.112.0.0/16",)
SERVERS = HOME + np.arange(2_000, dtype=np.int64) * 31 % 65_536  # 2,000 servers spread over the /16
SERVICES = np.array([443, 80, 53, 22, 25, 993, 3389, 8080])
SWEEP_PORTS = np.array([22, 23, 80, 443, 445, 1433, 3306, 3389, 5900, 6379, 8080, 8443])
PCAP_SHARE = 5  # every 5th source, conversation and scanner is seen by the tap, the rest by the exporter
FAST_PORTS = 4_000


def dotted(values: np.ndarray) -> pl.Series:
    """IPv4 numbers as dotted strings, vectorized."""
    s = pl.Series(values.astype(np.int64))
    parts = [(s // 16_777_216), (s // 65_536 % 256), (s // 256 % 256), (s % 256)]
    return (
        parts[0].cast(pl.String)
        + "."
        + parts[1].cast(pl.String)
        + "."
        + parts[2].cast(pl.String)
        + "."
        + parts[3].cast(pl.String)
    )


class Day:
    """The population and its schedule; `hour(h)` builds one hour's records."""

    def __init__(self, events: int, sources: int, scan_share: float, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        addrs = np.unique(self.rng.integers(0x0B000000, 0x64000000, int(sources * 1.02) + 1000))
        addrs = self.rng.permutation(addrs)[:sources]
        n_scan = int(sources * scan_share)
        self.scanners, self.clients = addrs[:n_scan], addrs[n_scan:]
        self.fast = self.scanners[: max(1, n_scan // 100)]
        self.slow = self.scanners[len(self.fast) :]
        self.fast_hour = self.rng.integers(0, 24, len(self.fast))
        self.fast_host = SERVERS[self.rng.integers(0, len(SERVERS), len(self.fast))]
        self.sweep_port = SWEEP_PORTS[self.rng.integers(0, len(SWEEP_PORTS), len(self.slow))]
        fast_probes = len(self.fast) * FAST_PORTS
        # what is left after the fast scans: a fifth slow-scan probes, the rest conversations
        rest = max(0, events - fast_probes)
        self.slow_per_hour = rest // 5 // 24
        # a conversation is 2 flow records or 6 packets: average (0.8*2 + 0.2*6) = 2.8 records
        self.conv_per_hour = int((rest - self.slow_per_hour * 24) / 2.8 / 24)

    def _ts(self, hour: int, n: int) -> np.ndarray:
        return DAY_START + hour * 3600 + self.rng.random(n) * 3600

    def hour(self, h: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(flow records, packets) of hour `h`, each in time order."""
        rng = self.rng
        parts = []
        # fast scanners of this hour: 4,000 ports of one server in two minutes, unanswered
        who = np.flatnonzero(self.fast_hour == h)
        if len(who):
            start = self._ts(h, len(who)) - 120
            src = np.repeat(self.fast[who], FAST_PORTS)
            parts.append(
                self._probes(
                    src,
                    np.repeat(self.fast_host[who], FAST_PORTS),
                    np.tile(np.arange(1, FAST_PORTS + 1), len(who)),
                    np.repeat(start, FAST_PORTS) + np.tile(np.arange(FAST_PORTS) * 0.03, len(who)),
                )
            )
        # slow sweepers: one port across the site's addresses, a few probes an hour each
        pick = rng.integers(0, len(self.slow), self.slow_per_hour)
        parts.append(
            self._probes(
                self.slow[pick],
                HOME + rng.integers(0, 65_536, len(pick)),
                self.sweep_port[pick],
                self._ts(h, len(pick)),
            )
        )
        # benign conversations: a client, a server, a service
        n = self.conv_per_hour
        client = self.clients[rng.integers(0, len(self.clients), n)]
        conv = pl.DataFrame(
            {
                "client": client,
                "server": SERVERS[rng.integers(0, len(SERVERS), n)],
                "dport": SERVICES[rng.integers(0, len(SERVICES), n)],
                "sport": rng.integers(32_768, 61_000, n),
                "ts": self._ts(h, n),
                "dur": rng.exponential(2.0, n),
                "tap": client % PCAP_SHARE == 0,
            }
        )
        probes = pl.concat(parts)
        flows = pl.concat([probes.filter(~pl.col("tap")), *self._conversation_flows(conv.filter(~pl.col("tap")))])
        packets = pl.concat([probes.filter(pl.col("tap")), *self._conversation_packets(conv.filter(pl.col("tap")))])
        return flows.sort("ts").drop("tap"), packets.sort("ts").drop("tap")

    def _probes(self, src: np.ndarray, dst: np.ndarray, dport: np.ndarray, ts: np.ndarray) -> pl.DataFrame:
        n = len(src)
        return pl.DataFrame(
            {
                "ts": ts,
                "src": src,
                "dst": dst,
                "sport": self.rng.integers(40_000, 65_000, n),
                "dport": dport,
                "flags": "S",
                "packets": 1,
                "bytes": 44,
                "duration": 0.0,
                "window": 1024,
                "opts": 1,
                "tap": src % PCAP_SHARE == 0,
            }
        )

    @staticmethod
    def _conversation_flows(conv: pl.DataFrame) -> list[pl.DataFrame]:
        common = [pl.col("dur").alias("duration"), pl.lit(1024).alias("window"), pl.lit(1).alias("opts"), pl.col("tap")]
        ask = conv.select(
            "ts",
            pl.col("client").alias("src"),
            pl.col("server").alias("dst"),
            "sport",
            "dport",
            pl.lit("APSF").alias("flags"),
            pl.lit(8).alias("packets"),
            pl.lit(900).alias("bytes"),
            *common,
        )
        reply = conv.select(
            (pl.col("ts") + 0.001).alias("ts"),
            pl.col("server").alias("src"),
            pl.col("client").alias("dst"),
            pl.col("dport").alias("sport"),
            pl.col("sport").alias("dport"),
            pl.lit("APSF").alias("flags"),
            pl.lit(7).alias("packets"),
            pl.lit(5000).alias("bytes"),
            *common,
        )
        return [ask, reply]

    @staticmethod
    def _conversation_packets(conv: pl.DataFrame) -> list[pl.DataFrame]:
        steps = [  # (from client?, flags, seconds after the first SYN, bytes)
            (True, "S", 0.0, 60),
            (False, "SA", 0.02, 60),
            (True, "A", 0.04, 52),
            (True, "PA", 0.05, 552),
            (False, "PA", 0.08, 1452),
            (True, "FA", 0.5, 52),
        ]
        out = []
        for from_client, flags, dt, size in steps:
            a, b = ("client", "server") if from_client else ("server", "client")
            pa_, pb = ("sport", "dport") if from_client else ("dport", "sport")
            out.append(
                conv.select(
                    (pl.col("ts") + dt).alias("ts"),
                    pl.col(a).alias("src"),
                    pl.col(b).alias("dst"),
                    pl.col(pa_).alias("sport"),
                    pl.col(pb).alias("dport"),
                    pl.lit(flags).alias("flags"),
                    pl.lit(1).alias("packets"),
                    pl.lit(size).alias("bytes"),
                    pl.lit(0.0).alias("duration"),
                    pl.lit(64_240).alias("window"),
                    pl.lit(2 if flags == "S" or flags == "SA" else 0).alias("opts"),
                    "tap",
                )
            )
        return out


def _as_records(df: pl.DataFrame) -> pl.DataFrame:
    """The generator writers' record columns (addresses as text, TCP throughout)."""
    n = df.height
    return df.with_columns(
        src=dotted(df["src"].to_numpy()),
        dst=dotted(df["dst"].to_numpy()),
        proto=pl.lit("tcp"),
        code=pl.lit(None, pl.Int64),
        cls=pl.lit(None, pl.String),
        attack_type=pl.lit(None, pl.String),
        attack_id=pl.lit(None, pl.String),
        attack_desc=pl.lit(None, pl.String),
        payload=pl.lit(None, pl.Binary),
        plen=(pl.col("bytes") - 52).clip(0, 1400) * pl.col("flags").str.contains("P").cast(pl.Int64),
        ttl=pl.lit(57),
        ip_id=pl.Series(np.arange(n) % 65_536),
        df=pl.lit(True),
        seq=pl.Series(np.arange(n, dtype=np.int64) * 7919 % 4_294_967_296),
        ack=pl.lit(0),
    )


def write_day(landing: Path, events: int, sources: int, scan_share: float, seed: int) -> dict:
    """Write the day's 24 hourly pcap and flow files; return the counts and the planted fast scanners."""
    day = Day(events, sources, scan_share, seed)
    folder = landing / DAY
    folder.mkdir(parents=True, exist_ok=True)
    flows = packets = 0
    with progress.bar(total=24, desc="write day", unit="hour") as bar:
        for h in range(24):
            f, p = day.hour(h)
            flows += write_cidds(folder / f"flows-{h:02d}.csv", _as_records(f))
            packets += write_pcap(folder / f"capture-{h:02d}.pcap", _as_records(p), HOME_NET)
            bar.update(1)
    return {
        "flows": flows,
        "packets": packets,
        "sources": sources,
        "scanners": len(day.scanners),
        "fast_planted": sorted(dotted(day.fast).to_list()),
    }


def run_day(landing: Path, warehouse: Path, memory_limit: str) -> dict:
    """`scansense run` for the day under /usr/bin/time -v: its JSON, wall time and peak RSS."""
    cmd = ["/usr/bin/time", "-v", str(ROOT / ".venv" / "bin" / "scansense"), "run", "--date", DAY]
    cmd += ["--landing", str(landing), "--warehouse", str(warehouse), "--no-email", "--json"]
    env = os.environ | ({"SCANSENSE_SCALE_MEMORY_LIMIT": memory_limit} if memory_limit else {})
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    out: dict = {"returncode": proc.returncode, "wall_s": round(time.perf_counter() - started, 1)}
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    out["max_rss_mb"] = round(int(rss.group(1)) / 1024) if rss else None
    if proc.returncode == 0:
        out["run"] = json.loads(proc.stdout.strip().splitlines()[-1])
    else:  # the run's own lines, without /usr/bin/time's report after them
        own = proc.stderr.split("Command exited with non-zero status")[0].split("\tCommand being timed")[0]
        out["stderr"] = own[-3000:]
    return out


def run_celery(landing: Path, warehouse: Path, workers: int, shards: int, memory_limit: str) -> dict:
    """The day through scansense_daily on W local Celery workers; task times and peak RSS per process kind."""
    import threading

    import psutil

    sys.path.insert(0, str(ROOT))
    from deploy.airflow_local import LocalAirflow

    home = Path(tempfile.mkdtemp(prefix="scale-airflow-"))
    stack = LocalAirflow(home, workers=workers, concurrency=2)
    stack.env.update(
        SCANSENSE_LANDING=str(landing),
        SCANSENSE_WAREHOUSE=str(warehouse),
        SCANSENSE_AIRFLOW_START_DATE=DAY,
        SCANSENSE_AIRFLOW_END_DATE=DAY,
        SCANSENSE_SCALE_SHARDS=str(shards),
        SCANSENSE_SMTP_PORT="9",  # nobody listens: the email fails, which no ScanSense step waits for
        **({"SCANSENSE_SCALE_MEMORY_LIMIT": memory_limit} if memory_limit else {}),
    )
    peaks: dict[str, int] = {}
    done = threading.Event()

    def kind(proc: psutil.Process) -> str:
        line = " ".join(proc.cmdline()[:6])
        for name in ("celery", "scheduler", "dag-processor", "api-server", "api_server", "postgres", "redis"):
            if name in line:
                return name
        return "task" if "airflow" in line or "python" in line else proc.name()

    def sample() -> None:
        while not done.wait(0.5):
            roots = [psutil.Process(p.pid) for p in stack.procs.values() if p.poll() is None]
            for proc in roots + [c for r in roots for c in r.children(recursive=True)]:
                try:
                    k, rss = kind(proc), proc.memory_info().rss
                except psutil.Error:
                    continue
                peaks[k] = max(peaks.get(k, 0), rss)

    out: dict = {"workers": workers, "shards": shards}
    with stack:
        sampler = threading.Thread(target=sample, daemon=True)
        started = time.perf_counter()
        sampler.start()
        state = ""
        while state not in ("success", "failed"):
            stack.check_alive()
            try:
                runs = stack.api("GET", "/api/v2/dags/scansense_daily/dagRuns?limit=5")["dag_runs"]
            except Exception:  # not parsed yet
                runs = []
            state = runs[0]["state"] if runs else ""
            time.sleep(0.5)  # the end is seen within half a second (2 s added up to 2 s to the wall time)
        out["wall_s"] = round(time.perf_counter() - started, 1)
        done.set()
        out["state"] = state
        tis = stack.api("GET", "/api/v2/dags/scansense_daily/dagRuns/~/taskInstances?limit=1000")["task_instances"]
        spans: dict[str, list[float]] = {}
        for t in tis:
            if t["start_date"] and t["end_date"]:
                a, b = (datetime.fromisoformat(t[k]).timestamp() for k in ("start_date", "end_date"))
                lo, hi = spans.get(t["task_id"], [a, b])
                spans[t["task_id"]] = [min(lo, a), max(hi, b)]
        first = min((v[0] for v in spans.values()), default=0)
        out["tasks_s"] = {k: round(v[1] - v[0], 1) for k, v in sorted(spans.items(), key=lambda kv: kv[1][0])}
        out["dag_run_s"] = round(max((v[1] for v in spans.values()), default=0) - first, 1)
        out["hosts"] = sorted({t["hostname"].split("@")[0] for t in tis if t["hostname"]})
        try:  # where publish's time went, as the task returned it (stage_publish's own stopwatch)
            xcom = f"/api/v2/dags/scansense_daily/dagRuns/{runs[0]['dag_run_id']}/taskInstances/publish/xcomEntries/return_value"
            value = stack.api("GET", xcom + "?deserialize=true&stringify=false")["value"]
            out["publish_s"] = (json.loads(value) if isinstance(value, str) else value).get("seconds")
        except Exception as exc:  # a failed run has none
            out["publish_s"] = f"not read: {exc}"
    out["max_rss_mb"] = {k: round(v / 2**20) for k, v in sorted(peaks.items())}
    shutil.rmtree(home, ignore_errors=True)
    return out


def main() -> int:
    """Write the day, run it, print the figures (one JSON object with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--sources", type=int, default=1_000_000)
    parser.add_argument("--scan-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--memory-limit", default="", help="DuckDB memory_limit, e.g. 2GB (default: DuckDB's)")
    parser.add_argument("--keep", type=Path, help="write the day and warehouse here and keep them")
    parser.add_argument("--celery", type=int, default=0, help="run through Airflow with this many Celery workers")
    parser.add_argument("--shards", type=int, default=1, help="[scale] shards for --celery")
    parser.add_argument("--write-only", action="store_true", help="write the day into --keep and stop")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scale-")) if args.keep is None else args.keep
    try:
        landing, warehouse = tmp / "landing", tmp / "warehouse"
        written = tmp / "written.json"
        if written.is_file():  # a day written before with --keep (--write-only): run it again
            result = json.loads(written.read_text())
        else:
            started = time.perf_counter()
            result = write_day(landing, args.events, args.sources, args.scan_share, args.seed)
            result["write_s"] = round(time.perf_counter() - started, 1)
            result["input_gb"] = round(sum(p.stat().st_size for p in (landing / DAY).iterdir()) / 1e9, 2)
            written.write_text(json.dumps(result))
        if args.write_only:
            print(json.dumps({k: v for k, v in result.items() if k != "fast_planted"}))
            return 0
        shutil.rmtree(warehouse, ignore_errors=True)
        planted = set(result.pop("fast_planted"))
        result["fast_planted"] = len(planted)
        if args.celery:
            result |= run_celery(landing, warehouse, args.celery, args.shards, args.memory_limit)
            result["returncode"] = 0 if result["state"] == "success" else 1
        else:
            result |= run_day(landing, warehouse, args.memory_limit)
        if result["returncode"] == 0:
            with duckdb.connect(str(warehouse / "scansense.duckdb"), read_only=True) as con:
                for table in ("events", "source_risk", "scan_fast", "scan_slow", "scanner_orgs"):
                    result[f"{table}_rows"] = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
                found = {r[0] for r in con.execute("SELECT DISTINCT src_ip FROM scan_fast").fetchall()}
            result["fast_found"] = len(found & planted)
            result["fast_other"] = len(found - planted)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0 if result["returncode"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
