"""Settings for a day made by the generator: its landing and reference lists, a warehouse of the test's own."""

from __future__ import annotations

from pathlib import Path

from pipelines.settings import Settings, load_settings


def generated_settings(gen: Path, warehouse: Path) -> Settings:
    """Settings reading `gen`'s landing and organization lists, writing the warehouse at `warehouse`."""
    return load_settings(
        env={
            "SCANSENSE_WAREHOUSE": str(warehouse),
            "SCANSENSE_LANDING": str(gen / "landing"),
            "SCANSENSE_ORGS_DIR": str(gen / "orgs"),
        }
    )
