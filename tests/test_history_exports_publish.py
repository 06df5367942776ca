"""Exports follow the publish: a day the quality gate rejects, or a run killed before the warehouse
swap, leaves no exports; a published day's exports are read from the published file."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from generated import generated_settings
from hashing import table_hashes

from pipelines import export
from pipelines import warehouse as wh
from pipelines.generate import generate
from pipelines.run import run_day, stage_publish

DAY = date(2025, 11, 26)


def _clock_bug(settings) -> Path:
    """Add an event three days past its partition's day (a critical `ts` check fails); return its file."""
    part = next((settings.warehouse / "lake" / "events" / f"date={DAY.isoformat()}").glob("*.parquet"))
    table = pq.read_table(part).slice(0, 1)
    ts_type = table.schema.field("ts").type
    moved = pc.add(table["ts"], pa.scalar(timedelta(days=3), pa.duration(ts_type.unit))).cast(ts_type)
    bad = part.with_name("zz-clock-bug.parquet")
    pq.write_table(table.set_column(table.schema.get_field_index("ts"), "ts", moved), bad)
    return bad


def _leftovers(exports: Path) -> list[str]:
    """Anything of DAY's in the exports folder, finished or temporary."""
    return sorted(p.name for p in exports.glob(f"*{DAY.isoformat()}*")) if exports.is_dir() else []


def test_only_a_published_day_gets_exports_and_they_come_from_the_published_file(tmp_path: Path, monkeypatch) -> None:
    generate(tmp_path / "gen", days=1, start=DAY, seed=5, scale=0.1)
    settings = generated_settings(tmp_path / "gen", tmp_path / "wh")
    assert run_day(DAY, settings, send_email=False).published
    exports = settings.warehouse / "exports"
    folder = exports / DAY.isoformat()
    db = wh.db_path(settings.warehouse)

    # Published: every format, holding the rows the published file gives.
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.file for f in export.FORMATS.values())
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = export.day_rows(con, DAY, settings)
    finally:
        con.close()
    assert rows, "the generated day has malicious sources"
    assert (folder / "sources.csv").read_text(encoding="utf-8") == export.render("csv", rows, DAY, settings)

    # A critical DQ failure: the build is rejected, and no exports of it are written.
    shutil.rmtree(folder)
    before = table_hashes(db, ["source_risk", "source_history"])
    bad = _clock_bug(settings)
    result = stage_publish(DAY, settings)
    assert not result["published"] and result["dq_failed"]
    assert _leftovers(exports) == []
    assert table_hashes(db, ["source_risk", "source_history"]) == before

    # A run killed after the build and before the swap: no exports either, the old warehouse stays.
    bad.unlink()

    def killed(build_file: Path, warehouse: Path) -> Path:
        raise KeyboardInterrupt("killed before the swap")

    monkeypatch.setattr(wh, "publish", killed)
    with pytest.raises(KeyboardInterrupt):
        stage_publish(DAY, settings)
    assert _leftovers(exports) == []
    assert table_hashes(db, ["source_risk", "source_history"]) == before
    monkeypatch.undo()

    # The day published again: its exports are back, the same bytes as the first time.
    assert stage_publish(DAY, settings)["published"]
    assert (folder / "sources.csv").read_text(encoding="utf-8") == export.render("csv", rows, DAY, settings)
    assert _leftovers(exports) == [DAY.isoformat()]


def test_stale_exports_never_outlive_a_swap(tmp_path: Path, monkeypatch) -> None:
    """Issue 28 finding 9: a crash between the swap and the exports leaves no exports of the previous warehouse.

    The rerun publishes a warehouse whose exports differ (one malicious source allow-listed since);
    a fault injected after the swap stops the run before the exports: the day then has none, not the
    old ones. A fault before the swap puts the old exports back (the old warehouse stays published).
    """
    from pipelines import history

    generate(tmp_path / "gen", days=1, start=DAY, seed=5, scale=0.1)
    settings = generated_settings(tmp_path / "gen", tmp_path / "wh")
    assert run_day(DAY, settings, send_email=False).published
    exports = settings.warehouse / "exports"
    folder = exports / DAY.isoformat()
    old_csv = (folder / "sources.csv").read_text(encoding="utf-8")
    with duckdb.connect(str(wh.db_path(settings.warehouse)), read_only=True) as con:
        victim = export.day_rows(con, DAY, settings)[0]["src_ip"]  # a source the old exports list
    assert victim in old_csv
    allow = tmp_path / "allow.txt"
    allow.write_text(f"{victim}\n")
    rerun = settings.replace("site", allow=str(allow))

    def killed_before(build_file: Path, warehouse: Path) -> Path:
        raise KeyboardInterrupt("killed before the swap")

    monkeypatch.setattr(wh, "publish", killed_before)
    with pytest.raises(KeyboardInterrupt):
        stage_publish(DAY, rerun)
    assert (folder / "sources.csv").read_text(encoding="utf-8") == old_csv  # the old warehouse's, restored
    assert _leftovers(exports) == [DAY.isoformat()]
    monkeypatch.undo()

    def killed_after(published: Path, day: date, settings) -> None:
        raise KeyboardInterrupt("killed after the swap, before the exports")

    monkeypatch.setattr(history, "export_published", killed_after)
    with pytest.raises(KeyboardInterrupt):
        stage_publish(DAY, rerun)
    with duckdb.connect(str(wh.db_path(settings.warehouse)), read_only=True) as con:
        published_rows = export.day_rows(con, DAY, rerun)
    assert victim not in {r["src_ip"] for r in published_rows}  # the new warehouse is the published one
    assert not folder.exists()  # ... and the old exports, which still list the victim, are gone
    monkeypatch.undo()

    assert stage_publish(DAY, rerun)["published"]  # a rerun writes the day's exports again
    assert (folder / "sources.csv").read_text(encoding="utf-8") == export.render("csv", published_rows, DAY, rerun)
    assert victim not in (folder / "sources.csv").read_text(encoding="utf-8")
    assert _leftovers(exports) == [DAY.isoformat()]
