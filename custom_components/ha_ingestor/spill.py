"""Getting lines out of memory: the burst spill and the disk mover. No Home Assistant imports.

A burst faster than InfluxDB takes it leaves memory in large chunks: `BurstSpill` compresses
the excess of the queue on the loop into the `Outbox` (CPU only, about 5 ms per 10,000 lines:
when a burst keeps the loop busy, a worker thread waits for the GIL at every step, so a 7 ms
spool append took 0.5-1.6 s, and compressed lines take a tenth of the memory), and
`DiskMover` moves the compressed batches to the spool, oldest first.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import contextlib
import logging

from .backoff import Backoff
from .spool import EncodedBatch, SpoolError, encode_batch
from .spool_access import SpoolAccess
from .stats import Stats

_LOGGER = logging.getLogger(__name__)


class Outbox:
    """Spilled lines, compressed, waiting for the disk mover (counted as pending)."""

    def __init__(self, chunk: int) -> None:
        self.batches: deque[EncodedBatch] = deque()
        self.points = 0
        self.wake = asyncio.Event()
        self.chunk = chunk  # lines per compressed batch

    def spill(self, queue: deque[str], count: int) -> None:
        """Compress up to `count` of the oldest queued lines, a chunk per batch."""
        while count > 0 and queue:
            take = min(self.chunk, count, len(queue))
            self.batches.append(encode_batch([queue.popleft() for _ in range(take)]))
            self.points += take
            count -= take
        if self.batches:
            self.wake.set()


class BurstSpill:
    """Runs beside the writer: while a write is in flight, a burst still leaves memory."""

    def __init__(self, queue: deque[str], outbox: Outbox, spill_at: int, keep: int) -> None:
        self._queue = queue
        self._outbox = outbox
        self.spill_at = spill_at
        self._keep = keep  # lines left queued for the writer's next batch
        self.wake = asyncio.Event()
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()

    async def run(self) -> None:
        queue = self._queue
        while not self._stopping:
            await self.wake.wait()
            self.wake.clear()
            while len(queue) >= self.spill_at and not self._stopping:
                self._outbox.spill(queue, min(self._outbox.chunk, len(queue) - self._keep))
                await asyncio.sleep(0)  # one chunk at a time, then let the loop run


class DiskMover:
    """Moves the outbox to the spool. On a spool error the batches stay in memory and it tries
    again after a backoff; once closed it ends when the outbox is empty."""

    def __init__(
        self,
        outbox: Outbox,
        spool: SpoolAccess,
        stats: Stats,
        backoff: Backoff,
        on_stored: Callable[[], None],
    ) -> None:
        self._outbox = outbox
        self._spool = spool
        self._stats = stats
        self._backoff = backoff
        self._on_stored = on_stored  # the batch task replays what reached the spool
        self._closing = False

    def close(self) -> None:
        """Nothing more will be spilled: write what is left, then end."""
        self._closing = True
        self._outbox.wake.set()

    def _stored(self) -> None:
        outbox = self._outbox
        outbox.points -= outbox.batches.popleft().points  # in the step the spool counts them
        # Woken: it may have gone to sleep with the spool empty while this batch was on its
        # way there, and nothing else would wake it before the next event (the burst's end).
        self._on_stored()

    async def run(self) -> None:
        outbox = self._outbox
        while True:
            await outbox.wake.wait()
            outbox.wake.clear()
            while outbox.batches:
                try:
                    await self._spool.append_encoded(outbox.batches[0], self._stored)
                except SpoolError as err:
                    if self._closing:  # nowhere left to keep them
                        lost = outbox.points
                        outbox.batches.clear()
                        outbox.points = 0
                        self._stats.dropped["spool_error"] += lost
                        _LOGGER.error("Could not spool %d points at shutdown: %s", lost, err)
                        return
                    _LOGGER.error("Could not spool %d points, retrying: %s", outbox.points, err)
                    outbox.wake.clear()  # a new spill must not turn this into a busy loop
                    with contextlib.suppress(TimeoutError):  # close wakes it early
                        await asyncio.wait_for(outbox.wake.wait(), self._backoff.next_delay())
                    continue
                self._backoff.reset()
            if self._closing:
                return
