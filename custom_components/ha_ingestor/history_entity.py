"""The backfill progress sensor: percent of the window done, with what was read and written."""

from __future__ import annotations

from collections.abc import Mapping
import time
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.sensor import SensorEntity
from homeassistant.const import PERCENTAGE, EntityCategory
from homeassistant.core import callback
from homeassistant.util import dt as dt_util

from .backfill import Backfiller
from .backfill_plan import JobStatus
from .entity import device_info

if TYPE_CHECKING:
    from .runtime import IngestorConfigEntry

# Progress is written at most this often (plus at start and end), so a long backfill does
# not flood the recorder with states of its own.
WRITE_EVERY: Final = 5.0


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt_util.utc_from_timestamp(ts).isoformat()


class BackfillSensor(SensorEntity):
    _attr_has_entity_name = True
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "backfill"
    _attr_native_unit_of_measurement = PERCENTAGE
    _attr_should_poll = False
    _attr_suggested_display_precision = 1
    _unrecorded_attributes = frozenset({"states_read", "points_written", "points_rejected"})

    def __init__(self, entry: IngestorConfigEntry, backfiller: Backfiller) -> None:
        self._backfiller = backfiller
        self._attr_unique_id = f"{entry.entry_id}_backfill"
        self._attr_device_info = device_info(entry)
        self._written_at = 0.0
        self._written_status: JobStatus | None = None

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self._backfiller.async_add_listener(self._progress))

    @callback
    def _progress(self) -> None:
        job = self._backfiller.job
        status = None if job is None else job.status
        now = time.monotonic()
        if status is not self._written_status or now - self._written_at >= WRITE_EVERY:
            self._written_at = now
            self._written_status = status
            self.async_write_ha_state()

    @property
    def native_value(self) -> float | None:
        job = self._backfiller.job
        return None if job is None else job.percent

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        job = self._backfiller.job
        if job is None:
            return None
        return {
            "status": str(job.status),
            "window_start": _iso(job.start),
            "window_end": _iso(job.end),
            "entities": len(job.entity_ids),
            "states_read": job.states_read,
            "points_written": job.points_written,
            "points_rejected": job.points_rejected,
            "finished_at": _iso(job.finished_at),
        }
