"""Connections per second the sensor sustains on loopback: asyncio (the sensor) vs a thread pool.

Each server runs in its own process and writes the same JSON line per connection; an asyncio
client in this process opens the connections (half send a short request, all then close) and
the clock stops when the server has *recorded* them all, not when the client is done (the kernel
completes handshakes on its own). A second round first parks silent peers on the server (an idle
scanner or a slowloris) to show what they cost each design.

    .venv/bin/python bench/bench_sensor.py --connections 5000 --silent 200 --json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=200, help="client connections in flight")
    parser.add_argument("--silent", type=int, default=200, help="silent peers parked in the second round")
    parser.add_argument("--workers", type=int, default=64, help="thread-pool size of the baseline")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell; the median is reported")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
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
