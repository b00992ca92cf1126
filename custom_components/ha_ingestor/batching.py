"""When to write and how much: the adaptive batching policy. Pure logic, no Home Assistant.

Writing waits for nothing but the previous request: once it has answered, whatever is queued
goes out (a quiet system writes single points at once, a busy one sends big batches, because
the queue grows while a request is on its way). Requests start at least `MIN_REQUEST_SPACING`
apart, which bounds them to 40 per second at any event rate; a lone event after a pause never
waits. The flush interval is an upper bound, no longer a wait: it still decides when the queue
goes to disk while InfluxDB cannot be written (one spool transaction per batch, not per event).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Between the starts of two requests. Sets the latency floor under load (an event waits at
# most this long for the next request) and caps requests at 1/spacing per second.
MIN_REQUEST_SPACING: Final = 0.025
BACKLOG_FACTOR: Final = 5  # batch sizes per request while twice a batch or more is queued


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    batch_size: int
    flush_interval: float
    spacing: float = MIN_REQUEST_SPACING

    def write_due(self, queued: int, oldest_age: float, since_request: float, forced: bool) -> bool:
        """A request should start now (nothing in flight: the caller writes one at a time).

        `oldest_age`: seconds the oldest queued line has waited; `since_request`: seconds
        since the previous request started; `forced`: a flush or the stop asks for it.
        """
        return queued > 0 and (
            forced
            or since_request >= self.spacing
            or queued >= self.batch_size
            or oldest_age >= self.flush_interval
        )

    def spill_due(self, queued: int, oldest_age: float, forced: bool) -> bool:
        """While InfluxDB cannot be written: the queue should go to disk now."""
        return queued > 0 and (
            forced or queued >= self.batch_size or oldest_age >= self.flush_interval
        )

    def wait(self, oldest_age: float, since_request: float) -> float:
        """Seconds until `write_due` turns true for lines already queued."""
        return max(0.0, min(self.spacing - since_request, self.flush_interval - oldest_age))

    def spill_wait(self, oldest_age: float) -> float:
        """Seconds until `spill_due` turns true for lines already queued."""
        return max(0.0, self.flush_interval - oldest_age)

    def request_size(self, queued: int) -> int:
        """Lines in the next request. Behind (a burst, or catching up): larger requests, so
        each of InfluxDB's per-request costs (parse, WAL fsync) is paid for more points."""
        factor = BACKLOG_FACTOR if queued >= 2 * self.batch_size else 1
        return min(queued, self.batch_size * factor)
