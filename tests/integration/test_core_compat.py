"""Core-compatible mode writes exactly what HA core's influxdb integration writes.

Both run in the same Home Assistant on the same events, each into its own database of one
real InfluxDB 1.6; then every stored point (measurement, tags, fields, time) is compared.
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from custom_components.ha_ingestor.const import CONF_SCHEMA_MODE, SCHEMA_CORE
from tests.helpers import async_wait_until, flush, setup_entry, v1_entry
from tests.servers import InfluxDB1

from .event_mix import state_changes

EVENTS = 3_000
OBJECT_PREFIXES = ("temp_", "power_", "door_", "mode_", "l_", "c_")


def all_points(server: InfluxDB1, db: str) -> set[tuple[Any, ...]]:
    points = set()
    for row in server.rows("SELECT * FROM /.*/ GROUP BY *", db):
        if not str(row.get("entity_id", "")).startswith(OBJECT_PREFIXES):
            continue
        measurement, timestamp = row.pop("_measurement"), row.pop("time")
        items = tuple(sorted((k, v) for k, v in row.items() if v not in (None, "")))
        points.add((measurement, timestamp, items))
    return points


async def test_same_points_as_core_influxdb(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    core_db = f"{database}_core"
    influxdb1.create_database(core_db)
    port = influxdb1.url.rsplit(":", 1)[1]
    assert await async_setup_component(
        hass, "influxdb", {"influxdb": {"host": "127.0.0.1", "port": port, "database": core_db}}
    )
    entry = v1_entry(influxdb1.url, database, **{CONF_SCHEMA_MODE: SCHEMA_CORE})
    await setup_entry(hass, entry)

    for n, (entity_id, state, attributes) in enumerate(state_changes(EVENTS)):
        hass.states.async_set(entity_id, state, attributes)
        if n % 200 == 0:
            await asyncio.sleep(0)
    await flush(hass)
    ours = await hass.async_add_executor_job(all_points, influxdb1, database)

    async def core_caught_up() -> set[tuple[Any, ...]] | None:
        core = await hass.async_add_executor_job(all_points, influxdb1, core_db)
        return core if len(core) >= len(ours) else None

    # Core writes from its own thread, about once a second.
    core = await async_wait_until(core_caught_up, "core's points", interval=0.5)

    assert len(ours) > 0.9 * EVENTS  # unavailable states are skipped by both
    assert ours - core == set()
    assert core - ours == set()
    measurements = {m for m, _, _ in ours}
    assert {
        "°C",
        "W",
        "binary_sensor.door_0",
        "sensor.mode_0",
        "light.l_0",
        "climate.c_0",
    } <= measurements
    await hass.config_entries.async_unload(entry.entry_id)
