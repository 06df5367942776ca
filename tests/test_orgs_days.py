"""Organizations' per-day rows (source_features_day): each day judged alone, the window's days combined without its events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines.detect import ensure_probes
from pipelines.duck import memory_limit_bytes
from pipelines.orgs import days as orgs_days
from pipelines.orgs.days import TABLE, window_rows
from pipelines.orgs.features import _geo_view, combine_days, day_rows, source_tables
from pipelines.orgs.synthetic import generate_orgs
from pipelines.schema import empty_events

START = date(2025, 3, 1)
# The features over events at once, as scanner_orgs computed them before the day rows existed.
ORACLE = (Path(__file__).parent / "orgs_features_oracle.sql").read_text(encoding="utf-8")
NO_GEO = pa.table({"ip": pa.array([], pa.string())})


@pytest.fixture(scope="module")
def three_days(tmp_path_factory):
    return generate_orgs(
        n_orgs=6,
        sources_per_org=(4, 8),
        unaffiliated=10,
        seed=5,
        probes=(3, 30),
        days=3,
        start=START,
        orgs_dir=tmp_path_factory.mktemp("orgs"),
    )


def _con(events: pa.Table, geo: pa.Table = NO_GEO) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("_e", events)
    con.register("_g", geo)
    con.execute("CREATE TABLE events AS SELECT * FROM _e")
    con.execute("CREATE TABLE geo_ip AS SELECT * FROM _g")
    return con


def _on(events: pa.Table, day: date) -> pa.Table:
    return events.filter(pc.equal(events["event_date"], pa.scalar(day, pa.date32())))


def _sorted(t: pa.Table, *keys: str) -> pa.Table:
    return t.sort_by([(k, "ascending") for k in keys])


def _oracle(events: pa.Table, geo: pa.Table, scanning: tuple[int, float]) -> pa.Table:
    """The old features over the events of the days each scanning source probed, its probes judged day by day."""
    days = sorted(set(events["event_date"].to_pylist()))
    probes = []
    for d in days:
        one = _con(_on(events, d))
        ensure_probes(one)
        probes.append(one.execute("SELECT * FROM probes").to_arrow_table())
    con = _con(events, geo)
    con.register("_p", pa.concat_tables(probes))
    con.execute("CREATE TABLE probes AS SELECT * FROM _p")
    con.execute(
        """CREATE TABLE probed AS SELECT DISTINCT event_date, src_ip FROM probes WHERE src_ip IS NOT NULL;
           CREATE TABLE scanning AS
           SELECT src_ip FROM (SELECT src_ip, count(*) AS n FROM probes WHERE src_ip IS NOT NULL GROUP BY src_ip)
           JOIN (SELECT src_ip, count(*) AS e FROM events GROUP BY src_ip) USING (src_ip)
           WHERE n >= $min AND n / e >= $share""".replace("$min", str(scanning[0])).replace("$share", str(scanning[1]))
    )
    con.execute(
        """CREATE VIEW orgs_events AS SELECT * FROM events
           SEMI JOIN probed USING (event_date, src_ip) WHERE src_ip IN (SELECT src_ip FROM scanning)"""
    )
    _geo_view(con)
    return con.execute(ORACLE).to_arrow_table()


def test_on_one_day_the_combined_rows_are_the_features_of_the_events_at_once(three_days) -> None:
    """A single day (the first day of a lake, or a window of one day) gives what the events gave before."""
    syn = three_days
    day = _on(syn.events, START)
    combined = source_tables(_con(day, syn.geo_ip), scanning=(3, 0.5))[0]
    expected = _oracle(day, syn.geo_ip, (3, 0.5))
    assert combined.num_rows > 10
    assert _sorted(combined, "src_ip").equals(_sorted(expected, "src_ip").cast(combined.schema))


@pytest.mark.parametrize("every_source", [False, True])
def test_a_day_built_in_buckets_of_sources_has_the_rows_of_one_query(three_days, monkeypatch, every_source) -> None:
    """A day too large for its memory limit is built bucket by bucket of sources: the same rows, none twice."""
    con = _con(_on(three_days.events, START))
    whole = day_rows(con, every_source)
    events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    monkeypatch.setattr(orgs_days, "ROW_BYTES", memory_limit_bytes(con) // 40)  # about 40 events a bucket
    assert events > 3 * 40
    bucketed = day_rows(con, every_source)
    assert bucketed.num_rows == whole.num_rows == con.execute("SELECT count(DISTINCT src_ip) FROM events").fetchone()[0]
    assert _sorted(bucketed, "src_ip").equals(_sorted(whole, "src_ip"))
    assert pc.sum(bucketed["is_detailed"]).as_py() > 0


def test_the_window_combines_the_days_each_source_probed_and_sums_their_own_probe_counts(three_days) -> None:
    syn = three_days
    days = sorted(set(syn.events["event_date"].to_pylist()))
    assert len(days) == 3
    stored = pa.concat_tables([day_rows(_con(_on(syn.events, d))) for d in days])  # as each day's step stores them
    assert stored.num_rows > len(set(stored["src_ip"].to_pylist()))  # some sources span days
    # the rows of events of several days at once are those the days' own steps store
    assert _sorted(day_rows(_con(syn.events)), "event_date", "src_ip").equals(_sorted(stored, "event_date", "src_ip"))
    combined = combine_days(_con(syn.events.slice(0, 0), syn.geo_ip), stored, scanning=(3, 0.5))[0]
    expected = _oracle(syn.events, syn.geo_ip, (3, 0.5))
    assert combined.num_rows > 10
    assert _sorted(combined, "src_ip").equals(_sorted(expected, "src_ip").cast(combined.schema))


def test_only_the_sources_that_probed_keep_their_lists() -> None:
    """A day of mostly benign sources stores their counts, not their lists (the 2 GB day of docs/SCALING.md)."""
    client, server, scanner = "198.51.100.9", "192.0.2.20", "203.0.113.5"
    rows = _conversation(datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC), client, server)
    rows += [_packet(datetime(2025, 3, 1, 12, 1, k, tzinfo=UTC), scanner, server, 50000, 20 + k, "S") for k in range(4)]
    out = {r["src_ip"]: r for r in day_rows(_con(_events(rows))).to_pylist()}
    assert set(out) == {client, server, scanner}
    assert out[scanner]["probe_events"] == 4 and out[scanner]["is_detailed"]
    assert out[scanner]["dst_ports"] == [20, 21, 22, 23]
    for benign in (client, server):
        assert out[benign]["probe_events"] == 0 and out[benign]["events"] >= 2 and not out[benign]["is_detailed"]
        assert out[benign]["dst_ports"] is None and out[benign]["hosts"] is None and out[benign]["gaps"] is None
    every = {r["src_ip"]: r for r in day_rows(_con(_events(rows)), every_source=True).to_pylist()}
    assert every[client]["is_detailed"] and every[client]["dst_ports"] == [443]


def test_a_window_day_without_stored_rows_is_computed_from_its_events_and_stored(tmp_path, settings) -> None:
    """A lake written before source_features_day existed: the window reads the day's events once, then its rows."""
    from pipelines import catalog
    from pipelines import warehouse as wh

    syn = generate_orgs(n_orgs=3, sources_per_org=(3, 4), unaffiliated=2, seed=2, probes=(3, 6), days=1, start=START)
    s = settings
    wh.write_day_partition(s.warehouse, "events", START, syn.events.cast(catalog.table("events").schema))
    rows = window_rows([date(2025, 2, 28), START], s)
    assert wh.lake_files(s.warehouse, TABLE, START) and not wh.lake_files(s.warehouse, TABLE, date(2025, 2, 28))
    assert rows.schema == catalog.table(TABLE).schema
    assert _sorted(rows, "src_ip").equals(_sorted(day_rows(_con(syn.events)).cast(rows.schema), "src_ip"))
    assert _sorted(window_rows([START], s), "src_ip").equals(_sorted(rows, "src_ip"))  # read back, not computed


def _packet(when: datetime, src: str, dst: str, sport: int, dport: int, flags: str) -> dict:
    row = {"ts": when, "event_date": when.date(), "src_ip": src, "dst_ip": dst, "src_port": sport}
    return row | {"dst_port": dport, "proto": "tcp", "tcp_flags": flags, "source_kind": "pcap"}


def _conversation(at: datetime, client: str, server: str, offset: int = 0) -> list[dict]:
    """A TLS connection that succeeds: handshake, then data both ways."""
    from datetime import timedelta

    def t(k: int) -> datetime:
        return at + timedelta(seconds=offset + k)

    return [
        _packet(t(0), client, server, 40000, 443, "S"),
        _packet(t(1), server, client, 443, 40000, "SA"),
        _packet(t(2), client, server, 40000, 443, "A"),
        _packet(t(3), client, server, 40000, 443, "PA"),
        _packet(t(4), server, client, 443, 40000, "PA"),
    ]


def _events(rows: list[dict]) -> pa.Table:
    schema = empty_events().schema
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)


def _window(events: pa.Table) -> dict[str, dict]:
    """The combined features of every source of `events`, its days judged apart as their steps do."""
    days = sorted(set(events["event_date"].to_pylist()))
    stored = pa.concat_tables([day_rows(_con(_on(events, d))) for d in days])
    return {r["src_ip"]: r for r in combine_days(_con(events.slice(0, 0)), stored, scanning=(1, 0.0))[0].to_pylist()}


def test_a_handshake_across_midnight_is_a_probe_of_its_first_day_and_of_the_window() -> None:
    """Documented: the window sums the days' own counts; the SYN before midnight, answered after it, stays a probe."""
    client, server = "198.51.100.9", "192.0.2.20"
    # the SYN on day 1, the rest on day 2
    rows = _conversation(datetime(2025, 3, 1, 23, 59, 58, tzinfo=UTC), client, server)
    events = _events(rows)
    assert len({r["event_date"] for r in rows}) == 2
    features = _window(events)[client]
    assert features["probe_events"] == 1  # judged over both days at once it would be none
    assert features["probe_share"] == pytest.approx(1 / 3)  # of every event of the window
    # its fingerprint is read from the day it probed: one event, one day
    assert (features["probes"], features["days"], features["port_set"]) == (1, 1, "443")


def test_a_service_used_on_one_day_and_failing_on_another_is_probed_on_the_other() -> None:
    """Documented: a used service is judged within its day, so the refused retry of day 2 is a probe of day 2."""
    client, server = "198.51.100.9", "192.0.2.20"
    rows = _conversation(datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC), client, server)
    refused = datetime(2025, 3, 2, 10, 0, 0, tzinfo=UTC)
    rows += [_packet(refused, client, server, 40001, 443, "S"), _packet(refused, server, client, 443, 40001, "R")]
    per_day = {
        d: {r["src_ip"]: r["probe_events"] for r in day_rows(_con(_on(_events(rows), d))).to_pylist()}
        for d in (date(2025, 3, 1), date(2025, 3, 2))
    }
    assert per_day[date(2025, 3, 1)][client] == 0 and per_day[date(2025, 3, 2)][client] == 1
    features = _window(_events(rows))[client]
    assert features["probe_events"] == 1 and features["probes"] == 1 and features["days"] == 1
