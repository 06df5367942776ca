"""The lake writer and registry: layout and names from docs/ARCHITECTURE.md, atomic files, the
`scansense ingest` command, and a failing parser or disk never stopping the run."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.ingest import INGEST_FILES_COMMENTS, INGEST_FILES_SCHEMA, file_key, ingest_paths, sha256_of
from pipelines.schema import EVENTS_SCHEMA, QUARANTINE_SCHEMA

MIDNIGHT = 1764201600  # 2025-11-27 00:00:00 UTC
CONTRACT_COLUMNS = [
    "path",
    "sha256",
    "format",
    "source_kind",
    "rows",
    "quarantined",
    "status",
    "error",
    "ingested_at",
    "days",
]


def pcap(times: list[int]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, t in enumerate(times):
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i, 0, 64, 6, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
        frame = b"\x00" * 12 + b"\x08\x00" + ip + struct.pack("!HHIIBBHHH", 4000, i + 1, 0, 0, 0x50, 2, 1024, 0, 0)
        out += struct.pack("<IIII", t, 0, len(frame), len(frame)) + frame
    return out


def test_lake_layout_keys_days_and_schemas(tmp_path: Path, settings) -> None:
    capture = tmp_path / "landing" / "capture.pcap"
    capture.parent.mkdir()
    capture.write_bytes(pcap([MIDNIGHT - 2, MIDNIGHT - 1, MIDNIGHT, MIDNIGHT + 1, MIDNIGHT + 2]) + b"\x00" * 7)
    summary = ingest_paths([capture.parent], settings)
    assert summary.to_dict() == {
        "files": 1,
        "rows": 5,
        "quarantined": 1,
        "errors": [],
        "days": ["2025-11-26", "2025-11-27"],
        "duplicates": 0,
        "skipped": 0,
        "refused": 0,
        "skipped_files": 0,
        "missing": [],
    }
    lake = Path(settings.warehouse) / "lake"
    key = file_key(sha256_of(capture), capture.resolve())
    sha = hashlib.sha256(capture.read_bytes()).hexdigest()
    assert key == f"{sha[:16]}-{hashlib.sha256(str(capture.resolve()).encode()).hexdigest()[:8]}"
    files = sorted(str(p.relative_to(lake)) for p in lake.rglob("*") if p.is_file())
    assert files == [
        ".ingest.lock",
        f"events/date=2025-11-26/{key}.parquet",
        f"events/date=2025-11-27/{key}.parquet",
        "ingest_files/.token",
        f"ingest_files/{key}.parquet",
        f"quarantine/{key}.parquet",
    ]
    day1 = pq.read_table(lake / f"events/date=2025-11-26/{key}.parquet")
    assert day1.schema == EVENTS_SCHEMA and day1["dst_port"].to_pylist() == [1, 2]
    assert pq.read_table(lake / f"quarantine/{key}.parquet").schema == QUARANTINE_SCHEMA
    reg = pq.read_table(lake / f"ingest_files/{key}.parquet")
    assert reg.schema == INGEST_FILES_SCHEMA and reg.column_names[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    assert set(INGEST_FILES_COMMENTS) == set(reg.column_names) and all(INGEST_FILES_COMMENTS.values())
    row = reg.to_pylist()[0]
    assert (row["path"], row["sha256"], row["format"], row["source_kind"]) == (
        str(capture.resolve()),
        sha,
        "pcap",
        "pcap",
    )
    assert (row["rows"], row["quarantined"], row["status"], row["error"]) == (5, 1, "partial", None)
    assert [str(d) for d in row["days"]] == ["2025-11-26", "2025-11-27"]


def test_rerun_is_idempotent_and_leaves_no_temporary_files(tmp_path: Path, settings) -> None:
    capture = tmp_path / "c.pcap"
    capture.write_bytes(pcap([MIDNIGHT + i for i in range(10)]))
    lake = Path(settings.warehouse) / "lake"
    ingest_paths([capture], settings)
    first = {
        p.relative_to(lake): pq.read_table(p).drop(["ingested_at"]) if "ingest_files" in str(p) else pq.read_table(p)
        for p in lake.rglob("*.parquet")
    }
    ingest_paths([capture], settings)
    second = {
        p.relative_to(lake): pq.read_table(p).drop(["ingested_at"]) if "ingest_files" in str(p) else pq.read_table(p)
        for p in lake.rglob("*.parquet")
    }
    assert first.keys() == second.keys() and all(first[k].equals(second[k]) for k in first)
    assert not [p for p in lake.rglob("*.tmp")]


def test_cli_ingest_json_is_the_last_line(tmp_path: Path, settings, capsys) -> None:
    capture = tmp_path / "in" / "c.pcap"
    capture.parent.mkdir()
    capture.write_bytes(pcap([MIDNIGHT, MIDNIGHT + 1]))
    (tmp_path / "in" / "junk.pcap").write_text("not a capture")
    (tmp_path / "in" / "sensor-20251127T00.jsonl.part").write_text("{}")  # still being written: left alone
    code = main(["ingest", str(capture.parent), "--warehouse", str(tmp_path / "wh"), "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert code == 0 and set(result) == {"files", "rows", "quarantined", "errors"}
    assert (result["files"], result["rows"], result["quarantined"]) == (2, 2, 1)
    assert len(result["errors"]) == 1 and "junk.pcap" in result["errors"][0]
    assert (tmp_path / "wh" / "lake" / "ingest_files").is_dir()


def test_cli_ingest_imports_only_its_own_area(tmp_path: Path) -> None:
    """`scansense ingest` loads neither the other areas nor DuckDB (memory, issue 3)."""
    capture = tmp_path / "c.pcap"
    capture.write_bytes(pcap([MIDNIGHT]))
    script = (
        "import sys; from pipelines.cli import main; "
        f"code = main(['ingest', {str(capture)!r}, '--warehouse', {str(tmp_path / 'wh')!r}]); "
        "print(sorted(m for m in ('pipelines.generate', 'pipelines.geo', 'pipelines.detect', 'pipelines.sensor', "
        "'duckdb') if m in sys.modules), code)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[] 0"


def test_a_failing_parser_marks_the_file_and_the_run_goes_on(tmp_path: Path, settings, monkeypatch) -> None:
    from pipelines.ingest import captures

    real = captures.iter_pcap

    def broken(path, meta, *limits):
        if "bad" in path.name:
            yield from list(real(path, meta, *limits))[:1]
            raise RuntimeError("boom")
        yield from real(path, meta, *limits)

    monkeypatch.setattr(captures, "iter_pcap", broken)
    bad, good = tmp_path / "bad.pcap", tmp_path / "good.pcap"
    bad.write_bytes(pcap([MIDNIGHT]))
    good.write_bytes(pcap([MIDNIGHT, MIDNIGHT + 1]))
    summary = ingest_paths([bad, good], settings)
    assert summary.files == 2 and summary.rows == 3 and len(summary.errors) == 1
    assert "parser error: RuntimeError: boom" in summary.errors[0]
    regs = {
        r["path"]: r
        for p in (Path(settings.warehouse) / "lake" / "ingest_files").glob("*.parquet")
        for r in pq.read_table(p).to_pylist()
    }
    assert regs[str(bad.resolve())]["status"] == "error" and regs[str(good.resolve())]["status"] == "ok"


def test_a_failing_disk_marks_the_file_and_leaves_no_partial_parts(tmp_path: Path, settings, monkeypatch) -> None:
    first, second = tmp_path / "a.pcap", tmp_path / "b.pcap"
    first.write_bytes(pcap([MIDNIGHT]))
    second.write_bytes(pcap([MIDNIGHT + 5]))
    real = pq.ParquetWriter.write_table
    calls = {"n": 0}

    def flaky(self, table, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(28, "No space left on device")
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", flaky)
    summary = ingest_paths([first, second], settings)
    assert summary.rows == 1 and len(summary.errors) == 1 and "No space left" in summary.errors[0]
    lake = Path(settings.warehouse) / "lake"
    assert len(list(lake.glob("events/*/*.parquet"))) == 1 and not list(lake.rglob("*.tmp"))
    assert len(list(lake.glob("ingest_files/*.parquet"))) == 2


@pytest.mark.parametrize("name", [".hidden.pcap", "dump.jsonl.part"])
def test_folder_expansion_leaves_hidden_and_open_files(tmp_path: Path, settings, name: str) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "c.pcap").write_bytes(pcap([MIDNIGHT]))
    (tmp_path / "in" / name).write_bytes(pcap([MIDNIGHT + 1]))
    summary = ingest_paths([tmp_path / "in"], settings)
    assert summary.files == 1 and summary.rows == 1


def test_registry_seen_by_a_later_run_even_after_another_process_wrote(tmp_path: Path, settings) -> None:
    from pipelines.ingest import lake

    a, c, d = tmp_path / "a.pcap", tmp_path / "c.pcap", tmp_path / "d.pcap"
    a.write_bytes(pcap([MIDNIGHT]))
    c.write_bytes(pcap([MIDNIGHT, MIDNIGHT + 1]))
    d.write_bytes(c.read_bytes())
    ingest_paths([a], settings)
    ours = dict(lake._REGISTRY_CACHE)
    lake._REGISTRY_CACHE.clear()  # "another process": no cache, writes a registration of its own
    ingest_paths([c], settings)
    lake._REGISTRY_CACHE.clear()
    lake._REGISTRY_CACHE.update(ours)  # back in this process, holding the older registry
    assert ingest_paths([d], settings).duplicates == 1


def test_damaged_registry_file_is_skipped_and_its_input_ingested_again(tmp_path: Path, settings) -> None:
    from pipelines.ingest import lake

    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    a.write_bytes(pcap([MIDNIGHT]))
    b.write_bytes(a.read_bytes())
    ingest_paths([a], settings)
    lake._REGISTRY_CACHE.clear()
    (reg,) = (Path(settings.warehouse) / "lake" / "ingest_files").glob("*.parquet")
    reg.write_bytes(b"PAR1 damaged")
    summary = ingest_paths([b], settings)  # a's registration is unreadable: b's bytes are new again
    assert summary.duplicates == 0 and summary.rows == 1
