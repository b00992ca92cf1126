"""Fixtures: custom integrations enabled, a fresh InfluxDB 1.6 database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
import itertools
from typing import Any

from homeassistant.const import CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ha_ingestor.const import (
    CONF_API,
    CONF_BATCH_SIZE,
    CONF_DATABASE,
    CONF_FLUSH_INTERVAL,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from tests.servers import InfluxDB1

_db_names = itertools.count()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


@pytest.fixture
def database(influxdb1: InfluxDB1, socket_enabled: None) -> str:
    name = f"test_{next(_db_names)}"
    influxdb1.create_database(name)
    return name


def v1_entry(url: str, database: str, **options: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{database} @ 127.0.0.1",
        unique_id=f"{url}|{database}",
        data={CONF_API: "v1", CONF_URL: url, CONF_DATABASE: database, CONF_VERIFY_SSL: True},
        options={**DEFAULT_OPTIONS, CONF_FLUSH_INTERVAL: 0.2, CONF_BATCH_SIZE: 500, **options},
    )


@pytest.fixture
async def loaded_v1(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> AsyncIterator[MockConfigEntry]:
    entry = v1_entry(influxdb1.url, database)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
