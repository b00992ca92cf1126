"""Writes Home Assistant's long-term statistics to ``ha_statistics`` (an option, off by default).

At setup it catches up: every statistic (the recorder's and external ones, such as energy
imports) from its cursor in `Store`, one statistic at a time so memory stays small; the first
time that is all of its past. Then each time the recorder announces a compiled 5-minute or
hourly period it writes what is new. Each read starts a lookback before the cursor, so rows
that changed after they were written (external imports, adjusted sums) are rewritten; points
are keyed by series and start, so a rewrite overwrites. A statistic that appears later (an
energy provider importing its past) is read from its beginning once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
from typing import Any, Final

from homeassistant.const import (
    EVENT_RECORDER_5MIN_STATISTICS_GENERATED,
    EVENT_RECORDER_HOURLY_STATISTICS_GENERATED,
)
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers.recorder import get_instance

from .backfill import HistoryState
from .history import StatisticsPeriod, async_read_statistics, async_statistic_ids
from .history_delivery import HistoryDelivery
from .statistics_points import statistics_lines

_LOGGER = logging.getLogger(__name__)

PERIODS: Final[dict[StatisticsPeriod, str]] = {
    "5minute": EVENT_RECORDER_5MIN_STATISTICS_GENERATED,
    "hour": EVENT_RECORDER_HOURLY_STATISTICS_GENERATED,
}
LOOKBACK: Final[dict[StatisticsPeriod, float]] = {"5minute": 3600.0, "hour": 86400.0}


class StatisticsExporter:
    def __init__(
        self,
        hass: HomeAssistant,
        state: HistoryState,
        delivery: HistoryDelivery,
        create_task: Callable[[Any, str], asyncio.Task[None]],
    ) -> None:
        self._hass = hass
        self._state = state
        self._delivery = delivery
        self._create_task = create_task
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.caught_up = asyncio.Event()
        self._catching_up = False
        self._failing = False  # logged once until a read works again

    @property
    def _cursors(self) -> dict[str, float]:
        cursors: dict[str, float] = self._state.data.setdefault("statistics", {})
        return cursors

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Catch up, then follow the recorder's compiles; returns the unsubscriber."""
        unsubs = [
            self._hass.bus.async_listen(event_type, self._compiled(period))
            for period, event_type in PERIODS.items()
        ]
        self._spawn(self._catch_up())

        @callback
        def stop() -> None:
            for unsub in unsubs:
                unsub()

        return stop

    async def async_stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = self._create_task(coro, "ha_ingestor statistics")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _compiled(self, period: StatisticsPeriod) -> Callable[[Event], None]:
        @callback
        def on_compiled(_event: Event) -> None:
            if self.caught_up.is_set():
                self._spawn(self._export_new(period))
            elif not self._catching_up:  # it failed: again, at the recorder's pace
                self._spawn(self._catch_up())
            # else the running catch-up reads this period anyway

        return on_compiled

    async def _catch_up(self) -> None:
        self._catching_up = True
        try:
            if not await get_instance(self._hass).async_db_ready:
                return
            statistic_ids = sorted(await async_statistic_ids(self._hass))
            known = self._known(statistic_ids)
            for period in PERIODS:
                newest = [
                    await self._export(period, {statistic_id}, full=statistic_id not in known)
                    for statistic_id in statistic_ids
                ]
                await self._advance(period, max((n for n in newest if n is not None), default=None))
            await self._remember(statistic_ids)
            self.caught_up.set()
            self._worked()
        except Exception as err:  # a database error must not end the export for good
            self._failed(err)
        finally:
            self._catching_up = False

    def _failed(self, err: Exception) -> None:
        """Nothing is lost: the cursor moves only past what was written, so the next compile
        reads it again."""
        if not self._failing:
            self._failing = True
            _LOGGER.warning(
                "Exporting long-term statistics failed (%s: %s); trying again at the"
                " recorder's next compile",
                type(err).__name__,
                err,
            )

    def _worked(self) -> None:
        if self._failing:
            self._failing = False
            _LOGGER.info("Exporting long-term statistics works again")

    def _known(self, statistic_ids: list[str]) -> set[str]:
        """The statistics exported before; the first time this is kept, all of them (the
        cursor covered them)."""
        known = self._state.data.get("statistic_ids")
        return set(statistic_ids if known is None else known)

    async def _remember(self, statistic_ids: list[str]) -> None:
        self._state.data["statistic_ids"] = sorted(statistic_ids)
        await self._state.async_save()

    async def _export_new(self, period: StatisticsPeriod) -> None:
        """A statistic that appeared since (an energy provider importing its past) is read
        from its beginning: the shared cursor's lookback would reach only its last day."""
        try:
            statistic_ids = sorted(await async_statistic_ids(self._hass))
            new = sorted(set(statistic_ids) - self._known(statistic_ids))
            for statistic_id in new:
                for each in PERIODS:
                    await self._export(each, {statistic_id}, full=True)
            if new:
                await self._remember(statistic_ids)
            await self._export(period, None)
        except Exception as err:  # a database error must not end the export for good
            self._failed(err)
        else:
            self._worked()

    async def _export(
        self, period: StatisticsPeriod, statistic_ids: set[str] | None, *, full: bool = False
    ) -> float | None:
        """Write rows from the cursor (less the lookback), or all of them; returns the newest
        period start."""
        async with self._lock:
            cursor = self._cursors.get(period)
            start = 0.0 if cursor is None or full else cursor - LOOKBACK[period]
            rows, metadata = await async_read_statistics(self._hass, start, period, statistic_ids)
            lines = statistics_lines(rows, metadata, period)
            if lines:
                await self._delivery.write(lines)
            newest = max((row["start"] for stats in rows.values() for row in stats), default=None)
            if statistic_ids is None:
                await self._advance(period, newest)
            return newest

    async def _advance(self, period: StatisticsPeriod, newest: float | None) -> None:
        if newest is not None and newest > self._cursors.get(period, 0.0):
            self._cursors[period] = newest
            await self._state.async_save()
