"""Settings: the documented scansense.toml is the defaults, and the environment overrides it."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path

import pytest

from pipelines.settings import Settings, airflow_days, load_settings

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


def test_airflow_days_come_from_settings_else_the_earliest_landing_day_else_today(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    today = date(2026, 1, 10)
    settings = load_settings(ROOT / "scansense.toml", env={"SCANSENSE_LANDING": str(landing)})
    assert airflow_days(settings, today) == (today, None)  # no landing folder yet
    for name in ("2025-11-27", "2025-11-28", "not-a-day", "2025-13-01"):
        (landing / name).mkdir(parents=True)
    (landing / "sensor").mkdir()
    (landing / "sensor" / "sensor-20251126T23.jsonl.part").write_text("")
    assert airflow_days(settings, today) == (date(2025, 11, 26), None)
    env = {"SCANSENSE_LANDING": str(landing), "SCANSENSE_AIRFLOW_START_DATE": "2025-11-27"}
    env["SCANSENSE_AIRFLOW_END_DATE"] = "2025-11-28"
    assert airflow_days(load_settings(ROOT / "scansense.toml", env=env), today) == (
        date(2025, 11, 27),
        date(2025, 11, 28),
    )
    cfg = tmp_path / "s.toml"
    cfg.write_text("[airflow]\nstart_date = 2025-11-20\n")  # a TOML date, unquoted
    assert airflow_days(load_settings(cfg, env={}), today)[0] == date(2025, 11, 20)
    for bad, message in (
        ({"SCANSENSE_AIRFLOW_START_DATE": "26.11.2025"}, "not a YYYY-MM-DD"),
        ({"SCANSENSE_AIRFLOW_END_DATE": "2025-11-01"}, "before start_date"),
    ):
        with pytest.raises(ValueError, match=message):
            airflow_days(load_settings(ROOT / "scansense.toml", env={"SCANSENSE_LANDING": str(landing), **bad}), today)
