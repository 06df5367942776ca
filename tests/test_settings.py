"""Settings: the documented scansense.toml is the defaults, and the environment overrides it."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pipelines.settings import Settings, airflow_days, load_settings

ROOT = Path(__file__).resolve().parents[1]
SCANSENSE = str(Path(sys.executable).with_name("scansense"))


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
        ({"SCANSENSE_AIRFLOW_START_DATE": "26.11.2025"}, "26.11.2025.*YYYY-MM-DD"),
        ({"SCANSENSE_AIRFLOW_END_DATE": "2025-11-01"}, "before start_date"),
    ):
        with pytest.raises(ValueError, match=message):
            airflow_days(load_settings(ROOT / "scansense.toml", env={"SCANSENSE_LANDING": str(landing), **bad}), today)


# Issue 28 finding 8: each bad setting, as a file line or an environment variable, and a piece of
# what the one-line error must say (the setting, the value, what is allowed).
BAD_SETTINGS = [
    ({"SCANSENSE_FAST_K": "abc"}, "", ("[fast] k", "'abc'", "a number")),
    ({}, "[fast\nk = 1\n", ("not valid TOML", "line 1")),
    ({}, "[fast]\nkk = 3\n", ("kk", "allowed: window_s")),
    ({}, "[nope]\nx = 1\n", ("[nope]", "allowed: [paths]")),
    ({}, "[slow]\nthreshold = -0.5\n", ("[slow] threshold", "-0.5", "from 0 to 1")),
    ({}, "[fast]\nmin_probes = -3\n", ("[fast] min_probes", "-3", "at least 0")),
    ({}, '[site]\ntimezone = "Mars/Olympus"\n', ("[site] timezone", "Mars/Olympus", "IANA time zone")),
    ({}, f'[site]\ntimezone = "{"x" * 5000}"\n', ("[site] timezone", "xxx...", "IANA time zone")),  # found by fuzzing
    ({}, "[fast]\nk = inf\n", ("[fast] k", "inf", "a finite number")),
    ({"SCANSENSE_CONFIG": "/nonexistent/scansense.toml"}, None, ("/nonexistent/scansense.toml", "SCANSENSE_CONFIG")),
    ({}, '[scale]\nmemory_limit = "lots"\n', ("[scale] memory_limit", "'lots'", '"2GB"')),
    ({}, '[export]\nformats = ["pdf"]\n', ("[export] formats", "pdf", "stix, misp")),
    ({}, '[fast]\nmode = "median"\n', ("[fast] mode", "median", "mean, robust")),
    ({}, '[risk]\nformula = "max"\n', ("[risk] formula", "max", "sum, paper")),
    ({}, '[site]\nnight_start = "22h"\n', ("[site] night_start", "22h", "HH:MM")),
    ({}, '[site]\ninternal_networks = ["10.0.0.0/33"]\n', ("internal_networks", "10.0.0.0/33", "CIDR")),
    ({}, "[scale]\nshards = 0\n", ("[scale] shards", "0", "at least 1")),
    ({}, '[fast]\nwindow_s = "60"\n', ("[fast] window_s", "'60'", "a whole number")),
    ({}, "[sensor]\ntcp_ports = [22, 70000]\n", ("[sensor] tcp_ports", "70000", "1 to 65535")),
    ({"SCANSENSE_RISK_EXCLUDE_RESEARCH_ORGS": "maybe"}, "", ("exclude_research_orgs", "maybe", "true or false")),
    ({"SCANSENSE_QUERY_TIMEOUT_S": "0"}, "", ("[query] timeout_s", "above 0")),
    ({}, "fast = 3\n", ("[fast]", "must be a table")),
]


def _bad_env(tmp_path: Path, env: dict[str, str], text: str | None) -> dict[str, str]:
    full = {"SCANSENSE_WAREHOUSE": str(tmp_path / "wh"), "SCANSENSE_LANDING": str(tmp_path / "landing"), **env}
    if text is not None:
        cfg = tmp_path / "bad.toml"
        cfg.write_text(text)
        full.setdefault("SCANSENSE_CONFIG", str(cfg))
    return full


@pytest.mark.parametrize(("env", "text", "says"), BAD_SETTINGS)
def test_settings_validation_names_the_setting_value_and_what_is_allowed(tmp_path, env, text, says) -> None:
    from pipelines.settings_check import SettingsError

    with pytest.raises(SettingsError) as caught:
        load_settings(env=_bad_env(tmp_path, env, text))
    message = str(caught.value)
    assert "\n" not in message
    for piece in says:
        assert piece in message, message


@pytest.mark.parametrize(("env", "text", "says"), BAD_SETTINGS[:10])
def test_settings_validation_cli_prints_one_line_and_exits_2(tmp_path, monkeypatch, capsys, env, text, says) -> None:
    """`scansense run` with a bad setting: one line on stderr, exit 2, the --json object, nothing written."""
    from pipelines.cli import main

    for key in [k for k in os.environ if k.startswith("SCANSENSE_")]:
        monkeypatch.delenv(key)
    for key, value in _bad_env(tmp_path, env, text).items():
        monkeypatch.setenv(key, value)
    (tmp_path / "landing" / "2025-11-26").mkdir(parents=True)
    assert main(["run", "--date", "2025-11-26", "--no-email", "--json"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("scansense: error: ") and says[0] in err, err
    assert json.loads(out.strip().splitlines()[-1])["error"] == err.removeprefix("scansense: error: ").strip()
    assert not (tmp_path / "wh").exists()  # refused before any work: no warehouse, exports or temp folder


def test_settings_validation_has_no_traceback_from_the_console_script(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANSENSE_")}
    env |= _bad_env(tmp_path, {}, '[export]\nformats = ["pdf"]\n')
    for command in (["run", "--date", "2025-11-26", "--no-email"], ["query", "SELECT 1"], ["step"]):
        proc = subprocess.run([SCANSENSE, *command], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            "scansense: error: setting [export] formats = ('pdf',) (from "
            f"{tmp_path / 'bad.toml'}) is not allowed: a list of distinct names from stix, misp, nft, ipset, csv, json"
        ]
    assert not (tmp_path / "wh").exists()


def test_settings_validation_knows_every_export_format() -> None:
    from pipelines.export import FORMATS
    from pipelines.settings_check import EXPORT_FORMATS

    assert set(EXPORT_FORMATS) == set(FORMATS)


def test_settings_validation_covers_fields_added_later_by_their_type() -> None:
    """A field without a rule of its own is still checked by its type, and a number must not be negative."""
    from dataclasses import dataclass

    from pipelines.settings_check import SettingsError, validate

    @dataclass(frozen=True)
    class Extra:
        count: int = 3
        label: str = "x"

    @dataclass(frozen=True)
    class WithExtra:
        extra: Extra = Extra()

    validate(WithExtra())
    for bad, allowed in (
        (Extra(count=-1), "at least 0"),
        (Extra(count="3"), "whole number"),
        (Extra(label=4), "string"),
    ):
        with pytest.raises(SettingsError, match=allowed):
            validate(WithExtra(extra=bad))
