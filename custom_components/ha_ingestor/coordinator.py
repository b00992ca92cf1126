"""Refreshes the diagnostic entities from the counters on a timer (never per event)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import logging
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .const import DOMAIN, SELF_METRICS_MEASUREMENT, STATS_INTERVAL_SECONDS
from .line_protocol import encode_point
from .schema import timestamp_us

if TYPE_CHECKING:
    from . import IngestorConfigEntry
    from .pipeline import Pipeline

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    received: int
    written: int
    pending: int
    queued: int
    spooled: int
    filtered: int
    dead_lettered: int
    dropped: int
    dropped_reasons: dict[str, int]
    events_per_minute: float
    write_latency_ms: float | None
    last_write: datetime | None
    connected: bool | None
    last_error: str | None


def snapshot(pipeline: Pipeline) -> StatsSnapshot:
    stats = pipeline.stats
    spooled = pipeline.spool.pending_points
    return StatsSnapshot(
        received=stats.received,
        written=stats.written,
        pending=pipeline.pending,
        queued=pipeline.pending - spooled,
        spooled=spooled,
        filtered=stats.filtered,
        dead_lettered=stats.dead_lettered,
        dropped=stats.dropped_total,
        dropped_reasons=dict(stats.dropped),
        events_per_minute=round(stats.events_per_minute(), 1),
        write_latency_ms=(
            round(stats.last_latency * 1000, 1) if stats.last_latency is not None else None
        ),
        last_write=(
            datetime.fromtimestamp(stats.last_write, UTC) if stats.last_write is not None else None
        ),
        connected=stats.connected,
        last_error=stats.last_error,
    )


def self_metrics_line(snap: StatsSnapshot, entry_id: str, title: str, now: float) -> str | None:
    """The ``ha_ingestor`` point: counters for dashboards, written next to the data."""
    last_write = int(snap.last_write.timestamp()) if snap.last_write else 0
    fields: dict[str, float | int | str | bool] = {
        "events_received": snap.received,
        "points_written": snap.written,
        "pending": snap.pending,
        "filtered": snap.filtered,
        "dead_lettered": snap.dead_lettered,
        "dropped": snap.dropped,
        "last_write": last_write,
        "connected": 1 if snap.connected else 0,
        "events_per_minute": float(snap.events_per_minute),
    }
    if snap.write_latency_ms is not None:
        fields["write_latency_ms"] = float(snap.write_latency_ms)
    return encode_point(
        SELF_METRICS_MEASUREMENT,
        {"entry_id": entry_id, "title": title},
        fields,
        timestamp_us(now),
    )


class StatsCoordinator(DataUpdateCoordinator[StatsSnapshot]):
    def __init__(self, hass: HomeAssistant, entry: IngestorConfigEntry, pipeline: Pipeline) -> None:
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} statistics",
            update_interval=timedelta(seconds=STATS_INTERVAL_SECONDS),
            always_update=True,
        )
        self._pipeline = pipeline

    async def _async_update_data(self) -> StatsSnapshot:
        return snapshot(self._pipeline)
