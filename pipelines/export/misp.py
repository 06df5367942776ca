"""MISP event (`pymisp.MISPEvent`): one `ip-src` attribute per malicious source, tagged by tags and organization.

Comments carry the reasons and sampled attacker text (escaped by MISP's JSON); tag values are
cut down to letters, digits, '.', '_' and '-' so no text can break out of a machine tag.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from pymisp import MISPEvent

from pipelines.export import site_name, stable_uuid
from pipelines.export.stix import sample_text
from pipelines.settings import Settings

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def machine_tag(predicate: str, value: str) -> str:
    """A MISP machine tag `scansense:<predicate>="<value>"` with a value that cannot escape its quotes."""
    return f'scansense:{predicate}="{_TAG_UNSAFE.sub("-", value)[:64]}"'


def render(fmt: str, rows: list[dict], day: date, settings: Settings) -> str:
    """A MISP event (JSON) for `day`; uuids are fixed by site, day and address."""
    site = site_name(settings)
    start = datetime.combine(day, time(0), tzinfo=UTC)
    event = MISPEvent()
    event.uuid = stable_uuid("misp-event", site, day)
    event.info = f"{site}: malicious scanning sources of {day.isoformat()}"
    event.date = day
    event.timestamp = start
    event.distribution = 0  # this organization only: a site shares on purpose, never by default
    event.threat_level_id = 3  # low: scanning
    event.analysis = 2  # completed: the day is closed
    event.add_tag("scansense")
    for row in rows:
        comment = "; ".join(x for x in [*(row["reasons"] or []), sample_text(row)] if x)
        attribute = event.add_attribute(
            "ip-src",
            row["src_ip"],
            uuid=stable_uuid("misp-attribute", site, day, row["src_ip"]),
            comment=comment,
            to_ids=True,
            category="Network activity",
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            timestamp=start,
        )
        for tag in row["tags"]:
            attribute.add_tag(machine_tag("tag", tag))
        if row["research_org"]:  # on the reference lists
            attribute.add_tag(machine_tag("research-org", row["research_org"]))
    return event.to_json(indent=2) + "\n"
