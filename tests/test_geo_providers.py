"""Online providers against a real HTTP server on 127.0.0.1 playing ipinfo, ip-api and a Chinese
(Taobao/ip.cn) provider: slow answers, 429s, 500s, malformed JSON; priority, fallback, cache, TTL,
rate limit and keys. No network beyond the loopback; no assertion on wall-clock time."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
import requests
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from pipelines import geo
from pipelines.geo import providers
from pipelines.settings import Settings

KEY = "sk-test-7f3a9c1e5b"
# A "slow" answer is held until the test ends (an event, not a clock), so the client always times
# out on it (SLOW_TIMEOUT_S) however busy the machine; every other answer has a generous timeout.
SLOW_TIMEOUT_S = 2.0  # other answers in those tests must arrive within it: a last guard on a busy machine
TIMEOUT_S = 30.0


def _answer(style: str, ip: str) -> dict:
    if style == "ipinfo":
        return {"ip": ip, "city": "Mountain View", "region": "California", "country": "US",
                "loc": "37.4056,-122.0775", "org": "AS15169 Google LLC"}  # fmt: skip
    if style == "ipapi":
        return {"status": "success", "countryCode": "CN", "region": "GD", "regionName": "Guangdong",
                "city": "Shenzhen", "lat": 22.54, "lon": 114.06, "as": "AS4134 CHINANET-BACKBONE", "query": ip}  # fmt: skip
    return {"code": 0, "data": {"ip": ip, "country": "中国", "region": "广东省", "city": "深圳市", "isp": "电信"}}


class Playbook:
    """What the server does: per (style, ip) a list of behaviours, used in turn, the last repeating."""

    def __init__(self) -> None:
        self.plans: dict[tuple[str, str], list[str]] = {}
        self.seen: list[dict] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # set at teardown: held "slow" answers return then

    def set(self, style: str, ip: str, *behaviours: str) -> None:
        self.plans[(style, ip)] = list(behaviours)

    def next(self, style: str, ip: str) -> str:
        with self.lock:
            plan = self.plans.get((style, ip)) or ["ok"]
            return plan.pop(0) if len(plan) > 1 else plan[0]

    def requests_for(self, style: str | None = None) -> list[dict]:
        return [r for r in self.seen if style is None or r["style"] == style]


def _handler(book: Playbook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            style = parts[0]
            ip = {"ipinfo": lambda: parts[1], "ipapi": lambda: parts[2], "taobao": lambda: query.get("ip", "")}[style]()
            with book.lock:
                book.seen.append({"style": style, "ip": ip, "query": query, "headers": dict(self.headers)})
            what = book.next(style, ip)
            status, body, headers = 200, json.dumps(_answer(style, ip), ensure_ascii=False).encode(), {}
            if what == "slow":
                book.release.wait(60)
            elif what.startswith("429"):
                status, body = 429, b'{"error": "too many requests"}'
                if ":" in what:
                    headers["Retry-After"] = what.split(":", 1)[1]
            elif what == "500":
                status, body = 500, b"internal error"
            elif what == "badjson":
                body = b'{"ip": "1.1.1.1", "country": '
            elif what == "list":
                body = b'["not", "an", "object"]'
            elif what == "nodata":
                body = {"ipinfo": b'{"bogon": true}', "ipapi": b'{"status": "fail", "message": "reserved range"}',
                        "taobao": b'{"code": 1, "msg": "no data"}'}[style]  # fmt: skip
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on a slow answer

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Playbook]]:
    book = Playbook()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(book))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", book
    finally:
        book.release.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    s = requests.Session()
    s.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    yield s
    s.close()


def online(settings: Settings, base: str, names: tuple[str, ...], **geo_values: object) -> Settings:
    """Settings with `names` as providers pointed at the local server; fast retries, no rate limit."""
    values = {
        "providers": names,
        "provider_urls": {n: f"{base}/{n.split(':')[-1]}" for n in names},
        "timeout_s": TIMEOUT_S,
        "retries": 1,
        "backoff_s": 0.001,
        "max_retry_after_s": 0.5,
        "rate_per_s": 0.0,
    }
    return settings.replace("geo", **(values | geo_values))


def write_offline_db(settings: Settings) -> str:
    """A one-network city database, so the offline fallback has an answer to give."""
    folder = Path(settings.warehouse) / "geo"
    folder.mkdir(parents=True, exist_ok=True)
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="test-city")
    writer.insert_network(IPSet(["8.8.8.0/24"]), {"country_code": "US", "state1": "California", "city": "Offline City"})
    writer.insert_network(IPSet(["2001:4860::/32"]), {"country_code": "US", "state1": "California", "city": "Offline6"})
    writer.to_db_file(str(folder / "offline.mmdb"))
    return "offline.mmdb"


def _one(table: pa.Table, ip: str) -> dict:
    return next(r for r in table.to_pylist() if r["ip"] == ip)


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("ipinfo", ("US", "California", None, "Mountain View", 15169, "Google LLC")),
        ("ipapi", ("CN", "Guangdong", "CN-GD", "Shenzhen", 4134, "CHINANET-BACKBONE")),
        ("taobao", ("CN", "Guangdong", "CN-GD", "深圳市", None, None)),
    ],
)
def test_each_style_is_normalized_to_one_naming(server, session, settings, style, expected) -> None:
    base, book = server
    row = _one(geo.lookup(["8.8.8.8"], online(settings, base, (style,)), session=session), "8.8.8.8")
    got = (row["country_code"], row["region"], row["region_code"], row["city"], row["asn"], row["as_org"])
    assert got == expected and row["provider"] == style
    assert row["country"] == {"US": "United States", "CN": "China"}[row["country_code"]]
    assert len(book.requests_for(style)) == 1


def test_first_provider_in_priority_order_answers(server, session, settings) -> None:
    base, book = server
    s = online(settings, base, ("ipapi", "ipinfo", "taobao"))
    rows = geo.lookup(["8.8.8.8", "2001:4860:4860::8888"], s, session=session)
    assert set(rows["provider"].to_pylist()) == {"ipapi"}
    assert [r["ip"] for r in book.requests_for("ipapi")] == ["8.8.8.8", "2001:4860:4860::8888"]
    assert book.requests_for("ipinfo") == [] and book.requests_for("taobao") == []


@pytest.mark.parametrize(
    ("behaviour", "ipinfo_requests"),
    [
        ("slow", 2),  # timeout, retried once, then the next provider
        ("500", 2),
        ("429", 2),  # no Retry-After: backoff and retry
        ("429:60", 1),  # Retry-After beyond the cap: next provider at once
        ("badjson", 1),  # malformed JSON is a failure, not retried
        ("list", 1),  # JSON, but not an object
        ("nodata", 1),  # the provider has no answer (bogon): the next one is asked
    ],
)
def test_failing_provider_falls_through_to_the_next(server, session, settings, behaviour, ipinfo_requests) -> None:
    base, book = server
    book.set("ipinfo", "8.8.8.8", behaviour)
    timeout = SLOW_TIMEOUT_S if behaviour == "slow" else TIMEOUT_S
    s = online(settings, base, ("ipinfo", "ipapi"), timeout_s=timeout)
    row = _one(geo.lookup(["8.8.8.8"], s, session=session), "8.8.8.8")
    assert row["provider"] == "ipapi" and row["region_code"] == "CN-GD"
    assert len(book.requests_for("ipinfo")) == ipinfo_requests
    assert len(book.requests_for("ipapi")) == 1


def test_retries_recover_and_honour_retry_after(server, session, settings) -> None:
    base, book = server
    book.set("ipinfo", "8.8.8.8", "500", "ok")
    book.set("ipinfo", "8.8.4.4", "429:0.25", "ok")
    s = online(settings, base, ("ipinfo", "ipapi"))
    slept: list[float] = []
    ps = providers.providers_from_settings(s, session, sleep=slept.append)
    answers = providers.lookup_online(["8.8.8.8", "8.8.4.4"], s, providers=ps)
    assert {ip: a["provider"] for ip, a in answers.items()} == {"8.8.8.8": "ipinfo", "8.8.4.4": "ipinfo"}
    assert len(book.requests_for("ipinfo")) == 4 and book.requests_for("ipapi") == []
    assert slept == [0.001, 0.25]  # backoff after the 500, then exactly what Retry-After asked


def test_every_provider_failing_leaves_the_offline_answer(server, session, settings) -> None:
    base, book = server
    name = write_offline_db(settings)
    book.set("ipinfo", "8.8.8.8", "slow")
    book.set("ipapi", "8.8.8.8", "500")
    book.set("taobao", "8.8.8.8", "badjson")
    book.set("ipinfo", "2001:4860::1", "429:60")
    book.set("ipapi", "2001:4860::1", "list")
    book.set("taobao", "2001:4860::1", "nodata")
    s = online(settings, base, ("ipinfo", "ipapi", "taobao"), timeout_s=SLOW_TIMEOUT_S)
    rows = geo.lookup(["8.8.8.8", "2001:4860::1"], s, session=session)
    assert [(r["provider"], r["country_code"]) for r in rows.to_pylist()] == [(name, "US"), (name, "US")]
    assert _one(rows, "8.8.8.8")["city"] == "Offline City" and _one(rows, "2001:4860::1")["city"] == "Offline6"
    assert {r["style"] for r in book.seen} == {"ipinfo", "ipapi", "taobao"}


def test_a_provider_failing_again_and_again_is_skipped_for_the_batch(server, session, settings) -> None:
    base, book = server
    ips = [f"8.8.8.{i}" for i in range(1, 9)]
    for ip in ips:
        book.set("ipinfo", ip, "500")
    s = online(settings, base, ("ipinfo", "ipapi"), retries=0, max_failures=3)
    rows = geo.lookup(ips, s, session=session)
    assert set(rows["provider"].to_pylist()) == {"ipapi"}
    assert len(book.requests_for("ipinfo")) == 3 and len(book.requests_for("ipapi")) == 8


def test_special_ranges_are_never_sent(server, session, settings) -> None:
    base, book = server
    special = ["10.0.0.1", "192.168.1.1", "127.0.0.1", "169.254.0.1", "100.64.0.1", "224.0.0.1", "192.0.2.1",
               "::1", "fc00::1", "fd00:1::2", "fe80::1", "2001:db8::1", "ff02::1", "::ffff:10.0.0.1", "bogus"]  # fmt: skip
    s = online(settings, base, ("ipinfo", "ipapi", "taobao"))
    rows = geo.lookup([*special, "8.8.8.8"], s, session=session)
    assert [r["ip"] for r in book.seen] == ["8.8.8.8"]
    assert {r["provider"] for r in rows.to_pylist() if r["ip"] in special} == {"special"}
    providers.lookup_online(special, s, session=session)  # even when a caller passes them directly
    assert [r["ip"] for r in book.seen] == ["8.8.8.8"]


def test_answers_are_cached_with_provider_and_ttl(server, session, settings) -> None:
    base, book = server
    s = online(settings, base, ("taobao",))
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    first = geo.enrich_ips(["8.8.8.8", "10.0.0.1"], s, now=t0, session=session)
    assert _one(first, "8.8.8.8")["provider"] == "taobao" and len(book.seen) == 1
    hit = geo.enrich_ips(["8.8.8.8", "10.0.0.1"], s, now=t0 + timedelta(days=29), session=session)
    assert len(book.seen) == 1  # cache hit: no second request
    assert _one(hit, "8.8.8.8")["looked_up_at"] == t0 and _one(hit, "8.8.8.8")["region_code"] == "CN-GD"
    geo.enrich_ips(["8.8.8.8"], s, now=t0 + timedelta(days=31), session=session)
    assert len(book.seen) == 2  # past the TTL: asked again


def test_offline_fallback_is_retried_online_after_a_day(server, session, settings) -> None:
    base, book = server
    write_offline_db(settings)
    book.set("taobao", "8.8.8.8", "500", "500", "ok")
    s = online(settings, base, ("taobao",), retries=1)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    assert _one(geo.enrich_ips(["8.8.8.8"], s, now=t0, session=session), "8.8.8.8")["provider"] == "offline.mmdb"
    geo.enrich_ips(["8.8.8.8"], s, now=t0 + timedelta(hours=12), session=session)
    assert len(book.seen) == 2  # within a day the fallback answer stands
    row = _one(geo.enrich_ips(["8.8.8.8"], s, now=t0 + timedelta(days=2), session=session), "8.8.8.8")
    assert row["provider"] == "taobao" and len(book.seen) == 3


def test_rate_limit_spaces_requests(server, session, settings) -> None:
    """Token bucket at 4/s: 6 requests need 5 waits of a quarter second (a fake clock counts them)."""
    base, book = server
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    s = online(settings, base, ("ipapi",), rate_per_s=4.0)
    ps = providers.providers_from_settings(s, session, sleep=sleep, clock=lambda: now[0])
    providers.lookup_online([f"8.8.8.{i}" for i in range(1, 7)], s, providers=ps)
    assert len(book.seen) == 6 and ps[0].bucket.waits == 5
    assert slept == pytest.approx([0.25] * 5)


def test_token_bucket_refills_with_time() -> None:
    now = [0.0]
    slept: list[float] = []
    bucket = providers.TokenBucket(
        2.0, burst=2.0, clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s))
    )
    for _ in range(2):
        bucket.acquire()  # the burst: no wait
    assert bucket.waits == 0
    bucket.acquire()
    assert bucket.waits == 1 and slept == pytest.approx([0.5])
    now[0] += 10.0  # idle: the bucket refills to its burst, not beyond
    for _ in range(2):
        bucket.acquire()
    assert bucket.waits == 1


def test_provider_rates_override_the_default(settings) -> None:
    s = settings.replace("geo", providers=("ipinfo", "ipapi"), provider_rates={"ipapi": "0.75"})
    ps = providers.providers_from_settings(s)
    assert [p.bucket.rate for p in ps] == [5.0, 0.75]


def test_keys_are_sent_but_never_logged_or_stored(server, session, settings, caplog) -> None:
    base, book = server
    caplog.set_level(logging.DEBUG)
    book.set("ipinfo", "8.8.8.8", "500")
    book.set("ipapi", "8.8.8.8", "badjson")
    book.set("ipinfo", "1.1.1.1", "slow")
    book.set("ipapi", "1.1.1.1", "429:60")
    keys = {"ipinfo": KEY + "-info", "ipapi": KEY + "-api", "taobao": KEY + "-tb"}
    s = online(settings, base, ("ipinfo", "ipapi", "taobao"), api_keys=keys, timeout_s=SLOW_TIMEOUT_S)
    geo.enrich_ips(["8.8.8.8", "1.1.1.1"], s, session=session)
    # The keys went to the providers: ipinfo in a header, ip-api and Taobao in the query string.
    assert {r["headers"].get("Authorization") for r in book.requests_for("ipinfo")} == {f"Bearer {keys['ipinfo']}"}
    assert {r["query"].get("key") for r in book.requests_for("ipapi")} == {keys["ipapi"]}
    assert {r["query"].get("accessKey") for r in book.requests_for("taobao")} == {keys["taobao"]}
    assert "/ipapi/json/8.8.8.8" in caplog.text  # urllib3 did log the request lines...
    assert "geo provider ipinfo failed" in caplog.text  # ...and we logged the failures
    assert KEY not in caplog.text  # ...without any key
    assert all(KEY not in str(r.msg) and KEY not in str(r.args) for r in caplog.records)
    for path in Path(settings.warehouse).rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in repr(s)


def test_provider_error_messages_carry_no_url_or_key(server, session, settings) -> None:
    base, _ = server
    s = online(settings, "http://127.0.0.1:9", ("ipapi",), api_keys={"ipapi": KEY})  # nothing listens there
    (p,) = providers.providers_from_settings(s, session, sleep=lambda _: None)
    with pytest.raises(providers.ProviderError) as err:
        p.lookup("8.8.8.8")
    assert KEY not in str(err.value) and "127.0.0.1" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is None or KEY not in repr(err.value.__context__)


def test_unknown_provider_is_refused(settings) -> None:
    with pytest.raises(ValueError, match="unknown geo provider"):
        providers.providers_from_settings(settings.replace("geo", providers=("nosuch",)))


def test_answers_are_data_not_markup(server, session, settings) -> None:
    """Control characters and very long names from a provider are cleaned and capped."""
    ans = providers.IpinfoStyle().parse(
        {"country": "US", "region": "Cali\x00fornia\n", "city": "x" * 5000, "org": "AS1 Evil'); DROP TABLE geo_ip;--"}
    )
    assert ans.region == "California" and len(ans.city) == providers.MAX_TEXT
    assert ans.asn == 1 and ans.as_org == "Evil'); DROP TABLE geo_ip;--"
    with pytest.raises(providers.ProviderError):
        providers.IpinfoStyle().parse({"country": {"nested": "object"}})


def test_mapped_ipv4_is_asked_in_its_ipv4_form(server, session, settings) -> None:
    base, book = server
    row = _one(geo.lookup(["::ffff:8.8.8.8"], online(settings, base, ("ipinfo",)), session=session), "::ffff:8.8.8.8")
    assert row["provider"] == "ipinfo" and [r["ip"] for r in book.seen] == ["8.8.8.8"]
