"""Queue -> InfluxDB, with the spool behind it: the pieces wired together. No HA imports.

The bus listener calls `submit` with an encoded line (no I/O, a deque append). Three tasks
share the queue, each with one job: `Delivery` writes due batches and replays the spool
(delivery.py), `BurstSpill` moves the excess of a burst out of memory into the `Outbox` and
`DiskMover` moves the outbox to the spool (spill.py). Every spool call runs in the executor
through `SpoolAccess`, which keeps the pending count exact.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
import logging
import time
from typing import Any

from .backoff import Backoff
from .batching import BatchPolicy
from .const import DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL
from .delivery import Delivery, DeliveryHooks
from .spill import BurstSpill, DiskMover, Outbox
from .spool import Spool
from .spool_access import SpoolAccess
from .stats import Stats
from .writer import InfluxWriter

_LOGGER = logging.getLogger(__name__)

PipelineHooks = DeliveryHooks


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    batch_size: int = DEFAULT_BATCH_SIZE
    flush_interval: float = DEFAULT_FLUSH_INTERVAL
    # A burst faster than InfluxDB takes it: past this many queued lines, the excess goes to
    # the spool (in big, cheap chunks) and is replayed after the burst, so memory stays small.
    spill_at: int = 20_000
    spill_chunk: int = 10_000
    # Last-resort cap on the in-memory queue (about 250 bytes a line). Reached only when
    # the spool cannot take lines: it fails, or a burst saturates the event loop so the
    # spill thread hardly gets the GIL (400,000 changes in 3 s peaked at 380,000 lines).
    max_queue: int = 1_000_000
    shutdown_timeout: float = 10.0


class Pipeline:
    def __init__(  # noqa: PLR0917
        self,
        writer: InfluxWriter,
        spool: Spool,
        stats: Stats,
        config: PipelineConfig,
        hooks: PipelineHooks,
        backoff: Backoff | None = None,
    ) -> None:
        self.stats = stats
        self.queue: deque[str] = deque()
        self._shutdown_timeout = config.shutdown_timeout
        batch_size = config.batch_size
        spill_at = max(config.spill_at, batch_size * 2)
        self._max_queue = max(config.max_queue, spill_at * 2)
        self._outbox = Outbox(max(config.spill_chunk, batch_size))
        self._spool = SpoolAccess(spool, stats, hooks)
        self._delivery = Delivery(
            self.queue,
            self._outbox,
            writer,
            self._spool,
            stats,
            hooks,
            backoff or Backoff(),
            BatchPolicy(batch_size, config.flush_interval),
        )
        self._burst = BurstSpill(self.queue, self._outbox, spill_at, keep=batch_size)
        # Queue lengths at which `submit` wakes a task (the line it adds fills the batch, or
        # reaches the spill threshold).
        self._last_before_batch = batch_size - 1
        self._last_before_spill = spill_at - 1
        self._mover = DiskMover(
            self._outbox, self._spool, stats, Backoff(), self._delivery.wake.set
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def submit(self, line: str) -> None:
        """Queue one encoded line. Called from the event-bus callback: no I/O, no await."""
        queue = self.queue
        size = len(queue)
        if size + self._outbox.points >= self._max_queue:
            self.stats.dropped["queue_full"] += 1
            return
        queue.append(line)
        # Wake delivery for the first line (a quiet pipeline writes it at once) and for a full
        # batch, the burst spill when the queue reaches its threshold; no wake-up otherwise.
        if not size:
            delivery = self._delivery
            delivery.first_queued = time.monotonic()
            delivery.wake.set()
        elif size == self._last_before_batch:
            self._delivery.wake.set()
        elif size == self._last_before_spill:
            self._burst.wake.set()

    @property
    def pending(self) -> int:
        """Not yet written, dead-lettered or dropped: queued or spooled."""
        return self.queued + self._spool.points

    @property
    def queued(self) -> int:
        """In memory: queued, in flight, or spilled on their way to the spool."""
        return len(self.queue) + self._delivery.inflight + self._outbox.points

    @property
    def spooled(self) -> int:
        """In the spool, as of the last spool call that returned (the count `pending` uses;
        the spool's own count runs ahead while a call is in the executor)."""
        return self._spool.points

    @property
    def stopping(self) -> bool:
        """Stopping or stopped: what is submitted now may not be written or spooled."""
        return self._stopping

    @property
    def spool(self) -> Spool:
        return self._spool.spool

    @property
    def paused_for_auth(self) -> bool:
        return self._delivery.paused_for_auth

    def start(self, create_task: Callable[[Any], asyncio.Task[None]]) -> None:
        self._tasks = [
            create_task(self._delivery.run()),
            create_task(self._burst.run()),
            create_task(self._mover.run()),
        ]

    async def flush(self, wait: float = 30.0) -> bool:
        """Write everything queued now, even during a retry backoff (one attempt).

        True when it was written within `wait`; False when InfluxDB refused it (what is
        queued then waits in the spool) or the time ran out.
        """
        return await self._delivery.flush(wait)

    async def async_stop(self) -> None:
        """Flush within the shutdown timeout, spool whatever is left, close the spool."""
        if self._stopping:
            return
        self._stopping = True
        self._burst.stop()
        self._delivery.stop()
        # asyncio.wait, not await: a task cancelled from outside (Home Assistant cancels
        # background tasks when a shutdown outlasts its jobs) must not stop this.
        if self._tasks:
            delivery, burst, _ = self._tasks
            await asyncio.wait([burst])
            await asyncio.wait([delivery], timeout=self._shutdown_timeout)
            if not delivery.done():
                delivery.cancel()  # what it was writing goes back to the queue
                await asyncio.wait([delivery])
        self._outbox.spill(self.queue, len(self.queue))
        self._mover.close()
        mover = self._tasks[2] if self._tasks else None
        if mover is not None:
            await asyncio.wait([mover])  # every spilled batch is on disk when it returns
        if mover is None or mover.cancelled():
            # Never started (setup failed) or cancelled: what is left still reaches the disk.
            self._outbox.wake.set()
            await self._mover.run()
        for task in self._tasks:  # a task that died of a bug: said, after the queue is safe
            if task.done() and not task.cancelled() and (err := task.exception()) is not None:
                _LOGGER.error("A pipeline task had failed: %r", err, exc_info=err)
        await self._spool.close()
