"""Settings: the documented scansense.toml is the defaults, and the environment overrides it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_documented_file_equals_defaults() -> None:
    assert load_settings(ROOT / "scansense.toml", env={}) == Settings()


def test_environment_overrides_file_and_casts_types(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('[site]\nhome_country = "DE"\n[fast]\nk = 3.0\n')
    env = {
        "SCANSENSE_FAST_K": "2.5",
        "SCANSENSE_RISK_EXCLUDE_RESEARCH_ORGS": "true",
        "SCANSENSE_SENSOR_TCP_PORTS": "22, 80",
        "SCANSENSE_GEO_PROVIDERS": "ipinfo,ipapi",
        "SCANSENSE_WAREHOUSE": "/srv/wh",
    }
    s = load_settings(cfg, env=env)
    assert s.site.home_country == "DE"
    assert s.fast.k == 2.5
    assert s.risk.exclude_research_orgs is True
    assert s.sensor.tcp_ports == (22, 80)
    assert s.geo.providers == ("ipinfo", "ipapi")
    assert s.warehouse == Path("/srv/wh")


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text("[fast]\nkk = 3\n")
    with pytest.raises(ValueError, match="kk"):
        load_settings(cfg, env={})
