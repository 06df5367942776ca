"""Coordinated (distributed) scans on crafted events: a sweep split among sources is one group;
busy clients of one service, background radiation and lone scanners are not."""

from __future__ import annotations

import random
from datetime import timedelta

from test_detect_units import DAY, T0, _con, vertical_scan

from pipelines.detect.distributed import scan_distributed
from pipelines.settings import Settings

S = Settings().distributed
VICTIM = "203.0.113.10"


def split_port_sweep(members: int, each: int, first_port: int = 1000, t0=T0) -> list[dict]:
    """`members` sources each probing `each` consecutive ports of VICTIM, one after another."""
    rows = []
    for m in range(members):
        for k in range(each):
            rows.append(
                {
                    "ts": t0 + timedelta(seconds=2 * m + 7 * k),
                    "src_ip": f"198.51.100.{m + 1}",
                    "dst_ip": VICTIM,
                    "dst_port": first_port + m * each + k,
                }
            )
    return rows


def split_host_sweep(members: int, each: int, port: int = 23) -> list[dict]:
    """`members` sources each probing `each` consecutive hosts of 10.9.0.0/16 on one port."""
    return [
        {
            "ts": T0 + timedelta(seconds=m + k),
            "src_ip": f"192.0.2.{m + 1}",
            "dst_ip": f"10.9.{(m * each + k) // 256}.{(m * each + k) % 256}",
            "dst_port": port,
        }
        for m in range(members)
        for k in range(each)
    ]


def test_a_port_range_split_among_sources_is_one_group_with_every_member() -> None:
    rows = scan_distributed(_con(split_port_sweep(60, 4)), DAY, S).to_pylist()
    assert {r["src_ip"] for r in rows} == {f"198.51.100.{m + 1}" for m in range(60)}
    assert {r["group_id"] for r in rows} == {rows[0]["group_id"]}
    first = rows[0]
    assert (first["axis"], first["target"], first["members"], first["coverage"]) == ("ports", VICTIM, 60, 240)
    assert (first["covered_from"], first["covered_to"], first["overlap"]) == ("1000", "1239", 1.0)
    assert first["dst_port"] is None and all(r["member_targets"] == 4 for r in rows)


def test_a_host_range_split_among_sources_is_one_group_on_its_port() -> None:
    rows = scan_distributed(_con(split_host_sweep(16, 8)), DAY, S).to_pylist()
    assert len(rows) == 16 and {r["axis"] for r in rows} == {"hosts"}
    assert (rows[0]["target"], rows[0]["dst_port"], rows[0]["coverage"]) == ("10.9.0.0/16", 23, 128)
    assert (rows[0]["covered_from"], rows[0]["covered_to"]) == ("10.9.0.0", "10.9.0.127")


def test_busy_clients_of_one_service_and_background_radiation_form_no_group() -> None:
    rng = random.Random(3)
    rows = []
    for c in range(300):  # clients of a web server: ports 80 and 443, over and over
        for k in range(4):
            rows.append({"ts": T0 + timedelta(seconds=c + k), "src_ip": f"100.64.{c // 250}.{c % 250 + 1}",
                         "dst_ip": VICTIM, "dst_port": (80, 443)[k % 2]})  # fmt: skip
    for c in range(400):  # background radiation: two or three scattered ports each
        for port in rng.sample(range(1, 65536), rng.randint(2, 3)):
            rows.append({"ts": T0 + timedelta(seconds=rng.uniform(0, 3000)), "src_ip": f"172.31.{c // 250}.{c % 250 + 1}",
                         "dst_ip": VICTIM, "dst_port": port})  # fmt: skip
    assert scan_distributed(_con(rows), DAY, S).num_rows == 0


def test_lone_scanners_and_too_few_members_are_not_groups() -> None:
    alone = vertical_scan("203.0.113.99", VICTIM, 500, 1.0)  # more than max_each: a scanner on its own
    few = split_port_sweep(S.min_members - 1, 4, first_port=20000)
    assert scan_distributed(_con(alone + few), DAY, S).num_rows == 0
    # The same sweep beside the lone scanner, which is no member of it.
    rows = scan_distributed(_con(alone + split_port_sweep(30, 4, first_port=20000)), DAY, S).to_pylist()
    assert len(rows) == 30 and "203.0.113.99" not in {r["src_ip"] for r in rows}


def test_a_sweep_is_found_the_same_on_a_rerun_and_members_score_as_traffic(settings) -> None:
    from pipelines.detect.findings import findings
    from pipelines.risk import source_risk

    con = _con(split_port_sweep(20, 4))
    first = scan_distributed(con, DAY, S)
    assert first.equals(scan_distributed(con, DAY, S))
    con.register("scan_distributed_rows", first)
    con.execute("CREATE TABLE scan_distributed AS SELECT * FROM scan_distributed_rows")
    found = findings(con, DAY, settings)  # the detector feeds risk through findings, with no edit to risk
    assert set(found["detector"].to_pylist()) == {"scan_distributed"} and found.num_rows == 20
    con.register("findings_rows", found)
    con.execute("CREATE TABLE findings AS SELECT * FROM findings_rows")
    risk = {r["src_ip"]: r for r in source_risk(con, DAY, settings).to_pylist()}
    member = risk["198.51.100.1"]
    assert member["traffic_score"] > 0
    assert "found by scan_distributed (vertical)" in member["reasons"]
