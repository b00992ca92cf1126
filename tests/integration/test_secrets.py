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
    # (and InfluxDB 1.x's query-string form, ?u=...&p=...)
    url = influxdb1.url.replace("http://", "http://writer:url-secret-pw@") + "?u=qs&p=qs-secret"
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
    for secret in ("url-secret-pw", "writer", "qs-secret", "u=qs"):
        assert secret not in text, secret
    assert (
        diag["entry"]["data"][CONF_URL]
        == influxdb1.url.replace("http://", "http://**REDACTED**@")
        + "?u=**REDACTED**&p=**REDACTED**"
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


async def test_diagnostics_show_a_rejected_point_without_its_values(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    influxdb1: InfluxDB1,
    database: str,
) -> None:
    """Dead letters were in the download as sent: a phone's coordinates, anything an
    attribute or event held. The series, field names and types say why InfluxDB refused it.
    The only point since the start being refused also left the entry 'not connected', so
    flush failed with 'the rest stays queued' while nothing was pending."""
    # InfluxDB holds `latitude` as a string this week (its shard): ours, a float, is a type
    # conflict (400).
    await hass.async_add_executor_job(
        influxdb1.write, database, 'ha_states,entity_id=device_tracker.old latitude="north"'
    )
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    hass.states.async_set(
        "device_tracker.phone",
        "home",
        {"latitude": 52.373123, "longitude": 4.892456, "gps_accuracy": 12, "source": "gps"},
    )
    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    runtime = entry.runtime_data
    assert runtime.pipeline.stats.dead_lettered == 1
    assert runtime.stats.connected is True

    diag = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    (letter,) = diag["dead_letters"]["newest"]
    text = json.dumps(diag)
    for value in ("52.373", "4.892", "gps_accuracy=12"):
        assert value not in text, value
    assert letter["line"].startswith("ha_states,")
    assert "entity_id=device_tracker.phone" in letter["line"]
    assert "latitude=<float>" in letter["line"]
    assert "state=<string>" in letter["line"]
    assert "field type conflict" in letter["reason"]
    await hass.config_entries.async_unload(entry.entry_id)
