"""Online geolocation providers (DESIGN 6; paper 000 used ip.cn, Taobao IP and ipinfo). Off by default.

Three answer styles: "ipinfo" (ip, country, region, city, loc, org "AS123 Name"), "ipapi"
(ip-api.com: status, countryCode, region, regionName, city, lat, lon, as) and "taobao" / "ipcn"
(Chinese: country "中国", region "广东省", optionally wrapped in {"code": 0, "data": {...}}).
Providers are tried in the configured order; each has a timeout, retries with exponential
backoff (timeouts, connection errors, 429 honouring Retry-After up to a cap, 5xx), a token-bucket
rate limit, and is skipped for the rest of a batch after `max_failures` failures in a row.
An answer that is not JSON, or not the expected shape, is a failure of that provider.

API keys come from `geo.api_keys` (or SCANSENSE_GEO_API_KEYS="ipinfo=...,ipapi=..."). They are
sent, never logged: errors name the exception class only (a requests error's text carries the
URL), and a logging filter redacts them from urllib3's debug lines, which print URLs.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from pipelines.geo import regions
from pipelines.geo.ranges import classify_one
from pipelines.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_URLS = {
    "ipinfo": "https://ipinfo.io",
    "ipapi": "http://ip-api.com",  # the free tier is plain HTTP; pro.ip-api.com with a key is HTTPS
    "taobao": "https://ip.taobao.com",
    "ipcn": "https://ip.cn",
}
MAX_BODY = 64 * 1024  # an answer is a few hundred bytes; a bigger one is not an answer
MAX_TEXT = 200  # longest place or organization name kept from an answer


class ProviderError(Exception):
    """A provider failed for one address (its message never contains a URL or a key)."""


@dataclass(frozen=True)
class Answer:
    """A provider's answer, normalized (ISO 3166-1 country, one region naming)."""

    country_code: str | None
    region: str | None = None
    region_code: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None
    asn: int | None = None
    as_org: str | None = None


# --- normalization helpers --------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A provider's string as data: strings only, control characters dropped, length capped."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise ProviderError("unexpected value type in answer")
    value = "".join(ch for ch in value if ch.isprintable()).strip()[:MAX_TEXT]
    return value or None


def _coord(value: Any, limit: float) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and -limit <= x <= limit else None


def _as_pair(value: Any) -> tuple[int | None, str | None]:
    """'AS15169 Google LLC' -> (15169, 'Google LLC')."""
    text = _text(value)
    m = re.match(r"^AS(\d{1,10})\b\s*(.*)$", text or "", re.IGNORECASE)
    if not m:
        return None, text
    return int(m.group(1)), (m.group(2).strip() or None)


def _answer(country: Any, region: Any, region_code: Any, city: Any, lat: Any, lon: Any, asn_text: Any) -> Answer | None:
    code = regions.country_code(_text(country))
    if not code:
        return None
    code, region_name, iso = regions.region(code, _text(region), _text(region_code))
    asn, org = _as_pair(asn_text)
    return Answer(code, region_name, iso, _text(city), _coord(lat, 90), _coord(lon, 180), asn, org)


# --- answer styles ----------------------------------------------------------------------------


class IpinfoStyle:
    """ipinfo.io: GET /<ip>/json, key as a bearer token (a header, so never in a URL)."""

    def request(self, base: str, ip: str, key: str | None) -> tuple[str, dict, dict]:
        return f"{base}/{ip}/json", {}, ({"Authorization": f"Bearer {key}"} if key else {})

    def parse(self, data: dict) -> Answer | None:
        if data.get("bogon") or data.get("error"):
            return None
        lat = lon = None
        loc = _text(data.get("loc"))
        if loc and "," in loc:
            lat, lon = loc.split(",", 1)
        asn_text = data.get("org") or (f"{data.get('asn')} {data.get('as_name') or ''}" if data.get("asn") else None)
        return _answer(
            data.get("country") or data.get("country_code"),
            data.get("region"),
            None,
            data.get("city"),
            lat,
            lon,
            asn_text,
        )


class IpApiStyle:
    """ip-api.com: GET /json/<ip>?fields=...; status "success" or "fail" with a message."""

    FIELDS = "status,message,countryCode,region,regionName,city,lat,lon,as,query"

    def request(self, base: str, ip: str, key: str | None) -> tuple[str, dict, dict]:
        params = {"fields": self.FIELDS} | ({"key": key} if key else {})
        return f"{base}/json/{ip}", params, {}

    def parse(self, data: dict) -> Answer | None:
        if data.get("status") != "success":
            return None
        return _answer(
            data.get("countryCode"),
            data.get("regionName"),
            data.get("region"),
            data.get("city"),
            data.get("lat"),
            data.get("lon"),
            data.get("as"),
        )


class ChineseStyle:
    """Taobao IP / ip.cn: names in Chinese ("中国", "广东省"), optionally {"code": 0, "data": {...}}."""

    def request(self, base: str, ip: str, key: str | None) -> tuple[str, dict, dict]:
        return f"{base}/outGetIpInfo", {"ip": ip, "accessKey": key or "alibaba-inc"}, {}

    def parse(self, data: dict) -> Answer | None:
        if "code" in data and str(data.get("code")) not in ("0", "200"):
            return None
        inner = data.get("data") if isinstance(data.get("data"), dict) else data
        country_id = _text(inner.get("country_id"))
        country = country_id if country_id and country_id.upper() not in ("XX", "IANA") else inner.get("country")
        region = inner.get("region") or inner.get("province")
        city = inner.get("city")
        address = _text(inner.get("address"))
        if not country and address:  # ip.cn's one-line form: "中国  广东省  深圳市"
            country, region, city, *_ = [*address.split(), None, None, None]
        region_id = _text(inner.get("region_id"))
        return _answer(country, None if _text(region) == "XX" else region, region_id, city, None, None, None)


STYLES: dict[str, Any] = {
    "ipinfo": IpinfoStyle(),
    "ipapi": IpApiStyle(),
    "taobao": ChineseStyle(),
    "ipcn": ChineseStyle(),
}


# --- rate limit, redaction --------------------------------------------------------------------


class TokenBucket:
    """At most `rate` requests per second on average, `burst` at once; `waits` counts the pauses."""

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.burst, self.clock, self.sleep = rate, burst, clock, sleep
        self.tokens, self.updated = burst, clock()
        self.waits = 0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Take one token, sleeping until one is there."""
        if self.rate <= 0:
            return
        with self._lock:
            self._refill()
            if self.tokens < 1.0:
                self.waits += 1
                self.sleep((1.0 - self.tokens) / self.rate)
                self._refill()
                self.tokens = max(self.tokens, 1.0)  # the sleep was for exactly this token
            self.tokens -= 1.0

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now


class _Redact(logging.Filter):
    """Replace known secrets in log records (urllib3 logs request URLs, with their query strings)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            if any(s in text for s in self.secrets):
                for s in self.secrets:
                    text = text.replace(s, "***")
                record.msg, record.args = text, ()
        return True


_REDACT = _Redact()
_REDACTED_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests", __name__)


def _protect(secret: str) -> None:
    _REDACT.secrets.add(secret)
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


def _retry_after(value: str | None) -> float | None:
    """Seconds asked by a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


# --- providers --------------------------------------------------------------------------------


class Provider:
    """One configured provider: its style, base URL, key, limits and counters."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        session: requests.Session,
        bucket: TokenBucket | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        geo = settings.geo
        style = name.split(":", 1)[-1]  # "mirror:ipapi" is a second ip-api-style provider
        if style not in STYLES:
            raise ValueError(f"unknown geo provider {name!r}; known styles: {', '.join(sorted(STYLES))}")
        self.name, self.style = name, STYLES[style]
        self.base_url = (geo.provider_urls.get(name) or DEFAULT_URLS.get(style, "")).rstrip("/")
        self.key = geo.api_keys.get(name) or None
        if self.key:
            _protect(self.key)
        rate = float(geo.provider_rates.get(name, geo.rate_per_s))
        self.bucket = bucket or TokenBucket(rate, sleep=sleep)
        self.session, self.sleep = session, sleep
        self.timeout_s, self.retries, self.backoff_s = geo.timeout_s, geo.retries, geo.backoff_s
        self.max_retry_after_s, self.max_failures = geo.max_retry_after_s, geo.max_failures
        self.requests = self.failures = self.failures_in_row = 0
        self.disabled = False

    def lookup(self, ip: str) -> Answer | None:
        """The provider's answer for one public address, None if it has none; ProviderError if it failed."""
        try:
            data = self._get(ip)
            if not isinstance(data, dict):
                raise ProviderError("answer is not a JSON object")
            try:
                answer = self.style.parse(data)
            except (AttributeError, TypeError, ValueError):
                raise ProviderError("answer of an unexpected shape") from None
        except ProviderError:
            self.failures += 1
            self.failures_in_row += 1
            if self.failures_in_row >= self.max_failures and not self.disabled:
                self.disabled = True
                log.warning(
                    "geo provider %s failed %d times in a row: skipped for this batch", self.name, self.failures_in_row
                )
            raise
        self.failures_in_row = 0
        return answer

    def _get(self, ip: str) -> Any:
        url, params, headers = self.style.request(self.base_url, ip, self.key)
        reason = "no attempt"
        for attempt in range(self.retries + 1):
            delay = self.backoff_s * 2**attempt
            self.bucket.acquire()
            self.requests += 1
            try:
                resp = self.session.get(
                    url, params=params, headers=headers, timeout=self.timeout_s, allow_redirects=False, stream=True
                )
            except requests.Timeout:
                reason = "timeout"
            except requests.RequestException as exc:
                reason = type(exc).__name__  # never str(exc): it contains the URL, maybe with the key
            else:
                with resp:
                    status = resp.status_code
                    if status == 200:
                        return self._json(resp)
                    if status == 429:
                        wait = _retry_after(resp.headers.get("Retry-After"))
                        if wait is not None and wait > self.max_retry_after_s:
                            raise ProviderError(
                                f"HTTP 429, Retry-After {wait:.0f} s beyond the {self.max_retry_after_s:.0f} s cap"
                            )
                        reason, delay = "HTTP 429", (wait if wait is not None else delay)
                    elif status >= 500:
                        reason = f"HTTP {status}"
                    else:
                        if status in (401, 403):
                            self.disabled = True  # a refused key stays refused
                        raise ProviderError(f"HTTP {status}")
            if attempt < self.retries:
                self.sleep(delay)
        raise ProviderError(f"gave up after {self.retries + 1} attempts ({reason})")

    @staticmethod
    def _json(resp: requests.Response) -> Any:
        try:
            body = resp.raw.read(MAX_BODY + 1, decode_content=True)
        except Exception as exc:  # noqa: BLE001  (any read failure is this provider's failure)
            raise ProviderError(f"reading the answer failed ({type(exc).__name__})") from None
        if len(body) > MAX_BODY:
            raise ProviderError("answer too large")
        try:
            return json.loads(body.decode(resp.encoding or "utf-8", errors="strict"))
        except (ValueError, UnicodeDecodeError):
            raise ProviderError("malformed JSON") from None


def providers_from_settings(
    settings: Settings,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> list[Provider]:
    """The configured providers in priority order."""
    session = session or requests.Session()
    session.headers.setdefault("User-Agent", "scansense-geo")
    out = []
    for name in settings.geo.providers:
        rate = float(settings.geo.provider_rates.get(name, settings.geo.rate_per_s))
        out.append(Provider(name, settings, session, TokenBucket(rate, clock=clock, sleep=sleep), sleep=sleep))
    return out


def lookup_online(
    ips: list[str],
    settings: Settings,
    session: requests.Session | None = None,
    providers: list[Provider] | None = None,
) -> dict[str, dict]:
    """Answers of the first provider that places each public address: ip -> geo_ip fields + provider.

    Special-range addresses are never sent (checked here again, whatever the caller did);
    addresses no provider places are left out, and the offline answer stands for them.
    """
    providers = providers if providers is not None else providers_from_settings(settings, session)
    out: dict[str, dict] = {}
    failed = 0
    for ip in ips:
        if classify_one(ip) != "public":
            continue
        addr = ipaddress.ip_address(ip)
        query = str(addr.ipv4_mapped or addr) if addr.version == 6 else str(addr)  # canonical text
        for p in providers:
            if p.disabled:
                continue
            try:
                answer = p.lookup(query)
            except ProviderError as exc:
                log.info("geo provider %s failed for %s: %s", p.name, ip, exc)
                continue
            if answer and answer.country_code:
                out[ip] = asdict(answer) | {"provider": p.name}
                break
        else:
            failed += 1
    if failed:
        log.warning("no online provider placed %d of %d addresses; offline answers used", failed, len(ips))
    return out
