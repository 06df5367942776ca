"""Findings: every detector's verdicts in one shape, the allow-list, and risk reading any detector."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from test_detect_units import DAY, S, _con, benign_clients, horizontal_scan, vertical_scan

from pipelines import allow, catalog
from pipelines.detect import entropy, fast, findings, port_ratio, slow
from pipelines.risk import source_risk

FAST_SCANNER = "203.0.113.9"
SLOW_SCANNER = "198.51.100.7"


def _detected(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    """`rows` as the day's events, with every detector's table built in the connection as a run does."""
    con = _con(rows)
    for name, table in {
        "scan_fast": fast.scan_fast(con, DAY, S.fast),
        "window_entropy": entropy.window_entropy(con, DAY, S.entropy),
        "scan_slow": slow.scan_slow(con, DAY, S.slow),
        "port_ratio": port_ratio.port_ratio(con, DAY, S.slow),
    }.items():
        con.register("t", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM t")
        con.unregister("t")
    return con


@pytest.fixture
def scans() -> duckdb.DuckDBPyConnection:
    rows = (
        benign_clients(20)
        + horizontal_scan(FAST_SCANNER, 23, 300, 0.5)
        + vertical_scan(SLOW_SCANNER, "10.9.9.9", 120, 15)
    )
    return _detected(rows)


def test_every_detector_emits_findings_of_one_shape(scans) -> None:
    out = findings.findings(scans, DAY, S)
    assert out.schema == catalog.table("findings").schema
    rows = out.to_pylist()
    by = {(r["detector"], r["kind"]) for r in rows}
    assert ("scan_fast", "fast") in by and ("scan_slow", "vertical") in by and ("port_ratio", "ratio") in by
    # one finding per scan_fast row and per slow period judged a scan
    fast_rows = scans.execute("SELECT count(*) FROM scan_fast").fetchone()[0]
    assert sum(r["detector"] == "scan_fast" for r in rows) == fast_rows
    slow_rows = scans.execute("SELECT count(*) FROM scan_slow WHERE is_scan").fetchone()[0]
    assert sum(r["detector"] == "scan_slow" for r in rows) == slow_rows
    for r in rows:
        assert r["event_date"] == DAY and r["window_start"] < r["window_end"]
        assert isinstance(json.loads(r["evidence"]), dict) and json.loads(r["parameters"])
    assert {r["src_ip"] for r in rows if r["detector"] != "port_ratio"} == {FAST_SCANNER, SLOW_SCANNER}


def test_benign_traffic_gives_no_findings() -> None:
    out = findings.findings(_detected(benign_clients(20)), DAY, S)
    assert out.num_rows == 0 and out.schema == catalog.table("findings").schema


def test_the_allow_list_drops_the_sites_own_scanners(scans, tmp_path: Path) -> None:
    listed = tmp_path / "allow.txt"
    listed.write_text("# our vulnerability scanner\n203.0.113.0/24  # the scan network\n\n2001:db8::1\n")
    out = findings.findings(scans, DAY, S.replace("site", allow=str(listed)))
    assert FAST_SCANNER not in set(out["src_ip"].to_pylist())
    assert SLOW_SCANNER in set(out["src_ip"].to_pylist())
    assert allow.allowed(["2001:db8::1", "10.0.0.1", "not an ip"], S.replace("site", allow=str(listed))) == {
        "2001:db8::1"
    }


def test_research_organizations_are_allowed_only_by_setting(scans, tmp_path: Path) -> None:
    (tmp_path / "censys_v4.txt").write_text(f"{SLOW_SCANNER}/32\n")
    settings = S.replace("orgs", dir=str(tmp_path))
    assert SLOW_SCANNER in set(findings.findings(scans, DAY, settings)["src_ip"].to_pylist())
    allowed = findings.findings(scans, DAY, settings.replace("site", allow_research_orgs=True))
    assert SLOW_SCANNER not in set(allowed["src_ip"].to_pylist())


def test_a_bad_allow_list_line_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "allow.txt").write_text("10.0.0.0/8\nscanner.example.org\n")
    with pytest.raises(ValueError, match="allow.txt:2"):
        allow.read_allow_file(tmp_path / "allow.txt")


def test_any_detectors_finding_raises_traffic_but_a_baseline_does_not() -> None:
    con = _con(vertical_scan("192.0.2.1", "10.0.0.1", 3, 1) + vertical_scan("192.0.2.2", "10.0.0.1", 3, 1))
    row = {"event_date": DAY, "kind": "beacon", "window_start": None, "window_end": None}
    rows = [
        row | {"src_ip": "192.0.2.1", "detector": "new_detector"},
        row | {"src_ip": "192.0.2.2", "detector": "port_ratio", "kind": "ratio"},
    ]
    con.register("findings", pa.Table.from_pylist(rows))
    scores = {r["src_ip"]: r for r in source_risk(con, DAY, S).to_pylist()}
    assert scores["192.0.2.1"]["traffic_score"] == S.risk.traffic_points
    assert "found by new_detector (beacon)" in scores["192.0.2.1"]["reasons"]
    assert scores["192.0.2.2"]["traffic_score"] == 0
