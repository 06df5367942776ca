"""Settings: the documented scansense.toml is the defaults, and the environment overrides it."""

from __future__ import annotations

import dataclasses
import re
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


SECRET_NAME = re.compile(r"password|secret|token|api_?keys?$|credential", re.IGNORECASE)


def test_repr_hides_every_secret() -> None:
    env = {"SCANSENSE_SMTP_PASSWORD": "hunter2-smtp", "SCANSENSE_GEO_API_KEYS": "ipinfo=tok-ipinfo,ipapi=tok-ipapi"}
    s = load_settings(ROOT / "scansense.toml", env=env)
    assert s.smtp.password == "hunter2-smtp" and s.geo.api_keys["ipinfo"] == "tok-ipinfo"
    for shown in (repr(s), str(s), repr(s.smtp), repr(s.geo), f"{s}"):
        for secret in ("hunter2-smtp", "tok-ipinfo", "tok-ipapi"):
            assert secret not in shown
    # every field named like a secret, in any section, is left out of repr (new secrets included)
    secret_fields = [
        (section.name, f.name)
        for section in dataclasses.fields(Settings)
        for f in dataclasses.fields(getattr(Settings(), section.name))
        if SECRET_NAME.search(f.name)
    ]
    assert ("smtp", "password") in secret_fields and ("geo", "api_keys") in secret_fields
    for section, name in secret_fields:
        field = next(f for f in dataclasses.fields(getattr(s, section)) if f.name == name)
        assert field.repr is False, f"{section}.{name} is shown by repr(Settings)"
