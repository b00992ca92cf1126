"""Diagnostic sensors: how many events came in, went out, wait, or were dropped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import SportsCoordinator, StatsSnapshot
from .entity import IngestorEntity, device_info
from .espn import Game
from .history_entity import BackfillSensor
from .runtime import IngestorConfigEntry
from .sports import TEAM_STATES, FollowedTeam, team_attributes, team_state

PARALLEL_UPDATES = 0
_TEAM: Final = "_team_"  # in a team sensor's unique id, between entry id and team


@dataclass(frozen=True, kw_only=True)
class IngestorSensorDescription(SensorEntityDescription):
    value_fn: Callable[[StatsSnapshot], float | int | datetime | None]
    attributes_fn: Callable[[StatsSnapshot], Mapping[str, Any]] | None = None
    # Measured at InfluxDB: while it is unreachable the last value would pass for a current one.
    needs_connection: bool = False


def _counter(
    key: str, value_fn: Callable[[StatsSnapshot], int], **kwargs: Any
) -> IngestorSensorDescription:
    return IngestorSensorDescription(
        key=key,
        translation_key=key,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=value_fn,
        **kwargs,
    )


SENSORS: tuple[IngestorSensorDescription, ...] = (
    _counter("events_received", lambda s: s.received),
    _counter("points_written", lambda s: s.written),
    IngestorSensorDescription(
        key="pending",
        translation_key="pending",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda s: s.pending,
        attributes_fn=lambda s: {"queued": s.queued, "spooled": s.spooled},
    ),
    _counter("dead_lettered", lambda s: s.dead_lettered),
    _counter(
        "dropped",
        lambda s: s.dropped,
        attributes_fn=lambda s: {"reasons": s.dropped_reasons, "recovered": s.recovered},
    ),
    _counter(
        "filtered",
        lambda s: s.filtered,
        attributes_fn=lambda s: {"reasons": s.filtered_reasons},
    ),
    IngestorSensorDescription(
        key="write_latency",
        translation_key="write_latency",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda s: s.write_latency_ms,
        needs_connection=True,
    ),
    IngestorSensorDescription(
        key="events_per_minute",
        translation_key="events_per_minute",
        native_unit_of_measurement="events/min",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda s: s.events_per_minute,
    ),
    # A timestamp that moves on every refresh: a logbook line each time, so off by default (the
    # connectivity sensor says whether writes succeed).
    IngestorSensorDescription(
        key="last_write",
        translation_key="last_write",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda s: s.last_write,
        entity_registry_enabled_default=False,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IngestorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities(IngestorSensor(entry, description) for description in SENSORS)
    async_add_entities([BackfillSensor(entry, entry.runtime_data.history.backfiller)])
    sports = entry.runtime_data.sports
    followed = [] if sports is None else sports.teams
    _remove_unfollowed_teams(hass, entry, {team_unique_id(entry, team) for team in followed})
    if sports is not None:
        async_add_entities(TeamSensor(entry, sports, team) for team in followed)


def team_unique_id(entry: IngestorConfigEntry, team: FollowedTeam) -> str:
    return f"{entry.entry_id}{_TEAM}{team.league}_{team.team_id}"


def _remove_unfollowed_teams(
    hass: HomeAssistant, entry: IngestorConfigEntry, followed: set[str]
) -> None:
    """A team the user stopped following takes its sensor along (else it stays, unavailable)."""
    registry = er.async_get(hass)
    for registered in er.async_entries_for_config_entry(registry, entry.entry_id):
        unique_id = registered.unique_id
        if unique_id.startswith(f"{entry.entry_id}{_TEAM}") and unique_id not in followed:
            registry.async_remove(registered.entity_id)


class IngestorSensor(IngestorEntity, SensorEntity):
    entity_description: IngestorSensorDescription
    # Breakdowns that move with their counter: shown, not stored in the recorder on every change.
    _unrecorded_attributes = frozenset({"queued", "spooled", "reasons"})

    @property
    def available(self) -> bool:
        """Unavailable while InfluxDB is down, for a value only InfluxDB's answers give."""
        if self.entity_description.needs_connection and self.coordinator.data.connected is False:
            return False
        return super().available

    @property
    def native_value(self) -> float | int | datetime | None:
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator.data)


class TeamSensor(CoordinatorEntity[SportsCoordinator], SensorEntity):
    """A followed team: scheduled, live or final, with the game as attributes."""

    _attr_has_entity_name = True
    _attr_translation_key = "team"
    _attr_device_class = SensorDeviceClass.ENUM
    # The game clock moves on every live poll (20 s): shown, not a recorder row each time.
    _unrecorded_attributes = frozenset({"clock", "detail"})

    def __init__(
        self, entry: IngestorConfigEntry, coordinator: SportsCoordinator, team: FollowedTeam
    ) -> None:
        super().__init__(coordinator)
        self._team = team
        self._attr_unique_id = team_unique_id(entry, team)
        self._attr_translation_placeholders = {"team": team.name}
        self._attr_device_info = device_info(entry)
        self._attr_options = list(TEAM_STATES)

    @property
    def _game(self) -> Game | None:
        return (self.coordinator.data or {}).get(self._team.key)

    @property
    def native_value(self) -> str | None:
        """Unknown until ESPN first answers: "no_game" would be a claim (history, triggers)."""
        # Typed as always set, but None until the first refresh succeeded.
        if cast("dict[str, Game | None] | None", self.coordinator.data) is None:
            return None
        return team_state(self._game)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        return {"team_id": self._team.team_id, **team_attributes(self._game, self._team.team_id)}
