"""Each form a user can open, as the frontend gets it: every text translated (checked through
HA's translation loader), and the rough edges of issue #15 gone."""

from __future__ import annotations

from typing import Any

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations

from custom_components.ha_ingestor.const import (
    CONF_EVENT_TYPES,
    CONF_OWM_API_KEY,
    CONF_SPORTS_TEAMS,
    DOMAIN,
)
from tests.helpers import closed_port_url, v1_entry
from tests.servers import InfluxDB1

PREFIX = f"component.{DOMAIN}"  # keys as Home Assistant's translation loader returns them


async def _options(hass: HomeAssistant, entry_id: str, *steps: str) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry_id)
    for step in steps:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": step}
        )
    return result


async def test_add_forms_are_translated_and_say_nothing_of_stored_secrets(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    texts = await async_get_translations(hass, "en", "config", [DOMAIN])
    for step in ("influxdb_v1", "influxdb_v2"):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": config_entries.SOURCE_USER}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": step}
        )
        assert result["type"] is FlowResultType.FORM
        shown = [v for k, v in texts.items() if k.startswith(f"{PREFIX}.config.step.{step}.")]
        assert not [t for t in shown if "stored" in t]  # nothing is stored in an add flow
        url_help = texts[f"{PREFIX}.config.step.{step}.data_description.url"]
        assert "`http://192.168.1.10:8086`" in url_help  # code, not a link
        fields = (
            {"database": "x"}
            if step == "influxdb_v1"
            else {"organization": "o", "bucket": "b", "token": "t"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"url": closed_port_url(), "verify_ssl": True, **fields}
        )
        assert result["errors"] == {"base": "cannot_connect"}
    assert "stored" in texts[f"{PREFIX}.config.step.reconfigure.data_description.token"]


async def test_options_forms(hass: HomeAssistant, influxdb1: InfluxDB1, database: str) -> None:
    entry = v1_entry(influxdb1.url, database)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    selectors = await async_get_translations(hass, "en", "selector", [DOMAIN])

    settings = await _options(hass, entry.entry_id, "settings")
    data_section = next(
        value.schema for key, value in settings["data_schema"].schema.items() if key == "data"
    )
    event_types = next(
        value for key, value in data_section.schema.items() if key == CONF_EVENT_TYPES
    ).config
    assert event_types["custom_value"]  # any other event type can still be typed
    assert event_types["translation_key"] == CONF_EVENT_TYPES
    label = selectors[f"{PREFIX}.selector.event_types.options.call_service"]
    assert label != "call_service" and "call_service" in label  # readable, still findable

    weather = await _options(hass, entry.entry_id, "weather")
    assert weather["type"] is FlowResultType.MENU
    assert weather["menu_options"] == ["weather_entity", "weather_owm", "weather_off"]
    form = await _options(hass, entry.entry_id, "weather", "weather_entity")
    assert CONF_OWM_API_KEY not in form["data_schema"].schema
    result = await hass.config_entries.options.async_configure(
        form["flow_id"], {"weather_enrichment": "off"}
    )
    assert result["errors"] == {"weather_entity": "weather_entity_required"}
    form = await _options(hass, entry.entry_id, "weather", "weather_owm")
    assert CONF_OWM_API_KEY in form["data_schema"].schema
    result = await hass.config_entries.options.async_configure(
        form["flow_id"], {"weather_enrichment": "off"}
    )
    assert result["errors"] == {CONF_OWM_API_KEY: "api_key_required"}

    sports = await _options(hass, entry.entry_id, "sports")
    assert CONF_SPORTS_TEAMS not in sports["data_schema"].schema  # no heading over nothing
    assert "league" in sports["data_schema"].schema
    await hass.config_entries.async_unload(entry.entry_id)
