"""The sensor's read slots, shared fairly between sources (issue 28): who is read when slots are scarce.

A slot is a connection the sensor reads from. Capping connections per source is not enough: 40
sources x 16 trickling connections hold all 512 slots and every other source is closed unread. So
when the slots are full a newcomer takes one from whoever holds more than its fair (max-min) share,
and sources with equal shares take turns once a connection has been read for `min_read_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

Conn = TypeVar("Conn", bound=Hashable)

READ = "read"  # a free slot: read it
EVICT = "evicted"  # read it, after the victim (recorded with what it sent so far) gives up its slot
SOURCE_CAP = "source_cap"  # its source already holds max_per_source slots: recorded unread
FULL = "max_connections"  # every slot is held by sources with no more than its source's share: recorded unread


@dataclass(frozen=True)
class Admission(Generic[Conn]):
    """The verdict for one accepted connection, and the connection that yields its slot to it (EVICT)."""

    verdict: str
    victim: Conn | None = None


class ReadSlots(Generic[Conn]):
    """`capacity` read slots; per source, its connections oldest first; a newcomer evicts when that is fairer.

    With every slot taken, a connection from a source holding `h` slots gets one by evicting:
    1. the oldest connection of a source holding more than `h + 1` (shares level out, max-min fair);
    2. else the oldest connection, read at least `min_read_s`, of a source holding exactly `h + 1`
       (equal shares take turns: a connection's read time is bounded while others wait);
    otherwise it is refused (FULL). `max_per_source` (<= 0: none) caps a source even when slots are free.
    """

    def __init__(
        self,
        capacity: int,
        max_per_source: int = 0,
        min_read_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.max_per_source = max_per_source
        self.min_read_s = min_read_s
        self.clock = clock
        self.counts: dict[str, int] = {}  # slots held per source (sources holding none are absent)
        self._held: dict[str, dict[Conn, float]] = {}  # source -> {connection: admitted at}, oldest first
        self._by_count: dict[int, dict[str, None]] = {}  # slots held -> sources holding that many (ordered set)
        self._top = 0  # the most slots any source holds
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Conn]:
        for conns in list(self._held.values()):
            yield from list(conns)

    def admit(self, source: str) -> Admission[Conn]:
        """Decide whether a connection from `source` is read; the caller then `add`s it (and finishes a victim)."""
        held = self.counts.get(source, 0)
        if 0 < self.max_per_source <= held:
            return Admission(SOURCE_CAP)
        if self._size < self.capacity:
            return Admission(READ)
        if self._top > held + 1:
            return Admission(EVICT, self._oldest_of(self._top)[0])
        if self._top == held + 1:
            victim, since = self._oldest_of(self._top)
            if self.clock() - since >= self.min_read_s:
                return Admission(EVICT, victim)
        return Admission(FULL)

    def add(self, source: str, conn: Conn) -> None:
        """Give `conn` a slot (after `admit` said READ or EVICT and the victim was removed)."""
        self._held.setdefault(source, {})[conn] = self.clock()
        self._move(source, +1)
        self._size += 1

    def remove(self, source: str, conn: Conn) -> bool:
        """Free `conn`'s slot; False if it held none (closed unread, or removed already)."""
        conns = self._held.get(source)
        if conns is None or conns.pop(conn, None) is None:
            return False
        if not conns:
            del self._held[source]
        self._move(source, -1)
        self._size -= 1
        return True

    def _oldest_of(self, count: int) -> tuple[Conn, float]:
        """The oldest connection among the sources holding `count` slots, and when it was admitted."""
        firsts = (next(iter(self._held[s].items())) for s in self._by_count[count])
        return min(firsts, key=lambda item: item[1])

    def _move(self, source: str, step: int) -> None:
        """Keep `counts`, the count buckets and the top count in step after a source gains or loses a slot."""
        before = self.counts.get(source, 0)
        after = before + step
        if before:
            bucket = self._by_count[before]
            del bucket[source]
            if not bucket:
                del self._by_count[before]
        if after:
            self.counts[source] = after
            self._by_count.setdefault(after, {})[source] = None
        else:
            del self.counts[source]
        if after > self._top:
            self._top = after
        elif before == self._top and before not in self._by_count:
            self._top = after  # the only source at the top lost one: the top is one lower now
