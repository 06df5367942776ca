"""Per-source rate limit: a token bucket per source address with bounded memory."""

from __future__ import annotations

import time
from collections.abc import Callable


class SourceRateLimiter:
    """Allow each source `rate` probes per second with a burst of `burst`; forget idle sources.

    TCP sources are real (the handshake completed) but UDP sources can be spoofed, so the table is
    bounded: when it passes `max_sources`, sources whose bucket has refilled are forgotten (they
    would start full anyway); if a flood of fresh addresses still overflows it, it is reset and
    the reset is counted.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        max_sources: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate, 1.0))
        self.max_sources = max_sources
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}
        self.resets = 0

    def allow(self, source: str) -> bool:
        """Take one token for `source`; False when its bucket is empty (the probe is dropped)."""
        if self.rate <= 0:
            return True  # 0 or less disables the limit
        now = self.clock()
        tokens, last = self.buckets.get(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self.buckets[source] = (tokens, now)
            return False
        self.buckets[source] = (tokens - 1.0, now)
        if len(self.buckets) > self.max_sources:
            self.prune(now)
        return True

    def prune(self, now: float | None = None) -> int:
        """Forget sources whose bucket is full again; reset the table if that is not enough."""
        now = self.clock() if now is None else now
        refill_s = self.burst / self.rate if self.rate > 0 else 0.0
        before = len(self.buckets)
        self.buckets = {s: (t, last) for s, (t, last) in self.buckets.items() if now - last < refill_s}
        if len(self.buckets) > self.max_sources // 2:
            self.buckets.clear()
            self.resets += 1
        return before - len(self.buckets)
