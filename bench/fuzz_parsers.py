"""Mutation fuzzing of every parser: no crash, no hang, bounded memory; bad bytes go to quarantine.

    .venv/bin/python bench/fuzz_parsers.py --inputs 100000 --json

Seeds are small valid files of every format (written by `seed_files`); each round picks a seed,
mutates it (bit flips, byte insertions and deletions, truncation, duplicated or spliced chunks,
random bytes), and runs `pipelines.ingest.iter_file` over it with an alarm as the hang guard.
Any exception escaping the parser, or a hang, is a finding, printed with its input saved.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import signal
import struct
import sys
import tempfile
import time
import traceback
from pathlib import Path

from pipelines.settings import load_settings

HANG_SECONDS = 5


def _pcap(big_endian: bool = False, nano: bool = False) -> bytes:
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for i in range(20):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i, 0, 64, 6, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
        tcp = struct.pack("!HHIIBBHHH", 40000 + i, 20 + i, 0, 0, 0x50, 0x02, 1024, 0, 0)
        frame = b"\x00" * 12 + b"\x08\x00" + ip + tcp
        out += struct.pack(e + "IIII", 1764115200 + i, i, len(frame), len(frame)) + frame
    return out


def _pcapng() -> bytes:
    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 65535))
    for i in range(20):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, i, 0, 64, 17, 0, bytes([10, 0, 0, 3]), bytes([10, 0, 0, 4]))
        udp = struct.pack("!HHHH", 5000, 53 + i, 8, 0)
        frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
        ts = (1764115200 + i) * 1_000_000
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    return out


def seed_files() -> dict[str, bytes]:
    """Small valid inputs of every supported format."""
    cidds = "Date first seen,Duration,Proto,Src IP Addr,Src Pt,Dst IP Addr,Dst Pt,Packets,Bytes,Flows,Flags,Tos,class,attackType,attackID,attackDescription\n"
    cidds += "".join(
        f"2025-11-26 00:0{i}:16.632,0.000,TCP,192.168.100.5,44{i},192.168.220.16,{80 + i},1,108,1,....S.,0,attacker,portScan,1,---\n"
        for i in range(10)
    )
    ufw = "".join(
        f"Nov 26 00:0{i}:05 host kernel: [3217909.838554] [UFW BLOCK] IN=eth0 OUT= MAC=52:54 SRC=109.205.213.{i} "
        f"DST=194.58.102.129 LEN=40 TOS=0x00 PREC=0x00 TTL=240 ID=1830 PROTO=TCP SPT=51638 DPT={100 + i} WINDOW=1024 RES=0x00 SYN URGP=0\n"
        for i in range(10)
    )
    sensor = "".join(
        json.dumps(
            {
                "ts": f"2025-11-26T00:00:0{i}.000001Z",
                "event": "connect",
                "transport": "tcp",
                "src_ip": f"1.2.3.{i}",
                "src_port": 40000 + i,
                "dst_ip": "10.0.0.1",
                "dst_port": 2222,
                "sent_data": True,
                "payload_hex": "474554",
                "bytes": 3,
                "duration_s": 0.1,
                "sensor": "s1",
            }
        )
        + "\n"
        for i in range(10)
    )
    honeypot = "".join(
        json.dumps(
            {
                "ip": f"5.6.7.{i}",
                "port": 5000 + i,
                "dst_port": 80,
                "utc": f"2025-11-26 00:00:0{i}",
                "method": "GET",
                "uri": "/<script>alert(1)</script>",
                "headers": {"User-Agent": "{{7*7}}"},
                "transport_protocol": "tcp",
            }
        )
        + "\n"
        for i in range(10)
    )
    cowrie = "".join(
        json.dumps(
            {
                "eventid": "cowrie.login.failed",
                "src_ip": f"9.9.9.{i}",
                "src_port": 4000 + i,
                "dst_ip": "10.0.0.1",
                "dst_port": 22,
                "session": "abc",
                "timestamp": f"2025-11-26T00:00:0{i}.000000Z",
                "username": "root\u202e",
            }
        )
        + "\n"
        for i in range(10)
    )
    return {
        "capture.pcap": _pcap(),
        "capture_be_ns.pcap": _pcap(big_endian=True, nano=True),
        "capture.pcapng": _pcapng(),
        "capture.pcap.gz": gzip.compress(_pcap(), mtime=0),
        "flows.csv": cidds.encode(),
        "ufw-2025-11-26.log": ufw.encode(),
        "sensor-20251126T00.jsonl": sensor.encode(),
        "honeypot.json": honeypot.encode(),
        "cowrie.json": cowrie.encode(),
    }


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random mutations of `data`."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1) if buf else 0
        if op == 0 and buf:  # bit flip
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert random bytes
            buf[pos:pos] = rng.randbytes(rng.randint(1, 16))
        elif op == 2 and buf:  # delete a run
            del buf[pos : pos + rng.randint(1, 32)]
        elif op == 3:  # truncate
            del buf[pos:]
        elif op == 4 and buf:  # duplicate a chunk
            j = rng.randrange(len(buf))
            buf[pos:pos] = buf[j : j + rng.randint(1, 64)]
        elif op == 5 and buf:  # interesting values in a 4-byte field
            i = rng.randrange(len(buf))
            buf[i : i + 4] = rng.choice(
                [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x00\x00\x01\x00"]
            )
        else:  # random byte
            if buf:
                buf[rng.randrange(len(buf))] = rng.randrange(256)
    return bytes(buf)


class Hang(Exception):
    pass


def _alarm(*_: object) -> None:
    raise Hang()


def fuzz(inputs: int, seed: int = 1, out_dir: Path | None = None) -> dict:
    """Run `inputs` mutated files through the parsers; return counts and findings."""
    from pipelines.ingest import iter_file

    settings = load_settings(env={})
    rng = random.Random(seed)
    seeds = seed_files()
    names = sorted(seeds)
    findings: list[dict] = []
    rows = quarantined = 0
    signal.signal(signal.SIGALRM, _alarm)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(inputs):
            name = names[n % len(names)]
            data = mutate(seeds[name], rng)
            path = Path(tmp) / name
            path.write_bytes(data)
            signal.alarm(HANG_SECONDS)
            try:
                for chunk in iter_file(path, settings, year=2025):
                    rows += chunk.events.num_rows
                    quarantined += len(chunk.quarantine)
            except Hang:
                findings.append({"input": n, "seed_file": name, "error": "hang"})
            except Exception as exc:
                findings.append(
                    {"input": n, "seed_file": name, "error": repr(exc), "trace": traceback.format_exc()[-800:]}
                )
            finally:
                signal.alarm(0)
            if findings and out_dir and findings[-1]["input"] == n:
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"finding-{n}-{name}").write_bytes(data)
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "inputs": inputs,
        "formats": len(names),
        "rows": rows,
        "quarantined": quarantined,
        "crashes": sum(f["error"] != "hang" for f in findings),
        "hangs": sum(f["error"] == "hang" for f in findings),
        "findings": findings[:20],
        "seconds": round(time.perf_counter() - started, 1),
        "max_rss_mb": round(maxrss_mb, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--findings-dir", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = fuzz(args.inputs, args.seed, args.findings_dir)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 1 if result["crashes"] or result["hangs"] else 0


if __name__ == "__main__":
    sys.exit(main())
