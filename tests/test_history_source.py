"""source_history: the allow-list, the table's SQL on tiny inputs, and backfills in any order on generated days."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from generated import generated_settings
from hashing import table_hashes

from pipelines import catalog
from pipelines import warehouse as wh
from pipelines.allow import allowed_table, is_allowed, parse_allow_list
from pipelines.history import create_table, day_state, history_rows
from pipelines.settings import Settings

DAY = date(2025, 11, 26)


def test_allow_list_reads_addresses_cidrs_and_comments() -> None:
    nets = parse_allow_list("# site scanners\n192.0.2.7\n198.51.100.0/24   # audit\n\n2001:db8::/32\n")
    assert [str(n) for n in nets] == ["192.0.2.7/32", "198.51.100.0/24", "2001:db8::/32"]
    assert is_allowed("198.51.100.200", nets) and is_allowed("::ffff:192.0.2.7", nets)
    assert not is_allowed("192.0.2.8", nets) and not is_allowed("not an ip", nets)
    assert allowed_table(["192.0.2.7", "203.0.113.1"], nets).to_pylist() == [
        {"ip": "192.0.2.7", "is_allow_listed": True},
        {"ip": "203.0.113.1", "is_allow_listed": False},
    ]


def test_allow_list_names_the_bad_line() -> None:
    with pytest.raises(ValueError, match=r"allow\.txt:2: not an address or network: 'nft flush ruleset'"):
        parse_allow_list("10.0.0.0/8\nnft flush ruleset\n", origin="allow.txt")


def _tiny(con: duckdb.DuckDBPyConnection) -> None:
    """Two days: a returning malicious source, an allow-listed one, a research scanner, a quiet one."""
    con.execute(
        """CREATE TABLE source_risk AS SELECT * FROM (VALUES
        (DATE '2025-11-26', '203.0.113.5', 70.0, true, 'RU', 100, TIMESTAMPTZ '2025-11-26 01:00:00+00', TIMESTAMPTZ '2025-11-26 02:00:00+00', NULL),
        (DATE '2025-11-27', '203.0.113.5', 20.0, false, 'RU', 50, TIMESTAMPTZ '2025-11-27 03:00:00+00', TIMESTAMPTZ '2025-11-27 04:00:00+00', NULL),
        (DATE '2025-11-27', '192.0.2.7', 100.0, true, 'CN', 10, TIMESTAMPTZ '2025-11-27 05:00:00+00', TIMESTAMPTZ '2025-11-27 05:00:00+00', NULL),
        (DATE '2025-11-26', '198.51.100.9', 70.0, true, 'US', 30, TIMESTAMPTZ '2025-11-26 06:00:00+00', TIMESTAMPTZ '2025-11-26 06:00:00+00', 'censys'),
        (DATE '2025-11-26', '10.0.0.1', 0.0, false, NULL, 3, TIMESTAMPTZ '2025-11-26 07:00:00+00', TIMESTAMPTZ '2025-11-26 07:00:00+00', NULL)
        ) t(event_date, src_ip, risk, malicious, country_code, probes, first_seen, last_seen, research_org)"""
    )
    con.execute(
        """CREATE TABLE events AS SELECT * FROM (VALUES
        (DATE '2025-11-26', '203.0.113.5', '192.0.2.1', 22, 'tcp', 54321, 65535, 50),
        (DATE '2025-11-26', '203.0.113.5', '192.0.2.2', 23, 'tcp', 54321, 65535, 50),
        (DATE '2025-11-27', '203.0.113.5', '192.0.2.2', 80, 'tcp', 54321, 65535, 50),
        (DATE '2025-11-27', '192.0.2.7', '192.0.2.3', 80, 'tcp', 1, 29200, 64)
        ) t(event_date, src_ip, dst_ip, dst_port, proto, ip_id, tcp_window, ttl)"""
    )
    # Detectors reach history only through findings: scan_toy stands for a detector added after
    # history was written; the allow-listed 192.0.2.7 has none (findings leave it out).
    con.execute(
        """CREATE TABLE findings AS SELECT * FROM (VALUES
        (DATE '2025-11-26', '203.0.113.5', 'scan_fast', 'fast'),
        (DATE '2025-11-27', '203.0.113.5', 'scan_toy', 'vertical')
        ) t(event_date, src_ip, detector, kind)"""
    )
    con.execute(
        "CREATE TABLE scanner_orgs AS SELECT * FROM (VALUES (DATE '2025-11-27', '203.0.113.5', 'unknown-1'),"
        " (DATE '2025-11-27', '10.0.0.1', 'unclustered'), (DATE '2025-11-26', '10.0.0.1', 'unknown-9')) t(event_date, src_ip, org)"
    )


def test_history_of_tiny_days(tmp_path: Path) -> None:
    allow = tmp_path / "allow.txt"
    allow.write_text("192.0.2.0/29\n", encoding="utf-8")
    con = duckdb.connect()
    _tiny(con)
    counts = build_history(con, DAY, Settings().replace("site", allow=str(allow)))
    assert counts == {"source_tags": 4, "source_history": 4}
    rows = {r["src_ip"]: r for r in con.execute("SELECT * FROM source_history").fetch_arrow_table().to_pylist()}
    back = rows["203.0.113.5"]
    assert (back["first_date"], back["last_date"], back["days_active"], back["probes"]) == (
        DAY,
        DAY + timedelta(1),
        2,
        150,
    )
    assert (back["distinct_ports"], back["distinct_hosts"], back["latest_risk"], back["max_risk"]) == (3, 2, 20.0, 70.0)
    assert back["detectors"] == ["scan_fast", "scan_toy"] and back["tags"] == ["fast-scan", "scan-toy-vertical", "zmap"]
    assert (back["org"], back["malicious_days"], back["classification"]) == ("unknown-1", 1, "malicious")
    listed = rows["192.0.2.7"]  # malicious by its risk, but on the allow-list: recorded, shown, benign
    assert listed["is_allow_listed"] and listed["classification"] == "benign"
    assert listed["tags"] == [] and listed["detectors"] == []
    assert rows["198.51.100.9"]["classification"] == "benign" and rows["198.51.100.9"]["org"] == "censys"
    assert rows["10.0.0.1"]["classification"] == "unknown" and rows["10.0.0.1"]["org"] is None


# --- scenario: three small generated days, run forward and in reverse ---------------------------------

DAYS = [DAY + timedelta(days=i) for i in range(3)]
HISTORY_TABLES = ("source_history", "source_tags")


def build_history(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> dict[str, int]:
    """source_tags and source_history in `con` from every day loaded there at once (one state over every day)."""
    create_table(con, "source_tags", catalog.builder("source_tags")(con, day, settings))
    con.register("one_state", day_state(con))
    create_table(con, "source_history", history_rows(con, "SELECT * FROM one_state", settings))
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in HISTORY_TABLES[::-1]}


def _allow_list(gen: Path, path: Path) -> set[str]:
    """Allow-list the slow vertical scanners of the generated days (malicious by their risk)."""
    with open(gen / "truth.csv", newline="", encoding="utf-8") as fh:
        listed = {r["src_ip"] for r in csv.DictReader(fh) if r["kind"] == "slow_vertical"}
    path.write_text("# scanners of our own audit team\n" + "".join(f"{ip}  # audit\n" for ip in sorted(listed)))
    return listed


@pytest.fixture(scope="module")
def backfills(tmp_path_factory) -> dict:
    from pipelines.generate import generate
    from pipelines.run import run_day

    base = tmp_path_factory.mktemp("history")
    generate(base / "gen", days=3, start=DAY, seed=7, scale=0.1)
    listed = _allow_list(base / "gen", base / "allow.txt")
    out = {"listed": listed}
    for name, order in (("forward", DAYS), ("reverse", DAYS[::-1])):
        settings = generated_settings(base / "gen", base / name).replace("site", allow=str(base / "allow.txt"))
        for day in order:
            result = run_day(day, settings, send_email=False)
            assert result.published, result.dq_failed
        out[name] = settings
    return out


@pytest.mark.slow
def test_history_is_the_same_in_any_backfill_order(backfills) -> None:
    forward, reverse = backfills["forward"], backfills["reverse"]
    hashes = table_hashes(wh.db_path(forward.warehouse), HISTORY_TABLES)
    assert hashes == table_hashes(wh.db_path(reverse.warehouse), HISTORY_TABLES)
    with duckdb.connect(str(wh.db_path(forward.warehouse)), read_only=True) as con:
        days = con.execute("SELECT min(first_date), max(last_date), max(days_active) FROM source_history").fetchone()
        assert days == (DAYS[0], DAYS[-1], 3)
        # every detector with a finding is named in history, none by hand (scan_trw, port_ratio, ...)
        found = {d for (d,) in con.execute("SELECT DISTINCT detector FROM findings").fetchall()}
        named = {d for (d,) in con.execute("SELECT DISTINCT unnest(detectors) FROM source_history").fetchall()}
        assert named == found and len(found) >= 4, (named, found)


@pytest.mark.slow
def test_history_matches_a_from_scratch_recomputation(backfills, tmp_path: Path) -> None:
    settings = backfills["reverse"]
    scratch = tmp_path / "scratch.duckdb"
    with duckdb.connect(str(scratch)) as con:
        for table in ("events", "source_risk", "findings"):
            wh.load_lake_table(con, settings.warehouse, table)
        # the organizations published are the latest day's (its orgs.window_days window, issue 27)
        wh.load_lake_table(
            con, settings.warehouse, "scanner_orgs", day=wh.lake_days(settings.warehouse, "scanner_orgs")[-1]
        )
        build_history(con, DAYS[0], settings)
    assert table_hashes(scratch, HISTORY_TABLES) == table_hashes(wh.db_path(settings.warehouse), HISTORY_TABLES)


@pytest.mark.slow
def test_allow_listed_sources_are_recorded_benign_and_never_exported(backfills) -> None:
    settings, listed = backfills["forward"], backfills["listed"]
    with duckdb.connect(str(wh.db_path(settings.warehouse)), read_only=True) as con:
        shown = con.execute(
            "SELECT src_ip, classification, is_allow_listed FROM source_history WHERE list_contains($l, src_ip)",
            {"l": sorted(listed)},
        ).fetchall()
        was_malicious = con.execute(
            "SELECT count(*) FROM source_risk WHERE malicious AND list_contains($l, src_ip)", {"l": sorted(listed)}
        ).fetchone()[0]
    assert shown and {(c, a) for _, c, a in shown} == {("benign", True)}
    # The test allow-lists sources a run without the list calls malicious; the allow-list acts before risk
    # (in findings), so they earn no finding, no verdict and no place in the abnormal share.
    assert was_malicious == 0
    for day in DAYS:
        folder = settings.warehouse / "exports" / day.isoformat()
        assert not listed & set(re.findall(r"[0-9a-f.:]{7,}", (folder / "blocklist.nft").read_text()))
        assert not listed & {s["src_ip"] for s in json.loads((folder / "sources.json").read_text())["sources"]}


@pytest.mark.slow
def test_every_days_exports_are_read_back_and_hold_the_malicious_sources(backfills) -> None:
    import stix2
    from pymisp import MISPEvent

    forward, reverse, listed = backfills["forward"], backfills["reverse"], backfills["listed"]
    with duckdb.connect(str(wh.db_path(forward.warehouse)), read_only=True) as con:
        for day in DAYS:
            expected = {
                ip: org
                for ip, org in con.execute(
                    "SELECT src_ip, research_org FROM source_risk WHERE event_date = $d AND malicious", {"d": day}
                ).fetchall()
                if ip not in listed
            }
            folder = forward.warehouse / "exports" / day.isoformat()
            bundle = stix2.parse((folder / "stix-bundle.json").read_text(), allow_custom=False)
            stix_ips = {o.pattern.split("'")[1] for o in bundle.objects if o.type == "indicator"}
            event = MISPEvent()
            event.load((folder / "misp-event.json").read_text(encoding="utf-8"))
            with open(folder / "sources.csv", newline="", encoding="utf-8") as fh:
                csv_ips = {r["src_ip"] for r in csv.DictReader(fh)}
            json_ips = {s["src_ip"] for s in json.loads((folder / "sources.json").read_text())["sources"]}
            blocked = {ip for ip, org in expected.items() if org is None}
            ipset_ips = {
                line.split()[2]
                for line in (folder / "blocklist.ipset").read_text().splitlines()
                if line.startswith("add ")
            }
            assert expected, day
            assert stix_ips == {a.value for a in event.attributes} == csv_ips == json_ips == set(expected), day
            assert ipset_ips == blocked, day
            nft = shutil.which("nft")  # nftables' own parser, in check mode (nothing is loaded)
            if nft is not None:
                check = subprocess.run([nft, "-c", "-f", str(folder / "blocklist.nft")], capture_output=True, text=True)
                assert check.returncode == 0, check.stderr
            # a day's exports depend on that day alone: the same bytes whatever order the days ran in
            other = reverse.warehouse / "exports" / day.isoformat()
            assert {p.name: p.read_bytes() for p in folder.iterdir()} == {
                p.name: p.read_bytes() for p in other.iterdir()
            }


@pytest.mark.slow
def test_history_example_queries_run(backfills) -> None:
    examples = sorted((Path(__file__).resolve().parents[1] / "sql" / "examples").glob("history_*.sql"))
    assert len(examples) >= 3
    with duckdb.connect(str(wh.db_path(backfills["forward"].warehouse)), read_only=True) as con:
        for path in examples:
            con.execute(path.read_text(encoding="utf-8")).fetchall()
        new = con.execute((examples[1].parent / "history_new_and_returning.sql").read_text()).fetchall()
    assert new and {row[2] for row in new} <= {"new", "returning"}


@pytest.mark.slow
def test_report_lists_new_and_returning_malicious_sources(backfills, tmp_path: Path) -> None:
    from dashboards.report import build_report

    settings, listed = backfills["forward"], backfills["listed"]
    day = DAYS[1]
    report = build_report(wh.db_path(settings.warehouse), day, tmp_path / "report", settings)
    with duckdb.connect(str(wh.db_path(settings.warehouse)), read_only=True) as con:
        malicious = {
            ip
            for (ip,) in con.execute(
                "SELECT src_ip FROM source_risk WHERE event_date = $d AND malicious", {"d": day}
            ).fetchall()
        }
        earlier = {
            ip for (ip,) in con.execute("SELECT src_ip FROM source_risk WHERE event_date < $d", {"d": day}).fetchall()
        }
    shown = malicious - listed
    assert report.figures["new_malicious"] == len(shown - earlier)
    assert report.figures["returning_malicious"] == len(shown & earlier)
    assert "Malicious sources: new today and returning" in report.html.read_text(encoding="utf-8")
