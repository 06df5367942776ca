"""Mutation fuzzing of every parser: no crash, no hang, bounded memory; bad bytes go to quarantine.

    .venv/bin/python bench/fuzz_parsers.py --inputs 100000 --json

Seeds are small valid files of every format (written by `seed_files`); each round picks a seed and
either mutates its bytes (bit flips, byte insertions and deletions, truncation, duplicated or
spliced chunks, random bytes) or damages one record structurally (`structural`: a number out of
range, JSON nested deep, a field or line far too long, absurd pcap/pcapng header and option
values), then runs `pipelines.ingest.iter_file` over it with an alarm as the hang guard. Any
exception escaping the parser, or a hang, is a finding, printed with its input saved. After a
structural mutation every other record of the seed is a planted known record: one missing from
the events is a lost good record (issue 19: one bad record never loses its neighbours).

File names are fuzzed too (`fuzz_names`, `--names N`, issue 28): landing days of random-byte names
(not UTF-8 included), dotfiles, partial files, links to files and folders inside and outside the
landing root (`/proc/self` among them), dangling links and FIFOs, each day ingested by the walk
`scansense run` and the DAG share. A finding is an exception, a path without exactly one registry
row of the status its kind calls for, a stored name that does not lead back to its bytes, or a
planted secret from outside the landing root in the lake.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import resource
import signal
import struct
import sys
import tempfile
import time
import traceback
from datetime import date
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


NUMBERS = re.compile(rb"-?\d+(?:\.\d+)?")
BIG_VALUES = [b"99999999999999999999", b"-1", b"1e400", b"-1e400", b"1e308", b"NaN", b"4294967296", b"65536"]
BIG_VALUES += [b"-0", b"18446744073709551616", b"0.0000000000000000000001", b"1e-400"]


def _records(name: str, data: bytes) -> tuple[bytes, list[bytes], bytes]:
    """(head, records, tail) of a seed: lines of text formats (after a CSV header), blocks and records of captures."""
    if name.endswith(".pcapng"):
        shb_len = struct.unpack_from("<I", data, 4)[0]
        idb_len = struct.unpack_from("<I", data, shb_len + 4)[0]
        head, rest, recs = data[: shb_len + idb_len], data[shb_len + idb_len :], []
        while rest:
            n = struct.unpack_from("<I", rest, 4)[0]
            recs.append(rest[:n])
            rest = rest[n:]
        return head, recs, b""
    if name.endswith(".pcap"):
        rest, recs = data[24:], []
        while rest:
            n = (
                16 + struct.unpack_from("<I", rest, 8)[0]
                if name != "capture_be_ns.pcap"
                else 16 + struct.unpack_from(">I", rest, 8)[0]
            )
            recs.append(rest[:n])
            rest = rest[n:]
        return data[:24], recs, b""
    lines = data.splitlines(keepends=True)
    head = lines.pop(0) if name.endswith(".csv") else b""
    return head, lines, b""


def _damage_text(line: bytes, name: str, rng: random.Random) -> bytes:
    """One structural mutation of a text record: number range, nesting depth, field length or line length."""
    body = line.rstrip(b"\r\n")
    return _damage_body(body, name, rng) + line[len(body) :]


def _damage_body(line: bytes, name: str, rng: random.Random) -> bytes:
    op = rng.randrange(4)
    if op == 0 and (spans := [m.span() for m in NUMBERS.finditer(line)]):
        a, b = rng.choice(spans)
        value = rng.choice(BIG_VALUES) if rng.random() < 0.8 else b"9" * rng.choice([30, 400, 5000])
        return line[:a] + value + line[b:]
    if op == 1 and line.startswith(b"{"):
        depth = rng.choice([50, 1000, 20_000, 200_000])
        inner = rng.choice([b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth])
        return line[:1] + b'"deep": ' + inner + b", " + line[1:]
    if op in (1, 2):
        size = rng.choice([1_000, 70_000, 140_000, 300_000])
        fill = b"x" * size
        sep = b"," if name.endswith(".csv") else b" " if name.endswith(".log") else b'"'
        parts = line.split(sep)
        i = rng.randrange(len(parts))
        parts[i] = (b'"' + fill + b'"') if name.endswith(".csv") and rng.random() < 0.5 else fill
        return sep.join(parts)
    return line + b"A" * rng.choice([100_000, 1_100_000, 3_000_000])


def _damage_capture(head: bytes, rec: bytes, name: str, rng: random.Random) -> tuple[bytes, bytes]:
    """One structural mutation of a capture: a record header field or an interface option out of range."""
    if name.endswith(".pcapng"):
        code = rng.choice([9, 14])
        value = (
            bytes([rng.randrange(256)]) if code == 9 else struct.pack("<q", rng.choice([2**62, -(2**62), 2**33 + 1]))
        )
        opt = struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4) + b"\x00" * 4
        body = struct.pack("<HHI", 1, 0, 65535) + opt
        idb = struct.pack("<II", 1, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
        return head + idb, rec[:8] + struct.pack("<I", 1) + rec[12:]  # the packet moves to the absurd interface
    e = ">" if name == "capture_be_ns.pcap" else "<"
    field = rng.randrange(4)
    value = rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 65536, 262_145, 999_999_999])
    return head, rec[: 4 * field] + struct.pack(e + "I", value) + rec[4 * field + 4 :]


def structural(name: str, data: bytes, rng: random.Random) -> tuple[bytes, int]:
    """The seed with one record damaged structurally, and that record's index."""
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    raw = gzip.decompress(data) if gz else data
    head, recs, tail = _records(base, raw)
    k = rng.randrange(len(recs))
    if base.endswith((".pcap", ".pcapng")):
        head, recs[k] = _damage_capture(head, recs[k], base, rng)
    else:
        recs[k] = _damage_text(recs[k], base, rng)
    out = head + b"".join(recs) + tail
    return (gzip.compress(out, compresslevel=1, mtime=0) if gz else out), k


def _markers(chunks: list) -> list[tuple]:
    """(src_ip, dst_port, src_port) of every event, in order: what identifies a seed's records."""
    out = []
    for c in chunks:
        t = c.events.select(["src_ip", "dst_port", "src_port"])
        out += list(zip(*(t[n].to_pylist() for n in t.column_names), strict=True))
    return out


class Hang(Exception):
    pass


def _alarm(*_: object) -> None:
    raise Hang()


def fuzz(inputs: int, seed: int = 1, out_dir: Path | None = None, share: float = 0.5) -> dict:
    """Run `inputs` mutated files (`share` of them structural) through the parsers; return counts and findings."""
    from pipelines.ingest import iter_file

    settings = load_settings(env={})
    rng = random.Random(seed)
    seeds = seed_files()
    names = sorted(seeds)
    findings: list[dict] = []
    rows = quarantined = structural_inputs = planted = lost = 0
    signal.signal(signal.SIGALRM, _alarm)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        expected = {}
        for name in names:  # the records each seed gives, to check the planted ones after a structural mutation
            (Path(tmp) / name).write_bytes(seeds[name])
            expected[name] = _markers(list(iter_file(Path(tmp) / name, settings, year=2025)))
        for n in range(inputs):
            name = names[n % len(names)]
            damaged = None
            if rng.random() < share:
                data, damaged = structural(name, seeds[name], rng)
                structural_inputs += 1
            else:
                data = mutate(seeds[name], rng)
            path = Path(tmp) / name
            path.write_bytes(data)
            signal.alarm(HANG_SECONDS)
            try:
                chunks = []
                for chunk in iter_file(path, settings, year=2025):
                    rows += chunk.events.num_rows
                    quarantined += len(chunk.quarantine)
                    chunks.append(chunk)
                if damaged is not None:
                    want = [m for i, m in enumerate(expected[name]) if i != damaged]
                    got = set(_markers(chunks))
                    missing = [m for m in want if m not in got]
                    planted += len(want)
                    lost += len(missing)
                    if missing:
                        findings.append(
                            {"input": n, "seed_file": name, "error": "lost good records", "lost": missing[:3]}
                        )
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
        "structural": structural_inputs,
        "planted": planted,
        "lost": lost,
        "crashes": sum(f["error"] not in ("hang", "lost good records") for f in findings),
        "hangs": sum(f["error"] == "hang" for f in findings),
        "findings": findings[:20],
        "seconds": round(time.perf_counter() - started, 1),
        "max_rss_mb": round(maxrss_mb, 1),
    }


# Values a hostile or hurried operator puts in a setting: wrong types, out of range, absurd sizes.
SETTING_VALUES: list[object] = [
    -1, 0, 1, 2**63, -(2**70), 1.5, -0.5, float("inf"), float("nan"), 1e308, True, "", "abc", "x" * 5000,
    "Mars/Olympus", "UTC", "25:00", "24:00", "lots", "2GB", "0GB", "10.0.0.0/33", "::/0", "pdf", "\x00\u202e",
    [], ["pdf"], ["stix", "stix"], [1, "a"], [70000], {"a": 1}, {"a": {"b": []}}, date(2025, 11, 26),
]  # fmt: skip


def _toml_value(value: object) -> str:
    """`value` written as TOML (json's string escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))


def fuzz_settings(inputs: int, seed: int = 1) -> dict:
    """Load `inputs` damaged settings: a mutated scansense.toml, a bad value in the file, or a bad variable.

    Each load must give Settings or one SettingsError line (the setting, the value, what is allowed);
    any other exception, or a message of several lines, is a crash.
    """
    from pipelines.settings import SECTIONS, Settings
    from pipelines.settings_check import SettingsError

    rng = random.Random(seed)
    documented = (Path(__file__).resolve().parents[1] / "scansense.toml").read_bytes()
    keys = [(s, f) for s in SECTIONS for f in getattr(Settings(), s).__dataclass_fields__]
    accepted = refused = 0
    findings: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "scansense.toml"
        for n in range(inputs):
            env = {"SCANSENSE_WAREHOUSE": str(Path(tmp) / "wh"), "SCANSENSE_CONFIG": str(cfg)}
            section, key = rng.choice(keys)
            value = rng.choice(SETTING_VALUES)
            kind = rng.randrange(3)
            if kind == 0:
                cfg.write_bytes(mutate(documented, rng))
            elif kind == 1:
                cfg.write_text(f"[{section}]\n{key} = {_toml_value(value)}\n", encoding="utf-8")
            else:
                cfg.write_bytes(documented)
                text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
                env[f"SCANSENSE_{section}_{key}".upper()] = text.replace("\x00", "")  # no NUL in a variable
            try:
                load_settings(env=env)
                accepted += 1
            except SettingsError as exc:
                refused += 1
                if "\n" in str(exc) or not str(exc):
                    findings.append({"input": n, "kind": kind, "error": "message not one line", "message": str(exc)})
            except Exception as exc:
                findings.append(
                    {"input": n, "kind": kind, "setting": f"{section}.{key}", "value": repr(value)[:80],
                     "error": repr(exc)[:300], "trace": traceback.format_exc()[-800:]}
                )  # fmt: skip
    return {
        "inputs": inputs,
        "accepted": accepted,
        "refused": refused,
        "crashes": len(findings),
        "findings": findings[:20],
    }


SECRET = "FUZZ-SECRET-0f9e"  # planted outside the landing root: never to reach the lake


def _name(rng: random.Random) -> bytes:
    """A random file name: any bytes but `/` and NUL, sometimes hidden or partial, never `.` or `..`."""
    raw = bytes(rng.choice([b for b in range(1, 256) if b != 0x2F]) for _ in range(rng.randrange(1, 24)))
    raw = rng.choice([b"", b"", b".", b"sensor-"]) + raw + rng.choice([b"", b".jsonl", b".part", b".tmp", b".csv"])
    return raw if raw not in (b".", b"..") else b"x" + raw


def _day(folder: bytes, outside: bytes, rng: random.Random) -> dict[bytes, str]:
    """Fill a landing day with hostile entries; return each top-level entry's name and the status it calls for."""
    from pipelines.ingest.paths import skip_reason

    good = b'{"ts": "2025-11-26T00:00:01Z", "event": "connect", "transport": "tcp", "src_ip": "198.51.100.1"}\n'
    expect: dict[bytes, str] = {}
    for _ in range(rng.randrange(3, 9)):
        name = _name(rng)
        path = os.path.join(folder, name)
        if os.path.lexists(path):
            continue
        kind = rng.choice(["file", "file", "link-file", "link-folder", "link-proc", "dangling", "fifo"])
        if kind == "file":
            with open(path, "wb") as fh:
                fh.write(good * rng.randrange(1, 3))
        elif kind == "link-file":
            os.symlink(os.path.join(outside, b"secret.jsonl"), path)
        elif kind == "link-folder":
            os.symlink(outside, path)
        elif kind == "link-proc":
            os.symlink(b"/proc/self", path)
        elif kind == "dangling":
            os.symlink(os.path.join(outside, b"nothing"), path)
        else:
            os.mkfifo(path)
        hidden = skip_reason(os.fsdecode(name)) is not None
        expect[name] = "skipped" if hidden else {"file": "read"}.get(kind, "refused")
    return expect


def fuzz_names(days: int, seed: int = 1) -> dict:
    """Ingest `days` landing days of hostile names through the day's walk; return counts and findings."""
    from pipelines.ingest.names import path_bytes
    from pipelines.run import day_file_names, ingest_file

    rng = random.Random(seed)
    findings: list[dict] = []
    entries = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = os.fsencode(tmp)
        outside = os.path.join(root, b"outside")
        os.mkdir(outside)
        with open(os.path.join(outside, b"secret.jsonl"), "w") as fh:
            fh.write(json.dumps({"ts": "2025-11-26T00:00:01Z", "src_ip": "203.0.113.9", "note": SECRET}) + "\n")
        for n in range(days):
            landing = os.path.join(root, b"landing%d" % n)
            folder = os.path.join(landing, b"2025-11-26")
            os.makedirs(folder)
            expect = _day(folder, outside, rng)
            entries += len(expect)
            env = {"SCANSENSE_LANDING": os.fsdecode(landing), "SCANSENSE_WAREHOUSE": f"{tmp}/wh{n}"}
            settings = load_settings(env=env)
            try:
                names = day_file_names(settings.landing, date(2025, 11, 26), settings)
                for name in names:  # what the DAG does: one ingest per name the walk listed
                    ingest_file(name, settings, year=2025)
                findings += _check_day(Path(tmp) / f"wh{n}", folder, expect, names, path_bytes)
            except Exception as exc:
                findings.append({"day": n, "error": repr(exc), "trace": traceback.format_exc()[-800:]})
    return {"days": days, "entries": entries, "findings": findings[:20], "failures": len(findings)}


def _check_day(warehouse: Path, folder: bytes, expect: dict, names: list[str], path_bytes) -> list[dict]:
    """Findings of one fuzzed day: rows per entry, lossless names, no secret in the lake."""
    import duckdb

    lake = warehouse / "lake"
    out = []
    rows = duckdb.sql(f"SELECT path, status FROM read_parquet('{lake}/ingest_files/*.parquet')").fetchall()
    by_path: dict[bytes, list[str]] = {}
    for text, status in rows:
        by_path.setdefault(path_bytes(text), []).append(status)
    real = os.path.realpath(folder)
    for name, want in expect.items():
        got = by_path.get(os.path.join(real, name), [])
        ok = got == [want] if want != "read" else len(got) == 1 and got[0] not in ("refused", "skipped")
        if not ok:
            out.append({"name": repr(name), "error": f"registry rows {got}, wanted {want}"})
    if len(names) != len(expect):
        out.append({"error": f"the walk listed {len(names)} of {len(expect)} entries"})
    for table in ("events/*/*.parquet", "quarantine/*.parquet"):
        if list(lake.glob(table)) and SECRET in str(
            duckdb.sql(f"SELECT * FROM read_parquet('{lake}/{table}')").fetchall()
        ):
            out.append({"error": f"secret from outside the landing root in {table.split('/')[0]}"})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--structural", type=float, default=0.5, help="share of inputs mutated structurally")
    parser.add_argument("--findings-dir", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--names", type=int, default=200, help="landing days of hostile file names (0: none)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--settings", type=int, default=2000, help="damaged settings files and variables to load")
    args = parser.parse_args()
    result = fuzz(args.inputs, args.seed, args.findings_dir, args.structural)
    result["settings"] = fuzz_settings(args.settings, args.seed)
    result["crashes"] += result["settings"]["crashes"]
    result["names"] = fuzz_names(args.names, args.seed) if args.names else None
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    bad_names = result["names"] and result["names"]["failures"]
    return 1 if result["crashes"] or result["hangs"] or result["lost"] or bad_names else 0


if __name__ == "__main__":
    sys.exit(main())
