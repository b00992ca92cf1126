"""Gap repair: a repair issue naming each window InfluxDB is missing, fixed by a backfill.

Losses are found from the counters every few seconds (`gaps.LossTracker`) and after a setup
from the stored session (when the entry last stopped, whether the user had disabled it).
What is tracked lives in the history `Store`, so a window survives restarts:
* a dropped-points window, or the time the user had the entry disabled, becomes the open
  window, shown as a fixable repair issue; its fix flow backfills it and the issue closes
  when the backfill is done;
* the time the entry was simply not running (Home Assistant restarting, a reload without a
  handover, a crash) is backfilled at once, without asking: the recorder holds what Home
  Assistant recorded meanwhile (the states set at startup before our listener subscribed),
  and nothing was recorded while Home Assistant itself was down. Only if a backfill is already
  running does it become part of the open window instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
import logging
import time
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .backfill import Backfiller, HistoryState
from .backfill_plan import BackfillJob, JobStatus
from .const import DOMAIN
from .gaps import (
    BASE_MARGIN,
    NOT_RUNNING,
    LossTracker,
    LossWindow,
    not_running_window,
    recovered_points,
)
from .history import oldest_kept, recorder_loaded
from .pipeline import Pipeline

_LOGGER = logging.getLogger(__name__)

ISSUE_GAP: Final = "gap"
CHECK_INTERVAL: Final = timedelta(seconds=10)
ALIVE_EVERY: Final = 300.0  # seconds between saves of the last sign of life


def gap_issue_id(entry_id: str) -> str:
    return f"{ISSUE_GAP}_{entry_id}"


def local_time(ts: float) -> str:
    """A time as the user reads it: their time zone, to the minute. A wall time the clocks
    show twice (they went back) carries its UTC offset, so a gap over it reads in order."""
    local = dt_util.as_local(dt_util.utc_from_timestamp(ts))
    text = local.strftime("%Y-%m-%d %H:%M")
    offset = local.utcoffset()
    if offset is None or local.replace(fold=1 - local.fold).utcoffset() == offset:
        return text
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{text} (UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d})"


def wanted_entities(hass: HomeAssistant, wanted: Callable[[str], bool]) -> list[str]:
    """Every entity Home Assistant knows that the entry's filters take."""
    known = set(hass.states.async_entity_ids()) | set(er.async_get(hass).entities)
    return sorted(entity_id for entity_id in known if wanted(entity_id))


class GapRepair:
    """The gap windows of one entry: found, kept, shown and backfilled."""

    def __init__(  # noqa: PLR0917 - built once, by HistoryRuntime
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        state: HistoryState,
        backfiller: Backfiller,
        pipeline: Pipeline,
        wanted: Callable[[str], bool],
        flush_interval: float,
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._state = state
        self._backfiller = backfiller
        self._pipeline = pipeline
        self._wanted = wanted
        self.tracker = LossTracker(margin=BASE_MARGIN + flush_interval)
        self.repairing: LossWindow | None = None  # being backfilled by the job of that window
        self._job_window: tuple[float, float] | None = None
        self._done: asyncio.Future[bool] | None = None
        self._alive_saved = 0.0
        self._unsubs: list[CALLBACK_TYPE] = []

    # ------------------------------------------------------------------ lifecycle

    async def async_start(self, *, continuous: bool) -> None:
        """Restore the windows; look at the time the entry did not run (unless a reload
        handed its capture over: then nothing was missed); start watching the counters."""
        data: dict[str, Any] = self._state.data.setdefault("gaps", {})
        tracker = self.tracker
        tracker.window = LossWindow.from_dict(data.get("open"))
        tracker.spool_since = data.get("spool_since")
        self.repairing = LossWindow.from_dict(data.get("repairing"))
        if (job_window := data.get("job_window")) is not None:
            self._job_window = (float(job_window[0]), float(job_window[1]))
        now = time.time()
        stats = self._pipeline.stats
        tracker.start(now, stats.dropped, self._pipeline.spool.pending_points, data.get("seen"))
        self._observe(now)  # what the spool dropped after the previous run's last look
        self._unsubs.append(self._backfiller.async_add_listener(self._job_changed))
        self._job_changed()  # a repair that ended while the entry was stopping
        if not continuous and recorder_loaded(self._hass):
            await self._async_not_running(data.get("session"), now)
        data["session"] = {"alive": now, "stopped": None, "disabled": False}
        self._alive_saved = now
        await self._async_save()
        self._update_issue()
        self._unsubs.append(
            async_track_time_interval(
                self._hass, self._async_check, CHECK_INTERVAL, cancel_on_shutdown=True
            )
        )

    async def _async_not_running(self, session: dict[str, Any] | None, now: float) -> None:
        found = not_running_window(session, now, self.tracker.margin)
        if found is None:
            return
        start, end, disabled = found
        backfiller = self._backfiller
        busy = backfiller.running or (
            backfiller.job is not None and backfiller.job.status is JobStatus.RUNNING
        )
        if disabled or busy or self.repairing is not None:
            _LOGGER.info(
                "%s did not run from %s to %s: a repair issue offers to backfill it",
                self._entry.title,
                local_time(start),
                local_time(end),
            )
            self.tracker.add(start, end, NOT_RUNNING, 0)
            return
        _LOGGER.debug("Backfilling what the recorder holds from %s to %s", start, end)
        await self._async_backfill(LossWindow(start, end, {NOT_RUNNING: 0}))

    async def async_stop(self) -> None:
        """Keep the windows and when (and why) the entry stopped."""
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        self._observe(time.time())
        self._state.data.setdefault("gaps", {})["session"] = {
            "alive": time.time(),
            "stopped": time.time(),
            "disabled": self._entry.disabled_by is not None,
        }
        self._store_windows()
        if self._done is not None and not self._done.done():
            self._done.cancel()
        await self._state.async_save()

    # ------------------------------------------------------------------ watching

    def _observe(self, now: float) -> bool:
        stats = self._pipeline.stats
        return self.tracker.observe(now, stats.dropped, self._pipeline.spool.pending_points)

    async def _async_check(self, _now: Any = None) -> None:
        now = time.time()
        grew = self._observe(now)
        if grew:
            self._update_issue()
        # spool_since moves on while the spool is empty; it matters (is saved) once it is not.
        since_changed = (
            self._pipeline.spool.pending_points > 0
            and self._state.data["gaps"].get("spool_since") != self.tracker.spool_since
        )
        if grew or since_changed or now - self._alive_saved >= ALIVE_EVERY:
            self._state.data["gaps"]["session"]["alive"] = now
            self._alive_saved = now
            await self._async_save()

    def _store_windows(self) -> None:
        data = self._state.data.setdefault("gaps", {})
        window = self.tracker.window
        data["open"] = None if window is None else window.as_dict()
        data["repairing"] = None if self.repairing is None else self.repairing.as_dict()
        data["job_window"] = None if self._job_window is None else list(self._job_window)
        data["spool_since"] = self.tracker.spool_since
        data["seen"] = dict(self.tracker.seen)

    async def _async_save(self) -> None:
        self._store_windows()
        await self._state.async_save()

    @callback
    def _update_issue(self) -> None:
        """The issue names the open window and the one being repaired (it stays until that
        repair is done)."""
        window = self.tracker.window
        if self.repairing is not None:
            window = LossWindow(self.repairing.start, self.repairing.end, dict(self.repairing.lost))
            if self.tracker.window is not None:
                window.absorb(self.tracker.window)
        issue_id = gap_issue_id(self._entry.entry_id)
        if window is None or not recorder_loaded(self._hass):
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            issue_id,
            is_fixable=True,
            is_persistent=False,
            data={"entry_id": self._entry.entry_id},
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_GAP,
            translation_placeholders={
                "title": self._entry.title,
                "start": local_time(window.start),
                "end": local_time(window.end),
                "dropped": str(window.dropped),
            },
        )

    # ------------------------------------------------------------------ repairing

    @property
    def busy(self) -> bool:
        return self._backfiller.running

    async def async_repair(self) -> asyncio.Future[bool] | None:
        """Backfill the open window; the future says when it is done (True) or cancelled.

        None when there was nothing the recorder still holds (the window is then closed).
        """
        window = self.tracker.window
        if window is None:
            return None
        self.tracker.window = None
        return await self._async_backfill(window)

    async def _async_backfill(self, window: LossWindow) -> asyncio.Future[bool] | None:
        start = max(window.start, oldest_kept(self._hass))
        entity_ids = wanted_entities(self._hass, self._wanted)
        if start >= window.end or not entity_ids:
            self.repairing = self._job_window = None
            await self._async_save()
            self._update_issue()
            return None
        self.repairing = window
        self._job_window = (start, window.end)
        self._done = self._hass.loop.create_future()
        await self._async_save()
        self._update_issue()
        await self._backfiller.async_start(
            BackfillJob(start=start, end=window.end, entity_ids=entity_ids)
        )
        return self._done

    @callback
    def _job_changed(self) -> None:
        job = self._backfiller.job
        window = self.repairing
        if (
            job is None
            or window is None
            or (job.start, job.end) != self._job_window
            or job.status is JobStatus.RUNNING
        ):
            return
        done = job.status is JobStatus.DONE
        if done:
            recovered = self._pipeline.stats.recover(recovered_points(window, job.points_written))
            _LOGGER.info(
                "Gap from %s to %s repaired: %d points written from the recorder, %d of %d"
                " dropped points recovered",
                local_time(window.start),
                local_time(window.end),
                job.points_written,
                recovered,
                window.dropped,
            )
        else:  # cancelled or failed: the window is open again
            self.tracker.reopen(window)
        self.repairing = self._job_window = None
        if self._done is not None and not self._done.done():
            self._done.set_result(done)
        self._update_issue()
        self._entry.async_create_background_task(
            self._hass, self._async_save(), f"{DOMAIN} gap state"
        )
