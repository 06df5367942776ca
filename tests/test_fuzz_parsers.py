"""A short run of the parser fuzzer (the long run is bench/fuzz_parsers.py, see docs/RELIABILITY.md)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from fuzz_parsers import fuzz, seed_files  # noqa: E402


def test_seeds_parse_cleanly(tmp_path: Path) -> None:
    from pipelines.ingest import iter_file
    from pipelines.settings import load_settings

    settings = load_settings(env={})
    for name, data in seed_files().items():
        path = tmp_path / name
        path.write_bytes(data)
        chunks = list(iter_file(path, settings, year=2025))
        assert sum(c.events.num_rows for c in chunks) >= 10, name
        assert sum(len(c.quarantine) for c in chunks) == 0, name


def test_mutated_inputs_never_crash_or_hang() -> None:
    result = fuzz(1500, seed=7, share=0.0)
    assert result["crashes"] == 0 and result["hangs"] == 0, result["findings"][:3]
    assert result["quarantined"] > 0  # mutations do produce bad records, and they are kept


def test_structural_mutations_never_lose_the_planted_records() -> None:
    """One record out of range, nested deep, too long, or with absurd header/option values: the others land."""
    result = fuzz(900, seed=11, share=1.0)
    assert result["crashes"] == 0 and result["hangs"] == 0 and result["lost"] == 0, result["findings"][:3]
    assert result["structural"] == 900 and result["planted"] > 10_000 and result["quarantined"] > 0


def test_settings_fuzz_damaged_settings_never_crash() -> None:
    """Issue 28 finding 8: a mutated scansense.toml, a bad value or a bad variable loads or is one SettingsError line."""
    from fuzz_parsers import fuzz_settings

    result = fuzz_settings(1500, seed=3)
    assert result["crashes"] == 0, result["findings"][:3]
    assert result["accepted"] > 0 and result["refused"] > 0


def test_hostile_file_names_are_each_recorded_stored_losslessly_and_never_followed() -> None:
    """Random-byte names, dotfiles, partial files, links (to /proc/self too) and FIFOs in landing days (issue 28)."""
    from fuzz_parsers import fuzz_names

    result = fuzz_names(12, seed=5)
    assert result["failures"] == 0 and result["entries"] > 40, result["findings"][:3]
