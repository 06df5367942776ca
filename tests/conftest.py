"""Shared fixtures: settings in a temporary warehouse, and the optional third-party data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.settings import Settings, load_settings

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings pointing the warehouse and landing at a temporary folder."""
    return load_settings(
        env={"SCANSENSE_WAREHOUSE": str(tmp_path / "warehouse"), "SCANSENSE_LANDING": str(tmp_path / "landing")}
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The third-party data folder `../shared/data`; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"third-party data not present at {SHARED_DATA}")
    return SHARED_DATA
