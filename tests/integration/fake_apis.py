"""ESPN's site API and OpenWeatherMap as documented, serving the captured responses in
tests/fixtures (these machines cannot reach either): the fake the enrichment tests use, and
where the integration is told to find it."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
import functools
import json
from pathlib import Path
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ha_ingestor import config_flow, coordinator, enrichment, runtime
from custom_components.ha_ingestor.const import DOMAIN

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NFL = json.loads((FIXTURES / "espn/nfl_scoreboard_2022-09-11_pre_in_post.json").read_text())
OWM = json.loads((FIXTURES / "owm/weather_metric_belo_horizonte.json").read_text())
OWM_401 = (FIXTURES / "owm/error_401_invalid_api_key.json").read_bytes()
KC_GAME = "401437653"  # KC @ ARI, "pre" in the capture
# The followed-team option for the Chiefs, as the options flow stores it.
KC = {"league": "nfl", "team_id": "12", "name": "Kansas City Chiefs", "abbreviation": "KC"}


@dataclass
class FakeApis:
    """ESPN site API and OpenWeatherMap, as documented, serving captured responses."""

    scoreboard: Any = field(default_factory=lambda: copy.deepcopy(NFL))
    scoreboard_status: int = 200
    raw_scoreboard: bytes | None = None
    owm_keys: set[str] = field(default_factory=lambda: {"good-key"})
    requests: list[str] = field(default_factory=list)
    # Cleared: the scoreboard answers once it is set (ESPN slow to answer, as over the internet).
    scoreboard_gate: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.scoreboard_gate.set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/apis/site/v2/sports/{sport}/{league}/scoreboard", self._scoreboard)
        app.router.add_get("/apis/site/v2/sports/{sport}/{league}/teams", self._teams)
        app.router.add_get("/data/2.5/weather", self._weather)
        return app

    async def _scoreboard(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        await self.scoreboard_gate.wait()
        if self.raw_scoreboard is not None:
            return web.Response(body=self.raw_scoreboard, content_type="application/json")
        return web.json_response(self.scoreboard, status=self.scoreboard_status)

    async def _teams(self, request: web.Request) -> web.Response:
        # No capture of this endpoint exists: the flow falls back to the scoreboard's teams.
        return web.json_response({"code": 404, "message": "not captured"}, status=404)

    async def _weather(self, request: web.Request) -> web.Response:
        if request.query.get("appid") not in self.owm_keys:
            return web.Response(body=OWM_401, status=401, content_type="application/json")
        assert request.query["units"] == "metric"
        return web.json_response(OWM)

    def set_game(self, state: str, away: int, home: int) -> None:
        event = next(e for e in self.scoreboard["events"] if e["id"] == KC_GAME)
        for status in (event["status"], event["competitions"][0]["status"]):
            status["type"]["state"] = state
            status["type"]["completed"] = state == "post"
            status["period"] = 0 if state == "pre" else 4
            status["displayClock"] = "5:00"
        for side in event["competitions"][0]["competitors"]:
            side["score"] = str(home if side["homeAway"] == "home" else away)


def use_apis(monkeypatch: pytest.MonkeyPatch, espn_base: str, owm_base: str) -> None:
    """Give the coordinators and the options flow these API base URLs (their parameters),
    where the integration builds or calls them."""
    monkeypatch.setattr(
        runtime,
        "SportsCoordinator",
        functools.partial(coordinator.SportsCoordinator, espn_base=espn_base),
    )
    monkeypatch.setattr(
        runtime,
        "WeatherCoordinator",
        functools.partial(coordinator.WeatherCoordinator, owm_base=owm_base),
    )
    monkeypatch.setattr(
        config_flow,
        "async_fetch_teams",
        functools.partial(enrichment.async_fetch_teams, espn_base=espn_base),
    )
    monkeypatch.setattr(
        config_flow, "fetch_owm", functools.partial(enrichment.fetch_owm, base=owm_base)
    )


def team_entity(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.entry_id}_team_{key}"
    )
    assert entity_id is not None
    return entity_id
