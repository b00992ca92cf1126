"""Batching and delivery: the task that writes the queue and replays the spool.

One request is in flight at a time. When it is due and how many lines it carries is the
adaptive policy of batching.py: as soon as the previous request answered (and a short spacing
passed), whatever is queued goes out, up to the batch size (more while behind). After a batch
the task writes at most one spooled batch, so a backlog drains while live data keeps flowing
(points are keyed by series and timestamp: order across batches does not matter to InfluxDB and
a replayed point overwrites itself).

Failures:
* timeout, connection error, 5xx, 429: the batch goes to the spool, writing pauses with
  exponential backoff (honouring Retry-After); meanwhile a due batch goes to the spool instead
  of waiting in memory; a flush cuts the wait short for one attempt;
* 400/422 and 413: the batch is split in halves until the bad lines are isolated; those go to
  the dead-letter table, the rest is written. InfluxDB 3 names the lines it rejected (and
  wrote the others): exactly those are dead-lettered, with no splitting;
* 401/403: everything stays in the spool and writing stops until the entry is reloaded with
  new credentials (the reauth flow);
* 404 (database or bucket missing): kept and retried with backoff until it exists;
* the spool cannot be read or changed (a full disk, a file held by another process): only the
  replay pauses, on a backoff of its own; live batches go on being written.

No Home Assistant imports.
"""

from __future__ import annotations

import asyncio
from collections import deque
import contextlib
import logging
import time
from typing import Protocol

from .backoff import Backoff
from .batching import BatchPolicy
from .spill import Outbox
from .spool import SpoolError
from .spool_access import SpoolAccess, SpoolHooks
from .stats import Stats
from .writer import InfluxWriter, Outcome, WriteResult

_LOGGER = logging.getLogger(__name__)

DEAD_LETTER_EXAMPLES = 5


class DeliveryHooks(SpoolHooks, Protocol):
    """What delivery tells Home Assistant (repairs, reauth, logs)."""

    def connectivity_changed(self, connected: bool, error: str | None) -> None: ...
    def auth_failed(self, message: str) -> None: ...
    def target_missing(self, message: str) -> None: ...
    def dead_lettered(self, examples: list[tuple[str, str]]) -> None: ...


class Delivery:
    """The batch task: due batches to InfluxDB, then one spooled batch, with backoff."""

    def __init__(  # noqa: PLR0917 - wired once, by the pipeline
        self,
        queue: deque[str],
        outbox: Outbox,
        writer: InfluxWriter,
        spool: SpoolAccess,
        stats: Stats,
        hooks: DeliveryHooks,
        backoff: Backoff,
        policy: BatchPolicy,
    ) -> None:
        self._queue = queue
        self._outbox = outbox
        self._writer = writer
        self._spool = spool
        self.stats = stats
        self._hooks = hooks
        self._backoff = backoff
        self.policy = policy
        self.wake = asyncio.Event()
        self.first_queued = 0.0  # monotonic time the oldest queued line arrived
        self._last_request = -float("inf")  # monotonic time the previous live request started
        self.inflight = 0  # live lines being written
        # Lines of the spooled batch being written that were written or dead-lettered: counted
        # once the spool has settled the batch, in the same step (they stay pending till then).
        self._replay_written = 0
        self._replay_dead = 0
        self._retry_at = 0.0
        # A spool that cannot be read or changed (a full disk, a backup tool holding the file)
        # pauses the replay only, on a backoff of its own: InfluxDB may be fine meanwhile.
        self._spool_retry_at = 0.0
        self._spool_backoff = Backoff()
        self._auth_paused = False
        self._stopping = False
        self._flush_requested = False
        self._flush_attempted = False
        self._drained = asyncio.Event()

    @property
    def paused_for_auth(self) -> bool:
        return self._auth_paused

    # ------------------------------------------------------------------ policy

    def batch_due(self, now: float) -> bool:
        """The queue needs the task now: a request (or, while blocked, a spill to disk)."""
        queued = len(self._queue)
        forced = self._flush_requested or self._stopping
        if self._blocked(now):
            return self.policy.spill_due(queued, now - self.first_queued, forced)
        return self.policy.write_due(
            queued, now - self.first_queued, now - self._last_request, forced
        )

    def _blocked(self, now: float) -> bool:
        return self._auth_paused or now < self._retry_at

    def _replay_due(self, now: float) -> bool:
        return (
            bool(self._spool.points)
            and not self._blocked(now)
            and now >= self._spool_retry_at
            and not self._stopping
        )

    def _wait(self, now: float) -> float | None:
        """Seconds until something is due (None: nothing until woken)."""
        waits = []
        if self._queue:
            age = now - self.first_queued
            if self._blocked(now):
                waits.append(self.policy.spill_wait(age))
            else:
                waits.append(self.policy.wait(age, now - self._last_request))
        if not self._auth_paused and now < self._retry_at:
            waits.append(self._retry_at - now)
        if self._spool.points and now < self._spool_retry_at:
            waits.append(self._spool_retry_at - now)
        return max(0.0, min(waits)) if waits else None

    def _signal_drained(self) -> None:
        """A flush is answered once the queue is empty and one write was tried (or none can
        be: nothing spooled, or paused until reauth)."""
        if (
            self._flush_requested
            and not self._queue
            and (self._flush_attempted or not self._spool.points or self._auth_paused)
        ):
            self._flush_requested = False
            self._drained.set()

    # ------------------------------------------------------------------ control

    async def flush(self, wait: float) -> bool:
        """Write what is queued now, cutting a retry backoff short for one attempt.

        True when the attempt succeeded within `wait` (or nothing needed writing); False when
        InfluxDB refused it (what is queued then waits in the spool) or the time ran out.
        """
        if not self._queue and not self.inflight and not self._spool.points:
            return self.stats.connected is not False
        # the backoff counters stay: a failure waits longer next time
        self._retry_at = self._spool_retry_at = 0.0
        self._flush_requested = True
        self._flush_attempted = False
        self._drained.clear()
        self.wake.set()
        try:
            await asyncio.wait_for(self._drained.wait(), wait)
        except TimeoutError:
            return False
        return self.stats.connected is True

    def stop(self) -> None:
        self._stopping = True
        self.wake.set()

    # ------------------------------------------------------------------ the task

    async def run(self) -> None:
        queue = self._queue
        while True:
            self.wake.clear()
            self._signal_drained()
            now = time.monotonic()
            if self._stopping and (not queue or self._blocked(now)):
                return
            if self.batch_due(now):
                if self._blocked(now):
                    # Same durability window as when writing: nothing waits in memory longer
                    # than a flush interval; it goes to disk instead, a chunk per turn.
                    self._outbox.spill(queue, self._outbox.chunk)
                    await asyncio.sleep(0)
                    continue
                batch = [queue.popleft() for _ in range(self.policy.request_size(len(queue)))]
                self._last_request = now
                if not await self._deliver(batch, None):
                    continue
            if self._replay_due(time.monotonic()):
                await self._replay_one()
                continue
            if self._stopping:
                # The stop's wake-up was used up at the top of this turn: decide again there
                # (return, or write what is left) instead of waiting for another one.
                continue
            if not self.batch_due(time.monotonic()):
                self._signal_drained()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self._wait(time.monotonic()))

    async def _replay_one(self) -> None:
        try:
            spooled = await self._spool.oldest()
        except SpoolError as err:
            self._spool_failed(err)
            return
        if spooled is not None:
            await self._deliver(spooled.lines, spooled.batch_id)

    def _spool_failed(self, err: SpoolError) -> None:
        _LOGGER.error("Spool error, retrying later: %s", err)
        self._spool_retry_at = time.monotonic() + self._spool_backoff.next_delay()

    async def _deliver(self, lines: list[str], spool_id: int | None) -> bool:
        """Write lines (splitting rejected parts); unsent lines end up in the spool.

        Returns True when nothing is left to retry.
        """
        live = spool_id is None
        if live:
            self.inflight += len(lines)
        else:  # nothing of an earlier replay cut short (shutdown) carries over
            self._replay_written = self._replay_dead = 0
        parts: deque[list[str]] = deque([lines])
        dead: list[tuple[str, str]] = []
        try:
            while parts:
                part = parts[0]
                result = await self._writer.write_lines(part)
                self._flush_attempted = True
                outcome = result.outcome
                if outcome is Outcome.OK:
                    parts.popleft()
                    self._written(len(part), result, live)
                elif outcome is Outcome.PARTIAL:
                    parts.popleft()
                    self._partial(part, result, dead, parts, live)
                elif outcome in (Outcome.REJECTED, Outcome.TOO_LARGE):
                    parts.popleft()
                    self._reached()  # InfluxDB answered, about these points
                    if len(part) == 1:
                        dead.append((part[0], f"HTTP {result.status}: {result.message}"))
                        self._counted(1, live, dead=True)
                    else:
                        mid = len(part) // 2
                        parts.appendleft(part[mid:])
                        parts.appendleft(part[:mid])
                else:
                    unsent = [line for p in parts for line in p]
                    parts.clear()
                    await self._park(unsent, spool_id)
                    self._failed(result)  # the backoff starts once the batch is safe
                    return False
            if spool_id is not None:
                await self._settle_replayed(spool_id, len(lines))
            return True
        except asyncio.CancelledError:
            # Shutdown hit the timeout mid-write: the batch is not lost, it is queued again
            # (and spooled by the pipeline's stop); a point written twice overwrites itself.
            if live:
                unsent = [line for p in parts for line in p]
                self.inflight -= len(unsent)
                self._queue.extendleft(reversed(unsent))
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
        self._counted(len(result.rejected), live, dead=True)
        self._written(result.covered - len(result.rejected), result, live)
        if result.covered < len(part):
            parts.appendleft(part[result.covered :])

    def _counted(self, count: int, live: bool, *, dead: bool = False) -> None:
        """`count` lines were written (or dead-lettered): counted now if live, else once the
        spool has settled the batch (a spool that cannot be changed keeps all of it, to be
        written and counted again: counting at once counted it twice, and on every retry)."""
        if live:
            self.inflight -= count
            if dead:
                self.stats.dead_lettered += count
            else:
                self.stats.written += count
        elif dead:
            self._replay_dead += count
        else:
            self._replay_written += count

    async def _settle_replayed(self, spool_id: int, count: int) -> None:
        """A spooled batch was written (bar dead letters): remove it from the spool."""

        try:
            await self._spool.remove(spool_id, self._replay_settled)
        except SpoolError as err:
            self._replay_written = self._replay_dead = 0
            self._spool_failed(err)

    def _replay_settled(self, found: bool) -> None:
        """The spooled batch being written is settled in the spool (removed, or shrunk to
        what is left): what was written or dead-lettered of it is counted, in the same step
        as the spool's count. Not found: the spool dropped it (full) meanwhile and counted all
        of it as dropped; what reached InfluxDB of it is recovered."""
        self._spool_backoff.reset()
        stats = self.stats
        if found:
            stats.written += self._replay_written
            stats.dead_lettered += self._replay_dead
        else:
            stats.recover(self._replay_written)
        self._replay_written = self._replay_dead = 0

    def _written(self, count: int, result: WriteResult, live: bool) -> None:
        stats = self.stats
        stats.last_write = time.time()
        stats.last_latency = result.latency
        self._counted(count, live)
        self._reached()

    def _reached(self) -> None:
        """InfluxDB answered a write as InfluxDB does (wrote it, or refused its points)."""
        stats = self.stats
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

    async def _park(self, lines: list[str], spool_id: int | None) -> None:
        """Keep unsent lines on disk: a live batch is appended, a spooled one shrunk in place
        (or, if the spool fails, a live batch goes back to the queue)."""
        if spool_id is not None:
            try:
                await self._spool.replace(spool_id, lines, self._replay_settled)
            except SpoolError as err:
                self._replay_written = self._replay_dead = 0
                self._spool_failed(err)
            return
        count = len(lines)

        def parked() -> None:
            self.inflight -= count

        try:
            await self._spool.append(lines, parked)
        except SpoolError as err:
            _LOGGER.error("Could not spool %d points, keeping them in memory: %s", count, err)
            self.inflight -= count
            self._queue.extendleft(reversed(lines))

    async def _dead_letter(self, dead: list[tuple[str, str]]) -> None:
        """Keep the rejected lines (already counted) for diagnostics, and say so."""
        try:
            await self._spool.add_dead_letters(dead)
        except SpoolError as err:
            _LOGGER.error("Could not store %d dead letters: %s", len(dead), err)
        self._hooks.dead_lettered(dead[:DEAD_LETTER_EXAMPLES])
