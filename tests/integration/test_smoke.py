"""A few states through the whole pipeline into real InfluxDB 1.6."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.helpers import flush
from tests.servers import InfluxDB1


async def test_states_land(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, loaded_v1: MockConfigEntry
) -> None:
    hass.states.async_set("sensor.t", "21.5", {"unit_of_measurement": "°C", "friendly_name": "T"})
    hass.states.async_set("switch.s", "on", {"friendly_name": "S, with comma"})
    await flush(hass)
    rows = influxdb1.rows('SELECT * FROM "ha_states" GROUP BY *', database)
    by_entity = {r["entity_id"]: r for r in rows}
    assert by_entity["sensor.t"]["value"] == 21.5
    assert by_entity["sensor.t"]["unit"] == "°C"
    assert by_entity["switch.s"]["state"] == "on"
    assert by_entity["switch.s"]["value"] == 1.0
    assert by_entity["switch.s"]["friendly_name"] == "S, with comma"
