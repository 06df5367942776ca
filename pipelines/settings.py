"""Typed settings from `scansense.toml`, overridable by SCANSENSE_<SECTION>_<KEY> environment variables.

Load order: the dataclass defaults below, then the TOML file (SCANSENSE_CONFIG, else
./scansense.toml when present), then the environment. Two shortcuts exist for the paths users
set most: SCANSENSE_WAREHOUSE and SCANSENSE_LANDING. Every path setting may be relative: it is
made absolute against the current directory when a Settings is built, so nothing downstream (Great
Expectations, Airflow tasks, child processes) ever sees a relative path.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipelines.settings_check import SettingsError, check_value, coerce, field_types, from_text, validate


@dataclass(frozen=True)
class Paths:
    warehouse: str = "warehouse"  # DuckDB file, Parquet lake, reports, geo cache, dq docs
    landing: str = "landing"  # one folder per day: <landing>/<YYYY-MM-DD>/<files>


@dataclass(frozen=True)
class Site:
    home_country: str = "CN"  # sources outside it score on geography (paper 000 used CN)
    timezone: str = "Asia/Shanghai"  # local time for the night window and the hourly trend
    night_start: str = "22:00"  # paper 000 reports the scan peak at 22:00-24:00
    night_end: str = "24:00"
    sensor_name: str = "default"  # recorded in events.sensor when the input does not say
    allow: str = ""  # file of the site's own scanners (addresses or CIDRs, # comments): never a finding, never exported
    allow_research_orgs: bool = False  # true: sources on the orgs.dir lists (Censys, ...) are never a finding
    # The site's own networks: a confirmed scan from inside them is malicious on its own (lateral movement).
    internal_networks: tuple[str, ...] = (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    )


@dataclass(frozen=True)
class Fast:
    window_s: int = 60  # per-source probe counting window; shorter reacts faster, noisier
    period_s: int = 300  # trailing statistics period for mu and sigma (paper 000: 5 minutes)
    k: float = 2.0  # T = mu + k*sigma; larger k flags fewer sources
    sigma_floor: float = 1.0  # sigma never below this, else few sources make T collapse to mu
    min_probes: int = 10  # never flag a source below this many probes in a window, however few sources are active
    min_targets: int = (
        5  # ...nor below this many distinct ports or distinct hosts: one unreachable server retried is no scan
    )
    mode: str = "mean"  # "mean" (paper: mu + k*sigma) or "robust" (median + k*1.4826*MAD)


@dataclass(frozen=True)
class Entropy:
    window_s: int = 60  # entropy screen window
    k: float = 2.0  # window anomalous outside mu +- k*sigma of its feature's series


@dataclass(frozen=True)
class Slow:
    window_s: int = 120  # paper 002: 2-minute windows
    min_windows: int = 5  # a combination must be seen in more than this many windows
    min_period: int = 5  # growth periods shorter than this many windows are dropped
    threshold: float = 0.75  # normalized conditional entropy at or above this is a scan
    port_ratio_threshold: float = 0.5  # baseline: distinct (dst_ip, dst_port) / records above this
    port_ratio_min_pairs: int = 5  # fewer distinct targets is never a scan whatever the ratio (1 record has ratio 1)
    port_ratio_min_share: float = (
        0.5  # probes' share of what the source opened: lower flags clients with a few failed lookups
    )
    lookback_days: int = 7  # days of the lake scan_slow_span reads: longer finds slower scans, reads more

    def __post_init__(self) -> None:
        if self.lookback_days < 1:
            raise ValueError(f"slow.lookback_days must be at least 1 (the day itself), not {self.lookback_days}")


@dataclass(frozen=True)
class Distributed:
    window_s: int = 3600  # fixed window a coordinated sweep must fall in
    min_each: int = 2  # a member probes at least this many distinct ports (hosts)...
    max_each: int = 16  # ...and at most this many: more is a scanner on its own
    min_density: float = 0.5  # distinct targets / span, of each member and of the group (a sweep, not scattered hits)
    max_gap: int = 8  # a member's slice starts at most this far past the group's reach so far
    min_members: int = 8  # sources in a group
    min_coverage: int = 64  # distinct ports (hosts) the group covers together
    max_overlap: float = 1.25  # sum of members' targets / coverage: busy clients of one port overlap far more


@dataclass(frozen=True)
class Trw:
    theta0: float = 0.8  # P(first contact succeeds | benign); lower tolerates clients that often fail
    theta1: float = 0.2  # P(first contact succeeds | scanner); higher catches scanners that hit live hosts
    alpha: float = 0.01  # target false-positive rate: lower needs more failures before calling a scanner
    beta: float = 0.99  # target detection rate: higher needs more successes before calling a source benign


@dataclass(frozen=True)
class Risk:
    formula: str = "sum"  # "sum": R = F + T + G (50/30/20); "paper": 0.4F + 0.3T + 0.3G on 0..100
    traffic_points: int = 50
    time_points: int = 30
    geo_points: int = 20
    malicious_at: float = 60.0
    exclude_research_orgs: bool = False  # count known research scanners as not malicious
    internal_scans_malicious: bool = (
        True  # a confirmed scan from site.internal_networks is malicious whatever R (lateral movement)
    )
    baseline_detectors: tuple[str, ...] = ("port_ratio",)  # findings kept for comparison that never raise F


@dataclass(frozen=True)
class Tags:
    min_share: float = 0.9  # share of a source's probes that must carry a tool's signature; lower tags mixed sources
    nmap_min_probes: int = 5  # nmap's random TTL shows only over several probes; fewer cannot tell it from masscan
    masscan_min_probes: int = (
        2  # a random IP ID fits masscan's cookie 1 in 65,536 per probe: 2 all fitting is 1 in 2^32; 1 tags strays
    )


@dataclass(frozen=True)
class Export:
    formats: tuple[str, ...] = ("stix", "misp", "nft", "ipset", "csv", "json")  # written by each day's run
    valid_days: int = 7  # a STIX indicator stays valid this many days; longer blocks longer, also stale addresses
    block_research_orgs: bool = False  # nft/ipset lists leave known research scanners out unless true


@dataclass(frozen=True)
class Geo:
    data_dir: str = ""  # where `scansense geo fetch` keeps the offline databases, shared by every warehouse; empty: ~/.local/share/scansense/geo ($XDG_DATA_HOME)
    mmdb: str = ""  # MaxMind-format city DB; empty = <data_dir>/*.mmdb (DB-IP Lite IPv4 + IPv6) if present
    asn_csv: str = ""  # ASN range CSV; empty = <data_dir>/asn*.csv (IPv4 + IPv6) if present
    providers: tuple[str, ...] = ()  # online providers in priority order (ipinfo, ipapi, taobao); empty = offline
    provider_urls: dict = field(default_factory=dict)  # provider name -> base URL (tests point these at 127.0.0.1)
    api_keys: dict = field(default_factory=dict, repr=False)  # provider name -> key; never logged (nor in repr)
    provider_rates: dict = field(default_factory=dict)  # provider name -> requests per second, overrides rate_per_s
    timeout_s: float = 3.0  # per request; longer waits out slow providers, shorter falls back sooner
    retries: int = 2  # further attempts after a timeout, 429 or 5xx
    backoff_s: float = 0.5  # first retry pause, doubled on each further attempt
    max_retry_after_s: float = 30.0  # a 429 asking to wait longer than this fails over to the next provider
    max_failures: int = 5  # failures in a row after which a provider is skipped for the rest of the batch
    rate_per_s: float = 5.0  # per provider, token bucket
    ttl_days: int = 30  # cached answers older than this are looked up again


@dataclass(frozen=True)
class Orgs:
    dir: str = ""  # folder of <org>_v4.txt / <org>_v6.txt CIDR lists and 'IP # rdns' lists
    k: int = 0  # clusters for K-means; 0 = chosen by silhouette
    smoothing_steps: int = 3  # t in X~ = H^t X
    min_probes: int = 3  # cluster only sources with at least this many unsolicited probes...
    min_probe_share: float = 0.5  # ...making up at least this share of their events
    window_days: int = 7  # days of events clustered: longer sees slower organizations, costs more a day


@dataclass(frozen=True)
class Smtp:
    host: str = "127.0.0.1"
    port: int = 1025
    user: str = ""
    password: str = field(default="", repr=False)  # never logged, written to the warehouse, nor in repr
    starttls: bool = False
    sender: str = "scansense@localhost"
    to: tuple[str, ...] = ("secops@localhost",)
    retries: int = 3


@dataclass(frozen=True)
class Sensor:
    host: str = "0.0.0.0"
    tcp_ports: tuple[int, ...] = (2222, 2323, 8080, 8443, 3389, 5900)
    udp_ports: tuple[int, ...] = (5353, 1123, 1161)
    out: str = "landing/sensor"
    max_connections: int = 512  # concurrent TCP connections read from; more are recorded and closed unread
    max_connections_per_source: int = 16  # of those, per source address (0: no cap): one source gets its share
    max_bytes: int = 4096  # bytes kept per connection (payload_hex bound)
    read_timeout_s: float = 2.0  # a silent connection is recorded and closed after this long
    per_source_rate: float = 50.0  # connections per second per source read from; more are recorded unread
    max_dump_mb_per_hour: float = 1000.0  # MB one hour's dump file may hold; more records are counted, not written
    max_dump_mb_total: float = 20000.0  # MB the dump folder's files may hold together (0: no cap, for either)


@dataclass(frozen=True)
class Airflow:
    start_date: str = ""  # first day scansense_daily runs, YYYY-MM-DD; empty: the earliest landing day, else today
    end_date: str = ""  # last day it runs (a fixed range to backfill); empty: no end, one run per new day
    catchup: bool = True  # run every day from start_date on that has no run yet; false: only the newest day
    pool: str = ""  # pool of the warehouse writers, must exist; empty: default_pool (max_active_runs=1 serializes)
    ingest_batch_mb: float = (
        64.0  # a day's input files grouped into ingest tasks of about this many MB; larger: fewer task start-ups
    )
    group_steps_below_events: int = (
        2_000_000  # a day with fewer events runs its table steps in one task on one connection (its memory); 0: never
    )


@dataclass(frozen=True)
class Scale:
    shards: int = 1  # per-source steps run as this many tasks over a hash of src_ip; more uses more workers, each reads the day once
    memory_limit: str = ""  # DuckDB memory per connection of a run, e.g. "2GB"; past it DuckDB spills to <warehouse>/.spill (slower, bounded); "": DuckDB's 80% of RAM


@dataclass(frozen=True)
class Quality:
    chunk_rows: int = 1_000_000  # larger day tables are checked in chunks: ~0.8 GB per 1 M events, no slower

    def __post_init__(self) -> None:
        if self.chunk_rows < 1:
            raise ValueError(f"quality.chunk_rows must be at least 1, not {self.chunk_rows}")


@dataclass(frozen=True)
class Query:
    memory_limit: str = (
        "2GB"  # DuckDB memory of one `scansense query`; larger answers bigger queries, leaves less to the rest
    )
    max_temp_directory_size: str = (
        "4GB"  # what a query may spill beside the warehouse file (<warehouse>/scansense.duckdb.tmp)
    )
    timeout_s: float = 300.0  # a query running longer is stopped; longer lets heavy analyses finish


# The settings that name files or folders, per section: made absolute once, in Settings.__post_init__.
PATH_KEYS = {
    "paths": ("warehouse", "landing"),
    "site": ("allow",),
    "geo": ("data_dir", "mmdb", "asn_csv"),
    "orgs": ("dir",),
    "sensor": ("out",),
}


def absolute(value: str | os.PathLike) -> str:
    """`value` as an absolute, normalized path against the current directory (`~` expanded); empty stays empty."""
    text = os.fspath(value)
    return os.path.abspath(os.path.expanduser(text)) if text else text


@dataclass(frozen=True)
class Ingest:
    max_line_bytes: int = 1 << 20  # a longer text line is one quarantine row (its first bytes), never held whole
    max_field_bytes: int = 65_536  # a longer CSV field quarantines its line; longer event text is cut to this
    max_gzip_ratio: int = 250  # decompressing stops past this many times the compressed bytes read...
    max_gzip_bytes: int = 64 << 30  # ...or past this many bytes in all (the rest is quarantined as one row)
    follow_links: bool = False  # true: read symlinks whose target is a regular file inside the landing root


@dataclass(frozen=True)
class Settings:
    paths: Paths = field(default_factory=Paths)
    site: Site = field(default_factory=Site)
    fast: Fast = field(default_factory=Fast)
    entropy: Entropy = field(default_factory=Entropy)
    slow: Slow = field(default_factory=Slow)
    distributed: Distributed = field(default_factory=Distributed)
    trw: Trw = field(default_factory=Trw)
    risk: Risk = field(default_factory=Risk)
    tags: Tags = field(default_factory=Tags)
    export: Export = field(default_factory=Export)
    geo: Geo = field(default_factory=Geo)
    orgs: Orgs = field(default_factory=Orgs)
    smtp: Smtp = field(default_factory=Smtp)
    sensor: Sensor = field(default_factory=Sensor)
    ingest: Ingest = field(default_factory=Ingest)
    airflow: Airflow = field(default_factory=Airflow)
    scale: Scale = field(default_factory=Scale)
    quality: Quality = field(default_factory=Quality)
    query: Query = field(default_factory=Query)

    def __post_init__(self) -> None:
        for name, keys in PATH_KEYS.items():
            section = getattr(self, name)
            changed = {
                k: absolute(getattr(section, k)) for k in keys if getattr(section, k) != absolute(getattr(section, k))
            }
            if changed:
                object.__setattr__(self, name, dataclasses.replace(section, **changed))

    @property
    def warehouse(self) -> Path:
        return Path(self.paths.warehouse)

    @property
    def landing(self) -> Path:
        return Path(self.paths.landing)

    def replace(self, section: str, **values: Any) -> Settings:
        """Return a copy with some keys of one section changed."""
        return dataclasses.replace(self, **{section: dataclasses.replace(getattr(self, section), **values)})


# The sections of a settings file, in order: [paths], [site], ... (anything else is refused).
SECTIONS = tuple(f.name for f in dataclasses.fields(Settings))


def _replace(section: Any, name: str, values: dict[str, Any], origin: str) -> Any:
    """`section` with `values` set, turning a section's own check (`__post_init__`) into a SettingsError."""
    try:
        return dataclasses.replace(section, **values)
    except SettingsError:
        raise
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"settings [{name}] from {origin}: {str(exc).splitlines()[0]}") from None


def _merge_section(section: Any, values: Any, name: str, origin: str, origins: dict[str, str]) -> Any:
    if not isinstance(values, dict):
        raise SettingsError(f"settings [{name}] in {origin} is {values!r}: it must be a table of keys ([{name}] ...)")
    types = field_types(type(section))
    unknown = sorted(set(values) - set(types))
    if unknown:
        raise SettingsError(
            f"unknown setting(s) in [{name}] of {origin}: {', '.join(unknown)}; allowed: {', '.join(types)}"
        )
    fixed = {}
    for key, value in values.items():
        fixed[key] = coerce(f"{name}.{key}", value, types[key], origin)
        check_value(f"{name}.{key}", fixed[key], types[key], origin)
        origins[f"{name}.{key}"] = origin
    return _replace(section, name, fixed, origin)


def _read_toml(cfg: str | os.PathLike, named_by: str) -> dict[str, Any]:
    """The TOML settings file `cfg`, or a one-line SettingsError saying why it cannot be read."""
    try:
        with open(cfg, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {cfg} ({named_by}) is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"settings file {cfg} ({named_by}) is not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise SettingsError(
            f"settings file {cfg} ({named_by}) cannot be read: {exc.strerror or exc}; give a readable TOML file"
        ) from None


def load_settings(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load settings: defaults, then the TOML file, then SCANSENSE_* environment variables; validated.

    Raises SettingsError (a ValueError) with one line naming the setting, its value and what is allowed.
    """
    env = dict(os.environ if env is None else env)
    settings = Settings()
    origins: dict[str, str] = {}
    if path:
        cfg, named_by = path, "--config"
    elif env.get("SCANSENSE_CONFIG"):
        cfg, named_by = env["SCANSENSE_CONFIG"], "SCANSENSE_CONFIG"
    else:
        cfg, named_by = ("scansense.toml" if Path("scansense.toml").is_file() else None), "./scansense.toml"
    if cfg:
        data = _read_toml(cfg, named_by)
        for name, values in data.items():
            if name not in SECTIONS:
                raise SettingsError(
                    f"unknown settings section [{name}] in {cfg}; allowed: {', '.join(f'[{s}]' for s in SECTIONS)}"
                )
            merged = _merge_section(getattr(settings, name), values, name, str(cfg), origins)
            settings = dataclasses.replace(settings, **{name: merged})
    shortcuts = {"SCANSENSE_WAREHOUSE": "SCANSENSE_PATHS_WAREHOUSE", "SCANSENSE_LANDING": "SCANSENSE_PATHS_LANDING"}
    for short, full in shortcuts.items():
        if short in env and full not in env:
            env[full] = env[short]
    for name in SECTIONS:
        section = getattr(settings, name)
        types = field_types(type(section))
        changes = {}
        for key, kind in types.items():
            var = f"SCANSENSE_{name}_{key}".upper()
            if var in env:
                changes[key] = from_text(f"{name}.{key}", env[var], kind, var)
                check_value(f"{name}.{key}", changes[key], kind, var)
                origins[f"{name}.{key}"] = var
        if changes:
            settings = dataclasses.replace(settings, **{name: _replace(section, name, changes, "the environment")})
    validate(settings, origins)
    return settings


def landing_days(landing: str | os.PathLike) -> list[date]:
    """Days that have input in `landing`: its `YYYY-MM-DD` folders and the sensor's hourly dumps, sorted."""
    from pipelines.layout import landing_layout  # the layout module reads these settings: imported here

    return landing_layout(Path(landing)).days()


def airflow_days(settings: Settings, today: date | None = None) -> tuple[date, date | None]:
    """The first and last day of the `scansense_daily` DAG, from `[airflow]`.

    An empty `start_date` means the earliest landing day, else today (a new installation starts with
    the data it has, not a year of empty days); an empty `end_date` means no end.
    """

    def parse(key: str) -> date | None:
        value = str(getattr(settings.airflow, key) or "")  # TOML may give a date: start_date = 2025-11-26
        try:
            return date.fromisoformat(value) if value else None
        except ValueError:
            raise ValueError(f"[airflow] {key} = {value!r} is not a YYYY-MM-DD day") from None

    start, end = parse("start_date"), parse("end_date")
    if start is None:
        days = landing_days(settings.landing)
        start = days[0] if days else (today or datetime.now(UTC).date())
    if end is not None and end < start:
        raise ValueError(f"[airflow] end_date {end} is before start_date {start}")
    return start, end
