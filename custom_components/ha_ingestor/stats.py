"""Counters that account for every event: the source of the diagnostic entities.

Invariant, at any moment: received = written + pending + filtered + dead_lettered + dropped,
where pending = queued in memory + in flight + spooled on disk.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
import time


@dataclass(slots=True)
class Stats:
    received: int = 0
    written: int = 0
    filtered: int = 0
    dead_lettered: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    filtered_reasons: Counter[str] = field(default_factory=Counter)
    last_write: float | None = None  # wall clock (unix seconds) of the last successful write
    last_latency: float | None = None  # seconds, last successful request
    last_error: str | None = None
    connected: bool | None = None  # None until the first write attempt
    failed_writes: int = 0
    # (monotonic time, received) samples for the events-per-minute rate
    _samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=120))

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def events_per_minute(self, now: float | None = None) -> float:
        """Events received in the last minute (fewer while less than a minute is sampled)."""
        now = time.monotonic() if now is None else now
        samples = self._samples
        samples.append((now, self.received))
        while len(samples) > 1 and now - samples[0][0] > 60:
            samples.popleft()
        first_time, first_count = samples[0]
        # Over at least a minute: right after start, a burst is not extrapolated to a rate.
        return (self.received - first_count) * 60.0 / max(now - first_time, 60.0)
