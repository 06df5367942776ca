"""Connections per second the sensor sustains on loopback: asyncio (the sensor) vs a thread pool.

Each server runs in its own process and writes the same JSON line per connection; an asyncio
client in this process opens the connections (half send a short request, all then close) and
the clock stops when the server has *recorded* them all, not when the client is done (the kernel
completes handshakes on its own). A second round first parks silent peers on the server (an idle
scanner or a slowloris) to show what they cost each design.

    .venv/bin/python bench/bench_sensor.py --connections 5000 --silent 200 --json

`--fairness` runs the two hostile loads of issue 20 instead, against the sensor's default limits:
one source trickling a byte a second on 512 connections while another sends 40 probes, and a
burst of 5,000 short connections from 250 sources (loopback addresses 127.0.1.x as sources).
It reports the share of probes recorded (and read) for each.

    .venv/bin/python bench/bench_sensor.py --fairness --repeat 3 --json

Issue 28 adds `--loads trickle40,burst,burst1` (any of trickle, trickle40, burst, burst1): `trickle40`
is 40 sources (127.0.2.1-40) trickling on 16 connections each (640 against 512 slots) while a third
party sends 40 probes; `burst1` is the 5,000-connection burst from one address. Every row counts
`sent_data` against what the client really sent: `sent_but_false` must be 0.

    .venv/bin/python bench/bench_sensor.py --fairness --loads trickle40,burst,burst1 --repeat 3 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

READ_TIMEOUT_S = 2.0  # the sensor's default: how long a silent peer holds its slot
MAX_BYTES = 4096


def _serve_asyncio(out: str, port_q: mp.Queue, recorded, stop_evt) -> None:
    """The real sensor (pipelines.sensor.Sensor) with its default limits, rate limit off."""
    from pipelines.sensor import Sensor, SensorConfig

    async def main() -> None:
        cfg = SensorConfig(
            out=Path(out),
            tcp_ports=(0,),
            host="127.0.0.1",
            per_source_rate=0,
            max_connections=4096,
            max_connections_per_source=0,  # every client connection comes from 127.0.0.1 here
            flush_interval_s=0.05,  # records count once they reach the file: flush often, or the clock waits for it
            read_timeout_s=READ_TIMEOUT_S,
        )
        sensor = Sensor(cfg)
        await sensor.start()
        port_q.put(sensor.ports["tcp"][0])
        while not stop_evt.is_set():
            recorded.value = sensor.stats["tcp"]
            await asyncio.sleep(0.005)
        await sensor.stop()

    asyncio.run(main())


def _serve_threads(out: str, port_q: mp.Queue, recorded, stop_evt, workers: int) -> None:
    """A blocking accept loop handing each connection to a fixed pool of worker threads."""
    lsock = socket.create_server(("127.0.0.1", 0), backlog=4096)
    lsock.settimeout(0.1)
    port_q.put(lsock.getsockname()[1])
    lock = threading.Lock()
    fh = open(Path(out) / "threads.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def handle(conn: socket.socket, peer: tuple) -> None:
        started, ts, kept, total = time.monotonic(), datetime.now(UTC), b"", 0
        conn.settimeout(READ_TIMEOUT_S)
        try:
            while chunk := conn.recv(65536):
                total += len(chunk)
                kept = (kept + chunk)[:MAX_BYTES] if len(kept) < MAX_BYTES else kept
        except OSError:
            pass
        local = conn.getsockname()
        conn.close()
        line = {
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "event": "connect",
            "transport": "tcp",
            "src_ip": peer[0],
            "src_port": peer[1],
            "dst_ip": local[0],
            "dst_port": local[1],
            "sent_data": total > 0,
            "payload_hex": kept.hex(),
            "bytes": total,
            "duration_s": round(time.monotonic() - started, 6),
            "sensor": "bench",
        }
        with lock:
            fh.write(json.dumps(line) + "\n")
            recorded.value += 1

    with ThreadPoolExecutor(workers) as pool:
        while not stop_evt.is_set():
            try:
                conn, peer = lsock.accept()
            except TimeoutError:
                continue
            pool.submit(handle, conn, peer)
    fh.close()


async def _client(port: int, connections: int, concurrency: int) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            if i % 2:
                w.write(b"GET / HTTP/1.0\r\n\r\n")
            w.close()
            await w.wait_closed()

    await asyncio.gather(*(one(i) for i in range(connections)))


def _run_client(port: int, connections: int, concurrency: int) -> None:
    asyncio.run(_client(port, connections, concurrency))


def measure(design: str, connections: int, concurrency: int, silent: int, workers: int, clients: int = 1) -> dict:
    """Run one server design in a child process; time until it has recorded every connection."""
    ctx = mp.get_context("fork")
    port_q, recorded, stop_evt = ctx.Queue(), ctx.Value("q", 0), ctx.Event()
    with tempfile.TemporaryDirectory() as out:
        if design == "asyncio":
            proc = ctx.Process(target=_serve_asyncio, args=(out, port_q, recorded, stop_evt))
        else:
            proc = ctx.Process(target=_serve_threads, args=(out, port_q, recorded, stop_evt, workers))
        proc.start()
        port = port_q.get(timeout=30)
        parked = [socket.create_connection(("127.0.0.1", port)) for _ in range(silent)]  # never send
        time.sleep(0.2)
        started = time.perf_counter()
        if clients == 1:
            asyncio.run(_client(port, connections, concurrency))
        else:  # several client processes, so the client is not what is measured
            share = [connections // clients + (i < connections % clients) for i in range(clients)]
            procs = [ctx.Process(target=_run_client, args=(port, n, concurrency // clients)) for n in share]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
        client_s = time.perf_counter() - started
        deadline = started + 300
        while recorded.value < connections and time.perf_counter() < deadline:
            time.sleep(0.002)
        seconds = time.perf_counter() - started
        done = recorded.value
        stop_evt.set()
        for s in parked:
            s.close()
        proc.join(30)
    return {
        "design": design if design == "asyncio" else f"threads({workers})",
        "silent_peers": silent,
        "client_processes": clients,
        "connections": connections,
        "recorded": min(done, connections),
        "seconds": round(seconds, 3),
        "client_seconds": round(client_s, 3),
        "connections_per_s": round(min(done, connections) / seconds),
    }


def _serve_sensor(out: str, port_q: mp.Queue, recorded, stop_evt, limits: dict) -> None:
    """The real sensor with its default limits, overridden by `limits`; stops (and closes its dumps) on stop_evt."""
    from pipelines.sensor import Sensor, SensorConfig

    async def main() -> None:
        sensor = Sensor(SensorConfig(out=Path(out), tcp_ports=(0,), host="127.0.0.1", flush_interval_s=0.1, **limits))
        await sensor.start()
        port_q.put(sensor.ports["tcp"][0])
        while not stop_evt.is_set():
            recorded.value = sensor.stats["tcp"]
            await asyncio.sleep(0.01)
        await sensor.stop()

    asyncio.run(main())


def _dump_records(out: str) -> list[dict]:
    return [json.loads(line) for p in Path(out).glob("sensor-*.jsonl") for line in p.read_text().splitlines()]


def _with_sensor(limits: dict, load) -> tuple[list[dict], dict, float]:
    """Run `load(port, recorded)` (a coroutine function) against a sensor process; return its records."""
    ctx = mp.get_context("fork")
    port_q, recorded, stop_evt = ctx.Queue(), ctx.Value("q", 0), ctx.Event()
    with tempfile.TemporaryDirectory() as out:
        proc = ctx.Process(target=_serve_sensor, args=(out, port_q, recorded, stop_evt, limits))
        proc.start()
        port = port_q.get(timeout=30)
        started = time.perf_counter()
        info = asyncio.run(load(port, recorded))
        seconds = time.perf_counter() - started
        stop_evt.set()
        proc.join(60)
        stats = json.loads((Path(out) / "sensor-stats.json").read_text())
        return _dump_records(out), info | {"stats": stats}, seconds


def _limited(stats: dict) -> dict:
    """The sensor's non-zero counters of connections closed unread or evicted (before issue 20: dropped)."""
    return {k: v for k, v in stats.items() if k.startswith(("closed_", "dropped_", "evicted_", "sent_data_")) and v}


async def _until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def fairness_trickle(limits: dict, hog_connections: int = 512, probes: int = 40) -> dict:
    """One source trickles a byte a second on `hog_connections`; another sends `probes` meanwhile."""
    hog, polite = "127.0.0.2", "127.0.0.3"

    async def load(port: int, recorded) -> dict:
        writers = []
        for _ in range(hog_connections):  # open them all first: the hog tries to hold every slot
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(hog, 0))
                writers.append(w)
            except OSError:
                pass

        async def trickle() -> None:
            while True:
                for w in writers:
                    if not w.is_closing():
                        w.write(b".")
                await asyncio.sleep(1.0)  # below the 2 s read timeout: the hog never goes silent

        trickler = asyncio.create_task(trickle())
        await asyncio.sleep(1.0)  # the sensor has processed the hog's accepts
        sent = 0
        for i in range(probes):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(polite, 0))
            except OSError:
                continue
            w.write(f"probe {i}".encode())
            await w.drain()
            w.close()
            sent += 1
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the last probes are recorded while the hog still holds its connections
        trickler.cancel()
        for w in writers:
            w.close()
        await _until(lambda: recorded.value >= len(writers) + sent, 60)
        return {"hog_connections": len(writers), "probes_sent": sent}

    records, info, seconds = _with_sensor(limits, load)
    mine = [r for r in records if r["src_ip"] == polite]
    hogs = [r for r in records if r["src_ip"] == hog]
    stats = info.pop("stats")
    sent = max(info["probes_sent"], 1)
    return {
        "load": "trickle",
        "limits": limits,
        **info,
        "probes_recorded": len(mine),
        "probes_read": sum(r["bytes"] > 0 for r in mine),
        "probe_share_recorded": round(len(mine) / sent, 3),
        "probe_share_read": round(sum(r["bytes"] > 0 for r in mine) / sent, 3),
        "hog_recorded": len(hogs),
        "hog_read": sum(r["bytes"] > 0 for r in hogs),
        "limited": _limited(stats),
        "seconds": round(seconds, 1),
    }


def _honesty(records: list[dict], sent: dict[tuple[str, int], list[bool]]) -> dict:
    """`sent_data` of the records against what the clients really sent, per (source address, port).

    A busy source reuses its ports, so each port is a tally, not one connection: a record saying
    false is a lie only past the port's silent connections, true only past its sending ones.
    """
    said = dict.fromkeys(("sent", "silent", "true", "false", "null", "sent_but_false", "silent_but_true"), 0)
    tally: dict[tuple[str, int], dict] = {}
    for r in records:
        key = (r["src_ip"], r["src_port"])
        if key in sent:
            value = {True: "true", False: "false", None: "null"}[r.get("sent_data")]
            said[value] += 1
            tally.setdefault(key, {"true": 0, "false": 0, "null": 0})[value] += 1
    for key, wrote in sent.items():
        said["sent"] += sum(wrote)
        said["silent"] += len(wrote) - sum(wrote)
        t = tally.get(key, {"true": 0, "false": 0})
        said["sent_but_false"] += max(0, t["false"] - (len(wrote) - sum(wrote)))
        said["silent_but_true"] += max(0, t["true"] - sum(wrote))
    return said


def fairness_trickle_many(
    limits: dict, sources: int = 40, per_source: int = 16, probes: int = 40, third: str = "127.0.0.3"
) -> dict:
    """Issue 28: `sources` addresses trickle a byte a second on `per_source` connections each while `third` probes."""
    hogs = [f"127.0.2.{1 + i}" for i in range(sources)]

    async def load(port: int, recorded) -> dict:
        writers = []
        for _ in range(per_source):  # round-robin over the sources, as 40 scanners starting together would
            for hog in hogs:
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(hog, 0))
                    writers.append(w)
                except OSError:
                    pass

        async def trickle() -> None:
            while True:
                for w in writers:
                    if not w.is_closing():
                        w.write(b".")
                await asyncio.sleep(1.0)  # below the 2 s read timeout: no hog ever goes silent

        trickler = asyncio.create_task(trickle())
        await asyncio.sleep(1.0)  # the sensor has processed the hogs' accepts
        sent: dict[tuple[str, int], list[bool]] = {}
        for i in range(probes):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(third, 0))
            except OSError:
                continue
            sent.setdefault((third, w.get_extra_info("sockname")[1]), []).append(True)
            w.write(f"probe {i}".encode())
            await w.drain()
            w.close()
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the last probes are recorded while the hogs still hold their connections
        trickler.cancel()
        for w in writers:
            w.close()
        probes_sent = sum(map(len, sent.values()))
        await _until(lambda: recorded.value >= len(writers) + probes_sent, 60)
        return {"hog_connections": len(writers), "probes_sent": probes_sent, "sent": sent}

    records, info, seconds = _with_sensor(limits, load)
    stats, sent = info.pop("stats"), info.pop("sent")
    mine = [r for r in records if r["src_ip"] == third]
    expected = {f"probe {i}".encode() for i in range(probes)}
    read = sum(bytes.fromhex(r["payload_hex"]) in expected for r in mine)
    n = max(info["probes_sent"], 1)
    return {
        "load": "trickle40",
        "limits": limits,
        **info,
        "probes_recorded": len(mine),
        "probes_read": read,
        "probe_share_read": round(read / n, 3),
        "probes_said": _honesty(mine, sent),
        "hog_recorded": sum(r["src_ip"] in hogs for r in records),
        "hog_read": sum(r["src_ip"] in hogs and r["bytes"] > 0 for r in records),
        "limited": _limited(stats),
        "seconds": round(seconds, 1),
    }


def fairness_burst(limits: dict, connections: int = 5000, sources: int = 250, concurrency: int = 200) -> dict:
    """`connections` short connections spread over `sources` loopback addresses, `concurrency` in flight."""
    addrs = [f"127.0.1.{1 + i}" for i in range(sources)]

    async def load(port: int, recorded) -> dict:
        sem = asyncio.Semaphore(concurrency)
        accepted = failed = 0
        sent: dict[tuple[str, int], list[bool]] = {}  # (source, port) -> whether each client wrote a request

        async def one(i: int) -> None:
            nonlocal accepted, failed
            async with sem:
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", port, local_addr=(addrs[i % sources], 0))
                except OSError:
                    failed += 1
                    return
                accepted += 1
                sent.setdefault((addrs[i % sources], w.get_extra_info("sockname")[1]), []).append(bool(i % 2))
                if i % 2:
                    w.write(b"GET / HTTP/1.0\r\n\r\n")
                w.close()
                try:
                    await w.wait_closed()
                except OSError:
                    pass

        await asyncio.gather(*(one(i) for i in range(connections)))
        await _until(lambda: recorded.value >= accepted, 120)
        return {"connections_accepted": accepted, "connect_failed": failed, "sent": sent}

    records, info, seconds = _with_sensor(limits, load)
    stats, sent = info.pop("stats"), info.pop("sent")
    return {
        "load": "burst" if sources > 1 else "burst1",
        "limits": limits,
        "connections": connections,
        "sources": len({r["src_ip"] for r in records}),
        **info,
        "recorded": len(records),
        "share_recorded": round(len(records) / max(info["connections_accepted"], 1), 4),
        "read": sum(r["bytes"] > 0 for r in records),
        "said": _honesty(records, sent),
        "limited": _limited(stats),
        "seconds": round(seconds, 1),
    }


NO_CAP = {"max_connections_per_source": 0}
LOADS = ("trickle", "trickle40", "burst", "burst1")


def fairness(repeat: int, loads: tuple[str, ...] = ("trickle", "burst")) -> dict:
    """The hostile loads (issues 20 and 28), `repeat` times each; `trickle` with and without the per-source cap."""
    runs: list = []
    if "trickle" in loads:
        runs += [(fairness_trickle, {"per_source_rate": 0}), (fairness_trickle, {"per_source_rate": 0} | NO_CAP)]
    if "trickle40" in loads:
        runs.append((fairness_trickle_many, {"per_source_rate": 0}))
    if "burst" in loads:
        runs.append((fairness_burst, {}))
    if "burst1" in loads:
        runs.append((lambda limits: fairness_burst(limits, sources=1), {}))
    rows = []
    for fn, limits in runs:
        for _ in range(repeat):
            rows.append(fn(limits))
            print(json.dumps(rows[-1]), file=sys.stderr)
    return {"host_cpus": os.cpu_count(), "python": sys.version.split()[0], "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=200, help="client connections in flight")
    parser.add_argument("--silent", type=int, default=200, help="silent peers parked in the second round")
    parser.add_argument("--workers", type=int, default=64, help="thread-pool size of the baseline")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported")
    parser.add_argument("--fairness", action="store_true", help="run the two hostile loads of issue 20 instead")
    parser.add_argument("--loads", default="trickle,burst", help=f"with --fairness, any of {','.join(LOADS)}")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.fairness:
        loads = tuple(x.strip() for x in args.loads.split(",") if x.strip())
        if not loads or set(loads) - set(LOADS):
            parser.error(f"--loads: any of {', '.join(LOADS)}")
        result = fairness(args.repeat, loads)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return
    rows = []
    for silent in (0, args.silent):
        for design in ("asyncio", "threads"):
            runs = [
                measure(design, args.connections, args.concurrency, silent, args.workers, args.clients)
                for _ in range(args.repeat)
            ]
            runs.sort(key=lambda r: r["connections_per_s"])
            row = dict(runs[len(runs) // 2], runs_per_s=[r["connections_per_s"] for r in runs])
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    result = {"host_cpus": os.cpu_count(), "python": sys.version.split()[0], "rows": rows}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
