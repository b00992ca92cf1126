"""The entry's coordinators: statistics (the diagnostic entities, on a timer, never per
event), weather and sports (poll, write their own points, enrich state points).

Statistics listeners hear only of a snapshot that differs from the last one: an idle entry
writes no state, a busy one at most a state per entity per STATS_INTERVAL_SECONDS.

A weather or sports source that is down never blocks setup: the first refresh runs in the
background, the coordinator logs once when it fails and once when it recovers, team sensors go
unavailable, and events keep flowing without enrichment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import logging
import time
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from . import espn
from .const import (
    CONF_OWM_API_KEY,
    CONF_WEATHER_ENTITY,
    CONF_WEATHER_SOURCE,
    DOMAIN,
    EVENT_SPORTS,
    SELF_METRICS_MEASUREMENT,
    STATS_INTERVAL_SECONDS,
    WEATHER_SOURCE_OWM,
)
from .enrichment import OwmAuthError, failed, fetch_owm, fetch_scoreboard
from .line_protocol import encode_point
from .pipeline import Pipeline
from .schema import timestamp_us
from .sports import FollowedTeam, changed, event_data, game_for_team, sports_line
from .weather import (
    OWM_BASE,
    WeatherError,
    WeatherReading,
    from_weather_entity,
    weather_line,
)

_LOGGER = logging.getLogger(__name__)

WEATHER_ENTITY_INTERVAL: Final = timedelta(minutes=5)
WEATHER_OWM_INTERVAL: Final = timedelta(minutes=10)
SPORTS_STORE_VERSION: Final = 1
STATE_RETENTION: Final = timedelta(days=7)  # how long a game's last state is remembered

Submit = Callable[[str], None]


def sports_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, SPORTS_STORE_VERSION, f"{DOMAIN}.sports_{entry_id}")


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    received: int
    written: int
    pending: int
    queued: int
    spooled: int
    filtered: int
    filtered_reasons: dict[str, int]
    dead_lettered: int
    dropped: int
    dropped_reasons: dict[str, int]
    events_per_minute: float
    write_latency_ms: float | None
    last_write: datetime | None
    connected: bool | None
    last_error: str | None
    recovered: int = 0  # of the dropped, written again by a gap repair


def snapshot(pipeline: Pipeline) -> StatsSnapshot:
    stats = pipeline.stats
    return StatsSnapshot(
        received=stats.received,
        written=stats.written,
        pending=pipeline.pending,
        queued=pipeline.queued,
        spooled=pipeline.spooled,
        filtered=stats.filtered,
        filtered_reasons=dict(stats.filtered_reasons),
        dead_lettered=stats.dead_lettered,
        dropped=stats.dropped_total,
        dropped_reasons=dict(stats.dropped),
        recovered=stats.recovered,
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
    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, pipeline: Pipeline) -> None:
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} statistics",
            update_interval=timedelta(seconds=STATS_INTERVAL_SECONDS),
            always_update=False,
        )
        self._pipeline = pipeline

    async def _async_update_data(self) -> StatsSnapshot:
        return snapshot(self._pipeline)


class WeatherCoordinator(DataUpdateCoordinator[WeatherReading]):
    """Reads the chosen weather source and writes a ``weather`` point per reading."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        options: Mapping[str, Any],
        submit: Submit,
        owm_base: str = OWM_BASE,
    ) -> None:
        self._owm = options[CONF_WEATHER_SOURCE] == WEATHER_SOURCE_OWM
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} weather",
            update_interval=WEATHER_OWM_INTERVAL if self._owm else WEATHER_ENTITY_INTERVAL,
        )
        self._entity_id: str = options.get(CONF_WEATHER_ENTITY) or ""
        self._api_key: str = entry.data.get(CONF_OWM_API_KEY) or ""  # a secret: entry data
        self._submit = submit
        self._owm_base = owm_base

    async def _async_update_data(self) -> WeatherReading:
        if self._owm:
            try:
                reading = await fetch_owm(
                    async_get_clientsession(self.hass),
                    self.hass.config.latitude,
                    self.hass.config.longitude,
                    self._api_key,
                    self._owm_base,
                )
            except OwmAuthError as err:
                assert self.config_entry is not None
                self.config_entry.async_start_reauth(
                    self.hass, data={**self.config_entry.data, "reauth": WEATHER_SOURCE_OWM}
                )
                raise failed("owm_invalid_key") from err
        else:
            state = self.hass.states.get(self._entity_id)
            if state is None:
                raise failed("weather_entity_missing", entity_id=self._entity_id)
            try:
                reading = from_weather_entity(
                    self._entity_id, state.state, state.attributes, state.last_updated_timestamp
                )
            except WeatherError as err:
                raise failed("weather_entity_unusable", error=str(err)) from err
        line = weather_line(reading, timestamp_us(reading.observed_at or time.time()))
        if line is not None:
            self._submit(line)
        return reading


class SportsCoordinator(DataUpdateCoordinator[dict[str, espn.Game | None]]):
    """Polls ESPN scoreboards of the followed teams' leagues, adaptively.

    Keeps the last seen state of each game in HA storage, so a restart does not repeat a
    game_started or score_changed event.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        teams: list[FollowedTeam],
        submit: Submit,
        espn_base: str = espn.DEFAULT_BASE,
    ) -> None:
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} sports",
            update_interval=espn.POLL_IDLE,
        )
        self.teams = teams
        self._submit = submit
        self._espn_base = espn_base
        self._previous: dict[str, espn.Game] = {}
        self._store = sports_store(hass, entry.entry_id)
        # A manual refresh can overlap a scheduled one; transitions must be judged one at a time.
        self._lock = asyncio.Lock()

    async def async_load(self) -> None:
        stored = await self._store.async_load() or {}
        for key, data in stored.get("games", {}).items():
            try:
                self._previous[key] = espn.Game.from_dict(data)
            except espn.EspnError:
                _LOGGER.debug("Ignoring unreadable stored game %s", key)

    def _stored(self) -> dict[str, Any]:
        return {"games": {k: g.to_dict() for k, g in self._previous.items()}}

    async def async_save(self) -> None:
        """Persist now (entry unload), not after the save delay: once a poll on its way has
        handled its games. Saved before, the next entry (a reload) fired its events again."""
        await self.async_shutdown()  # no poll starts after this one
        async with self._lock:
            await self._store.async_save(self._stored())

    async def _async_update_data(self) -> dict[str, espn.Game | None]:
        async with self._lock:
            return await self._update()

    async def _update(self) -> dict[str, espn.Game | None]:
        by_league = {
            league: await fetch_scoreboard(self.hass, league, self._espn_base)
            for league in dict.fromkeys(team.league for team in self.teams)
        }
        current: dict[str, espn.Game | None] = {
            team.key: game_for_team(by_league[team.league], team.team_id) for team in self.teams
        }
        now_us = timestamp_us(time.time())
        # Every game of a followed team, not only the one its sensor shows: a doubleheader's
        # first game ends while the sensor already shows the second.
        seen = {
            g.key: g
            for team in self.teams
            for g in by_league[team.league]
            if g.involves(team.team_id)
        }
        for game in seen.values():
            previous = self._previous.get(game.key)
            if espn.went_backwards(previous, game):
                continue
            if changed(previous, game) and (line := sports_line(game, now_us)) is not None:
                self._submit(line)
            for transition in espn.detect_transitions(previous, game):
                for team in self.teams:
                    if team.league == game.league and game.involves(team.team_id):
                        self.hass.bus.async_fire(EVENT_SPORTS, event_data(transition, team))
            self._previous[game.key] = game
        stale = dt_util.utcnow() - STATE_RETENTION
        self._previous = {k: g for k, g in self._previous.items() if k in seen or g.start > stale}
        self._store.async_delay_save(self._stored, 1)
        games = [g for g in current.values() if g is not None]
        self.update_interval = espn.next_poll_interval(games, dt_util.utcnow())
        return current
