"""`deploy/airflow_local.py` (the script behind `make airflow`) as a module, for the tests of the services it starts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_launcher() -> ModuleType:
    """deploy/airflow_local.py loaded from its file: deploy/ holds scripts, not an installed package."""
    spec = importlib.util.spec_from_file_location("airflow_local", ROOT / "deploy" / "airflow_local.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
