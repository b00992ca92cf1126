"""Weather and sports coordinators: poll, write their own points, enrich state points.

A source that is down never blocks setup: the first refresh runs in the background, the
coordinator logs once when it fails and once when it recovers, team sensors go unavailable,
and events keep flowing without enrichment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import timedelta
import logging
import time
from typing import Any, Final

import aiohttp
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from . import espn
from .const import (
    CONF_OWM_API_KEY,
    CONF_WEATHER_ENTITY,
    CONF_WEATHER_SOURCE,
    DOMAIN,
    EVENT_SPORTS,
    WEATHER_SOURCE_OWM,
)
from .schema import timestamp_us
from .sports import FollowedTeam, changed, event_data, game_for_team, sports_line
from .weather import (
    OWM_BASE,
    WeatherError,
    WeatherReading,
    from_weather_entity,
    owm_url,
    parse_owm,
    weather_line,
)

_LOGGER = logging.getLogger(__name__)

# Where the APIs live; tests point these at local servers serving captured responses.
ESPN_BASE: Final = espn.DEFAULT_BASE
OWM_API_BASE: Final = OWM_BASE
WEATHER_ENTITY_INTERVAL: Final = timedelta(minutes=5)
WEATHER_OWM_INTERVAL: Final = timedelta(minutes=10)
HTTP_TIMEOUT: Final = aiohttp.ClientTimeout(total=15)
SPORTS_STORE_VERSION: Final = 1
STATE_RETENTION: Final = timedelta(days=7)  # how long a game's last state is remembered


def sports_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, SPORTS_STORE_VERSION, f"{DOMAIN}.sports_{entry_id}")


Submit = Callable[[str], None]


def failed(key: str, **placeholders: str) -> UpdateFailed:
    """A translated update failure (the coordinator logs it once, then once on recovery)."""
    return UpdateFailed(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


async def fetch_json(session: aiohttp.ClientSession, url: str) -> tuple[int, bytes]:
    """GET a URL; (status, body). Network errors become UpdateFailed."""
    try:
        async with session.get(url, timeout=HTTP_TIMEOUT) as resp:
            return resp.status, await resp.read()
    except (aiohttp.ClientError, TimeoutError) as err:
        raise failed("cannot_reach", url=url.split("?", maxsplit=1)[0], error=str(err)) from err


class OwmAuthError(Exception):
    """OpenWeatherMap rejected the API key."""


async def fetch_owm(
    session: aiohttp.ClientSession, latitude: float, longitude: float, api_key: str
) -> WeatherReading:
    status, body = await fetch_json(session, owm_url(latitude, longitude, api_key, OWM_API_BASE))
    if status == 401:
        raise OwmAuthError
    if status != 200:
        raise failed("owm_http_error", status=str(status))
    try:
        return parse_owm(espn.loads(body))
    except (espn.EspnError, WeatherError) as err:
        raise failed("owm_bad_response", error=str(err)) from err


class WeatherCoordinator(DataUpdateCoordinator[WeatherReading]):
    """Reads the chosen weather source and writes a ``weather`` point per reading."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        options: Mapping[str, Any],
        submit: Submit,
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
        self._api_key: str = options.get(CONF_OWM_API_KEY) or ""
        self._submit = submit

    async def _async_update_data(self) -> WeatherReading:
        if self._owm:
            try:
                reading = await fetch_owm(
                    async_get_clientsession(self.hass),
                    self.hass.config.latitude,
                    self.hass.config.longitude,
                    self._api_key,
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

    async def _league_games(self, league: str) -> list[espn.Game]:
        session = async_get_clientsession(self.hass)
        status, body = await fetch_json(session, espn.scoreboard_url(league, ESPN_BASE))
        if status != 200:
            raise failed("espn_http_error", league=league, status=str(status))
        try:
            return espn.parse_scoreboard(espn.loads(body), league)
        except espn.EspnError as err:
            raise failed("espn_bad_response", league=league, error=str(err)) from err

    def _stored(self) -> dict[str, Any]:
        return {"games": {k: g.to_dict() for k, g in self._previous.items()}}

    async def async_save(self) -> None:
        """Persist now (entry unload), not after the save delay."""
        await self._store.async_save(self._stored())

    async def _async_update_data(self) -> dict[str, espn.Game | None]:
        async with self._lock:
            return await self._update()

    async def _update(self) -> dict[str, espn.Game | None]:
        by_league = {
            league: await self._league_games(league)
            for league in dict.fromkeys(team.league for team in self.teams)
        }
        current: dict[str, espn.Game | None] = {
            team.key: game_for_team(by_league[team.league], team.team_id) for team in self.teams
        }
        now_us = timestamp_us(time.time())
        seen = {g.key: g for g in current.values() if g is not None}
        for game in seen.values():
            previous = self._previous.get(game.key)
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


async def async_fetch_teams(hass: HomeAssistant, league: str) -> list[espn.Team]:
    """Teams of a league for the options flow: the teams list, else today's scoreboard."""
    session = async_get_clientsession(hass)
    status, body = await fetch_json(session, espn.teams_url(league, ESPN_BASE))
    if status == 200:
        try:
            teams = espn.parse_teams(espn.loads(body))
        except espn.EspnError:
            teams = []
        if teams:
            return teams
    status, body = await fetch_json(session, espn.scoreboard_url(league, ESPN_BASE))
    if status != 200:
        raise failed("espn_http_error", league=league, status=str(status))
    try:
        return espn.teams_from_scoreboard(espn.loads(body))
    except espn.EspnError as err:
        raise failed("espn_bad_response", league=league, error=str(err)) from err
