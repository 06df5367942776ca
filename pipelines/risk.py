"""Risk per source and day (paper 000, DESIGN 5.2): traffic, time and geography indicators.

F (traffic) when the source exceeded the dynamic threshold or was found by the slow-scan model,
T (time) when it was active in the local night window, G (geography) when it comes from a public
address outside the home country. A confirmed scan from the site's own networks (`site.internal_networks`)
is malicious on its own (DESIGN 5.2: lateral movement), whatever R says. The paper writes R = 0.4F + 0.3T + 0.3G with F/T/G worth
50/30/20 points and malicious at R >= 60, which no source can reach (max 35); we default to
R = F + T + G and offer the paper's weights on 0..100 indicators as `risk.formula = "paper"`.
"""

from __future__ import annotations

import ipaddress
from datetime import date

import duckdb
import pyarrow as pa

from pipelines import catalog
from pipelines.orgs.reference import load_reference
from pipelines.schema import address
from pipelines.settings import Settings
from pipelines.sqlfiles import read_sql

FORMULAS = ("sum", "paper")

SOURCE_RISK_SCHEMA = catalog.table("source_risk").schema

# Empty stand-ins for inputs a caller did not provide (e.g. a day with no detector output).
_INPUT_SCHEMAS = {
    "findings": catalog.table("findings").schema,
    "geo_ip": pa.schema([("ip", pa.string()), ("country_code", pa.string())]),
}


def parse_clock(text: str) -> int:
    """Minutes after midnight of 'HH:MM' ('24:00' is the end of the day)."""
    hours, _, minutes = text.strip().partition(":")
    value = int(hours) * 60 + int(minutes or 0)
    if not 0 <= value <= 24 * 60:
        raise ValueError(f"not a time of day: {text!r}")
    return value


def is_public(ip: str) -> bool:
    """True for globally routable addresses; private, reserved, shared and malformed ones are not."""
    addr = address(ip)
    return addr is not None and addr.is_global and not addr.is_multicast


def internal_networks(site_networks: tuple[str, ...]) -> list:
    """The site's own networks as ip_network objects (IPv4-mapped IPv6 ranges read as IPv4)."""
    nets = []
    for text in site_networks:
        net = ipaddress.ip_network(text.strip(), strict=False)
        if isinstance(net, ipaddress.IPv6Network) and net.subnet_of(ipaddress.ip_network("::ffff:0:0/96")):
            net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{max(net.prefixlen - 96, 0)}")
        nets.append(net)
    return nets


def is_internal(ip: str, nets: list) -> bool:
    """True when the address lies in one of the site's own networks."""
    addr = address(ip)
    return addr is not None and any(addr.version == n.version and addr in n for n in nets)


def _existing(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()").fetchall()
    return {r[0] for r in rows}


def source_risk(con: duckdb.DuckDBPyConnection, day: date, settings: Settings) -> pa.Table:
    """Score every source of the day in `events` against its `findings` and `geo_ip`."""
    rs, site = settings.risk, settings.site
    if rs.formula not in FORMULAS:
        raise ValueError(f"risk.formula must be one of {FORMULAS}, not {rs.formula!r}")
    sources = con.execute("SELECT DISTINCT src_ip FROM events WHERE src_ip IS NOT NULL").fetch_arrow_table().column(0)
    ips = sources.to_pylist()
    nets = internal_networks(site.internal_networks)
    public = pa.table(
        {
            "ip": pa.array(ips, pa.string()),
            "is_public": pa.array([is_public(ip) for ip in ips], pa.bool_()),
            "is_internal": pa.array([is_internal(ip, nets) for ip in ips], pa.bool_()),
        }
    )
    research = load_reference(settings.orgs.dir).match(sources).select(["ip", "org"])
    registered = {"risk_sources_public": public, "risk_research_orgs": research}
    present = _existing(con)
    for name, schema in _INPUT_SCHEMAS.items():
        if name not in present:
            registered[name] = schema.empty_table()
    for name, table in registered.items():
        con.register(name, table)
    paper = rs.formula == "paper"
    start, end = parse_clock(site.night_start), parse_clock(site.night_end)
    params = {
        "day": day,
        "tz": site.timezone,
        "night_start": start,
        "night_end": end,
        "night_label": f"{site.night_start}-{site.night_end} {site.timezone}",
        "home": site.home_country,
        "formula": rs.formula,
        # The paper's weights apply to indicators on 0..100; the sum uses the points as they are.
        "f_points": 100 if paper else rs.traffic_points,
        "t_points": 100 if paper else rs.time_points,
        "g_points": 100 if paper else rs.geo_points,
        "malicious_at": float(rs.malicious_at),
        "exclude_research": bool(rs.exclude_research_orgs),
        "internal_malicious": bool(rs.internal_scans_malicious),
        "baseline": list(rs.baseline_detectors),
    }
    try:
        table = con.execute(read_sql("score/source_risk"), params).fetch_arrow_table()
    finally:
        for name in registered:
            con.unregister(name)
    return table.select(SOURCE_RISK_SCHEMA.names).cast(SOURCE_RISK_SCHEMA)
