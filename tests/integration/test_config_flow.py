"""Every config-flow step and error, against real and documented-API servers."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_URL, CONF_USERNAME, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ha_ingestor.const import (
    CONF_API,
    CONF_BATCH_SIZE,
    CONF_BUCKET,
    CONF_DATABASE,
    CONF_EVENT_TYPES,
    CONF_EXCLUDE_DOMAINS,
    CONF_FLUSH_INTERVAL,
    CONF_ORG,
    CONF_SCHEMA_MODE,
    CONF_SPOOL_SIZE_MB,
    CONF_VICTORIA_METRICS,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from custom_components.ha_ingestor.identity import same_target
from tests.helpers import FakeServer, closed_port_url, v1_entry, v2_entry, v2_input
from tests.servers import InfluxDB1

pytestmark = pytest.mark.usefixtures("unload_patched_entries")


async def _start(hass: HomeAssistant, step: str) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["influxdb_v1", "influxdb_v2", "influxdb_v3"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": step}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == step
    return result


async def test_v1_creates_entry_after_real_test(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    result = await _start(hass, "influxdb_v1")
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True) as setup:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_URL: influxdb1.url + "/", CONF_DATABASE: database, CONF_VERIFY_SSL: True},
        )
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"InfluxDB {database} (127.0.0.1)"
    assert result["data"] == {
        CONF_URL: influxdb1.url,
        CONF_DATABASE: database,
        CONF_VERIFY_SSL: True,
        CONF_API: "v1",
        CONF_VICTORIA_METRICS: False,  # asked: VictoriaMetrics speaks the 1.x API too
    }
    assert result["options"] == DEFAULT_OPTIONS
    assert result["result"].unique_id is None  # duplicates are found by the data, not a URL id
    assert len(setup.mock_calls) == 1


async def test_v2_creates_entry(hass: HomeAssistant, fake_v2: FakeServer) -> None:
    result = await _start(hass, "influxdb_v2")
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v2_input(fake_v2.url)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "InfluxDB home_assistant (127.0.0.1)"
    assert result["data"][CONF_API] == "v2"
    assert result["data"][CONF_TOKEN] == "good-token"
    assert fake_v2.fake.requests == 1


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({CONF_TOKEN: "wrong"}, "invalid_auth"),
        ({CONF_BUCKET: "nope"}, "bucket_not_found"),
        ({CONF_ORG: "nope"}, "bucket_not_found"),
    ],
)
async def test_v2_errors_then_recover(
    hass: HomeAssistant, fake_v2: FakeServer, overrides: dict[str, str], error: str
) -> None:
    result = await _start(hass, "influxdb_v2")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], v2_input(fake_v2.url, **overrides)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert not hass.config_entries.async_entries(DOMAIN)
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v2_input(fake_v2.url)
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_v1_missing_database(
    hass: HomeAssistant, influxdb1: InfluxDB1, socket_enabled: None
) -> None:
    result = await _start(hass, "influxdb_v1")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: influxdb1.url, CONF_DATABASE: "does_not_exist"}
    )
    assert result["errors"] == {"base": "database_not_found"}


async def test_unreachable_and_not_influxdb(
    hass: HomeAssistant, socket_enabled: None, not_influx_url: str
) -> None:
    result = await _start(hass, "influxdb_v1")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: closed_port_url(), CONF_DATABASE: "x"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: not_influx_url, CONF_DATABASE: "x"}
    )
    assert result["errors"] == {"base": "not_influxdb"}


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://127.0.0.1", "http://", "127.0.0.1:8086", "http://[::1"]
)
async def test_malformed_url(hass: HomeAssistant, url: str) -> None:
    result = await _start(hass, "influxdb_v1")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_URL: url, CONF_DATABASE: "x"}
    )
    assert result["errors"] == {CONF_URL: "invalid_url"}


async def test_ssl_error_and_verify_off(hass: HomeAssistant, https_url: str) -> None:
    result = await _start(hass, "influxdb_v2")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], v2_input(https_url))
    assert result["errors"] == {"base": "ssl_error"}
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v2_input(https_url, **{CONF_VERIFY_SSL: False})
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_unknown_error(hass: HomeAssistant, fake_v2: FakeServer) -> None:
    result = await _start(hass, "influxdb_v2")
    with patch(
        "custom_components.ha_ingestor.config_flow.InfluxWriter.check",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v2_input(fake_v2.url)
        )
    assert result["errors"] == {"base": "unknown"}


async def test_same_target_twice_aborts_other_target_allowed(
    hass: HomeAssistant, fake_v2: FakeServer
) -> None:
    fake_v2.fake.buckets.add("second")
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await _start(hass, "influxdb_v2")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v2_input(fake_v2.url)
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_VICTORIA_METRICS] is False  # InfluxDB 2: asked, and known
        result = await _start(hass, "influxdb_v2")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v2_input(fake_v2.url)
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
        result = await _start(hass, "influxdb_v2")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], v2_input(fake_v2.url, **{CONF_BUCKET: "second"})
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2


async def test_database_names_differ_by_case_urls_do_not(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    """InfluxDB's names are case-sensitive: "db" and "DB" are two databases on one server."""
    upper = database.upper()
    influxdb1.create_database(upper)
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        for name in (database, upper):
            result = await _start(hass, "influxdb_v1")
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_URL: influxdb1.url, CONF_DATABASE: name}
            )
            assert result["type"] is FlowResultType.CREATE_ENTRY
    assert {e.data[CONF_DATABASE] for e in hass.config_entries.async_entries(DOMAIN)} == {
        database,
        upper,
    }
    one = {CONF_API: "v1", CONF_URL: "http://influx.lan:8086/influx", CONF_DATABASE: "home"}
    assert same_target(one, {**one, CONF_URL: "HTTP://Influx.LAN:8086/influx/"})
    assert not same_target(one, {**one, CONF_URL: "http://influx.lan:8086/Influx"})
    assert not same_target(one, {**one, CONF_DATABASE: "Home"})


async def test_reauth_v2(hass: HomeAssistant, fake_v2: FakeServer) -> None:
    entry = v2_entry(fake_v2.url, token="old")
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_TOKEN: "good-token"}
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_TOKEN] == "good-token"


async def test_reauth_v1(hass: HomeAssistant, influxdb1: InfluxDB1, database: str) -> None:
    entry = v1_entry(influxdb1.url, database)
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_USERNAME: "writer", CONF_PASSWORD: "secret"}
        )
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_USERNAME] == "writer"


async def test_reconfigure_keeps_secret_and_blocks_collisions(
    hass: HomeAssistant, fake_v2: FakeServer
) -> None:
    fake_v2.fake.buckets |= {"other", "taken"}
    entry = v2_entry(fake_v2.url)
    entry.add_to_hass(hass)
    MockConfigEntry(
        domain=DOMAIN, minor_version=2, data={**entry.data, CONF_BUCKET: "taken"}
    ).add_to_hass(hass)

    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    fields = {
        k: v for k, v in v2_input(fake_v2.url, **{CONF_BUCKET: "taken"}).items() if k != CONF_TOKEN
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], fields)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"

    result = await entry.start_reconfigure_flow(hass)
    fields[CONF_BUCKET] = "other"
    with patch("custom_components.ha_ingestor.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], fields)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_BUCKET] == "other"
    assert entry.data[CONF_TOKEN] == "good-token"  # not retyped, kept
    assert entry.unique_id is None
    assert entry.title == "InfluxDB other (127.0.0.1)"  # the default title follows the bucket


async def test_reconfigure_shows_errors(hass: HomeAssistant, fake_v2: FakeServer) -> None:
    entry = v2_entry(fake_v2.url)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], v2_input(fake_v2.url, **{CONF_TOKEN: "bad"})
    )
    assert result["errors"] == {"base": "invalid_auth"}


async def test_options_flow_sections(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    entry = v1_entry(influxdb1.url, database)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["settings", "weather", "sports"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    assert result["type"] is FlowResultType.FORM
    sections = {
        "include": {},
        "exclude": {CONF_EXCLUDE_DOMAINS: ["automation"]},
        "data": {
            CONF_EVENT_TYPES: [],
            CONF_SCHEMA_MODE: "core",
            "include_attributes": False,
            "ignore_attributes": [],
            "metadata_tags": ["area"],
            "include_own_entities": False,
        },
        "delivery": {CONF_BATCH_SIZE: 250.0, CONF_FLUSH_INTERVAL: 2.5, CONF_SPOOL_SIZE_MB: 50.0},
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], sections)
    assert result["errors"] == {"base": "no_event_types"}
    sections["data"][CONF_EVENT_TYPES] = ["state_changed", "call_service"]
    result = await hass.config_entries.options.async_configure(result["flow_id"], sections)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_SCHEMA_MODE] == "core"
    assert entry.options[CONF_BATCH_SIZE] == 250
    assert entry.options[CONF_EXCLUDE_DOMAINS] == ["automation"]
    assert entry.options[CONF_EVENT_TYPES] == ["state_changed", "call_service"]
    await hass.config_entries.async_unload(entry.entry_id)
