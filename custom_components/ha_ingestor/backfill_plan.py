"""What a backfill is and where it stands: the job, its checkpoint and its slices.

Pure logic, no Home Assistant imports. A job walks its window in time slices, oldest first;
the cursor is the end of the last slice whose points InfluxDB acknowledged, so a job resumed
after a restart re-reads at most the slice it was in (points are keyed by series and
timestamp: the rewrite overwrites itself) and never skips one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Final

# A slice aims at this many states: big enough that the recorder's per-query cost is small,
# small enough that a slice's points are a few write requests and little memory.
SLICE_TARGET_STATES: Final = 20_000
SLICE_MIN_SECONDS: Final = 60.0
SLICE_MAX_SECONDS: Final = 86_400.0
SLICE_FIRST_SECONDS: Final = 3_600.0


class JobStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the recorder or the spool raised: logged; the window can be run again


@dataclass(slots=True)
class BackfillJob:
    """One backfill of one entry: window [start, end) in unix seconds, entities, checkpoint."""

    start: float
    end: float
    entity_ids: list[str]
    cursor: float = 0.0
    slice_seconds: float = SLICE_FIRST_SECONDS
    status: JobStatus = JobStatus.RUNNING
    states_read: int = 0
    points_written: int = 0
    points_rejected: int = 0
    # Seconds spent reading from the recorder (in its executor, each slice read while the one
    # before is encoded and written), encoding, and waiting for InfluxDB; how long encoding and
    # writing then waited for the next read (the part of reading not hidden behind them); and
    # the job's running time, which the overlap makes shorter than the sum of the parts.
    read_seconds: float = 0.0
    encode_seconds: float = 0.0
    write_seconds: float = 0.0
    read_wait_seconds: float = 0.0
    wall_seconds: float = 0.0
    finished_at: float | None = None

    def __post_init__(self) -> None:
        if not self.cursor:
            self.cursor = self.start

    @property
    def percent(self) -> float:
        if self.status is JobStatus.DONE or self.end <= self.start:
            return 100.0
        done = (min(self.cursor, self.end) - self.start) / (self.end - self.start)
        return round(100.0 * max(done, 0.0), 1)

    def next_slice(self) -> tuple[float, float] | None:
        """The next window [a, b) to read, or None when the job has reached its end."""
        if self.cursor >= self.end:
            return None
        return self.cursor, min(self.cursor + self.slice_seconds, self.end)

    def slice_after(self, slice_end: float, states: int) -> tuple[float, float] | None:
        """The slice `next_slice` gives once the one ending at `slice_end`, which held
        `states`, is done: known as soon as that slice was read, so it can be read ahead."""
        if slice_end >= self.end:
            return None
        seconds = next_slice_seconds(self.slice_seconds, states)
        return slice_end, min(slice_end + seconds, self.end)

    def slice_done(self, slice_end: float, states: int) -> None:
        """Advance the checkpoint and size the next slice after what this one held."""
        self.cursor = slice_end
        self.slice_seconds = next_slice_seconds(self.slice_seconds, states)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BackfillJob:
        known = set(cls.__dataclass_fields__)
        values = {key: value for key, value in data.items() if key in known}
        values["status"] = JobStatus(values.get("status", JobStatus.RUNNING))
        values["entity_ids"] = list(values.get("entity_ids") or ())
        return cls(**values)


def next_slice_seconds(current: float, states: int) -> float:
    """Aim the next slice at SLICE_TARGET_STATES, changing at most 4x a step."""
    if states <= 0:
        wanted = current * 4
    else:
        wanted = current * min(4.0, max(0.25, SLICE_TARGET_STATES / states))
    return min(SLICE_MAX_SECONDS, max(SLICE_MIN_SECONDS, wanted))
