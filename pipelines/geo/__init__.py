"""Geolocation of every address seen: special ranges labelled, then an offline MaxMind-format city
database (DB-IP Lite by default) and ASN ranges, else `iptocc` registry data; cached in the lake.

Online providers are optional (`pipelines.geo.providers`) and never see special-range addresses.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.settings import Settings

log = logging.getLogger(__name__)

GEO_COLUMNS = [
    ("ip", pa.string(), "The address (IPv4 or IPv6 text)."),
    ("ip_class", pa.string(), "public, private, loopback, link-local, cgnat, multicast, documentation or reserved."),
    ("country_code", pa.string(), "ISO 3166-1 alpha-2 country code; null for special ranges and unknown addresses."),
    ("country", pa.string(), "Country name in English."),
    ("region", pa.string(), "Region / subdivision name where the database knows it."),
    ("city", pa.string(), "City where the database knows it."),
    ("lat", pa.float64(), "Latitude (city or country level, as precise as the source)."),
    ("lon", pa.float64(), "Longitude."),
    ("asn", pa.int64(), "Autonomous system number announcing the address, where known."),
    ("as_org", pa.string(), "Name of that autonomous system's organization."),
    (
        "provider",
        pa.string(),
        "Which source placed the address: mmdb file name, iptocc, an online provider, or special.",
    ),
    (
        "looked_up_at",
        pa.timestamp("us", tz="UTC"),
        "When the answer was obtained (cache time to live counts from here).",
    ),
]
GEO_SCHEMA = pa.schema([(n, t) for n, t, _ in GEO_COLUMNS])
GEO_IP_COMMENTS = {n: c for n, _, c in GEO_COLUMNS}
CGNAT = ipaddress.ip_network("100.64.0.0/10")
DOCUMENTATION = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]


def ip_class(ip: str) -> str:
    """Label special-purpose ranges; 'public' for globally routable addresses."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "invalid"
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.is_multicast:
        return "multicast"
    if addr.version == 4 and addr in CGNAT:
        return "cgnat"
    if any(addr.version == n.version and addr in n for n in DOCUMENTATION):
        return "documentation"
    if addr.is_private:
        return "private"
    if addr.is_reserved or addr.is_unspecified or not addr.is_global:
        return "reserved"
    return "public"


@cache
def _country_name(code: str) -> str | None:
    from babel import Locale

    return Locale("en").territories.get(code)


def geo_dir(settings: Settings) -> Path:
    return Path(settings.warehouse) / "geo"


def mmdb_paths(settings: Settings) -> list[Path]:
    """City databases in use: the configured one, else those fetched into <warehouse>/geo."""
    if settings.geo.mmdb:
        return [Path(settings.geo.mmdb)]
    return sorted(geo_dir(settings).glob("*.mmdb"))


def asn_paths(settings: Settings) -> list[Path]:
    if settings.geo.asn_csv:
        return [Path(settings.geo.asn_csv)]
    return sorted(geo_dir(settings).glob("asn*.csv"))


def attribution(settings: Settings) -> str:
    """Credit line for the report footer (DB-IP's licence asks for it)."""
    used = " ".join(p.name for p in mmdb_paths(settings) + asn_paths(settings)).lower()
    if not used or "dbip" in used or "asn" in used:
        return "IP geolocation by DB-IP.com (https://db-ip.com), CC BY 4.0; country fallback from RIR delegation data (iptocc)."
    return f"IP geolocation from {used}."


def _offline(ips: list[str], settings: Settings) -> list[dict]:
    import iptocc
    import maxminddb

    readers = [(p.name, maxminddb.open_database(str(p))) for p in mmdb_paths(settings) if p.is_file()]
    now = datetime.now(UTC)
    out = []
    for ip in ips:
        cls = ip_class(ip)
        row = {"ip": ip, "ip_class": cls, "looked_up_at": now, "provider": "special" if cls != "public" else None}
        if cls == "public":
            for name, reader in readers:
                try:
                    rec = reader.get(ip)
                except ValueError:
                    rec = None
                if rec:
                    country = rec.get("country") or {}
                    subs = rec.get("subdivisions") or [{}]
                    loc = rec.get("location") or {}
                    row |= {
                        "country_code": country.get("iso_code") or rec.get("country_code"),
                        # MaxMind layout (subdivisions[].names.en) or the flat ip-location-db layout (state1)
                        "region": ((subs[0] or {}).get("names") or {}).get("en")
                        if isinstance(subs, list) and subs and subs[0]
                        else rec.get("state1") or None,
                        "city": ((rec.get("city") or {}).get("names") or {}).get("en")
                        if isinstance(rec.get("city"), dict)
                        else rec.get("city"),
                        "lat": loc.get("latitude", rec.get("latitude")),
                        "lon": loc.get("longitude", rec.get("longitude")),
                        "provider": name,
                    }
                    break
            if not row.get("country_code"):
                code = iptocc.country_code(ip)
                if code:
                    row |= {"country_code": code, "provider": "iptocc"}
        if row.get("country_code"):
            row["country"] = _country_name(row["country_code"])
        out.append(row)
    for _, reader in readers:
        reader.close()
    return out


def _add_asn(con: duckdb.DuckDBPyConnection, table: pa.Table, settings: Settings) -> pa.Table:
    """Fill asn/as_org by an ASOF join of numeric IPv4 addresses on the ASN range CSVs."""
    paths = [str(p) for p in asn_paths(settings) if p.is_file()]
    if not paths or table.num_rows == 0:
        return table
    con.execute("SET enable_progress_bar = false")
    con.register("geo_rows", table)
    ranges = _asn_ranges(con, paths)
    con.register("asn_ranges", ranges)
    joined = con.execute(
        """
        WITH g AS (
            SELECT *, CASE WHEN ip NOT LIKE '%:%' THEN
                CAST(split_part(ip, '.', 1) AS UBIGINT) * 16777216 + CAST(split_part(ip, '.', 2) AS UBIGINT) * 65536
                + CAST(split_part(ip, '.', 3) AS UBIGINT) * 256 + CAST(split_part(ip, '.', 4) AS UBIGINT) END AS num
            FROM geo_rows
        )
        SELECT g.* EXCLUDE (num, asn, as_org), CASE WHEN g.num <= r.hi THEN r.asn END AS asn,
               CASE WHEN g.num <= r.hi THEN r.as_org END AS as_org
        FROM g ASOF LEFT JOIN asn_ranges AS r ON g.num >= r.lo
        """
    ).to_arrow_table()
    con.unregister("geo_rows")
    con.unregister("asn_ranges")
    return joined.select(GEO_SCHEMA.names).cast(GEO_SCHEMA)


def cache_path(settings: Settings) -> Path:
    return Path(settings.warehouse) / "lake" / "geo_ip" / "geo_ip.parquet"


def lookup(ips: list[str], settings: Settings, con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
    """Geolocate addresses without the cache: online providers first when configured, then offline."""
    con = con or duckdb.connect()
    rows = _offline(ips, settings)
    if settings.geo.providers:
        # Online providers (DESIGN 6) are not implemented yet: say so instead of silently ignoring the setting.
        raise NotImplementedError(
            f"online geolocation providers {list(settings.geo.providers)} are not available yet; "
            "leave geo.providers empty to use the offline databases"
        )
    return _add_asn(con, pa.Table.from_pylist(rows, schema=GEO_SCHEMA), settings)


def enrich(con: duckdb.DuckDBPyConnection, settings: Settings) -> pa.Table:
    """geo_ip rows for every distinct address of `events`, reusing cached answers younger than the TTL."""
    ips = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT ip FROM (SELECT src_ip AS ip FROM events UNION SELECT dst_ip FROM events) WHERE ip IS NOT NULL ORDER BY ip"
        ).fetchall()
    ]
    path = cache_path(settings)
    cached = pq.read_table(path).cast(GEO_SCHEMA) if path.is_file() else GEO_SCHEMA.empty_table()
    cutoff = datetime.now(UTC) - timedelta(days=settings.geo.ttl_days)
    fresh = {
        ip: i
        for i, (ip, at) in enumerate(zip(cached["ip"].to_pylist(), cached["looked_up_at"].to_pylist(), strict=True))
        if at and at >= cutoff
    }
    missing = [ip for ip in ips if ip not in fresh]
    new = lookup(missing, settings, con) if missing else GEO_SCHEMA.empty_table()
    keep = cached.take(sorted(fresh.values())) if fresh else GEO_SCHEMA.empty_table()
    keep = (
        keep.filter(pa.compute.invert(pa.compute.is_in(keep["ip"], value_set=pa.array(missing, pa.string()))))
        if missing and keep.num_rows
        else keep
    )
    merged = pa.concat_tables([keep, new]).sort_by("ip")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(merged, tmp)
    os.replace(tmp, path)
    wanted = pa.array(ips, pa.string())
    return merged.filter(pa.compute.is_in(merged["ip"], value_set=wanted))


def _asn_ranges(con: duckdb.DuckDBPyConnection, paths: list[str]) -> pa.Table:
    """Numeric IPv4 ASN ranges, parsed once from the CSV and kept as Parquet beside it
    (parsing the 24 MB CSV took ~30 s of every run; the Parquet loads in well under a second)."""
    import hashlib

    key = hashlib.sha256("|".join(f"{p}:{os.stat(p).st_mtime_ns}" for p in paths).encode()).hexdigest()[:12]
    cached = Path(paths[0]).with_name(f".asn-ranges-{key}.parquet")
    if cached.is_file():
        return pq.read_table(cached)
    table = (
        con.execute(
            """        SELECT CAST(split_part(column0, '.', 1) AS UBIGINT) * 16777216 + CAST(split_part(column0, '.', 2) AS UBIGINT) * 65536
               + CAST(split_part(column0, '.', 3) AS UBIGINT) * 256 + CAST(split_part(column0, '.', 4) AS UBIGINT) AS lo,
               CAST(split_part(column1, '.', 1) AS UBIGINT) * 16777216 + CAST(split_part(column1, '.', 2) AS UBIGINT) * 65536
               + CAST(split_part(column1, '.', 3) AS UBIGINT) * 256 + CAST(split_part(column1, '.', 4) AS UBIGINT) AS hi,
               CAST(column2 AS BIGINT) AS asn, column3 AS as_org
        FROM read_csv($paths, header = false, all_varchar = true)
        WHERE column0 NOT LIKE '%:%'
        """,
            {"paths": paths},
        )
        .to_arrow_table()
        .sort_by("lo")
    )
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, cached)
    return table
