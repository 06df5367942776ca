"""Labelled captures: Zeek conn logs keep their labels (IoT-23, Stratosphere), and `eval sources --truth labels`
measures the detectors against them, as a user would on their own labelled data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_ingest_outcome import ZEEK_FIELDS, ZEEK_TYPES, conn, zeek_json, zeek_tsv

from pipelines.cli import main
from pipelines.ingest import iter_file

# IoT-23 (conn.log.labeled) appends its labels to Zeek's last column, joined with three spaces.
IOT23_FIELDS = [*ZEEK_FIELDS[:-1], "tunnel_parents   label   detailed-label"]
IOT23_TYPES = [*ZEEK_TYPES[:-1], "set[string]   string   string"]


def labelled(row: list[str], label: str, detailed: str) -> list[str]:
    return [*row[:-1], f"{row[-1]}   {label}   {detailed}"]


def rows_of(path: Path, settings) -> tuple[list[dict], list[dict]]:
    chunks = list(iter_file(path, settings))
    return [r for c in chunks for r in c.events.to_pylist()], [q for c in chunks for q in c.quarantine]


def test_zeek_labels_are_kept_in_tsv_and_json(tmp_path: Path, settings) -> None:
    """IoT-23's label and detailed-label (joined with spaces to tunnel_parents) and Stratosphere's JSON
    label and detailedlabel land in events.label / attack_type; '-' is no label."""
    rows = [
        labelled(conn("192.168.1.195", 41040, "185.244.25.235", 23, "tcp", "S0", (None, 1), (None, 0)), "Malicious",
                 "PartOfAHorizontalPortScan"),
        labelled(conn("192.168.1.195", 41041, "185.244.25.9", 80, "tcp", "SF", (100, 4), (900, 3)), "Malicious", "C&C"),
        labelled(conn("192.168.1.1", 53, "192.168.1.195", 41042, "udp", "SF", (40, 1), (90, 1)), "Benign", "-"),
    ]  # fmt: skip
    iot = tmp_path / "conn.log.labeled"
    iot.write_text(zeek_tsv(rows, IOT23_FIELDS, IOT23_TYPES), encoding="utf-8")
    got, bad = rows_of(iot, settings)
    assert not bad
    assert [(r["label"], r["attack_type"], r["outcome"]) for r in got] == [
        ("Malicious", "PartOfAHorizontalPortScan", "failed"),
        ("Malicious", "C&C", "succeeded"),
        ("Benign", None, "succeeded"),
    ]
    stratosphere = tmp_path / "conn.json"
    plain = [r[:-1] + ["-"] for r in rows]
    records = [json.loads(line) for line in zeek_json(plain).splitlines()]
    for rec, (label, detailed) in zip(records, [("Malicious", "PartOfAHorizontalPortScan"), ("Malicious", "C&C"),
                                                 ("Benign", "-")], strict=True):  # fmt: skip
        rec |= {"label": label, "detailedlabel": detailed}
    stratosphere.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    again, bad = rows_of(stratosphere, settings)
    assert not bad and [(r["label"], r["attack_type"]) for r in again] == [(r["label"], r["attack_type"]) for r in got]


def test_eval_sources_takes_its_truth_from_the_labels_in_the_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A labelled IoT capture: a Mirai-style horizontal scan (Malicious), a C&C client (Malicious, not a scan),
    benign clients and a host nobody labelled. Malicious sources are the truth; the unlabelled one is not scored."""
    day = tmp_path / "landing" / "2025-11-26"
    day.mkdir(parents=True)
    t0 = 1764126245.0
    scan = [
        labelled(conn("192.168.1.195", 41000 + i, f"10.{i // 250}.{i % 250}.1", 23, "tcp", "S0", (None, 1),
                      (None, 0), "S", t0 + i * 0.2), "Malicious", "PartOfAHorizontalPortScan")
        for i in range(400)
    ]  # fmt: skip
    cnc = [
        labelled(conn("192.168.1.196", 42000 + i, "185.244.25.9", 80, "tcp", "SF", (100, 4), (900, 3), "ShADadfF",
                      t0 + i * 30), "Malicious", "C&C-HeartBeat")
        for i in range(20)
    ]  # fmt: skip
    benign = [
        labelled(conn(f"192.168.1.{10 + h}", 43000 + i, f"93.184.216.{i}", 443, "tcp", "SF", (517, 6), (4000, 5),
                      "ShADadfF", t0 + i * 5 + h), "Benign", "-")
        for h in range(3)
        for i in range(20)
    ]  # fmt: skip
    nobody = [
        labelled(conn("192.168.1.99", 44000, "10.9.9.9", 8080, "tcp", "SF", (10, 3), (10, 3), "ShADadfF", t0), "-", "-")
    ]
    rows = sorted(scan + cnc + benign + nobody, key=lambda r: float(r[0]))
    (day / "conn.log.labeled").write_text(zeek_tsv(rows, IOT23_FIELDS, IOT23_TYPES), encoding="utf-8")

    landing = str(tmp_path / "landing")
    assert main(["eval", "sources", "--landing", landing, "--truth", "labels", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["truth"] == "labels" and result["scanners"] == 2 and result["sources"] == 5
    assert result["unlabelled"] == 1
    combined = result["detectors"]["combined"]
    assert combined["true_positives"] == 1 and combined["precision"] == 1.0 and combined["recall"] == 0.5
    assert result["kinds"]["scan"]["sources"] == 1 and result["kinds"]["scan"]["recall_combined"] == 1.0
    assert result["kinds"]["other_malicious"]["sources"] == 1

    assert main(["eval", "sources", "--landing", landing, "--truth", "labels"]) == 0
    text = capsys.readouterr().out
    assert "truth: labels in the data: 2 malicious sources (1 labelled scans), 3 benign, 1 without a verdict" in text
    assert "combined: precision 1.000 recall 0.500" in text

    assert main(["eval", "sources", "--landing", landing, "--truth", str(tmp_path / "missing.csv")]) == 2
    assert "no truth file" in capsys.readouterr().err
