"""The CIDDS-like profile (paper 002's evaluation day): exact size, about 1% scan flows, CIDDS's columns
and labels, nmap -T1/-T2 pacing, the paper's 07:30-14:35 window, deterministic, and the CLI contract."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from pipelines.generate import generate_cidds
from pipelines.generate.writers import CIDDS_HEADER

SCANSENSE = str(Path(sys.executable).with_name("scansense"))


@pytest.fixture(scope="module")
def cidds(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict], list[dict]]:
    out = tmp_path_factory.mktemp("cidds")
    info = generate_cidds(out, seed=5, flows=50_000)
    path = out / "landing" / "2025-11-26" / "flows.csv"
    assert path.read_text(encoding="utf-8").splitlines()[0] == CIDDS_HEADER
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(out / "truth.csv", newline="", encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    return info, rows, truth


def test_size_and_share_of_scan_flows(cidds: tuple) -> None:
    info, rows, _ = cidds
    assert info["records"] == len(rows) == 50_000
    attack = sum(r["class"] in ("attacker", "victim") for r in rows)
    assert info["attack_flows"] == attack and 0.008 <= attack / len(rows) <= 0.012
    assert {r["class"] for r in rows} == {"normal", "attacker", "victim"}


def test_labels_pacing_and_window(cidds: tuple) -> None:
    _, rows, truth = cidds
    probes = defaultdict(list)
    for r in rows:
        ts = datetime.strptime(r["Date first seen"], "%Y-%m-%d %H:%M:%S.%f")
        assert (7, 30) <= (ts.hour, ts.minute) < (14, 35)
        assert r["Flags"] == "......" or set(r["Flags"]) <= set("UAPRSF.") and len(r["Flags"]) == 6
        if r["class"] == "attacker":
            assert r["attackType"] == "portScan" and r["Flags"] == "....S." and r["Src IP Addr"].startswith("192.168.")
            probes[(r["attackID"], r["attackDescription"], r["Src IP Addr"])].append(ts.timestamp())
        elif r["class"] == "victim":
            assert r["attackType"] == "portScan" and r["Flags"] == ".A.R.."
        else:
            assert (r["attackType"], r["attackID"]) == ("---", "---")
    assert len(probes) == 8 and {desc for _, desc, _ in probes} == {
        f"nmap {t} {k}" for t in ("-T1", "-T2") for k in ("horizontal", "vertical")
    }
    for (_, desc, _), times in probes.items():
        gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
        median = gaps[len(gaps) // 2]
        assert abs(median - (15.0 if "-T1" in desc else 0.4)) < 0.1, (desc, median)
    assert {t["src_ip"] for t in truth} == {src for *_, src in probes}
    assert {t["kind"] for t in truth} == {"slow_horizontal", "slow_vertical"}


def test_deterministic_and_cli_contract(tmp_path: Path) -> None:
    generate_cidds(tmp_path / "a", seed=2, flows=20_000)
    generate_cidds(tmp_path / "b", seed=2, flows=20_000)
    a, b = (hashlib.sha256((tmp_path / x / "landing" / "2025-11-26" / "flows.csv").read_bytes()).digest() for x in "ab")
    assert a == b
    proc = subprocess.run(
        [
            SCANSENSE,
            "generate",
            "--profile",
            "cidds",
            "--out",
            str(tmp_path / "c"),
            "--flows",
            "20000",
            "--seed",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"out", "days", "files", "records", "truth"} <= set(result)
    assert result["records"] == 20_000 and result["days"] == ["2025-11-26"] and Path(result["truth"]).is_file()
    assert (tmp_path / "c" / "landing" / "2025-11-26" / "flows.csv").read_bytes() == (
        tmp_path / "a" / "landing" / "2025-11-26" / "flows.csv"
    ).read_bytes()
