"""Counters that account for every event: the source of the diagnostic entities.

Invariant, at any moment: received = written + pending + filtered + dead_lettered + dropped,
where pending = queued in memory + in flight + spooled on disk. The counters are cumulative for
the life of the entry: the runtime keeps them in Home Assistant's storage across reloads and
restarts (``as_stored`` / ``restore``).

``recovered`` is outside the identity, beside ``dropped``: of the dropped points (``spool_full``,
``queue_full``), how many a gap repair wrote again from the recorder, or a replay wrote while
the full spool was dropping its batch. A dropped event stays dropped (it was received and never
written by the live path); the repair's points are history, like a backfill's, and are no
events received. So recovered <= dropped, and dropped - recovered is what InfluxDB may still
miss.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
import time
from typing import Any


@dataclass(slots=True)
class Stats:
    received: int = 0
    written: int = 0
    filtered: int = 0
    dead_lettered: int = 0
    recovered: int = 0  # of the dropped, written after all (not in the identity)
    dropped: Counter[str] = field(default_factory=Counter)
    filtered_reasons: Counter[str] = field(default_factory=Counter)
    last_write: float | None = None  # wall clock (unix seconds) of the last successful write
    last_latency: float | None = None  # seconds, last successful request
    last_error: str | None = None
    connected: bool | None = None  # None until the first write attempt
    failed_writes: int = 0
    # (monotonic time, received) samples for the events-per-minute rate
    _samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=120))

    def as_stored(self, pending: int) -> dict[str, Any]:
        """The cumulative counters, with the pending count they balance against."""
        return {
            "received": self.received,
            "written": self.written,
            "filtered": self.filtered,
            "dead_lettered": self.dead_lettered,
            "recovered": self.recovered,
            "failed_writes": self.failed_writes,
            "dropped": dict(self.dropped),
            "filtered_reasons": dict(self.filtered_reasons),
            "pending": pending,
        }

    @classmethod
    def restore(
        cls, stored: dict[str, Any] | None, pending_now: int, *, spool_damaged: bool = False
    ) -> Stats:
        """Counters as stored, reconciled with what is pending now (the spool).

        After a clean stop the stored pending equals the spool's. After a crash (or on the first
        start of a version that did not keep counters) it differs: points spooled since the last
        save were received, and points missing from the spool since then may have been written
        or lost; they count as dropped ("unclean_shutdown"), so the identity holds. When the
        spool file was found damaged and set aside, the missing points were in it
        ("spool_unreadable").
        """
        stats = cls()
        stored = stored or {}
        for name in (
            "received",
            "written",
            "filtered",
            "dead_lettered",
            "recovered",
            "failed_writes",
        ):
            setattr(stats, name, int(stored.get(name, 0)))
        stats.dropped.update({str(k): int(v) for k, v in stored.get("dropped", {}).items()})
        stats.filtered_reasons.update(
            {str(k): int(v) for k, v in stored.get("filtered_reasons", {}).items()}
        )
        gap = pending_now - int(stored.get("pending", 0))
        if gap > 0:
            stats.received += gap
        elif gap < 0:
            stats.dropped["spool_unreadable" if spool_damaged else "unclean_shutdown"] += -gap
        return stats

    def recover(self, points: int) -> int:
        """Count `points` of the dropped as written after all (a gap repair's, or a replay's
        whose batch the full spool dropped while it was on its way), never more than were
        dropped; returns how many counted. Dropped itself never goes down: the sensors are
        total_increasing, and Home Assistant reads a decrease as a meter reset."""
        points = max(0, min(points, self.dropped_total - self.recovered))
        self.recovered += points
        return points

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def events_per_minute(self, now: float | None = None) -> float:
        """Events received in the last minute (fewer while less than a minute is sampled)."""
        now = time.monotonic() if now is None else now
        samples = self._samples
        samples.append((now, self.received))
        # Keep one sample at least a minute old: samples come every 30 s, a few ms late, and
        # dropping every one older than 60 s left half a minute's count divided by a minute.
        while len(samples) > 2 and now - samples[1][0] >= 60:
            samples.popleft()
        first_time, first_count = samples[0]
        # Over at least a minute: right after start, a burst is not extrapolated to a rate.
        return (self.received - first_count) * 60.0 / max(now - first_time, 60.0)
