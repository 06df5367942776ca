"""The sensor's read slots (issue 28): max-min fair shares between sources, turns taken once a connection was read
long enough, the per-source cap. Pure logic on a fake clock; the sockets are in tests/test_sensor_payloads.py."""

from __future__ import annotations

from pipelines.sensor.slots import EVICT, FULL, READ, SOURCE_CAP, ReadSlots


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _take(slots: ReadSlots[str], source: str, conn: str) -> str:
    """Admit `conn` the way the sensor does: evict the victim if told to, then add; return the verdict."""
    admission = slots.admit(source)
    if admission.verdict == EVICT:
        assert admission.victim is not None
        slots.remove(admission.victim.split("-")[0], admission.victim)
    if admission.verdict in (READ, EVICT):
        slots.add(source, conn)
    return admission.verdict


def test_a_source_holding_more_than_its_share_yields_its_oldest_slot_to_a_newcomer() -> None:
    clock = _Clock()
    slots: ReadSlots[str] = ReadSlots(capacity=6, max_per_source=0, min_read_s=60.0, clock=clock)
    for i in range(6):
        clock.now += 1
        assert _take(slots, "a", f"a-{i}") == READ
    assert slots.admit("a").verdict == FULL  # a holds every slot but nobody else waits
    assert slots.admit("b").victim == "a-0"  # b holds none: a's oldest gives way
    verdicts = [_take(slots, "b", f"b-{i}") for i in range(4)]
    assert verdicts == [EVICT, EVICT, EVICT, FULL]  # shares level out at 3 and 3, then b waits its turn
    assert slots.counts == {"a": 3, "b": 3} and list(slots) == ["a-3", "a-4", "a-5", "b-0", "b-1", "b-2"]
    assert _take(slots, "c", "c-0") == EVICT and slots.counts == {"a": 2, "b": 3, "c": 1}  # a's oldest is older
    assert _take(slots, "c", "c-1") == EVICT and slots.counts == {"a": 2, "b": 2, "c": 2}
    assert len(slots) == 6


def test_equal_shares_take_turns_once_a_connection_was_read_long_enough() -> None:
    clock = _Clock()
    slots: ReadSlots[str] = ReadSlots(capacity=2, min_read_s=2.0, clock=clock)
    _take(slots, "a", "a-0")
    clock.now = 1.0
    _take(slots, "b", "b-0")
    assert slots.admit("c").verdict == FULL  # a and b hold one each, read for less than min_read_s
    clock.now = 2.0
    assert slots.admit("c").victim == "a-0"  # a's connection was read for 2 s: its turn is over
    assert slots.admit("a").verdict == FULL  # a already holds as many as anyone: no turn from b


def test_the_per_source_cap_holds_even_when_slots_are_free_and_freed_slots_are_counted() -> None:
    slots: ReadSlots[str] = ReadSlots(capacity=10, max_per_source=2)
    assert [_take(slots, "a", f"a-{i}") for i in range(3)] == [READ, READ, SOURCE_CAP]
    assert slots.remove("a", "a-0") and not slots.remove("a", "a-0")  # a second remove frees nothing
    assert not slots.remove("z", "z-0")
    assert _take(slots, "a", "a-3") == READ and slots.counts == {"a": 2}
    slots.remove("a", "a-1")
    slots.remove("a", "a-3")
    assert not slots and slots.counts == {} and slots.admit("b").verdict == READ


def test_the_top_share_follows_removals() -> None:
    clock = _Clock()
    slots: ReadSlots[str] = ReadSlots(capacity=4, clock=clock)
    for conn in ("a-0", "a-1", "a-2", "b-0"):
        clock.now += 1
        slots.add(conn[0], conn)
    slots.remove("a", "a-0")
    slots.remove("a", "a-1")  # a and b now hold one each: c may not evict either before min_read_s
    slots.add("c", "c-0")
    slots.add("d", "d-0")
    assert slots.admit("e").verdict == FULL
