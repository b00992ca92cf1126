"""The weather and sports APIs (OpenWeatherMap, ESPN): fetches with translated failures.

Used by the coordinators (coordinator.py) and the options flow.
"""

from __future__ import annotations

import logging
import re
from typing import Final

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import UpdateFailed

from . import espn
from .const import DOMAIN
from .weather import OWM_BASE, WeatherError, WeatherReading, owm_url, parse_owm

_LOGGER = logging.getLogger(__name__)

HTTP_TIMEOUT: Final = aiohttp.ClientTimeout(total=15)
# Stripped from error texts: a query string may hold an API key (OpenWeatherMap's appid).
_QUERY: Final = re.compile(r"\?[^\s'\")>]*")


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
        # aiohttp's texts (TooManyRedirects, ClientResponseError...) carry the full URL, and
        # OpenWeatherMap's has the API key in its query: the message keeps no query string.
        error = _QUERY.sub("?…", str(err))
        raise failed("cannot_reach", url=url.split("?", maxsplit=1)[0], error=error) from err


class OwmAuthError(Exception):
    """OpenWeatherMap rejected the API key."""


async def fetch_owm(
    session: aiohttp.ClientSession,
    latitude: float,
    longitude: float,
    api_key: str,
    base: str = OWM_BASE,
) -> WeatherReading:
    status, body = await fetch_json(session, owm_url(latitude, longitude, api_key, base))
    if status == 401:
        raise OwmAuthError
    if status != 200:
        raise failed("owm_http_error", status=str(status))
    try:
        return parse_owm(espn.loads(body))
    except (espn.EspnError, WeatherError) as err:
        raise failed("owm_bad_response", error=str(err)) from err


def _parse_scoreboard(body: bytes, league: str) -> list[espn.Game]:
    return espn.parse_scoreboard(espn.loads(body), league)


def _parse_teams(body: bytes) -> list[espn.Team]:
    return espn.parse_teams(espn.loads(body))


def _parse_scoreboard_teams(body: bytes) -> list[espn.Team]:
    return espn.teams_from_scoreboard(espn.loads(body))


async def fetch_scoreboard(
    hass: HomeAssistant, league: str, base: str = espn.DEFAULT_BASE
) -> list[espn.Game]:
    """Today's games of a league. Parsed in the executor: a college division's scoreboard
    (150 basketball games on a Saturday) runs to megabytes."""
    session = async_get_clientsession(hass)
    status, body = await fetch_json(session, espn.scoreboard_url(league, base))
    if status != 200:
        raise failed("espn_http_error", league=league, status=str(status))
    try:
        return await hass.async_add_executor_job(_parse_scoreboard, body, league)
    except espn.EspnError as err:
        raise failed("espn_bad_response", league=league, error=str(err)) from err


async def async_fetch_teams(
    hass: HomeAssistant, league: str, espn_base: str = espn.DEFAULT_BASE
) -> list[espn.Team]:
    """Teams of a league for the options flow: the teams list, else today's scoreboard."""
    session = async_get_clientsession(hass)
    status, body = await fetch_json(session, espn.teams_url(league, espn_base))
    if status == 200:
        try:  # a college league's ~700 teams are megabytes too
            teams = await hass.async_add_executor_job(_parse_teams, body)
        except espn.EspnError:
            teams = []
        if teams:
            return teams
    status, body = await fetch_json(session, espn.scoreboard_url(league, espn_base))
    if status != 200:
        raise failed("espn_http_error", league=league, status=str(status))
    try:
        return await hass.async_add_executor_job(_parse_scoreboard_teams, body)
    except espn.EspnError as err:
        raise failed("espn_bad_response", league=league, error=str(err)) from err
