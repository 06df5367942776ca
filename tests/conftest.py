"""Shared fixtures: settings in a temporary warehouse, and the optional third-party data folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.settings import Settings, load_settings

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _no_shared_geo_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never read the machine's shared geo databases (`make setup` fills ~/.local/share/scansense/geo):
    the default data directory is an empty one, and a test that wants databases makes its own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
        mp.delenv("SCANSENSE_GEO_DATA_DIR", raising=False)
        yield


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
