"""Many generated days (issue 27): the address pools never run dry, addresses recur across days as real
scanners and clients do, and the truth keeps one role per address over the whole run."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from pipelines.generate import FILES, generate
from pipelines.generate import scenario as sc

START = date(2025, 11, 26)
DAYS = 60


@pytest.fixture(scope="module")
def two_months(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("days")
    return out, generate(out, days=DAYS, start=START, seed=5, scale=0.01)


def test_sixty_days_are_all_written_past_the_old_pool_limit(two_months: tuple[Path, dict]) -> None:
    out, info = two_months
    days = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
    assert info["days"] == days and info["files"] == len(FILES) * DAYS
    for day in days:
        folder = out / "landing" / day
        assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
        assert all((folder / name).stat().st_size > 24 for name in FILES), day  # more than a pcap header


def test_sixty_days_of_truth_give_each_address_one_role(two_months: tuple[Path, dict]) -> None:
    out, _ = two_months
    with open(out / "truth.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    labels, days_of = defaultdict(set), defaultdict(set)
    for r in rows:
        labels[r["src_ip"]].add(r["label"])
        days_of[r["src_ip"]].add(r["start"][:10])
    assert not [ip for ip, seen in labels.items() if len(seen) > 1]  # never a scanner one day, benign another
    # every day holds its planted scans: two fast vertical scans a day, the last day included
    fast = defaultdict(int)
    for r in rows:
        if r["kind"] == "fast_vertical":
            fast[r["start"][:10]] += 1
    assert fast == {(START + timedelta(days=i)).isoformat(): 2 for i in range(DAYS)}
    # the web sites the office browses ran out of fresh addresses after 27 days: they recur now
    assert max(len(d) for d in days_of.values()) > 1


def test_a_full_block_hands_back_the_roles_own_addresses_once_a_day() -> None:
    pool, rng = sc.AddressPool(), np.random.default_rng(1)
    block = ("198.51.100.0/29",)  # six usable addresses
    scanners = pool.draw(rng, block, 3, role="scan")
    clients = pool.draw(rng, block, 3, role="benign")
    assert len(set(scanners + clients)) == 6
    for _ in range(3):
        pool.new_day()
        again = pool.draw(rng, block, 3, role="scan")
        assert sorted(again) == sorted(scanners)  # its own, each once in the day
        assert set(pool.draw(rng, block, 2, role="benign")) <= set(clients)
    with pytest.raises(RuntimeError, match="role 'research'"):
        pool.draw(rng, block, 1, role="research")  # no address of its own to reuse: an error, not a hang
