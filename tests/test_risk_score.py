"""Risk per source and day (paper 000): indicators, formulas, reasons, research organizations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.risk import SOURCE_RISK_SCHEMA, is_public, parse_clock, source_risk
from pipelines.schema import conform_events

DAY = date(2025, 11, 26)


def _events(rows: list[tuple[str, datetime, int, str]]) -> pa.Table:
    return conform_events(
        pa.table(
            {
                "ts": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
                "event_date": pa.array([r[1].date() for r in rows], pa.date32()),
                "src_ip": [r[0] for r in rows],
                "dst_ip": [r[3] for r in rows],
                "dst_port": pa.array([r[2] for r in rows], pa.int32()),
                "proto": ["tcp"] * len(rows),
            }
        )
    )


def _con(
    events: pa.Table, fast: list[str], slow: list[tuple[str, str, bool]], geo: dict[str, str | None]
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("ev", events)
    con.execute("CREATE TABLE events AS SELECT * FROM ev")
    scan_fast = pa.table(  # noqa: F841
        {
            "window_start": pa.array([datetime(2025, 11, 26, 1, tzinfo=UTC)] * len(fast), pa.timestamp("us", tz="UTC")),
            "src_ip": pa.array(fast, pa.string()),
            "probes": pa.array([100] * len(fast), pa.int64()),
            "threshold": pa.array([20.0] * len(fast)),
        }
    )
    scan_slow = pa.table(  # noqa: F841
        {
            "src_ip": pa.array([s[0] for s in slow], pa.string()),
            "kind": pa.array([s[1] for s in slow], pa.string()),
            "is_scan": pa.array([s[2] for s in slow], pa.bool_()),
        }
    )
    geo_ip = pa.table({"ip": list(geo), "country_code": list(geo.values()), "ip_class": ["public"] * len(geo)})  # noqa: F841
    # what the detectors' findings would be (pipelines.detect.findings gathers them in a run)
    con.execute(
        """CREATE TABLE findings AS
           SELECT src_ip, 'scan_fast' AS detector, 'fast' AS kind FROM scan_fast
           UNION ALL SELECT src_ip, 'scan_slow', kind FROM scan_slow WHERE is_scan"""
    )
    con.execute("CREATE TABLE geo_ip AS SELECT * FROM geo_ip")
    return con


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 11, 26, hour, minute, tzinfo=UTC)


@pytest.fixture
def scenario():
    # Asia/Shanghai is UTC+8: 14:30 UTC is 22:30 local (night), 03:00 UTC is 11:00 local.
    rows = []
    rows += [
        ("8.8.8.8", _at(14, 30) + timedelta(seconds=i), 1000 + i, "10.0.0.1") for i in range(30)
    ]  # fast, night, US
    rows += [
        ("1.1.1.1", _at(3) + timedelta(seconds=10 * i), 2000 + i, "10.0.0.1") for i in range(1390)
    ]  # slow vertical, day, SG
    rows += [("9.9.9.9", _at(3), 22, "10.0.0.2")]  # benign, day, CN (home)
    rows += [("192.168.1.5", _at(15), 22, "10.0.0.2")]  # private, night
    rows += [("4.4.4.4", _at(15), 22, "10.0.0.2")]  # night and abroad, but no detector found it
    rows += [("162.142.125.7", _at(2), 443, "10.0.0.3")]  # censys, fast, abroad, day
    events = _events(rows)
    geo = {
        "8.8.8.8": "US",
        "1.1.1.1": "SG",
        "9.9.9.9": "CN",
        "192.168.1.5": "US",
        "162.142.125.7": "US",
        "4.4.4.4": "US",
    }
    return _con(
        events,
        ["8.8.8.8"] * 14 + ["162.142.125.7"],
        [("1.1.1.1", "vertical", True), ("9.9.9.9", "horizontal", False)],
        geo,
    )


@pytest.fixture
def orgs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "orgs"
    d.mkdir()
    (d / "censys_v4.txt").write_text("162.142.125.0/24\n")
    return d


def _by_ip(table: pa.Table) -> dict[str, dict]:
    return {r["src_ip"]: r for r in table.to_pylist()}


def test_sum_formula_scores_and_reasons(scenario, settings, orgs_dir) -> None:
    settings = settings.replace("orgs", dir=str(orgs_dir))
    out = source_risk(scenario, DAY, settings)
    assert out.schema == SOURCE_RISK_SCHEMA
    rows = _by_ip(out)
    assert set(rows) == {"8.8.8.8", "1.1.1.1", "9.9.9.9", "192.168.1.5", "162.142.125.7", "4.4.4.4"}
    assert (rows["4.4.4.4"]["risk"], rows["4.4.4.4"]["malicious"]) == (50.0, False)
    fast = rows["8.8.8.8"]
    assert (fast["traffic_score"], fast["time_score"], fast["geo_score"], fast["risk"]) == (50, 30, 20, 100.0)
    assert fast["malicious"] and fast["probes"] == 30 and fast["formula"] == "sum"
    assert fast["reasons"] == [
        "exceeded the dynamic threshold 14 times",
        "active 22:00-24:00 Asia/Shanghai",
        "abroad: US",
    ]
    slow = rows["1.1.1.1"]
    assert (slow["traffic_score"], slow["time_score"], slow["geo_score"]) == (50, 0, 20) and slow["malicious"]
    assert slow["reasons"] == ["slow vertical scan of 1,390 ports", "abroad: SG"]
    assert slow["first_seen"] == _at(3) and slow["last_seen"] == _at(3) + timedelta(seconds=13890)
    home = rows["9.9.9.9"]  # a non-scan slow period and the home country score nothing
    assert home["risk"] == 0 and not home["malicious"] and home["reasons"] == []
    private = rows["192.168.1.5"]  # night, but a private address never scores on geography
    assert (private["time_score"], private["geo_score"], private["malicious"]) == (30, 0, False)
    censys = rows["162.142.125.7"]
    assert censys["research_org"] == "censys" and censys["malicious"]
    assert (
        "known research scanner: censys" in censys["reasons"]
        and "exceeded the dynamic threshold once" in censys["reasons"]
    )


def test_research_orgs_can_be_excluded(scenario, settings, orgs_dir) -> None:
    settings = settings.replace("orgs", dir=str(orgs_dir)).replace("risk", exclude_research_orgs=True)
    rows = _by_ip(source_risk(scenario, DAY, settings))
    assert rows["162.142.125.7"]["risk"] == 70 and not rows["162.142.125.7"]["malicious"]
    assert rows["8.8.8.8"]["malicious"]


def test_no_reference_lists_means_no_research_orgs(scenario, settings) -> None:
    rows = _by_ip(source_risk(scenario, DAY, settings))
    assert all(r["research_org"] is None for r in rows.values())


def test_paper_formula_weights_indicators(scenario, settings) -> None:
    rows = _by_ip(source_risk(scenario, DAY, settings.replace("risk", formula="paper")))
    assert rows["8.8.8.8"]["risk"] == pytest.approx(100.0)
    assert rows["1.1.1.1"]["risk"] == pytest.approx(70.0) and rows["1.1.1.1"]["malicious"]
    assert rows["192.168.1.5"]["risk"] == pytest.approx(30.0) and not rows["192.168.1.5"]["malicious"]
    assert rows["8.8.8.8"]["formula"] == "paper"
    # Night + abroad reach 60 with the paper's weights, but only suspected sources get a verdict.
    assert rows["4.4.4.4"]["risk"] == pytest.approx(60.0) and not rows["4.4.4.4"]["malicious"]


def test_night_window_wrapping_midnight_and_home_country(scenario, settings) -> None:
    # 02:00-04:00 local in UTC: 8.8.8.8 (14:30 UTC) is no longer at night; 162.142.125.7 at 02:00 UTC is.
    settings = settings.replace("site", timezone="UTC", night_start="23:00", night_end="03:00", home_country="US")
    rows = _by_ip(source_risk(scenario, DAY, settings))
    assert rows["8.8.8.8"]["time_score"] == 0 and rows["8.8.8.8"]["geo_score"] == 0
    assert rows["162.142.125.7"]["time_score"] == 30
    assert rows["1.1.1.1"]["geo_score"] == 20


def test_unknown_formula_is_rejected(scenario, settings) -> None:
    with pytest.raises(ValueError, match="formula"):
        source_risk(scenario, DAY, settings.replace("risk", formula="max"))


def test_empty_day_and_missing_detector_tables(settings) -> None:
    con = duckdb.connect()
    empty = conform_events(pa.table({"src_ip": pa.array([], pa.string())}))  # noqa: F841
    con.execute("CREATE TABLE events AS SELECT * FROM empty")
    out = source_risk(con, DAY, settings)
    assert out.num_rows == 0 and out.schema == SOURCE_RISK_SCHEMA


def test_helpers() -> None:
    assert parse_clock("22:00") == 1320 and parse_clock("24:00") == 1440
    with pytest.raises(ValueError):
        parse_clock("25:00")
    assert is_public("8.8.8.8") and not is_public("10.1.2.3") and not is_public("::ffff:192.168.0.1")
    assert not is_public("100.64.0.1") and not is_public("garbage") and is_public("2606:4700::1111")
