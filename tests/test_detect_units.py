"""Detector units on tiny labelled event tables in an in-memory DuckDB."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa
import pytest

from pipelines import catalog
from pipelines.detect import entropy, fast, port_ratio, slow
from pipelines.schema import conform_events
from pipelines.settings import Settings

DAY = date(2025, 11, 26)
T0 = datetime(2025, 11, 26, 10, tzinfo=UTC)
S = Settings()


def _con(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose `events` holds the rows (firewall SYN drops unless a row says otherwise)."""
    for r in rows:
        r.setdefault("event_date", r["ts"].date())
        r.setdefault("source_kind", "firewall")
        r.setdefault("proto", "tcp")
        r.setdefault("tcp_flags", "S")
        r.setdefault("src_port", 40000)
    events = conform_events(pa.Table.from_pylist(rows))  # noqa: F841 (scanned by DuckDB)
    con = duckdb.connect()
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    return con


def vertical_scan(src: str, dst: str, n: int, every_s: float, t0: datetime = T0) -> list[dict]:
    """One source walking the ports of one host (nmap -T1 is one probe every 15 s)."""
    return [
        {"ts": t0 + timedelta(seconds=every_s * i), "src_ip": src, "dst_ip": dst, "dst_port": 1000 + i}
        for i in range(n)
    ]


def horizontal_scan(src: str, port: int, n: int, every_s: float, t0: datetime = T0) -> list[dict]:
    """One source walking the hosts of a network on one port."""
    return [
        {
            "ts": t0 + timedelta(seconds=every_s * i),
            "src_ip": src,
            "dst_ip": f"10.1.{i // 250}.{i % 250 + 1}",
            "dst_port": port,
        }
        for i in range(n)
    ]


def benign_clients(n: int, hours: float = 2.0) -> list[dict]:
    """Office clients reaching their few usual servers and services, all day long."""
    rows = []
    for c in range(n):
        for i in range(int(hours * 60)):
            rows.append(
                {
                    "ts": T0 + timedelta(seconds=60 * i + 7 * c % 60),
                    "src_ip": f"192.168.1.{c + 10}",
                    "dst_ip": f"192.168.9.{(c + i // 20) % 3 + 1}",
                    "dst_port": (443, 445, 80)[(c + i) % 3],
                }
            )
    return rows


def one_port_one_host(src: str, n: int, every_s: float) -> list[dict]:
    """A source hammering a single port of a single host (brute force, a stuck client): never a scan."""
    return [
        {"ts": T0 + timedelta(seconds=every_s * i), "src_ip": src, "dst_ip": "10.0.0.1", "dst_port": 22}
        for i in range(n)
    ]


def _slow_scans(con: duckdb.DuckDBPyConnection, params=S.slow) -> set[tuple[str, str]]:
    return {(r["src_ip"], r["kind"]) for r in slow.scan_slow(con, DAY, params).to_pylist() if r["is_scan"]}


# --- fast threshold ---------------------------------------------------------------------------


def test_lone_fast_scanner_is_flagged_but_one_port_of_one_host_is_not() -> None:
    rows = vertical_scan("5.5.5.5", "10.0.0.1", 500, 0.05) + one_port_one_host("6.6.6.6", 500, 0.1)
    rows += [
        {"ts": T0 + timedelta(seconds=i * 7), "src_ip": f"7.7.7.{i}", "dst_ip": "10.0.0.1", "dst_port": 443}
        for i in range(30)
    ]
    result = fast.scan_fast(_con(rows), DAY, S.fast)
    assert set(result["src_ip"].to_pylist()) == {"5.5.5.5"}
    row = result.to_pylist()[0]
    assert row["probes"] > row["threshold"] and row["distinct_ports"] > 1 and row["distinct_hosts"] == 1
    assert (row["mode"], row["k"], row["window_s"], row["period_s"]) == ("mean", 2.0, 60, 300)


def test_fast_scanners_one_after_another_are_each_found_in_both_modes() -> None:
    # Nine scanners in a row, as in probing_nmap.pcapng: each must be measured against normal
    # traffic, not against the scanners before it.
    rows = benign_clients(20, hours=0.5)
    for s in range(9):
        rows += vertical_scan(f"6.6.6.{s}", "192.168.9.1", 1000 * (s % 3 + 1), 0.03, T0 + timedelta(minutes=2 * s))
    con = _con(rows)
    for mode in ("mean", "robust"):
        found = set(fast.scan_fast(con, DAY, S.replace("fast", mode=mode).fast)["src_ip"].to_pylist())
        assert found == {f"6.6.6.{s}" for s in range(9)}, mode


def test_fast_benign_clients_and_slow_scanners_stay_under_the_threshold() -> None:
    rows = benign_clients(20) + vertical_scan("8.8.4.4", "192.168.9.1", 400, 15)
    assert fast.scan_fast(_con(rows), DAY, S.fast).num_rows == 0


def test_fast_rejects_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        fast.scan_fast(_con(one_port_one_host("1.1.1.1", 3, 1)), DAY, S.replace("fast", mode="median").fast)


def _threshold_reference(rows: list[tuple[int, int, int]], lookback: int, k: float, floor: float) -> list[bool]:
    """The mean-mode threshold written out literally: per window, the other sources' counts of the
    trailing period that were not over threshold before; rows are (window, source, probes)."""
    over: dict[tuple[int, int], bool] = {}
    counts = {(w, s): x for w, s, x in rows}
    for w in sorted({w for w, _, _ in rows}):
        current = [(s, x) for (ww, s), x in counts.items() if ww == w]
        for s, x in current:
            pool = [xx for (ww, ss), xx in counts.items() if ss != s and w - lookback <= ww < w and not over[(ww, ss)]]
            pool += [xx for ss, xx in current if ss != s]
            mu = sum(pool) / len(pool) if pool else 0.0
            sd = (sum((p - mu) ** 2 for p in pool) / len(pool)) ** 0.5 if pool else 0.0
            over[(w, s)] = x > round(mu + k * max(sd, floor), 9)
    return [over[(w, s)] for w, s, _ in rows]


@pytest.mark.parametrize("seed", range(5))
def test_threshold_recursion_matches_its_literal_statement(seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = sorted(
        {
            (int(w), int(s)): int(x)
            for w, s, x in zip(rng.integers(0, 30, 300), rng.integers(0, 12, 300), rng.zipf(1.6, 300), strict=True)
        }.items()
    )
    flat = [(w, s, x) for (w, s), x in rows]
    w, src, x = (np.array(col) for col in zip(*flat, strict=True))
    got = fast.dynamic_threshold(w, src, x, lookback=4, k=2.0, sigma_floor=1.0, mode="mean").over.tolist()
    assert got == _threshold_reference(flat, 4, 2.0, 1.0)


def test_lookback_windows_of_the_trailing_period() -> None:
    assert fast.lookback_windows(60, 300) == 4  # the window and the four before it
    assert fast.lookback_windows(60, 330) == 5
    assert fast.lookback_windows(60, 60) == 0


# --- persistent incremental model -------------------------------------------------------------


def test_incremental_filter_and_growth_periods() -> None:
    # growth 1 -> 2 -> 3, then a window adding nothing new restarts the period
    sets = [{"a"}, {"b"}, {"c"}, {"a"}, {"d"}]
    assert slow.growth_periods(sets) == [(0, 2), (3, 4)]
    assert slow.cond_entropy(["a", "b", "c", "d"]) == 1.0
    assert slow.cond_entropy(["a", "a", "a"]) == 0.0


def test_t1_vertical_and_horizontal_scans_are_found_and_benign_traffic_is_not() -> None:
    rows = vertical_scan("8.8.4.4", "192.168.9.7", 400, 15)  # nmap -T1: 100 minutes, 50 windows
    rows += horizontal_scan("8.8.8.8", 445, 300, 15, T0 + timedelta(minutes=5))
    rows += benign_clients(15)
    rows += one_port_one_host("9.9.9.9", 400, 15)
    result = slow.scan_slow(_con(rows), DAY, S.slow)
    assert {(r["src_ip"], r["kind"]) for r in result.to_pylist() if r["is_scan"]} == {
        ("8.8.4.4", "vertical"),
        ("8.8.8.8", "horizontal"),
    }
    scan = next(r for r in result.to_pylist() if r["src_ip"] == "8.8.4.4" and r["is_scan"])
    assert scan["fixed_value"] == "192.168.9.7" and scan["windows"] >= 5 and scan["cond_entropy"] == 1.0
    assert (scan["threshold"], scan["window_s"], scan["min_windows"], scan["min_period"]) == (0.75, 120, 5, 5)
    assert all(r["windows"] >= 5 for r in result.to_pylist())


def test_short_scan_is_not_persistent() -> None:
    # five windows of probes: persistence needs more than min_windows = 5
    rows = vertical_scan("8.8.4.4", "192.168.9.7", 40, 15)  # 10 minutes
    assert slow.scan_slow(_con(rows), DAY, S.slow).num_rows == 0
    assert _slow_scans(_con(rows), S.replace("slow", min_windows=3, min_period=3).slow) == {("8.8.4.4", "vertical")}


def _reference_scan_slow(rows: list[dict], window_s: int, min_windows: int, min_period: int) -> set:
    """scan_slow written with Python sets over the rows (all firewall probes): (kind, src, fixed, start, entropy)."""
    combos: dict[tuple, dict[int, list]] = {}
    for r in rows:
        w = int(r["ts"].timestamp() // window_s)
        for kind, fixed, target in (
            ("horizontal", str(r["dst_port"]), r["dst_ip"]),
            ("vertical", r["dst_ip"], str(r["dst_port"])),
        ):
            combos.setdefault((kind, r["src_ip"], fixed), {}).setdefault(w, []).append(target)
    out = set()
    for (kind, src, fixed), by_w in combos.items():
        if len(by_w) <= min_windows:
            continue
        ws = sorted(by_w)
        for first, last in slow.growth_periods([set(by_w[w]) for w in ws]):
            if last - first + 1 >= min_period:
                targets = [t for w in ws[first : last + 1] for t in by_w[w]]
                out.add((kind, src, fixed, ws[first] * window_s, round(slow.cond_entropy(targets), 6)))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_vectorized_model_matches_the_set_based_statement(seed: int) -> None:
    import random

    rnd = random.Random(seed)
    rows = [
        {
            "ts": T0 + timedelta(seconds=rnd.randrange(0, 4 * 3600)),
            "src_ip": f"1.1.1.{rnd.randrange(4)}",
            "dst_ip": f"10.0.0.{rnd.choice([1, 2, 3, rnd.randrange(40)])}",
            "dst_port": rnd.choice([22, 80, rnd.randrange(1, 60)]),
        }
        for _ in range(1500)
    ]
    got = {
        (r["kind"], r["src_ip"], r["fixed_value"], int(r["period_start"].timestamp()), round(r["cond_entropy"], 6))
        for r in slow.scan_slow(_con(rows), DAY, S.slow).to_pylist()
    }
    expected = _reference_scan_slow(rows, 120, 5, 5)
    assert expected, "the random day should hold growth periods"
    assert got == expected


def test_restarts_vectorized_across_combinations() -> None:
    import numpy as np

    # combo 0: targets {a}, {b}, {a}  -> m = -1, -1, 0 -> restart at 2 (a was seen at 0 >= start 0)
    # combo 1: targets {a}, {b}, {c}  -> m = -1, -1, -1 -> one growth period
    combo = np.array([0, 1, 0, 1, 0, 1])
    pos = np.array([0, 0, 1, 1, 2, 2])
    m = np.array([-1, -1, -1, -1, 0, -1])
    assert slow.restarts(combo, pos, m).tolist() == [True, True, False, False, True, False]
    order = np.lexsort((pos, combo))  # kept_periods takes rows by combination, then position
    keep, period = slow.kept_periods(combo[order], pos[order], m[order], min_period=3)
    assert keep.tolist() == [False, False, False, True, True, True]
    assert period.tolist() == [0, 0, 1, 2, 2, 2]


def test_window_positions_map_window_numbers_to_positions() -> None:
    import numpy as np

    # combination 4 seen in windows 100, 103, 110; combination 9 in 101, 102
    combo = np.array([4, 4, 4, 9, 9])
    w = np.array([100, 103, 110, 101, 102])
    prev_w = np.array([-1, 100, 100, -1, 101])
    pos, m = slow.window_positions(combo, w, prev_w)
    assert pos.tolist() == [0, 1, 2, 0, 1]
    assert m.tolist() == [-1, 0, 0, -1, 0]


# --- port ratio, entropy windows, shared behaviour ----------------------------------------------


def test_port_ratio_baseline() -> None:
    rows = vertical_scan("8.8.4.4", "192.168.9.7", 100, 1) + one_port_one_host("9.9.9.9", 100, 1)
    rows += vertical_scan("7.7.7.7", "192.168.9.7", 3, 1)  # ratio 1 but only three targets
    result = {r["src_ip"]: r for r in port_ratio.port_ratio(_con(rows), DAY, S.slow).to_pylist()}
    assert result["8.8.4.4"]["is_scan"] and result["8.8.4.4"]["ratio"] == 1.0
    assert not result["9.9.9.9"]["is_scan"] and result["9.9.9.9"]["distinct_pairs"] == 1
    assert not result["7.7.7.7"]["is_scan"]
    assert result["8.8.4.4"]["threshold"] == S.slow.port_ratio_threshold


def test_entropy_window_of_a_scan_is_anomalous() -> None:
    rows = benign_clients(30, hours=3.0)
    scan_start = T0 + timedelta(minutes=90)
    rows += vertical_scan("8.8.4.4", "192.168.9.7", 3000, 0.02, scan_start)  # one minute of -T5
    result = entropy.window_entropy(_con(rows), DAY, S.entropy).to_pylist()
    assert {r["feature"] for r in result} == {"src_ip", "dst_ip", "dst_port"}
    flagged = {(r["window_start"], r["feature"]) for r in result if r["anomalous"]}
    assert (scan_start, "src_ip") in flagged  # one source suddenly dominates the window
    assert all(0.0 <= r["entropy"] <= 1.0 and r["lower"] <= r["upper"] for r in result)
    assert all(r["k"] == 2.0 and r["window_s"] == 60 for r in result)


def test_detectors_on_an_empty_day_return_empty_tables_with_their_columns() -> None:
    con = _con(one_port_one_host("1.1.1.1", 1, 1))
    other_day = DAY + timedelta(days=1)
    outputs = {
        "scan_fast": fast.scan_fast(con, other_day, S.fast),
        "window_entropy": entropy.window_entropy(con, other_day, S.entropy),
        "scan_slow": slow.scan_slow(con, other_day, S.slow),
        "port_ratio": port_ratio.port_ratio(con, other_day, S.slow),
    }
    for name, table in outputs.items():
        assert table.num_rows == 0
        # the run adds event_date; every other column is the catalog's, in its order
        assert table.column_names == [c.name for c in catalog.table(name).columns][1:], name


def test_reruns_give_identical_rows() -> None:
    rows = (
        benign_clients(10)
        + vertical_scan("8.8.4.4", "192.168.9.7", 400, 15)
        + vertical_scan("5.5.5.5", "192.168.9.2", 800, 0.05)
    )
    con = _con(rows)
    for run in (
        lambda: fast.scan_fast(con, DAY, S.fast),
        lambda: slow.scan_slow(con, DAY, S.slow),
        lambda: entropy.window_entropy(con, DAY, S.entropy),
        lambda: port_ratio.port_ratio(con, DAY, S.slow),
    ):
        first = run()
        assert first.num_rows > 0
        assert run().equals(first)
