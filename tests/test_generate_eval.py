"""The generators and the detector evaluations: deterministic data, the contract JSON, sane results."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb

from pipelines.generate import generate
from pipelines.generate.cidds import generate_cidds

SCANSENSE = str(Path(sys.executable).with_name("scansense"))


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def _cli(*args: str) -> dict:
    proc = subprocess.run([SCANSENSE, *args, "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_generator_is_deterministic_and_labelled(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, days=1, seed=4)
    generate(b, days=1, seed=4)
    assert _digest(a) == _digest(b)
    day = a / "landing" / "2025-11-26"
    assert sorted(p.name for p in day.iterdir()) == [
        "capture.pcap",
        "firewall.log",
        "flows.csv",
        "honeypot.json",
        "sensor.jsonl",
    ]
    con = duckdb.connect()
    kinds = dict(
        con.execute("SELECT kind, count(*) FROM read_csv($p) GROUP BY 1", {"p": str(a / "truth.csv")}).fetchall()
    )
    for kind in (
        "fast_vertical",
        "fast_horizontal",
        "udp",
        "slow_vertical",
        "slow_horizontal",
        "distributed",
        "research",
        "benign",
    ):
        assert kinds.get(kind, 0) >= 1, kind
    orgs = {p.stem.removesuffix("_v4") for p in (a / "orgs").glob("*_v4.txt")}
    assert len(orgs) >= 12


def test_eval_sources_contract_and_fast_scans_found(tmp_path: Path) -> None:
    generate(tmp_path, days=1, seed=9)
    result = _cli("eval", "sources", "--landing", str(tmp_path / "landing"), "--truth", str(tmp_path / "truth.csv"))
    assert set(result["detectors"]) == {"fast", "slow", "combined"}
    assert result["kinds"]["fast"]["recall_combined"] == 1.0
    assert result["kinds"]["udp"]["recall_combined"] == 1.0
    assert result["detectors"]["combined"]["precision"] >= 0.9


def test_cidds_profile_and_eval_slow_table(tmp_path: Path) -> None:
    info = generate_cidds(tmp_path, seed=3, flows=60_000)
    assert info["records"] == 60_000 and info["attack_flows"] == 15_000
    flows = tmp_path / "landing" / "2025-11-26" / "flows.csv"
    result = _cli("eval", "slow", "--flows", str(flows), "--thresholds", "0.70,0.75")
    for method in ("persistent", "port_ratio"):
        assert [r["threshold"] for r in result[method]] == [0.70, 0.75]
        assert {"threshold", "detection_rate", "paper_fpr", "fpr"} <= set(result[method][0])
    best = result["persistent"][1]
    assert best["detection_rate"] >= 0.99 and best["paper_fpr"] <= 0.05
