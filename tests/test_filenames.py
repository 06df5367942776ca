"""Hostile file names are data: quotes, spaces, `..`, SQL and newlines in an input's name never
become SQL, never steer where the lake writes, and are stored verbatim (issue 9)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb

from pipelines.run import day_files, run_day

DAY = date(2025, 11, 26)
NAMES = [
    'it\'s "quoted".jsonl',
    "with  spaces .jsonl",
    "..hidden-looking..jsonl",
    "a..b..jsonl",
    "x'; DROP TABLE events; --.jsonl",
    "line\nbreak.jsonl",
    "$(touch pwned).jsonl",
    "\u202ertl-mark.jsonl",
]


def sensor_lines(n: int, first_octet: int) -> str:
    rec = {
        "event": "connect",
        "transport": "tcp",
        "src_port": 40000,
        "dst_ip": "10.0.0.2",
        "sent_data": False,
        "payload_hex": "",
        "bytes": 0,
        "duration_s": 0.0,
        "sensor": "edge-1",
    }
    return "".join(
        json.dumps(
            {
                **rec,
                "ts": f"2025-11-26T03:{i // 60:02d}:{i % 60:02d}Z",
                "src_ip": f"{first_octet}.0.0.{i + 1}",
                "dst_port": 22 + i,
            }
        )
        + "\n"
        for i in range(n)
    )


def test_hostile_file_names_are_stored_verbatim_and_never_used_as_paths(tmp_path: Path, settings) -> None:
    folder = settings.landing / DAY.isoformat()
    (folder / "sub dir").mkdir(parents=True)
    nested = folder / "sub dir" / ".." / "sub dir"  # a real `..` in a given path resolves inside the landing
    written = []
    for i, name in enumerate(NAMES):
        path = (nested if i % 2 else folder) / name
        path.write_text(sensor_lines(3, 100 + i) + "not json at all \"'; --\n")
        written.append(path.resolve())
    before = {p for p in tmp_path.rglob("*")}

    found = day_files(settings.landing, DAY)
    assert {p.resolve() for p in found} == set(written)  # hidden ones too: each gets its registry row

    result = run_day(DAY, settings, send_email=False)
    assert result.published, result.dq_failed

    ingested = [p for p in written if not p.name.startswith(".")]
    with duckdb.connect(str(settings.warehouse / "scansense.duckdb"), read_only=True) as con:
        # The events table survived the `DROP TABLE` name, and every good record landed.
        assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 3 * len(ingested)
        paths = {r[0] for r in con.execute("SELECT path FROM ingest_files WHERE status <> 'skipped'").fetchall()}
        assert paths == {str(p) for p in ingested}
        skipped = con.execute("SELECT path, error FROM ingest_files WHERE status = 'skipped'").fetchall()
        assert [(r[0], "hidden file" in r[1]) for r in skipped] == [(str(written[2]), True)]
        bad = con.execute("SELECT source_file, reason FROM quarantine ORDER BY source_file").fetchall()
        assert sorted(r[0] for r in bad) == sorted(str(p) for p in ingested)
        for name in NAMES[4:6]:
            hits = con.execute("SELECT count(*) FROM events WHERE source_file LIKE '%' || $n", {"n": name}).fetchone()
            assert hits[0] == 3, name

    # Nothing was written outside the warehouse, and no file name became a file of ours.
    created = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in created if settings.warehouse not in p.parents and p != settings.warehouse]
    assert outside == []
    assert not (Path.cwd() / "pwned").exists() and not (tmp_path / "pwned").exists()
    lake_names = [p.name for p in (settings.warehouse / "lake").rglob("*")]
    assert not any(n in name for name in lake_names for n in ("DROP", "quoted", "spaces", "\n"))
