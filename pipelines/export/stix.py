"""STIX 2.1 bundle (OASIS `stix2`): the site's Identity, an Indicator and a Sighting per malicious source.

The pattern is built only from the canonical address; reasons, tags and sampled attacker text go
into descriptions and labels, which the STIX JSON serializer escapes.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, date, datetime, time, timedelta

import stix2

from pipelines.export import site_name, stable_uuid
from pipelines.settings import Settings

MAX_COUNT = 999_999_999  # STIX 2.1 section 5.2: Sighting count is 0..999,999,999


def pattern(ip: str) -> str:
    """The STIX pattern matching one address; `ip` must be an address (its text is re-printed)."""
    addr = ipaddress.ip_address(ip)
    return f"[ipv{addr.version}-addr:value = '{addr}']"


def sample_text(row: dict) -> str:
    """What the source sent, in words: the sampled URI and user agent when there are any."""
    labels = (("sample_uri", "URI"), ("sample_user_agent", "user agent"))
    return "; ".join(f"{label}: {row[key]}" for key, label in labels if row.get(key))


def render(fmt: str, rows: list[dict], day: date, settings: Settings) -> str:
    """A STIX 2.1 bundle for `day`; ids are fixed by site, day and address, so reruns are identical."""
    site = site_name(settings)
    start = datetime.combine(day, time(0), tzinfo=UTC)
    until = start + timedelta(days=max(1, settings.export.valid_days))
    identity = stix2.Identity(
        id=f"identity--{stable_uuid('identity', site)}",
        name=site,
        identity_class="system",
        created=start,
        modified=start,
    )
    objects: list = [identity]
    for row in rows:
        ip = row["src_ip"]
        indicator = stix2.Indicator(
            id=f"indicator--{stable_uuid('indicator', site, day, ip)}",
            created=start,
            modified=start,
            created_by_ref=identity.id,
            name=f"Malicious scanning source {ip}",
            description="; ".join(row["reasons"] or []) or None,
            indicator_types=["malicious-activity"],
            pattern=pattern(ip),
            pattern_type="stix",
            valid_from=start,
            valid_until=until,
            labels=list(row["tags"]) or None,
        )
        sighting = stix2.Sighting(
            id=f"sighting--{stable_uuid('sighting', site, day, ip)}",
            created=start,
            modified=start,
            created_by_ref=identity.id,
            sighting_of_ref=indicator.id,
            where_sighted_refs=[identity.id],
            count=min(int(row["probes"]), MAX_COUNT),
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            description=sample_text(row) or None,
        )
        objects += [indicator, sighting]
    bundle = stix2.Bundle(objects=objects, id=f"bundle--{stable_uuid('bundle', site, day)}")
    # Bundle.serialize(pretty=True) orders each property by searching the whole bundle: quadratic,
    # 15 min for 2,500 sources (bench/bench_scale.py). Each object is serialized alone instead, in
    # stix2's property order, and the bundle's envelope around them is plain JSON.
    envelope = {"type": bundle.type, "id": bundle.id, "objects": [json.loads(o.serialize()) for o in objects]}
    return json.dumps(envelope, indent=4, ensure_ascii=False) + "\n"
