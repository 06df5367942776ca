"""Issue 28 finding 4: the allow-list reads addresses with the one parser (`schema.address` /
`schema.networks`), so IPv4-mapped entries (`::ffff:a.b.c.d`, `::ffff:a.b.c.0/120`) remove their
sources from every export format (the nft and ipset block lists included) and from findings."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from test_export_formats import DAY, _fill

from pipelines import allow, export
from pipelines.settings import Settings

MAPPED = "# our scanners, written as IPv6 by the tool that exported them\n::ffff:203.0.113.5\n::ffff:198.51.100.0/120\n"


def _exported(allow_text: str, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "allow.txt"
    path.write_text(allow_text, encoding="utf-8")
    settings = Settings().replace("site", allow=str(path)).replace("paths", warehouse=str(tmp_path / "wh"))
    con = duckdb.connect()
    _fill(con)
    rows = export.day_rows(con, DAY, settings)
    return {fmt: export.render(fmt, rows, DAY, settings, include_research=True) for fmt in export.FORMATS}


def test_ipv4_mapped_allow_list_entries_remove_the_source_from_every_export(tmp_path: Path) -> None:
    before = _exported("", tmp_path)
    assert len(before) == 6 and all("203.0.113.5" in t and "198.51.100.9" in t for t in before.values())
    after = _exported(MAPPED, tmp_path)
    for fmt, text in after.items():
        assert "203.0.113.5" not in text and "198.51.100.9" not in text, fmt
        assert "2001:db8::bad" in text, fmt  # what the allow-list does not name stays


@pytest.mark.parametrize(
    ("entry", "inside", "outside"),
    [
        ("::ffff:192.0.2.7", ["192.0.2.7", "::ffff:192.0.2.7"], ["192.0.2.8"]),
        ("::ffff:192.0.2.0/120", ["192.0.2.255", "::ffff:192.0.2.1"], ["192.0.3.0"]),
        ("::FFFF:c000:0207", ["192.0.2.7"], ["192.0.2.6"]),
        ("192.0.2.0/24", ["::ffff:192.0.2.9"], ["2001:db8::1"]),
        ("::/0", ["2001:db8::1", "192.0.2.1"], ["not an ip"]),
    ],
)
def test_allow_list_entries_and_sources_are_read_by_one_parser(entry: str, inside: list, outside: list) -> None:
    nets = allow.parse_allow_list(entry)
    assert all(allow.is_allowed(ip, nets) for ip in inside)
    assert not any(allow.is_allowed(ip, nets) for ip in outside)


def test_findings_skip_sources_allowed_by_a_mapped_entry(tmp_path: Path) -> None:
    path = tmp_path / "allow.txt"
    path.write_text(MAPPED, encoding="utf-8")
    settings = Settings().replace("site", allow=str(path))
    assert allow.allowed(["203.0.113.5", "198.51.100.77", "203.0.113.6"], settings) == {"203.0.113.5", "198.51.100.77"}
