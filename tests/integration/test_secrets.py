"""Secrets stay out of InfluxDB, diagnostics, error texts and other users' reach: a camera's
access_token, credentials in the URL, the OpenWeatherMap key in a redirect error, the spool."""

from __future__ import annotations

import json
import stat

import aiohttp
from aiohttp import web
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers.update_coordinator import UpdateFailed
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ha_ingestor import spool_path
from custom_components.ha_ingestor.const import DOMAIN
from custom_components.ha_ingestor.enrichment import fetch_json
from tests.helpers import setup_entry
from tests.servers import InfluxDB1

from .conftest import v1_entry


async def test_camera_token_never_reaches_influxdb_and_spool_is_private(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    influxdb1: InfluxDB1,
    database: str,
) -> None:
    plain = v1_entry(influxdb1.url, database)
    # Credentials in the URL (a form users paste): diagnostics must not show them.
    url = influxdb1.url.replace("http://", "http://writer:url-secret-pw@")
    entry = MockConfigEntry(
        domain=DOMAIN, title=plain.title, unique_id=plain.unique_id,
        data={**plain.data, CONF_URL: url}, options=plain.options,
    )  # fmt: skip
    await setup_entry(hass, entry)
    hass.states.async_set(
        "camera.door",
        "idle",
        {"access_token": "cam-token-5f2e", "friendly_name": "Door", "brand": "Acme"},
    )
    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    rows = influxdb1.rows('SELECT * FROM "ha_states" GROUP BY *', database)
    (row,) = [r for r in rows if r.get("entity_id") == "camera.door"]
    assert "cam-token-5f2e" not in json.dumps(rows)
    assert not [key for key in row if "access_token" in key]
    assert "Acme" in json.dumps(row)  # other attributes still arrive

    path = spool_path(hass, entry)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    diag = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diag)
    assert "url-secret-pw" not in text
    assert "writer" not in text
    assert diag["entry"]["data"][CONF_URL] == influxdb1.url.replace(
        "http://", "http://**REDACTED**@"
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def test_redirect_loop_error_keeps_the_api_key_out(socket_enabled: None) -> None:
    """aiohttp's TooManyRedirects text holds the full URL; OpenWeatherMap's has appid=KEY."""

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/data/2.5/weather?{request.query_string}&n=1")

    app = web.Application()
    app.router.add_get("/data/2.5/weather", loop)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/data/2.5/weather?lat=1&lon=2&appid=owm-key-9c1d"
            with pytest.raises(UpdateFailed) as caught:
                await fetch_json(session, url)
    finally:
        await runner.cleanup()
    placeholders = caught.value.translation_placeholders or {}
    assert "TooManyRedirects" in repr(caught.value.__cause__)
    assert "owm-key-9c1d" not in json.dumps(placeholders)
    assert "owm-key-9c1d" not in str(caught.value)
    assert placeholders["url"] == f"http://127.0.0.1:{port}/data/2.5/weather"
