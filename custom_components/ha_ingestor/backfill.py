"""Runs backfills: recorder states -> the entry's encoder -> InfluxDB, with a checkpoint.

One job per entry at a time, in a background task. Each slice of the window is read from the
recorder (in its executor), encoded with a copy of the entry's encoder (same schema,
attribute rules and registry tags; the live encoder's caches stay untouched), written beside
the live pipeline, and only then checkpointed in `Store`: an unload or restart stops the task
and the next setup resumes from the checkpoint. The next slice is read while this one is
encoded and written, so InfluxDB's share of the time hides behind the recorder's read;
encoding does not, as it needs the interpreter lock that most of the read holds too.

Encoding stays on the loop, in chunks: the encoder's registry tags come from the registry
cache, which looks entities up through the registries' loop-only API and is cleared by their
update events on the loop, and its skip counter is shared with the live encoder. In a thread
it would also compete with the recorder's read for the interpreter lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import time
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.storage import Store

from .backfill_plan import BackfillJob, JobStatus
from .const import DOMAIN
from .history import RecordedStates, async_read_states, async_recorder_written
from .history_delivery import HistoryDelivery
from .schema import CoreCompatEncoder, StateEncoder, timestamp_us

_LOGGER = logging.getLogger(__name__)

STORE_VERSION: Final = 1
# States encoded between yields to the event loop: ~21 us each measured, so live events wait at
# most ~5 ms behind a chunk (2,000-state chunks held the loop ~40 ms, ~150 ms under load).
ENCODE_CHUNK: Final = 250

type Encoder = StateEncoder | CoreCompatEncoder


def history_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Backfill checkpoint, statistics cursor and gap windows of one entry."""
    return Store(hass, STORE_VERSION, f"{DOMAIN}.history_{entry_id}")


class HistoryState:
    """What history remembers across restarts, loaded once and saved on each change."""

    def __init__(self, store: Store[dict[str, Any]]) -> None:
        self._store = store
        self.data: dict[str, Any] = {}

    async def async_load(self) -> None:
        self.data = await self._store.async_load() or {}

    async def async_save(self) -> None:
        await self._store.async_save(self.data)

    async def async_remove(self) -> None:
        await self._store.async_remove()


async def encode_states(encoder: Encoder, rows: RecordedStates) -> tuple[list[str], int]:
    """Lines for recorded states, at their own timestamps; returns (lines, not written).

    Yields to the loop every ENCODE_CHUNK states, so live events are never held up long.
    """
    lines: list[str] = []
    skipped = 0
    encode = encoder.encode
    columns = zip(rows.entity_ids, rows.states, rows.attributes, rows.timestamps, strict=True)
    for index, (entity_id, state, attributes, ts) in enumerate(columns):
        if index and not index % ENCODE_CHUNK:
            await asyncio.sleep(0)
        try:
            line = encode(entity_id, state, attributes, timestamp_us(ts))
        except Exception:
            line = None
        if line is None:
            skipped += 1
        else:
            lines.append(line)
    return lines, skipped


class Backfiller:
    """The backfill of one entry: start, resume, cancel, progress."""

    def __init__(
        self,
        hass: HomeAssistant,
        state: HistoryState,
        encoder_factory: Callable[[], Encoder],
        delivery: HistoryDelivery,
        create_task: Callable[[Any, str], asyncio.Task[None]],
    ) -> None:
        self._hass = hass
        self._state = state
        self._encoder_factory = encoder_factory
        self._delivery = delivery
        self._create_task = create_task
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        self.job: BackfillJob | None = None

    def restore(self) -> None:
        """Take the job from the loaded state (a restart's checkpoint)."""
        stored = self._state.data.get("job")
        self.job = BackfillJob.from_dict(stored) if stored else None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Called on every progress step; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    @callback
    def async_resume(self) -> None:
        """After setup: continue a job an unload or restart interrupted."""
        if self.job is not None and self.job.status is JobStatus.RUNNING and not self.running:
            _LOGGER.info(
                "Resuming the backfill at %s (%.1f%% done)",
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.job.cursor)),
                self.job.percent,
            )
            self._task = self._create_task(self._run(self.job), f"{DOMAIN} backfill")

    async def async_start(self, job: BackfillJob) -> None:
        """Start a new job (the caller checked that none runs)."""
        self.job = job
        await self._save()
        self._notify()
        self._task = self._create_task(self._run(job), f"{DOMAIN} backfill")

    async def async_cancel(self) -> bool:
        """Stop the running job for good; False when none was running."""
        if not self.running or self.job is None:
            return False
        await self._stop_task()
        self.job.status = JobStatus.CANCELLED
        self.job.finished_at = time.time()
        await self._save()
        self._notify()
        _LOGGER.info("Backfill cancelled at %.1f%%", self.job.percent)
        return True

    async def async_stop(self) -> None:
        """Unload: stop the task, keep the checkpoint so the next setup resumes."""
        await self._stop_task()
        if self.job is not None:
            await self._save()

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) is not None and current.cancelling():
                    raise

    async def _save(self) -> None:
        self._state.data["job"] = None if self.job is None else self.job.as_dict()
        await self._state.async_save()

    async def _read(
        self, job: BackfillJob, window: tuple[float, float]
    ) -> tuple[RecordedStates, float]:
        began = time.monotonic()
        rows = await async_read_states(self._hass, job.entity_ids, *window)
        return rows, time.monotonic() - began

    def _read_ahead(
        self, job: BackfillJob, window: tuple[float, float] | None
    ) -> asyncio.Task[tuple[RecordedStates, float]] | None:
        if window is None:
            return None
        return asyncio.get_running_loop().create_task(
            self._read(job, window), name=f"{DOMAIN} backfill read"
        )

    async def _run(self, job: BackfillJob) -> None:
        """The job to its end; an error ends it as failed (it stayed "running" for good, with
        nothing left to cancel, and a gap repair waiting on it never finished)."""
        try:
            if not await get_instance(self._hass).async_db_ready:
                raise RuntimeError("the recorder's database is not available")
            # The window ends no later than now: what the recorder still holds in memory of
            # it must be in the database before a slice is read.
            await async_recorder_written(self._hass)
            await self._run_slices(job)
        except Exception as err:
            _LOGGER.error("Backfill failed at %.1f%%: %s", job.percent, err, exc_info=err)
            await self._finish(job, JobStatus.FAILED)
            return
        await self._finish(job, JobStatus.DONE)
        _LOGGER.info(
            "Backfill done: %d states read, %d points written in %.1f s",
            job.states_read,
            job.points_written,
            job.wall_seconds,
        )

    async def _finish(self, job: BackfillJob, status: JobStatus) -> None:
        job.status = status
        job.finished_at = time.time()
        await self._save()
        self._notify()

    async def _run_slices(self, job: BackfillJob) -> None:
        encoder = self._encoder_factory()
        window = job.next_slice()
        reading = self._read_ahead(job, window)
        mark = time.monotonic()
        try:
            while window is not None and reading is not None:
                waited = time.monotonic()
                rows, read_seconds = await reading
                job.read_seconds += read_seconds
                job.read_wait_seconds += time.monotonic() - waited
                # The recorder reads the next slice while this one is encoded and written.
                following = job.slice_after(window[1], len(rows))
                reading = self._read_ahead(job, following)
                encoding = time.monotonic()
                lines, _skipped = await encode_states(encoder, rows)
                job.encode_seconds += time.monotonic() - encoding
                delivered = await self._delivery.write(lines)
                job.write_seconds += delivered.seconds
                job.states_read += len(rows)
                job.points_written += delivered.written
                job.points_rejected += delivered.rejected
                # Checkpointed only now that InfluxDB has the slice: after a stop before
                # this point, the next setup reads the slice again (the read ahead is dropped).
                job.slice_done(window[1], len(rows))
                now = time.monotonic()
                job.wall_seconds += now - mark
                mark = now
                await self._save()
                self._notify()
                window = following
        finally:
            if reading is not None:
                await _discard(reading)


async def _discard(task: asyncio.Task[Any]) -> None:
    """Stop a read ahead whose slice is no longer wanted (cancel, unload, an error).

    A read already running in the recorder's thread finishes there; its rows are dropped.
    """
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # retrieved: a read that failed no longer matters
