"""What names an entry: no URL unique id, duplicates refused by target, readable titles that
tell entries on one host apart and stay across reconfigure, and the 1.1 -> 1.2 migration."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ha_ingestor.const import (
    CONF_API,
    CONF_BUCKET,
    CONF_DATABASE,
    CONF_OWM_API_KEY,
    CONF_WEATHER_SOURCE,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from tests.helpers import FakeServer, closed_port_url, setup_entry, v1_entry, v2_input
from tests.servers import InfluxDB1

pytestmark = pytest.mark.usefixtures("unload_patched_entries")


async def _v2_form(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "influxdb_v2"}
    )


def _suggested(result: dict[str, Any], field: str) -> Any:
    for marker in result["data_schema"].schema:
        if marker.schema == field:
            return (marker.description or {}).get("suggested_value")
    raise AssertionError(f"no field {field}")


async def test_second_add_flow_for_a_target_aborts_in_progress_translated(
    hass: HomeAssistant, fake_v2: FakeServer
) -> None:
    first = await _v2_form(hass)
    first = await hass.config_entries.flow.async_configure(
        first["flow_id"], v2_input(fake_v2.url, **{CONF_TOKEN: "wrong"})
    )
    assert first["errors"] == {"base": "invalid_auth"}
    assert _suggested(first, CONF_TOKEN) == "wrong"  # what was typed comes back after an error

    second = await _v2_form(hass)
    second = await hass.config_entries.flow.async_configure(
        second["flow_id"], v2_input(fake_v2.url)
    )
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_in_progress"

    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        first = await hass.config_entries.flow.async_configure(
            first["flow_id"], v2_input(fake_v2.url)
        )
    assert first["type"] is FlowResultType.CREATE_ENTRY
    assert first["result"].unique_id is None

    third = await _v2_form(hass)
    third = await hass.config_entries.flow.async_configure(
        third["flow_id"], v2_input(fake_v2.url.upper().replace("HTTP", "http"))
    )
    assert third["reason"] == "already_configured"  # the same target, spelled in capitals


async def test_default_titles_tell_entries_on_one_host_apart(
    hass: HomeAssistant, fake_v2: FakeServer
) -> None:
    fake_v2.fake.buckets.add("energy")
    other_port = closed_port_url()
    MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="InfluxDB home_assistant (127.0.0.1)",
        data={CONF_API: "v2", **v2_input(other_port)},
    ).add_to_hass(hass)
    port = fake_v2.url.rsplit(":", 1)[1]
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await _v2_form(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v2_input(fake_v2.url)
        )
        assert result["title"] == f"InfluxDB home_assistant (127.0.0.1:{port})"
        result = await _v2_form(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v2_input(fake_v2.url, **{CONF_BUCKET: "energy"})
        )
        assert result["title"] == "InfluxDB energy (127.0.0.1)"
    titles = [e.title for e in hass.config_entries.async_entries(DOMAIN)]
    assert len(set(titles)) == 3


async def test_reconfigure_keeps_title_device_and_entity_ids(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    ent_reg = er.async_get(hass)
    before = sorted(e.entity_id for e in er.async_entries_for_config_entry(ent_reg, entry.entry_id))
    slug = database.replace("-", "_")
    assert f"sensor.influxdb_{slug}_127_0_0_1_events_received" in before  # has_entity_name ids
    assert "binary_sensor." + f"influxdb_{slug}_127_0_0_1_connectivity" in before

    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_URL: influxdb1.url,
            CONF_DATABASE: database,
            CONF_PASSWORD: "changed",
            CONF_VERIFY_SSL: True,
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.title == f"InfluxDB {database} (127.0.0.1)"
    assert entry.data[CONF_PASSWORD] == "changed"
    after = sorted(e.entity_id for e in er.async_entries_for_config_entry(ent_reg, entry.entry_id))
    assert after == before
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.name == entry.title
    await hass.config_entries.async_unload(entry.entry_id)


async def test_migration_from_1_1(hass: HomeAssistant, influxdb1: InfluxDB1, database: str) -> None:
    """Entries made before 1.2: URL unique id, OWM key in the options, "<db> @ <host>" titles."""
    data = {CONF_API: "v1", CONF_URL: influxdb1.url, CONF_DATABASE: database, CONF_VERIFY_SSL: True}
    old = MockConfigEntry(
        domain=DOMAIN,
        version=1,
        minor_version=1,
        title=f"{database} @ 127.0.0.1",
        unique_id=f"{influxdb1.url}|{database}",
        data=data,
        options={
            **DEFAULT_OPTIONS,
            CONF_WEATHER_SOURCE: "openweathermap",
            CONF_OWM_API_KEY: "secret-key",
        },
    )
    # A second old entry: the same database name on another port of the same host.
    other = MockConfigEntry(
        domain=DOMAIN,
        version=1,
        minor_version=1,
        title=f"{database} @ 127.0.0.1",
        unique_id=f"{closed_port_url()}|{database}",
        data={**data, CONF_URL: closed_port_url()},
        options=dict(DEFAULT_OPTIONS),
    )
    renamed = MockConfigEntry(
        domain=DOMAIN, minor_version=1, title="My InfluxDB", data={**data, CONF_DATABASE: "x"}
    )
    for entry in (old, other, renamed):
        entry.add_to_hass(hass)
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        assert await hass.config_entries.async_setup(old.entry_id)  # sets up the domain's entries
        await hass.async_block_till_done()
    for entry in (old, other, renamed):
        assert entry.state is config_entries.ConfigEntryState.LOADED
        assert (entry.version, entry.minor_version, entry.unique_id) == (1, 2, None)
    assert old.data[CONF_OWM_API_KEY] == "secret-key"
    assert CONF_OWM_API_KEY not in old.options
    assert old.options[CONF_WEATHER_SOURCE] == "openweathermap"
    assert old.title == f"InfluxDB {database} (127.0.0.1)"
    assert other.title.startswith(f"InfluxDB {database} (127.0.0.1:")  # still told apart
    assert renamed.title == "My InfluxDB"  # a title the user chose stays


async def test_entry_from_a_newer_version_is_left_alone(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(domain=DOMAIN, version=2, data={}, title="future")
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is config_entries.ConfigEntryState.MIGRATION_ERROR
