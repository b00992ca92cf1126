"""Reads Home Assistant's recorder: states for a backfill, long-term statistics.

The only module that talks to the recorder. Every read runs in the recorder's own executor
(`get_instance(hass).async_add_executor_job`), never on the event loop. Statistics go through
the recorder's statistics functions. States are read with one query on the recorder's own
tables and attribute decoder, not the history API: that one builds a row and a state object
per recorded state and holds them all until the read ends, long enough for the garbage
collector to promote them; tens of thousands per slice brought on the full collections that
stall the event loop for hundreds of milliseconds under a live stream. Here each row is
dropped as soon as its columns are taken, and what is kept (strings, floats, the decoded
attribute dicts, once per distinct attributes row) is mostly not tracked by the collector.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from homeassistant.components.recorder import history, statistics
from homeassistant.components.recorder.db_schema import (
    SHARED_ATTR_OR_LEGACY_ATTRIBUTES,
    StateAttributes,
    States,
)
from homeassistant.components.recorder.models.state_attributes import (
    decode_attributes_from_source,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance, session_scope
from homeassistant.util import dt as dt_util
from sqlalchemy import select

RECORDER_DOMAIN: Final = "recorder"
# Metadata ids per query: within SQLite's oldest limit of bound parameters (999).
_IDS_PER_QUERY: Final = 900

StatisticsPeriod = Literal["5minute", "hour"]
STATISTIC_TYPES: Final[
    set[Literal["change", "last_reset", "max", "mean", "min", "state", "sum"]]
] = {
    "mean",
    "min",
    "max",
    "state",
    "sum",
}


@dataclass(slots=True)
class RecordedStates:
    """A slice of recorded states, column by column.

    Four lists, and the attribute dicts the recorder decoded (once per distinct attributes
    row in a read) shared as they are, instead of a tuple and a dict copy per state: 40,000
    fewer objects per 20,000-state slice for the garbage collector to scan, and the encoder's
    cache (keyed on the attributes object) hits for an entity whose attributes did not change.
    """

    entity_ids: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    attributes: list[Mapping[str, Any]] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.timestamps)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def recorder_loaded(hass: HomeAssistant) -> bool:
    return RECORDER_DOMAIN in hass.config.components


def oldest_kept(hass: HomeAssistant) -> float:
    """Unix time before which the recorder may have purged states: its `purge_keep_days`, and
    the day its nightly purge lets pass; none when it does not purge on its own (auto_purge
    off: it keeps everything until told)."""
    recorder = get_instance(hass)
    if not recorder.auto_purge:
        return 0.0
    # The purge runs at a fixed local time (04:12), so the last one ran at most one local day
    # ago: 25 hours the night the clocks go back (24 h of seconds refused the hour between).
    last_purge = (dt_util.now() - timedelta(days=1)).timestamp()
    return last_purge - timedelta(days=recorder.keep_days).total_seconds()


async def async_recorder_written(hass: HomeAssistant) -> None:
    """Returns once the recorder has committed every event it was given so far.

    It writes its queue in its own thread and commits only every few seconds (5 by default),
    so a read right after a state was set can miss it: the states Home Assistant set at
    startup, before the entry's capture listened, were missing from the restart's catch-up.
    """
    await get_instance(hass).async_block_till_done()


def _read_states(
    hass: HomeAssistant, entity_ids: list[str], start: float, end: float
) -> RecordedStates:
    rows = RecordedStates()
    decoded: dict[str | None, Mapping[str, Any]] = {}  # per attributes row, shared
    with session_scope(hass=hass, read_only=True) as session:
        found = get_instance(hass).states_meta_manager.get_many(entity_ids, session, False)
        names = {metadata_id: entity_id for entity_id, metadata_id in found.items() if metadata_id}
        ids = sorted(names)
        for first in range(0, len(ids), _IDS_PER_QUERY):
            query = (
                select(
                    States.metadata_id,
                    States.state,
                    States.last_updated_ts,
                    SHARED_ATTR_OR_LEGACY_ATTRIBUTES,
                )
                .outerjoin(StateAttributes, States.attributes_id == StateAttributes.attributes_id)
                .where(
                    States.metadata_id.in_(ids[first : first + _IDS_PER_QUERY]),
                    States.last_updated_ts >= start,
                    States.last_updated_ts < end,
                )
                .order_by(States.metadata_id, States.last_updated_ts)
            )
            # Core execution, a thousand rows at a time from the cursor: the ORM's would fetch
            # every row into lists first, held long enough for the collector to promote them.
            for metadata_id, state, ts, source in (
                session.connection().execute(query).yield_per(1000)
            ):
                attributes = decoded.get(source)
                if attributes is None:
                    attributes = decoded[source] = decode_attributes_from_source(source, {})
                rows.entity_ids.append(names[metadata_id])
                rows.states.append(state)
                rows.attributes.append(attributes)
                rows.timestamps.append(ts)
    return rows


async def async_read_states(
    hass: HomeAssistant, entity_ids: list[str], start: float, end: float
) -> RecordedStates:
    """Every recorded state of these entities with start <= last_updated < end."""
    return await get_instance(hass).async_add_executor_job(
        _read_states, hass, entity_ids, start, end
    )


def _unrecorded(hass: HomeAssistant, entity_ids: Iterable[str]) -> list[str]:
    return [
        entity_id
        for entity_id in entity_ids
        if not history.get_last_state_changes(hass, 1, entity_id)
    ]


async def async_unrecorded(hass: HomeAssistant, entity_ids: Iterable[str]) -> list[str]:
    """Those of the entity ids the recorder has no state for."""
    return await get_instance(hass).async_add_executor_job(_unrecorded, hass, list(entity_ids))


def _read_statistics(
    hass: HomeAssistant, start: float, period: StatisticsPeriod, statistic_ids: set[str] | None
) -> tuple[dict[str, list[Any]], dict[str, tuple[str, str | None]]]:
    metadata = statistics.get_metadata(hass, statistic_ids=statistic_ids)
    meta = {
        statistic_id: (info["source"], info["unit_of_measurement"])
        for statistic_id, (_id, info) in metadata.items()
    }
    by_unit: dict[str | None, set[str]] = {}
    for statistic_id, (_source, unit) in meta.items():
        by_unit.setdefault(unit, set()).add(statistic_id)
    rows: dict[str, list[Any]] = {}
    for unit, ids in by_unit.items():
        # In the unit they are stored in, which the point's unit tag names: without `units`
        # the recorder converts to the sensor's current display unit (°F for a sensor now
        # shown in °F, whose statistics are in °C).
        converter = statistics.STATISTIC_UNIT_TO_UNIT_CONVERTER.get(unit)
        units = None if converter is None or unit is None else {converter.UNIT_CLASS: unit}
        rows.update(
            statistics.statistics_during_period(
                hass, _utc(start), None, ids, period, units, STATISTIC_TYPES
            )
        )
    return rows, {statistic_id: meta[statistic_id] for statistic_id in rows}


async def async_read_statistics(
    hass: HomeAssistant, start: float, period: StatisticsPeriod, statistic_ids: set[str] | None
) -> tuple[dict[str, list[Any]], dict[str, tuple[str, str | None]]]:
    """Rows starting at `start` or later per statistic_id (None: all), and (source, unit)."""
    return await get_instance(hass).async_add_executor_job(
        _read_statistics, hass, start, period, statistic_ids
    )


def _statistic_ids(hass: HomeAssistant) -> set[str]:
    return set(statistics.get_metadata(hass))


async def async_statistic_ids(hass: HomeAssistant) -> set[str]:
    """Every statistic the recorder holds, its own and external ones."""
    return await get_instance(hass).async_add_executor_job(_statistic_ids, hass)
