"""History of one entry: backfill, gap repair and long-term statistics, started and stopped
with the entry's runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant

from .backfill import Backfiller, Encoder, HistoryState, history_store
from .gap_repair import GapRepair
from .history import recorder_loaded
from .history_delivery import HistoryDelivery
from .long_term_statistics import StatisticsExporter
from .pipeline import Pipeline
from .writer import InfluxWriter


def live_busy(pipeline: Pipeline, batch_size: int) -> Callable[[], bool]:
    """True while live data should go first: a batch queued, a spool backlog, or an outage."""

    def busy() -> bool:
        return (
            len(pipeline.queue) >= batch_size
            or pipeline.spool.pending_points > 0
            or pipeline.stats.connected is False
        )

    return busy


class HistoryRuntime:
    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        writer: InfluxWriter,
        pipeline: Pipeline,
        batch_size: int,
        flush_interval: float,
        encoder_factory: Callable[[], Encoder],
        wanted: Callable[[str], bool],
        statistics: bool,
    ) -> None:
        self._hass = hass
        self.wanted = wanted  # the entry's filters: what a backfill without a target reads
        self.state = HistoryState(history_store(hass, entry.entry_id))

        def create_task(coro: Any, name: str) -> asyncio.Task[None]:
            return entry.async_create_background_task(hass, coro, name)

        delivery = HistoryDelivery(writer, live_busy(pipeline, batch_size))
        self.backfiller = Backfiller(hass, self.state, encoder_factory, delivery, create_task)
        self.gaps = GapRepair(
            hass, entry, self.state, self.backfiller, pipeline, wanted, flush_interval
        )
        self.statistics = (
            StatisticsExporter(hass, self.state, delivery, create_task) if statistics else None
        )
        self._unsubs: list[CALLBACK_TYPE] = []
        self._started = False

    async def async_start(self, *, continuous: bool) -> None:
        """Load the checkpoint; resume an interrupted backfill; look for gaps (`continuous`:
        a reload handed its capture over, nothing was missed); follow statistics if enabled."""
        await self.state.async_load()
        self.backfiller.restore()
        if recorder_loaded(self._hass):
            self.backfiller.async_resume()
            if self.statistics is not None:
                self._unsubs.append(self.statistics.async_start())
        self._started = True
        await self.gaps.async_start(continuous=continuous)

    async def async_stop(self) -> None:
        if self._started:
            await self.gaps.async_stop()
        for unsub in self._unsubs:
            unsub()
        self._unsubs.clear()
        if self.statistics is not None:
            await self.statistics.async_stop()
        await self.backfiller.async_stop()
