"""Offline geography on a tiny .mmdb and ASN CSV made here: IPv4, IPv6, special ranges, the cache."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import maxminddb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from pipelines import geo
from pipelines.geo import ranges, regions
from pipelines.settings import Settings

FLAT = {  # the ip-location-db layout of the DB-IP Lite file
    "1.2.3.0/24": {
        "country_code": "AU",
        "state1": "Queensland",
        "city": "Brisbane",
        "latitude": -27.5,
        "longitude": 153.0,
    },
    "114.114.0.0/16": {
        "country_code": "CN",
        "state1": "Guangdong",
        "city": "Shenzhen",
        "latitude": 22.5,
        "longitude": 114.1,
    },
    "2400:3200::/32": {
        "country_code": "CN",
        "state1": "Zhejiang",
        "city": "Hangzhou",
        "latitude": 30.3,
        "longitude": 120.2,
    },
}
MAXMIND = {  # the GeoLite2 / GeoIP2 layout
    "2001:4860::/32": {
        "country": {"iso_code": "US"},
        "subdivisions": [{"iso_code": "CA", "names": {"en": "California"}}],
        "city": {"names": {"en": "Mountain View"}},
        "location": {"latitude": 37.4, "longitude": -122.1},
    },
    "81.2.69.0/24": {"country": {"iso_code": "GB"}, "city": {"names": {"en": "London"}}},
}
ASN_CSV = (
    '1.2.3.0,1.2.3.255,13335,"Cloudflare, Inc."\n'
    "114.114.0.0,114.114.255.255,21859,Zenlayer Inc\n"
    "2400:3200::,2400:3200:ffff:ffff:ffff:ffff:ffff:ffff,37963,Alibaba\n"
    "2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n"
)


def write_mmdb(path: Path, networks: dict[str, dict], ip_version: int = 6) -> Path:
    """A small MaxMind-format database (mmdb_writer), IPv4 placed at ::/96 when ip_version is 6."""
    writer = MMDBWriter(ip_version=ip_version, ipv4_compatible=ip_version == 6, database_type="test-city")
    for net, rec in networks.items():
        writer.insert_network(IPSet([net]), rec)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def geo_settings(settings: Settings) -> Settings:
    folder = Path(settings.warehouse) / "geo"
    folder.mkdir(parents=True)
    write_mmdb(folder / "a-city.mmdb", FLAT | MAXMIND)
    (folder / "asn-test.csv").write_text(ASN_CSV)
    return settings


def _rows(table: pa.Table) -> dict[str, dict]:
    return {r["ip"]: r for r in table.to_pylist()}


def test_ipv4_ipv6_and_mapped_addresses_are_placed(geo_settings: Settings) -> None:
    rows = _rows(
        geo.lookup(["1.2.3.4", "::ffff:1.2.3.9", "114.114.114.114", "2400:3200::1", "2001:4860::8888"], geo_settings)
    )
    assert (rows["1.2.3.4"]["country_code"], rows["1.2.3.4"]["city"], rows["1.2.3.4"]["asn"]) == (
        "AU",
        "Brisbane",
        13335,
    )
    assert rows["1.2.3.4"]["as_org"] == "Cloudflare, Inc." and rows["1.2.3.4"]["provider"] == "a-city.mmdb"
    assert rows["::ffff:1.2.3.9"]["country_code"] == "AU"  # IPv4-mapped IPv6 is looked up as IPv4
    cn = rows["114.114.114.114"]
    assert (cn["country"], cn["region"], cn["region_code"], cn["asn"]) == ("China", "Guangdong", "CN-GD", 21859)
    v6 = rows["2400:3200::1"]
    assert (v6["ip_class"], v6["country_code"], v6["region_code"], v6["asn"]) == ("public", "CN", "CN-ZJ", 37963)
    us = rows["2001:4860::8888"]  # MaxMind layout: subdivision code becomes ISO 3166-2
    assert (us["country_code"], us["region"], us["region_code"], us["city"]) == (
        "US",
        "California",
        "US-CA",
        "Mountain View",
    )
    assert (us["lat"], us["lon"], us["asn"]) == (37.4, -122.1, 15169)


def test_special_ranges_are_labelled_and_not_placed(geo_settings: Settings) -> None:
    expected = {
        "10.1.2.3": "private",
        "192.168.0.1": "private",
        "127.0.0.1": "loopback",
        "169.254.1.1": "link-local",
        "100.64.0.1": "cgnat",
        "224.0.0.5": "multicast",
        "192.0.2.7": "documentation",
        "198.51.100.1": "documentation",
        "203.0.113.9": "documentation",
        "255.255.255.255": "reserved",
        "0.1.2.3": "reserved",
        "::1": "loopback",
        "::": "reserved",
        "fc00::1": "private",
        "fd12:3456::1": "private",
        "fe80::1": "link-local",
        "2001:db8::1": "documentation",
        "ff02::1": "multicast",
        "::ffff:10.0.0.1": "private",
        "not an ip": "invalid",
        "01.2.3.4": "invalid",
    }
    rows = _rows(geo.lookup(list(expected), geo_settings))
    for ip, cls in expected.items():
        r = rows[ip]
        assert r["ip_class"] == cls, ip
        assert r["country_code"] is None and r["asn"] is None and r["provider"] == "special", ip
        assert geo.ip_class(ip) == cls, ip


def test_vectorized_classes_match_single_address_classes() -> None:
    """Every boundary of every special network, and either side of it, classed alike both ways."""
    probes = []
    for entries in (ranges.SPECIAL_V4, ranges.SPECIAL_V6):
        for net, _ in entries:
            n = ipaddress.ip_network(net)
            for x in (
                int(n.network_address) - 1,
                int(n.network_address),
                int(n.broadcast_address),
                int(n.broadcast_address) + 1,
            ):
                if 0 <= x < 2**n.max_prefixlen:
                    probes.append(str(ipaddress.ip_address(x) if n.version == 6 else ipaddress.IPv4Address(x)))
    keys = ranges.parse(probes)
    special = ranges.special_table()
    idx = special.find(keys)
    labels = special.dims["ip_class"].to_pylist()
    for ip, i in zip(probes, idx, strict=True):
        assert (labels[i] if i >= 0 else "public") == ranges.classify_one(ip), ip


def test_iptocc_places_what_no_database_knows(geo_settings: Settings) -> None:
    row = _rows(geo.lookup(["8.8.8.8"], geo_settings))["8.8.8.8"]
    assert (row["country_code"], row["provider"], row["city"]) == ("US", "iptocc", None)


def test_without_any_database_country_comes_from_iptocc(settings: Settings) -> None:
    rows = _rows(geo.lookup(["8.8.8.8", "2400:3200::1", "10.0.0.1"], settings))
    assert rows["8.8.8.8"]["provider"] == "iptocc" and rows["2400:3200::1"]["country_code"] == "CN"
    assert rows["10.0.0.1"]["provider"] == "special"


def test_tree_walk_matches_the_library(tmp_path: Path) -> None:
    """The NumPy search-tree walk gives what maxminddb's own lookups give, IPv4 and IPv6 databases."""
    for version, nets in ((6, FLAT | MAXMIND), (4, {k: v for k, v in FLAT.items() if ":" not in k})):
        path = write_mmdb(tmp_path / f"v{version}.mmdb", nets, ip_version=version)
        table = ranges.mmdb_table(path)
        probes = ["1.2.2.255", "1.2.3.0", "1.2.3.255", "1.2.4.0", "114.113.255.255", "114.114.0.0", "8.8.8.8"]
        if version == 6:
            probes += [
                "2400:3200::",
                "2400:3200:ffff:ffff:ffff:ffff:ffff:ffff",
                "2400:3201::",
                "2001:4860:1::1",
                "81.2.69.1",
            ]
        idx = table.find(ranges.parse(probes))
        dims = table.dims.to_pylist()
        with maxminddb.open_database(str(path)) as reader:
            for ip, i in zip(probes, idx, strict=True):
                expected = reader.get(ip)
                assert (dims[i] if i >= 0 else None) == (ranges.record_fields(expected) if expected else None), ip


def test_ipv6_lookup_inside_a_64_bit_half() -> None:
    """Ranges that start inside one upper half (longer than /64) are still found exactly."""
    a = [int(ipaddress.IPv6Address(x)) for x in ("2001:db8::", "2001:db8::8000", "2001:db8::ffff", "2001:db9::")]
    table = ranges._build(
        np.full(3, 6, np.int8),
        np.array([x >> 64 for x in a[:3]], np.uint64),
        np.array([x & (2**64 - 1) for x in a[:3]], np.uint64),
        np.array([x >> 64 for x in (a[1] - 1, a[2] - 1, a[3] - 1)], np.uint64),
        np.array([x & (2**64 - 1) for x in (a[1] - 1, a[2] - 1, a[3] - 1)], np.uint64),
        np.arange(3, dtype=np.int32),
        pa.table({"n": [0, 1, 2]}),
    )
    probes = [
        "2001:db8::1",
        "2001:db8::7fff",
        "2001:db8::8000",
        "2001:db8::fffe",
        "2001:db8::ffff",
        "2001:db8:0:1::",
        "2001:db7::",
    ]
    assert table.find(ranges.parse(probes)).tolist() == [0, 0, 1, 1, 2, 2, -1]


def test_cache_reuses_answers_until_the_ttl(geo_settings: Settings) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    first = geo.enrich_ips(["1.2.3.4", "10.0.0.1"], geo_settings, now=t0)
    assert set(first["ip"].to_pylist()) == {"1.2.3.4", "10.0.0.1"}
    again = geo.enrich_ips(["1.2.3.4", "114.114.1.1"], geo_settings, now=t0 + timedelta(days=1))
    at = {r["ip"]: r["looked_up_at"] for r in again.to_pylist()}
    assert at == {"1.2.3.4": t0, "114.114.1.1": t0 + timedelta(days=1)}  # cached one kept its time
    later = t0 + timedelta(days=geo_settings.geo.ttl_days + 2)
    expired = geo.enrich_ips(["1.2.3.4"], geo_settings, now=later)
    assert expired["looked_up_at"].to_pylist() == [later]
    cached = pq.read_table(geo.cache_path(geo_settings))
    assert set(cached["ip"].to_pylist()) == {"1.2.3.4"}  # expired rows are dropped from the cache


def test_cache_written_before_region_code_still_reads(geo_settings: Settings) -> None:
    now = datetime.now(UTC)
    old = geo.lookup(["1.2.3.4"], geo_settings, now=now).drop_columns(["region_code"])
    path = geo.cache_path(geo_settings)
    path.parent.mkdir(parents=True)
    pq.write_table(old, path)
    table = geo.enrich_ips(["1.2.3.4"], geo_settings, now=now)
    assert table.schema == geo.GEO_SCHEMA and table["region_code"].to_pylist() == [None]


def test_enrich_reads_every_distinct_address_of_events(geo_settings: Settings) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events AS SELECT * FROM (VALUES ('1.2.3.4', '10.0.0.2'), ('2400:3200::5', '10.0.0.2')) t(src_ip, dst_ip)"
    )
    table = geo.enrich(con, geo_settings)
    assert sorted(table["ip"].to_pylist()) == ["1.2.3.4", "10.0.0.2", "2400:3200::5"]


def test_geo_lookup_json(geo_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main

    code = main(
        ["geo", "lookup", "2400:3200::1", "fe80::1", "nonsense", "--warehouse", str(geo_settings.warehouse), "--json"]
    )
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1 and out["invalid"] == ["nonsense"]
    first, second = out["results"]
    assert {k: first[k] for k in ("ip", "country_code", "region", "asn", "as_org", "provider")} == {
        "ip": "2400:3200::1",
        "country_code": "CN",
        "region": "Zhejiang",
        "asn": 37963,
        "as_org": "Alibaba",
        "provider": "a-city.mmdb",
    }
    assert second["provider"] == "special" and second["ip_class"] == "link-local" and second["country_code"] is None


@pytest.mark.parametrize(
    ("country", "name", "code", "expected"),
    [
        ("CN", "广东省", None, ("CN", "Guangdong", "CN-GD")),
        ("CN", "广东", None, ("CN", "Guangdong", "CN-GD")),
        ("CN", "Guangdong Sheng", None, ("CN", "Guangdong", "CN-GD")),
        ("CN", "guangdong", None, ("CN", "Guangdong", "CN-GD")),
        ("CN", "Guangdong", "GD", ("CN", "Guangdong", "CN-GD")),
        ("CN", None, "440000", ("CN", "Guangdong", "CN-GD")),
        ("CN", "内蒙古自治区", None, ("CN", "Inner Mongolia", "CN-NM")),
        ("CN", "Nei Mongol", None, ("CN", "Inner Mongolia", "CN-NM")),
        ("CN", "新疆维吾尔自治区", None, ("CN", "Xinjiang", "CN-XJ")),
        ("CN", "Guangxi Zhuang Autonomous Region", None, ("CN", "Guangxi", "CN-GX")),
        ("CN", "北京市", None, ("CN", "Beijing", "CN-BJ")),
        ("CN", "Shaanxi", None, ("CN", "Shaanxi", "CN-SN")),
        ("CN", "陕西省", None, ("CN", "Shaanxi", "CN-SN")),
        ("CN", "山西", None, ("CN", "Shanxi", "CN-SX")),
        ("CN", "香港", None, ("HK", None, None)),
        ("US", "California", "CA", ("US", "California", "US-CA")),
        ("US", "California", None, ("US", "California", None)),
    ],
)
def test_region_naming(country: str, name: str | None, code: str | None, expected: tuple) -> None:
    assert regions.region(country, name, code) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [("CN", "CN"), ("cn", "CN"), ("中国", "CN"), ("美国", "US"), ("United States", "US"), ("China", "CN"),
     ("台湾", "TW"), ("Hong Kong", "HK"), ("UK", "GB"), ("XX", None), ("", None), ("Atlantis", None)],
)  # fmt: skip
def test_country_codes(value: str, code: str | None) -> None:
    assert regions.country_code(value) == code
