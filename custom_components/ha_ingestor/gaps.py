"""Where InfluxDB is missing points: loss windows, found from counters. No Home Assistant imports.

Points are lost from the live path in two ways: dropped (``spool_full``, ``queue_full``) or
never seen (the entry was not running: disabled, unloaded, Home Assistant restarting). Either
way the recorder usually still holds the states, so a backfill of the window fills the gap.
The window only has to contain every lost point: a backfill of a wider one rewrites points
InfluxDB already has with the same values (points are keyed by series and timestamp).

How a window is bounded, from what is cheap to observe (counters, the spool's point count):
* ``queue_full`` drops the line being submitted, so its timestamp is about the time of the drop:
  it lies between the previous observation and this one.
* ``spool_full`` drops the oldest spooled points: they arrived after the spool was last seen
  empty (``spool_since``), and none is newer than the drop.
* Not running: from the last stop (or, after a crash, the last sign of life) to the start.
Each bound is widened by ``margin`` seconds, the longest a line waits in memory (a flush
interval, a write timeout, a reload's handover) before it can reach the spool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# Drop reasons whose points a backfill can bring back (the recorder has the states).
REPAIRABLE_REASONS: Final = ("spool_full", "queue_full")
SPOOL_REASONS: Final = frozenset({"spool_full"})
NOT_RUNNING: Final = "not_running"
BASE_MARGIN: Final = 120.0  # seconds, on top of the flush interval


@dataclass(slots=True)
class LossWindow:
    """[start, end] in unix seconds, with how many points were lost in it, by reason."""

    start: float
    end: float
    lost: dict[str, int] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        """Points counted as dropped (not those missed while the entry was not running)."""
        return sum(count for reason, count in self.lost.items() if reason != NOT_RUNNING)

    def merge(self, start: float, end: float, reason: str, points: int) -> None:
        self.start = min(self.start, start)
        self.end = max(self.end, end)
        self.lost[reason] = self.lost.get(reason, 0) + points

    def absorb(self, other: LossWindow) -> None:
        self.start = min(self.start, other.start)
        self.end = max(self.end, other.end)
        for reason, points in other.lost.items():
            self.lost[reason] = self.lost.get(reason, 0) + points

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "lost": dict(self.lost)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> LossWindow | None:
        if not data:
            return None
        lost = {str(k): int(v) for k, v in (data.get("lost") or {}).items()}
        return cls(float(data["start"]), float(data["end"]), lost)


@dataclass(slots=True)
class LossTracker:
    """Turns counter changes into one open loss window (the union of every loss so far)."""

    margin: float
    seen: dict[str, int] = field(default_factory=dict)  # drop counters as last observed
    observed_at: float | None = None
    spool_since: float | None = None  # the spool was seen empty at this time (None: unknown)
    window: LossWindow | None = None

    def start(
        self,
        now: float,
        dropped: Mapping[str, int],
        spool_points: int,
        seen: Mapping[str, int] | None = None,
    ) -> None:
        """First observation after setup: counters so far are not new losses, except those
        above what the previous run last saw (`seen`, kept with the windows): the spool drops
        while it stopped, after its last look."""
        now_dropped = {reason: int(dropped.get(reason, 0)) for reason in REPAIRABLE_REASONS}
        before = seen or {}
        self.seen = {
            reason: min(count, int(before.get(reason, count)))
            for reason, count in now_dropped.items()
        }
        self.observed_at = now
        if not spool_points:
            self.spool_since = now
        # else: keep the stored spool_since (None when unknown: from the oldest kept state)

    def observe(self, now: float, dropped: Mapping[str, int], spool_points: int) -> bool:
        """Look at the counters; True when the window grew (save it, update the issue)."""
        previous = self.observed_at if self.observed_at is not None else now
        grew = False
        for reason in REPAIRABLE_REASONS:
            count = int(dropped.get(reason, 0))
            new = count - self.seen.get(reason, 0)
            self.seen[reason] = count
            if new <= 0:
                continue
            if reason in SPOOL_REASONS:
                start = (self.spool_since if self.spool_since is not None else 0.0) - self.margin
            else:
                start = previous - self.margin
            self.add(start, now, reason, new)
            grew = True
        if not spool_points:
            self.spool_since = now
        self.observed_at = now
        return grew

    def add(self, start: float, end: float, reason: str, points: int) -> None:
        self.reopen(LossWindow(max(start, 0.0), end, {reason: points}))

    def reopen(self, window: LossWindow) -> None:
        """Make `window` part of the open window (a new loss, or a repair that was cancelled)."""
        if self.window is None:
            self.window = window
        else:
            self.window.absorb(window)


def not_running_window(
    session: Mapping[str, Any] | None, now: float, margin: float
) -> tuple[float, float, bool] | None:
    """(start, end, disabled) of the time the entry last did not run, from the stored session.

    ``session`` is what the previous run left: ``alive`` (last sign of life), ``stopped``
    (None after a crash) and ``disabled`` (the user disabled the entry). None: nothing to
    look at (first start ever).
    """
    if not session:
        return None
    stopped = session.get("stopped")
    # After a crash the lines in memory since the last sign of life were lost too.
    start = float(stopped) if stopped is not None else float(session.get("alive") or now) - margin
    if start >= now:
        return None
    return start, now, bool(session.get("disabled"))


def recovered_points(window: LossWindow, written: int) -> int:
    """How many of the window's dropped points a finished repair brought back: its states
    written, up to what was dropped (the window is wider than the loss, so a repair usually
    writes more points than were lost; those InfluxDB already had)."""
    return min(window.dropped, written)
