"""Validation of settings: every value checked once, at load, against its type and its rule.

A bad setting stops a command before any work with one line naming the setting, the value and what
is allowed (`SettingsError`), instead of a traceback deep in a run. The checks are generic first:
each field is checked by the type of its default (so a field added later is covered), and every
number must be zero or more unless a rule says otherwise; `RULES` adds ranges, enumerations,
time zones, clock times, memory sizes and networks for the fields that need them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import typing
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# The formats pipelines.export writes (its FORMATS; tests/test_settings.py keeps the two equal).
# Named here so that loading settings never imports DuckDB.
EXPORT_FORMATS = ("stix", "misp", "nft", "ipset", "csv", "json")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(b|bytes|kb|mb|gb|tb|kib|mib|gib|tib)\s*$", re.IGNORECASE)
_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")


class SettingsError(ValueError):
    """A setting that cannot be used; the message is one line: the setting, its value, what is allowed."""


def fail(name: str, value: Any, allowed: str, origin: str = "") -> SettingsError:
    """The one-line error for setting `name` (`section.key`) holding `value`."""
    section, _, key = name.partition(".")
    where = f" (from {origin})" if origin else ""
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return SettingsError(f"setting [{section}] {key} = {shown}{where} is not allowed: {allowed}")


# -- rules: each returns None when the value is fine, else what is allowed ---------------------------


def one_of(*choices: str) -> Callable[[Any], str | None]:
    """The value is one of `choices`."""
    return lambda v: None if v in choices else f"one of {', '.join(choices)}"


def each_of(*choices: str) -> Callable[[Any], str | None]:
    """Every item is one of `choices`, none twice."""

    def check(items: tuple) -> str | None:
        if any(i not in choices for i in items) or len(set(items)) != len(items):
            return f"a list of distinct names from {', '.join(choices)}"
        return None

    return check


def between(low: float, high: float) -> Callable[[Any], str | None]:
    """A number (or each number of a list) in [low, high]."""

    def check(value: Any) -> str | None:
        values = value if isinstance(value, tuple) else (value,)
        return None if all(low <= v <= high for v in values) else f"a number from {low:g} to {high:g}"

    return check


def at_least(low: float) -> Callable[[Any], str | None]:
    """A number no less than `low`."""
    return lambda v: None if v >= low else f"a number of at least {low:g}"


def positive(value: float) -> str | None:
    """A number above zero."""
    return None if value > 0 else "a number above 0"


def time_zone(value: str) -> str | None:
    """An IANA time zone name that zoneinfo knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        return "an IANA time zone name such as UTC, Europe/Berlin or Asia/Shanghai"
    return None


def clock(value: str) -> str | None:
    """HH:MM from 00:00 to 24:00."""
    m = _CLOCK.match(value)
    if m and int(m.group(2)) < 60 and int(m.group(1)) * 60 + int(m.group(2)) <= 24 * 60:
        return None
    return "a time HH:MM from 00:00 to 24:00"


def memory(value: str) -> str | None:
    """Empty (no bound), or a size DuckDB reads: a number above 0 and a unit (512MB, 2GB, 1.5GiB)."""
    if value == "" or (_MEMORY.match(value) and float(re.sub(r"[^\d.]", "", value)) > 0):
        return None
    return 'a size such as "512MB", "2GB" or "1.5GiB" (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), or "" for none'


def networks(values: tuple) -> str | None:
    """Every item is an IPv4 or IPv6 network in CIDR notation."""
    for v in values:
        try:
            ipaddress.ip_network(v, strict=False)
        except ValueError:
            return "a list of networks in CIDR notation such as 10.0.0.0/8 or fc00::/7"
    return None


def country(value: str) -> str | None:
    """Two capital letters (ISO 3166-1 alpha-2)."""
    return None if re.fullmatch(r"[A-Z]{2}", value) else "a two-letter ISO country code such as CN, DE or US"


def day_or_empty(value: str) -> str | None:
    """Empty, or a YYYY-MM-DD day."""
    if value == "":
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        return 'a day YYYY-MM-DD, or "" for none'
    return None


_PROBABILITY = between(0, 1)
_PORTS = between(1, 65535)
RULES: dict[str, Callable[[Any], str | None]] = {
    "site.home_country": country,
    "site.timezone": time_zone,
    "site.night_start": clock,
    "site.night_end": clock,
    "site.internal_networks": networks,
    "fast.window_s": at_least(1),
    "fast.period_s": at_least(1),
    "fast.mode": one_of("mean", "robust"),
    "entropy.window_s": at_least(1),
    "slow.window_s": at_least(1),
    "slow.threshold": _PROBABILITY,
    "slow.lookback_days": at_least(1),
    "distributed.window_s": at_least(1),
    "trw.theta0": _PROBABILITY,
    "trw.theta1": _PROBABILITY,
    "trw.alpha": _PROBABILITY,
    "trw.beta": _PROBABILITY,
    "risk.formula": one_of("sum", "paper"),
    "risk.malicious_at": between(0, 100),
    "tags.min_share": _PROBABILITY,
    "export.formats": each_of(*EXPORT_FORMATS),
    "geo.timeout_s": positive,
    "geo.rate_per_s": positive,
    "orgs.min_probe_share": _PROBABILITY,
    "smtp.port": _PORTS,
    "sensor.tcp_ports": _PORTS,
    "sensor.udp_ports": _PORTS,
    "sensor.max_connections": at_least(1),
    "sensor.max_bytes": at_least(1),
    "sensor.read_timeout_s": positive,
    "ingest.max_line_bytes": at_least(1),
    "ingest.max_field_bytes": at_least(1),
    "ingest.max_gzip_ratio": at_least(1),
    "ingest.max_gzip_bytes": at_least(1),
    "airflow.start_date": day_or_empty,
    "airflow.end_date": day_or_empty,
    "airflow.ingest_batch_mb": positive,
    "airflow.group_steps_below_events": at_least(0),
    "scale.shards": at_least(1),
    "scale.memory_limit": memory,
    "quality.chunk_rows": at_least(1),
    "query.memory_limit": memory,
    "query.max_temp_directory_size": memory,
    "query.timeout_s": positive,
}


# -- types -----------------------------------------------------------------------------------------


def field_types(section_cls: type) -> dict[str, Any]:
    """The declared type of each field of a settings section (its annotations resolved)."""
    return typing.get_type_hints(section_cls)


def coerce(name: str, value: Any, kind: Any, origin: str = "") -> Any:
    """`value` (from TOML or a constructor) as the field's type `kind`; SettingsError when it is not one."""
    base = typing.get_origin(kind) or kind
    if base is bool:
        if isinstance(value, bool):
            return value
        raise fail(name, value, "true or false", origin)
    if base is int:
        if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
            return value
        raise fail(name, value, "a whole number (64-bit)", origin)
    if base is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise fail(name, value, "a finite number", origin)
    if base is str:
        if isinstance(value, date | datetime | time):  # TOML's unquoted dates: start_date = 2025-11-26
            return value.isoformat()
        if isinstance(value, str):
            return value
        raise fail(name, value, "a string", origin)
    if base is tuple:
        item = (typing.get_args(kind) or (str,))[0]
        if not isinstance(value, list | tuple):
            raise fail(name, value, f"a list of {'whole numbers' if item is int else 'strings'}", origin)
        try:
            return tuple(coerce(name, v, item, origin) for v in value)
        except SettingsError:
            raise fail(name, value, f"a list of {'whole numbers' if item is int else 'strings'}", origin) from None
    if base is dict:
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            if all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()):
                return dict(value)
        raise fail(name, value, "a table of names to strings or numbers", origin)
    return value


def from_text(name: str, text: str, kind: Any, origin: str) -> Any:
    """An environment variable's text as the field's type `kind`; SettingsError when it does not parse."""
    base = typing.get_origin(kind) or kind
    if base is bool:
        if text.strip().lower() in _TRUE + _FALSE:
            return text.strip().lower() in _TRUE
        raise fail(name, text, "true or false (also 1/0, yes/no, on/off)", origin)
    if base in (int, float):
        try:
            return coerce(name, int(text) if base is int else float(text), kind, origin)
        except (ValueError, OverflowError):
            raise fail(name, text, "a whole number" if base is int else "a number", origin) from None
    if base is tuple:
        items = [v.strip() for v in text.split(",") if v.strip()]
        item = (typing.get_args(kind) or (str,))[0]
        if item is int:
            try:
                return tuple(int(v) for v in items)
            except ValueError:
                raise fail(name, text, "whole numbers separated by commas", origin) from None
        return tuple(items)
    if base is dict:
        pairs = [kv for kv in text.split(",") if kv.strip()]
        if any("=" not in kv for kv in pairs):
            raise fail(name, text, "name=value pairs separated by commas", origin)
        return dict(kv.strip().split("=", 1) for kv in pairs)
    return text


def check_value(name: str, value: Any, kind: Any, origin: str = "") -> None:
    """Check one coerced value against the generic rule (numbers zero or more) and its own rule."""
    rule = RULES.get(name)
    base = typing.get_origin(kind) or kind
    numbers = value if base is tuple else (value,)
    if rule is None and all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers) and numbers:
        rule = at_least(0)
    allowed = rule(value) if rule is not None else None
    if allowed:
        raise fail(name, value, allowed, origin)


def validate(settings: Any, origins: dict[str, str] | None = None) -> None:
    """Check every field of every section of `settings`; raise SettingsError naming the first bad one."""
    origins = origins or {}
    for section in dataclasses.fields(settings):
        values = getattr(settings, section.name)
        types = field_types(type(values))
        for f in dataclasses.fields(values):
            name = f"{section.name}.{f.name}"
            value = coerce(name, getattr(values, f.name), types[f.name], origins.get(name, ""))
            check_value(name, value, types[f.name], origins.get(name, ""))
