"""The batch task: queue -> writer, with the spool behind it. No Home Assistant imports.

The bus listener calls `submit` with an encoded line (no I/O, a deque append). One task
writes: a batch when the queue reaches the batch size or its oldest line is a flush interval
old, then at most one spooled batch, so a backlog drains while live data keeps flowing
(points are keyed by series and timestamp, so order across batches does not matter to
InfluxDB and a replayed point overwrites itself). A burst faster than InfluxDB accepts
spills its excess to the spool in large chunks, to be replayed after the burst.

Failures:
* timeout, connection error, 5xx, 429: the batch goes to the spool, writing pauses with
  exponential backoff (honouring Retry-After), and meanwhile the queue goes to the spool
  whenever a batch would have been written, so memory stays bounded;
* 400/422 and 413: the batch is split in halves until the bad lines are isolated; those go to
  the dead-letter table, the rest is written. InfluxDB 3 names the lines it rejected (and
  wrote the others): exactly those are dead-lettered, with no splitting;
* 401/403: everything is kept in the spool and writing stops until the entry is reloaded with
  new credentials (the reauth flow);
* 404 (database or bucket missing): kept and retried with backoff until it exists.

All spool calls run in the executor; the spool serialises them.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
import logging
import time
from typing import Any, Protocol, TypeVar

from .backoff import Backoff
from .spool import EncodedBatch, Spool, SpoolError, encode_batch
from .stats import Stats
from .writer import InfluxWriter, Outcome, WriteResult

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

DEAD_LETTER_EXAMPLES = 5
BACKLOG_FACTOR = 5  # batch sizes per request while twice a batch or more is queued


class PipelineHooks(Protocol):
    """What the pipeline tells Home Assistant (repairs, reauth, logs)."""

    def connectivity_changed(self, connected: bool, error: str | None) -> None: ...
    def auth_failed(self, message: str) -> None: ...
    def target_missing(self, message: str) -> None: ...
    def dead_lettered(self, examples: list[tuple[str, str]]) -> None: ...
    def spool_dropped(self, points: int) -> None: ...


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    batch_size: int = 1000
    flush_interval: float = 1.0
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
        self._writer = writer
        self._spool = spool
        self.stats = stats
        self._config = config
        self._hooks = hooks
        self._backoff = backoff or Backoff()
        self.queue: deque[str] = deque()
        self._inflight = 0
        self._first_queued = 0.0
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._flush_requested = False
        self._stopping = False
        self._retry_at = 0.0
        self._auth_paused = False
        self._unreadable_seen = spool.unreadable_points
        self._task: asyncio.Task[None] | None = None
        self._spill_task: asyncio.Task[None] | None = None
        self._spill_wake = asyncio.Event()
        # Spilled lines, compressed on the loop and waiting for the disk task: a tenth of the
        # memory of the lines, and no worker thread has to win the GIL to get them there.
        self._compressed: deque[EncodedBatch] = deque()
        self._compressed_points = 0
        self._disk_task: asyncio.Task[None] | None = None
        self._disk_wake = asyncio.Event()
        self._closing = False  # set once nothing more will be spilled: the disk task may end
        self._batch_size = config.batch_size
        self._spill_at = max(config.spill_at, config.batch_size * 2)
        self._spill_chunk = max(config.spill_chunk, config.batch_size)
        self._max_queue = max(config.max_queue, self._spill_at * 2)

    # ------------------------------------------------------------------ capture side

    def submit(self, line: str) -> None:
        """Queue one encoded line. Called from the event-bus callback: no I/O, no await."""
        queue = self.queue
        size = len(queue)
        if size + self._compressed_points >= self._max_queue:
            self.stats.dropped["queue_full"] += 1
            return
        queue.append(line)
        # Wake the task for the first line (it arms the flush timer) and for a full batch.
        if not size:
            self._first_queued = time.monotonic()
            self._wake.set()
        elif size + 1 == self._batch_size:
            self._wake.set()
        elif size + 1 == self._spill_at:
            self._spill_wake.set()

    # ------------------------------------------------------------------ state

    @property
    def pending(self) -> int:
        return (
            len(self.queue) + self._inflight + self._compressed_points + self._spool.pending_points
        )

    @property
    def spool(self) -> Spool:
        return self._spool

    @property
    def paused_for_auth(self) -> bool:
        return self._auth_paused

    def start(self, create_task: Callable[[Any], asyncio.Task[None]]) -> None:
        self._task = create_task(self._run())
        self._spill_task = create_task(self._spill_on_burst())
        self._disk_task = create_task(self._compressed_to_disk())

    async def flush(self, wait: float = 30.0) -> bool:
        """Write everything queued now.

        True when it was written within `wait`; False when InfluxDB is unavailable (what is
        queued then waits in the spool) or the time ran out.
        """
        if not self.queue and not self._inflight:
            return self.stats.connected is not False
        self._flush_requested = True
        self._drained.clear()
        self._wake.set()
        try:
            await asyncio.wait_for(self._drained.wait(), wait)
        except TimeoutError:
            return False
        return self.stats.connected is not False

    async def async_stop(self) -> None:
        """Flush within the shutdown timeout, spool whatever is left, close the spool."""
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._spill_wake.set()
        if self._spill_task is not None:
            await self._spill_task
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._config.shutdown_timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        self._spill(len(self.queue))
        self._closing = True
        self._disk_wake.set()
        if self._disk_task is not None:
            await self._disk_task  # every compressed batch is on disk when it returns
        await self._executor(self._spool.close)

    # ------------------------------------------------------------------ the batch task

    async def _executor(self, func: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    def _blocked(self, now: float) -> bool:
        return self._auth_paused or now < self._retry_at

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = time.monotonic()
            queue = self.queue
            if self._stopping and (not queue or self._blocked(now)):
                return
            timeout = self._timeout(now)
            if timeout is None or timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            await self._step(time.monotonic())

    def _timeout(self, now: float) -> float | None:
        """Seconds until there is work (0: now; None: nothing until woken)."""
        queue = self.queue
        blocked = self._blocked(now)
        if queue and (
            len(queue) >= self._batch_size
            or self._flush_requested
            or self._stopping
            or now - self._first_queued >= self._config.flush_interval
        ):
            return 0
        if not queue and self._flush_requested:
            self._flush_requested = False
            self._drained.set()
        if not blocked and self._spool.pending_points and not self._stopping:
            return 0
        waits = []
        if queue:
            waits.append(self._first_queued + self._config.flush_interval - now)
        if blocked and not self._auth_paused:
            waits.append(self._retry_at - now)
        return min(waits) if waits else None

    async def _step(self, now: float) -> None:
        queue = self.queue
        if self._blocked(now):
            # Same durability window as when writing: nothing waits in memory longer than
            # a flush interval; it goes to disk instead (a chunk per step, the loop keeps going).
            self._spill(min(self._spill_chunk, len(queue)))
            return
        if queue and (
            len(queue) >= self._batch_size
            or self._flush_requested
            or self._stopping
            or now - self._first_queued >= self._config.flush_interval
        ):
            # Behind (a burst, or catching up): larger requests, so each of InfluxDB's
            # per-request costs (parse, WAL fsync) is paid for more points.
            size = len(queue)
            take = min(
                size, self._batch_size * (BACKLOG_FACTOR if size >= 2 * self._batch_size else 1)
            )
            batch = [queue.popleft() for _ in range(take)]
            if not await self._deliver(batch, None):
                return
        if not queue and self._flush_requested:
            self._flush_requested = False
            self._drained.set()
        if self._spool.pending_points and not self._stopping:
            spooled = await self._spool_call(self._spool.oldest)
            if spooled is not None:
                await self._deliver(spooled.lines, spooled.batch_id)

    async def _spool_call(self, func: Callable[..., _T], *args: Any) -> _T | None:
        """A spool read or rewrite; on a spool failure, log, back off and return None."""
        try:
            return await self._executor(func, *args)
        except SpoolError as err:
            _LOGGER.error("Spool error, retrying later: %s", err)
            self._retry_at = time.monotonic() + self._backoff.next_delay()
            return None
        finally:
            self._count_unreadable()

    def _count_unreadable(self) -> None:
        """Points the spool had to discard (a damaged row or file) are dropped, with a reason."""
        unreadable = self._spool.unreadable_points
        if unreadable > self._unreadable_seen:
            self.stats.dropped["spool_unreadable"] += unreadable - self._unreadable_seen
            self._unreadable_seen = unreadable

    async def _deliver(self, lines: list[str], spool_id: int | None) -> bool:
        """Write lines (splitting rejected parts); unsent lines end up in the spool.

        Returns True when nothing is left to retry.
        """
        live = spool_id is None
        if live:
            self._inflight += len(lines)
        parts: deque[list[str]] = deque([lines])
        dead: list[tuple[str, str]] = []
        try:
            while parts:
                part = parts[0]
                result = await self._writer.write_lines(part)
                outcome = result.outcome
                if outcome is Outcome.OK:
                    parts.popleft()
                    self._written(len(part), result, live)
                elif outcome is Outcome.PARTIAL:
                    parts.popleft()
                    self._partial(part, result, dead, parts, live)
                elif outcome in (Outcome.REJECTED, Outcome.TOO_LARGE):
                    parts.popleft()
                    if len(part) == 1:
                        dead.append((part[0], f"HTTP {result.status}: {result.message}"))
                        if live:
                            self._inflight -= 1
                    else:
                        mid = len(part) // 2
                        parts.appendleft(part[mid:])
                        parts.appendleft(part[:mid])
                else:
                    unsent = [line for p in parts for line in p]
                    parts.clear()
                    await self._park(unsent, spool_id, live)
                    self._failed(result)
                    return False
            if (
                spool_id is not None
                and await self._spool_call(self._spool.remove, spool_id) is False
            ):
                # The spool dropped this batch (full) while it was being written: it was
                # written after all, so it no longer counts as dropped.
                self.stats.dropped["spool_full"] -= min(
                    self.stats.dropped["spool_full"], len(lines) - len(dead)
                )
            return True
        except asyncio.CancelledError:
            # Shutdown hit the timeout mid-write: the batch is not lost, it is queued again
            # (and spooled by async_stop); a point written twice overwrites itself.
            if live:
                unsent = [line for p in parts for line in p]
                self._inflight -= len(unsent)
                self.queue.extendleft(reversed(unsent))
            raise
        finally:
            if dead:
                await self._dead_letter(dead)

    def _partial(
        self,
        part: list[str],
        result: WriteResult,
        dead: list[tuple[str, str]],
        parts: deque[list[str]],
        live: bool,
    ) -> None:
        """InfluxDB 3 wrote `part` except the lines it listed; lines its answer did not cover
        (it lists at most 100) are sent again (a point written twice overwrites itself)."""
        for index, reason in result.rejected:
            dead.append((part[index], f"HTTP {result.status}: {reason}"))
        if live:
            self._inflight -= len(result.rejected)
        self._written(result.covered - len(result.rejected), result, live)
        if result.covered < len(part):
            parts.appendleft(part[result.covered :])

    def _written(self, count: int, result: WriteResult, live: bool) -> None:
        stats = self.stats
        stats.written += count
        stats.last_write = time.time()
        stats.last_latency = result.latency
        if live:
            self._inflight -= count
        if stats.connected is not True:
            recovered = stats.connected is False  # not just the first write since start
            stats.connected = True
            stats.last_error = None
            self._backoff.reset()
            if recovered:
                self._hooks.connectivity_changed(True, None)

    def _failed(self, result: WriteResult) -> None:
        stats = self.stats
        stats.failed_writes += 1
        error = f"HTTP {result.status}: {result.message}" if result.status else result.message
        stats.last_error = error
        if result.outcome is Outcome.AUTH:
            self._auth_paused = True
            self._hooks.auth_failed(error)
        else:
            if result.outcome is Outcome.NOT_FOUND:
                self._hooks.target_missing(error)
            self._retry_at = time.monotonic() + self._backoff.next_delay(result.retry_after)
        if stats.connected is not False:
            stats.connected = False
            self._hooks.connectivity_changed(False, error)

    async def _park(self, lines: list[str], spool_id: int | None, live: bool) -> bool:
        """Keep unsent lines on disk: a live batch is appended, a spooled one shrunk in place.

        Returns False when the spool failed and the lines went back to the queue.
        """
        if spool_id is not None:
            await self._spool_call(self._spool.replace, spool_id, lines)
            return True
        try:
            # Shielded: if shutdown cancels us here, the append still completes on disk.
            dropped = await asyncio.shield(self._executor(self._spool.append, lines))
        except SpoolError as err:
            _LOGGER.error("Could not spool %d points, keeping them in memory: %s", len(lines), err)
            self.queue.extendleft(reversed(lines))
            return False
        else:
            self._note_spool_drops(dropped)
            return True
        finally:
            if live:
                self._inflight -= len(lines)

    async def _spill_on_burst(self) -> None:
        """Runs beside the writer: while a write is in flight, a burst still leaves memory."""
        while not self._stopping:
            await self._spill_wake.wait()
            self._spill_wake.clear()
            while len(self.queue) >= self._spill_at and not self._stopping:
                self._spill(min(self._spill_chunk, len(self.queue) - self._batch_size))
                await asyncio.sleep(0)  # one chunk at a time, then let the loop run

    def _spill(self, count: int) -> None:
        """Compress up to `count` of the oldest queued lines for the disk task.

        CPU only, about 5 ms per 10,000 lines, done here rather than in a worker thread: when
        a burst keeps this thread busy, a worker waits for the GIL at every step (a 7 ms
        spool append took 0.5-1.6 s), and the compressed lines take a tenth of the memory.
        """
        queue = self.queue
        while count > 0 and queue:
            take = min(self._spill_chunk, count, len(queue))
            self._compressed.append(encode_batch([queue.popleft() for _ in range(take)]))
            self._compressed_points += take
            count -= take
        if self._compressed:
            self._disk_wake.set()

    async def _compressed_to_disk(self) -> None:
        """Moves compressed batches to the spool, oldest first. On a spool error they stay in
        memory (counted as pending) and it tries again after a backoff."""
        while True:
            await self._disk_wake.wait()
            self._disk_wake.clear()
            while self._compressed:
                batch = self._compressed[0]
                try:
                    dropped = await asyncio.shield(
                        self._executor(self._spool.append_encoded, batch)
                    )
                except SpoolError as err:
                    if self._closing:  # nowhere left to keep them
                        lost = self._compressed_points
                        self._compressed.clear()
                        self._compressed_points = 0
                        self.stats.dropped["spool_error"] += lost
                        _LOGGER.error("Could not spool %d points at shutdown: %s", lost, err)
                        return
                    _LOGGER.error("Could not spool %d points, retrying: %s", batch.points, err)
                    self._disk_wake.clear()  # a new spill must not turn this into a busy loop
                    with contextlib.suppress(TimeoutError):  # stop wakes it early
                        await asyncio.wait_for(self._disk_wake.wait(), self._backoff.next_delay())
                    continue
                self._compressed.popleft()
                self._compressed_points -= batch.points
                self._note_spool_drops(dropped)
            if self._closing:
                return

    def _note_spool_drops(self, dropped: int) -> None:
        if dropped:
            self.stats.dropped["spool_full"] += dropped
            self._hooks.spool_dropped(dropped)

    async def _dead_letter(self, dead: list[tuple[str, str]]) -> None:
        self.stats.dead_lettered += len(dead)
        try:
            await self._executor(self._spool.add_dead_letters, dead)
        except SpoolError as err:
            _LOGGER.error("Could not store %d dead letters: %s", len(dead), err)
        self._hooks.dead_lettered(dead[:DEAD_LETTER_EXAMPLES])
