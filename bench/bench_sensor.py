"""Connections per second the sensor sustains on loopback, measured with an asyncio client.

.venv/bin/python bench/bench_sensor.py --connections 5000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from pipelines.sensor import Sensor, SensorConfig


async def measure(connections: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        sensor = Sensor(
            SensorConfig(out=Path(tmp), tcp_ports=(0,), host="127.0.0.1", per_source_rate=1e9, max_connections=4096)
        )
        await sensor.start()
        port = sensor.ports["tcp"][0]
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                _, w = await asyncio.open_connection("127.0.0.1", port)
                if i % 2:
                    w.write(b"GET / HTTP/1.0\r\n\r\n")
                    await w.drain()
                w.close()
                await w.wait_closed()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(connections)))
        while sensor.stats["tcp"] < connections and time.perf_counter() - started < 120:
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - started
        await sensor.stop()
        return {
            "connections": connections,
            "recorded": sensor.stats["tcp"],
            "seconds": round(seconds, 2),
            "connections_per_s": round(sensor.stats["tcp"] / seconds),
            "concurrency": concurrency,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(measure(args.connections, args.concurrency))
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
