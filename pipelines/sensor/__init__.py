"""The ScanSense sensor (paper 000's collection module): a TCP/UDP listener that records every
connection attempt and datagram as JSON lines in hourly dump files.

`Sensor(config)` with `await start()` / `await stop()` for in-process use; `run_sensor(config)`
runs until SIGTERM/SIGINT and is what `scansense sensor` calls. Dumps are
`<out>/sensor-YYYYMMDDTHH.jsonl` (`.part` while open), counters in `<out>/sensor-stats.json`, and a
line per hour whose records the dump caps cut in `<out>/dump-cuts.jsonl`. Every accepted TCP
connection is recorded; the limits (connections, per source, rate) only bound what is read, and the
read slots are shared fairly between sources. The record fields, `sent_data` and `close_reason`
among them: README.md in this folder.
"""

from pipelines.sensor.dump import DumpFolderBusy, DumpWriter
from pipelines.sensor.limits import SourceRateLimiter
from pipelines.sensor.server import Sensor, SensorConfig, run_sensor

__all__ = ["DumpFolderBusy", "DumpWriter", "Sensor", "SensorConfig", "SourceRateLimiter", "run_sensor"]
