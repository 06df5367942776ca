"""Which geolocation source answers, in words for the run summary and the report: the offline
city database and its folder, the online providers, or, loudly, the country-only fallback.

A run that found no city database still runs (countries from `iptocc`), but it cannot place
regions or cities and misses countries the registry lacks: a reader must see that at once.
"""

from __future__ import annotations

from datetime import date

import duckdb

from pipelines.geo.files import CONFIGURED, LEGACY, OfflineFiles, data_dir, offline_files
from pipelines.settings import Settings

FETCH_HINT = "run `scansense geo fetch`"
FALLBACK = f"FALLBACK: country-only registry (iptocc): {FETCH_HINT}"

# The day's public source addresses by the provider that placed them (geo_ip.provider). Reads
# `events` and `geo_ip` of the connection: the published warehouse, or the lake's views.
ANSWERS_SQL = """
SELECT coalesce(g.provider, 'none') AS provider, count(*) AS sources
FROM (SELECT DISTINCT src_ip FROM events WHERE event_date = $day AND src_ip IS NOT NULL) AS e
LEFT JOIN geo_ip AS g ON g.ip = e.src_ip
WHERE coalesce(g.ip_class, 'public') = 'public'
GROUP BY ALL ORDER BY sources DESC, provider
"""


def _offline_text(files: OfflineFiles, settings: Settings) -> str:
    """The offline source in words: which city database, where; or the fallback and why."""
    if not files.city:
        if settings.geo.mmdb:
            return f"{FALLBACK} (the configured [geo] mmdb {settings.geo.mmdb} is not a file)"
        return f"{FALLBACK} (no city database in {data_dir(settings)})"
    names = [p.name for p in files.mmdb]
    label = "DB-IP Lite city" if all(n.lower().startswith("dbip") for n in names) else ", ".join(names)
    where = str(files.mmdb[0]) if files.origin == CONFIGURED else str(files.folder)
    text = f"{label} (offline, {where})"
    if files.origin == LEGACY:
        text += f"; old per-warehouse folder, other warehouses do not see it: {FETCH_HINT} to share it"
    return text


def describe(settings: Settings) -> dict:
    """The configured geolocation source: `source` in words, `kind` (online, offline, fallback), `fallback`."""
    files = offline_files(settings)
    offline = _offline_text(files, settings)
    providers = list(settings.geo.providers)
    if providers:
        text = f"online providers: {', '.join(providers)}; when they fail: {offline}"
        kind = "online"
    else:
        text, kind = offline, ("offline" if files.city else "fallback")
    return {
        "source": text,
        "kind": kind,
        "fallback": not files.city,
        "data_dir": str(data_dir(settings)),
        "origin": files.origin,
        "files": [str(p) for p in (*files.mmdb, *files.asn)],
    }


def answers(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, int]:
    """The day's public source addresses per provider that placed them ('none': not placed)."""
    return dict(con.execute(ANSWERS_SQL, {"day": day}).fetchall())


def lake_answers(settings: Settings, day: date) -> dict[str, int]:
    """`answers` from the lake: the day's events partition and the geo_ip cache."""
    from pipelines import catalog, duck
    from pipelines import warehouse as wh
    from pipelines.geo import GEO_SCHEMA, cache_path

    con = duck.connect(settings)
    try:
        wh.lake_view(con, settings.warehouse, "events", catalog.table("events").schema, day)
        cache = cache_path(settings)
        if cache.is_file():
            con.execute(
                "CREATE TEMP TABLE geo_ip AS SELECT ip, ip_class, provider FROM read_parquet($f)", {"f": str(cache)}
            )
        else:
            con.register("geo_ip", GEO_SCHEMA.empty_table())
        return answers(con, day)
    finally:
        con.close()


def summary(settings: Settings, counts: dict[str, int]) -> dict:
    """The source, the day's answers per provider, and one line saying both (FALLBACK when it is one)."""
    info = describe(settings)
    online = set(settings.geo.providers)
    stood_in = sum(n for p, n in counts.items() if online and p not in online)
    line = f"Geolocation: {info['source']}"
    if counts:
        line += "; the day's public sources: " + ", ".join(f"{p} {n}" for p, n in counts.items())
    if stood_in:
        line += f"; FALLBACK: {stood_in} answered offline (online providers failed or were skipped)"
    return info | {"answers": counts, "line": line, "fallback": info["fallback"] or bool(stood_in)}
