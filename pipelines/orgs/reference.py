"""Reference lists of Internet-scanning organizations and matching addresses against them.

Two list formats are read (those of ../shared/data/scanner_orgs/):
- `<org>_v4.txt` / `<org>_v6.txt`: one CIDR (or address) a line; the organization is the file name.
- any other `.txt` (maltrail `mass_scanner.txt`): `IP-or-CIDR # comment`, the comment mostly a
  reverse-DNS name whose registered domain names the organization (census7.shodan.io -> shodan).
Addresses are compared as 128-bit numbers (IPv4 mapped into ::ffff:0:0/96) split into two
unsigned 64-bit halves, so one DuckDB range join serves both families.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow as pa

# Lists whose entries name no organization: matches are labelled with this generic name.
GENERIC_ORG = "mass_scanner"
_V4_MAPPED = 0xFFFF << 32
_MASK64 = (1 << 64) - 1

# Spellings that differ between the lists and the names people use (openfilters writes
# "strechoid"; Censys scans from censys-scanner.com; Driftnet was internet-measurement.com;
# maltrail names Palo Alto's scanners by their cortex-xpanse.com rDNS).
ALIASES = {
    "strechoid": "stretchoid",
    "censys-scanner": "censys",
    "internet-measurement": "driftnet",
    "cyber": "driftnet",
    "internet-census": "bitsight",
    "360": "quake",
    "shadowserver-foundation": "shadowserver",
    "cortex-xpanse": "paloaltonetworks",
    "xpanse": "paloaltonetworks",
}
# openfilters files that gather many unrelated scanners (its README: "scanners that do not belong
# to any specific organization", and some twenty universities): matches get the generic label.
GROUP_LISTS = {"other", "universities"}
# Second-level labels under which registrable domains sit one level deeper (example.co.uk).
_SECOND_LEVEL = {"co", "com", "net", "org", "ac", "edu", "gov", "or", "ne", "go"}
_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z][a-z0-9-]*\.?$")  # last label not numeric: no IPs
_SLUG = re.compile(r"[^a-z0-9]+")

RANGES_SCHEMA = pa.schema(
    [
        ("org", pa.string()),
        ("rdns", pa.string()),
        ("prefix", pa.int32()),
        ("start_hi", pa.uint64()),
        ("start_lo", pa.uint64()),
        ("end_hi", pa.uint64()),
        ("end_lo", pa.uint64()),
        ("is_generic", pa.bool_()),
        ("list_file", pa.string()),
    ]
)
MATCH_SCHEMA = pa.schema([("ip", pa.string()), ("org", pa.string()), ("rdns", pa.string())])


def canonical_org(name: str) -> str:
    """Normalize an organization name: lower case, aliases resolved."""
    slug = _SLUG.sub("-", name.strip().lower()).strip("-")
    return ALIASES.get(slug, slug)


def org_from_comment(comment: str) -> str | None:
    """Organization named by a maltrail comment: the registered domain of an rDNS name, else the words."""
    text = comment.strip().split()[0].lower().rstrip(".") if comment.strip() else ""
    if not text or text in ("(unknown)", "unknown") or _network(text) is not None:
        return None
    if _DOMAIN.match(text):
        labels = text.split(".")
        if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
            return canonical_org(labels[-3])
        return canonical_org(labels[-2])
    return canonical_org(comment)


def _split128(value: int) -> tuple[int, int]:
    return value >> 64, value & _MASK64


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def ip_number(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    """128-bit number of an address, IPv4 mapped into ::ffff:0:0/96."""
    return _V4_MAPPED | int(ip) if ip.version == 4 else int(ip)


def _rows_of_file(path: Path) -> Iterable[dict]:
    stem = path.stem
    m = re.fullmatch(r"(.+)_v[46]", stem)
    file_org = canonical_org(m.group(1)) if m else None
    grouped = file_org in GROUP_LISTS
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        body, _, comment = line.partition("#")
        body = body.strip()
        if not body:
            continue
        net = _network(body.split()[0])
        if net is None:
            continue
        comment = comment.strip()
        org = None if grouped else file_org or org_from_comment(comment)
        rdns = comment.split()[0].rstrip(".").lower() if comment and _DOMAIN.match(comment.split()[0].lower()) else None
        first = ip_number(net.network_address)
        last = ip_number(net.broadcast_address)
        prefix = net.prefixlen + (96 if net.version == 4 else 0)
        s_hi, s_lo = _split128(first)
        e_hi, e_lo = _split128(last)
        yield {
            "org": org or GENERIC_ORG,
            "rdns": rdns,
            "prefix": prefix,
            "start_hi": s_hi,
            "start_lo": s_lo,
            "end_hi": e_hi,
            "end_lo": e_lo,
            "is_generic": org is None,
            "list_file": path.name,
        }


@dataclass(frozen=True)
class ReferenceOrgs:
    """Address ranges of known scanning organizations, matched with one DuckDB range join."""

    ranges: pa.Table

    @property
    def orgs(self) -> list[str]:
        """Organization names present in the lists (the generic label excluded)."""
        names = {
            o
            for o, g in zip(self.ranges["org"].to_pylist(), self.ranges["is_generic"].to_pylist(), strict=True)
            if not g
        }
        return sorted(names)

    def __len__(self) -> int:
        return self.ranges.num_rows

    def match(
        self,
        con_or_ips: duckdb.DuckDBPyConnection | duckdb.DuckDBPyRelation | pa.Array | pa.ChunkedArray | Iterable[str],
    ) -> pa.Table:
        """Known organization of each matching address: a table (ip, org, rdns), one row per matched ip.

        Accepts a DuckDB connection (the distinct src_ip of its `events`), a relation (its first
        column), an Arrow array or any iterable of address strings. The most specific range wins;
        a named organization beats the generic mass-scanner label.
        """
        if isinstance(con_or_ips, duckdb.DuckDBPyConnection):
            ips = (
                con_or_ips.execute("SELECT DISTINCT src_ip FROM events WHERE src_ip IS NOT NULL")
                .fetch_arrow_table()
                .column(0)
            )
        elif isinstance(con_or_ips, duckdb.DuckDBPyRelation):
            ips = con_or_ips.fetch_arrow_table().column(0)
        elif isinstance(con_or_ips, pa.Array | pa.ChunkedArray):
            ips = con_or_ips
        else:
            ips = pa.array(list(con_or_ips), pa.string())
        if len(ips) == 0 or self.ranges.num_rows == 0:
            return MATCH_SCHEMA.empty_table()
        addresses = address_numbers(
            pa.chunked_array([ips]).cast(pa.string()) if isinstance(ips, pa.Array) else ips.cast(pa.string())
        )
        ranges = self.ranges  # noqa: F841  (scanned by DuckDB through the variable name)
        with duckdb.connect() as con:
            con.register("addresses", addresses)
            con.register("ranges", ranges)
            return (
                con.execute(
                    """
                WITH a AS (
                    SELECT ip, (hi::UHUGEINT << 64) + lo::UHUGEINT AS num FROM addresses
                ), r AS (
                    SELECT org, rdns, prefix, is_generic,
                           (start_hi::UHUGEINT << 64) + start_lo::UHUGEINT AS first_num
                    FROM ranges
                ), p AS (
                    SELECT DISTINCT prefix FROM r
                ), masked AS (
                    -- A CIDR match is an equality on the address's first `prefix` bits: one hash
                    -- join per prefix length present instead of an inequality join over ranges.
                    SELECT a.ip, p.prefix,
                           CASE WHEN p.prefix = 0 THEN 0::UHUGEINT
                                ELSE (a.num >> (128 - p.prefix)::UHUGEINT) << (128 - p.prefix)::UHUGEINT END AS first_num
                    FROM a CROSS JOIN p
                ), hits AS (
                    SELECT m.ip, r.org, r.rdns, r.prefix, r.is_generic
                    FROM masked AS m JOIN r USING (prefix, first_num)
                )
                SELECT ip,
                       arg_min(org, (is_generic, -prefix, org)) AS org,
                       max(rdns) AS rdns
                FROM hits
                GROUP BY ip
                ORDER BY ip
                """
                )
                .fetch_arrow_table()
                .cast(MATCH_SCHEMA)
            )


def address_numbers(ips: pa.ChunkedArray) -> pa.Table:
    """Distinct valid addresses as (ip, hi, lo): dotted IPv4 converted in DuckDB, IPv6 in Python."""
    ip_table = pa.table({"ip": ips})  # noqa: F841  (scanned by DuckDB through the variable name)
    with duckdb.connect() as con:
        v4 = con.execute(
            """
            WITH d AS (SELECT DISTINCT ip FROM ip_table WHERE ip IS NOT NULL),
            p AS (
                SELECT ip, string_split(ip, '.') AS parts FROM d
                WHERE regexp_full_match(ip, '\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}')
            )
            SELECT ip, 0::UBIGINT AS hi,
                   ($mapped + parts[1]::UBIGINT * 16777216 + parts[2]::UBIGINT * 65536
                    + parts[3]::UBIGINT * 256 + parts[4]::UBIGINT)::UBIGINT AS lo
            FROM p
            WHERE parts[1]::INT <= 255 AND parts[2]::INT <= 255 AND parts[3]::INT <= 255 AND parts[4]::INT <= 255
            """,
            {"mapped": _V4_MAPPED},
        ).fetch_arrow_table()
        other = con.execute(
            "SELECT DISTINCT ip FROM ip_table WHERE ip IS NOT NULL AND NOT regexp_full_match(ip, '[0-9.]+')"
        ).fetchall()
    rows = {"ip": [], "hi": [], "lo": []}
    for (text,) in other:
        try:
            number = ip_number(ipaddress.ip_address(text.split("%")[0]))
        except ValueError:
            continue
        hi, lo = _split128(number)
        rows["ip"].append(text)
        rows["hi"].append(hi)
        rows["lo"].append(lo)
    schema = pa.schema([("ip", pa.string()), ("hi", pa.uint64()), ("lo", pa.uint64())])
    return pa.concat_tables([v4.cast(schema), pa.table(rows, schema=schema)])


def _list_files(orgs_dir: Path) -> list[Path]:
    return sorted(p for p in Path(orgs_dir).rglob("*.txt") if p.is_file() and not p.name.startswith("."))


@lru_cache(maxsize=8)
def _load_cached(orgs_dir: str, stamp: tuple) -> ReferenceOrgs:
    rows = [row for path in _list_files(Path(orgs_dir)) for row in _rows_of_file(path)]
    return ReferenceOrgs(pa.Table.from_pylist(rows, schema=RANGES_SCHEMA))


def load_reference(orgs_dir: Path | str | None) -> ReferenceOrgs:
    """Read every list under `orgs_dir` (recursively); an empty or missing folder gives no organizations."""
    if not orgs_dir or not Path(orgs_dir).is_dir():
        return ReferenceOrgs(RANGES_SCHEMA.empty_table())
    files = _list_files(Path(orgs_dir))
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _load_cached(str(Path(orgs_dir).resolve()), stamp)
