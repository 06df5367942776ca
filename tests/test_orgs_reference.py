"""Reference organization lists: both formats, IPv4 and IPv6, most specific match, the real lists."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.orgs.reference import GENERIC_ORG, MATCH_SCHEMA, canonical_org, load_reference, org_from_comment


def _lists(tmp_path: Path) -> Path:
    d = tmp_path / "orgs"
    (d / "cidr").mkdir(parents=True)
    (d / "cidr" / "censys_v4.txt").write_text("162.142.125.0/24\n167.94.138.0/24\n")
    (d / "cidr" / "censys_v6.txt").write_text("2602:80d:1000::/44\n")
    (d / "cidr" / "strechoid_v4.txt").write_text("45.33.0.0/16\n# comment line\n\nnot-an-address\n")
    (d / "mass_scanner.txt").write_text(
        "# header\n"
        "45.33.2.193 # scan-1.shadowserver.org\n"  # more specific than stretchoid's /16
        "129.82.138.12 # pinger1a.netsec.colostate.edu\n"
        "81.2.69.1 # scanner.example.co.uk\n"
        "198.51.100.7\n"  # no comment: a mass scanner of no named organization
        "162.142.125.9 # census9.censys-scanner.com\n"
    )
    return d


def test_load_and_match_both_formats(tmp_path: Path) -> None:
    ref = load_reference(_lists(tmp_path))
    assert {"censys", "stretchoid", "shadowserver", "colostate", "example"} <= set(ref.orgs)
    ips = ["162.142.125.7", "162.142.125.9", "2602:80d:1000::5", "::ffff:162.142.125.7", "45.33.9.9", "45.33.2.193",
           "129.82.138.12", "81.2.69.1", "198.51.100.7", "8.8.8.8", "2001:db8::1", "garbage", None]  # fmt: skip
    out = ref.match(pa.array(ips, pa.string()))
    assert out.schema == MATCH_SCHEMA
    got = {r["ip"]: (r["org"], r["rdns"]) for r in out.to_pylist()}
    assert got == {
        "162.142.125.7": ("censys", None),
        "162.142.125.9": ("censys", "census9.censys-scanner.com"),
        "2602:80d:1000::5": ("censys", None),
        "::ffff:162.142.125.7": ("censys", None),
        "45.33.9.9": ("stretchoid", None),
        "45.33.2.193": ("shadowserver", "scan-1.shadowserver.org"),
        "129.82.138.12": ("colostate", "pinger1a.netsec.colostate.edu"),
        "81.2.69.1": ("example", "scanner.example.co.uk"),
        "198.51.100.7": (GENERIC_ORG, None),
    }


def test_match_accepts_connection_relation_and_lists(tmp_path: Path) -> None:
    ref = load_reference(_lists(tmp_path))
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events AS SELECT * FROM (VALUES ('162.142.125.1'), ('8.8.8.8'), ('162.142.125.1')) t(src_ip)"
    )
    assert ref.match(con).to_pylist() == [{"ip": "162.142.125.1", "org": "censys", "rdns": None}]
    assert ref.match(con.sql("SELECT src_ip FROM events")).num_rows == 1
    assert ref.match(["167.94.138.200"]).column("org").to_pylist() == ["censys"]
    assert ref.match([]).num_rows == 0


def test_empty_or_missing_folder_matches_nothing(tmp_path: Path) -> None:
    assert load_reference("").match(["162.142.125.7"]).num_rows == 0
    assert load_reference(tmp_path / "absent").orgs == []


def test_names() -> None:
    assert canonical_org("Strechoid") == "stretchoid" and canonical_org("censys-scanner") == "censys"
    assert org_from_comment("census7.shodan.io") == "shodan"
    assert org_from_comment("shodan.io (parking)") == "shodan"
    assert org_from_comment("45.33.2.193") is None and org_from_comment("(unknown)") is None
    assert org_from_comment("NYU Osiris Laboratory") == "nyu-osiris-laboratory"


def test_real_lists(shared_data: Path) -> None:
    ref = load_reference(shared_data / "scanner_orgs")
    assert {"censys", "shodan", "shadowserver", "stretchoid", "binaryedge", "rapid7", "onyphe"} <= set(ref.orgs)
    got = {r["ip"]: r["org"] for r in ref.match(["129.82.138.12", "8.8.8.8", "2602:80d:1000::5"]).to_pylist()}
    assert got == {"129.82.138.12": "colostate", "2602:80d:1000::5": "censys"}
