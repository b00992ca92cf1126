"""Core-compatible mode writes exactly what HA core's influxdb integration writes.

Both run in the same Home Assistant on the same events, each into its own database of one
real InfluxDB 1.6; then every stored point (measurement, tags, fields, time) is compared.
Core is set up the way the running Home Assistant sets it up: from YAML up to 2026.x, through
its config flow (as a user does in the UI) once it has one. Core's rules changed in 2026.10
(line breaks, a ``time`` field), so the events include both on both versions.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.loader import async_get_integration
from homeassistant.setup import async_setup_component

from custom_components.ha_ingestor.const import CONF_SCHEMA_MODE, SCHEMA_CORE
from tests.helpers import async_wait_until, flush, setup_entry, v1_entry
from tests.servers import InfluxDB1

from .event_mix import state_changes

EVENTS = 3_000
OBJECT_PREFIXES = ("temp_", "power_", "door_", "mode_", "l_", "c_", "lb_")
# Line breaks (every kind str.splitlines knows) in states, units (the measurement) and string
# attributes, and attributes named "time" beside "time_" and "time_str".
LINE_BREAKS = ("\n", "\r\n", "\r", "\u2028", "\x0b")
TRICKY: list[tuple[str, str, dict[str, Any]]] = [
    *(
        (
            f"sensor.lb_{n}",
            f"line{brk}two",
            {
                "note": f"a{brk}b{brk}",
                "friendly_name": f"Two{brk}lines",
                "unit_of_measurement": f"x{brk}y",
            },
        )
        for n, brk in enumerate(LINE_BREAKS)
    ),
    ("sensor.lb_time_1", "5", {"time": "12:30", "unit_of_measurement": "min"}),
    ("sensor.lb_time_2", "6", {"time": 7, "time_": 8, "time_str": "x"}),
    ("sensor.lb_time_3", "on\n", {"time": "now\nlater 9"}),
    ("sensor.lb_empty", "\n", {"note": "\n"}),
]


async def setup_core_influxdb(
    hass: HomeAssistant, influxdb1: InfluxDB1, db: str, config_dir: Path
) -> None:
    """Core's influxdb on `db`: its config flow where it has one (2026.x), else YAML."""
    integration = await async_get_integration(hass, "influxdb")
    if not integration.config_flow:
        port = influxdb1.url.rsplit(":", 1)[1]
        assert await async_setup_component(
            hass, "influxdb", {"influxdb": {"host": "127.0.0.1", "port": port, "database": db}}
        )
        return
    # Its entry setup reads configuration.yaml for the YAML-only options: a user's empty one.
    (config_dir / "configuration.yaml").write_text("{}\n")
    hass.config.config_dir = str(config_dir)
    result = await hass.config_entries.flow.async_init("influxdb", context={"source": "user"})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "configure_v1"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": influxdb1.url, "verify_ssl": False, "database": db}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


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
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, tmp_path: Path
) -> None:
    core_db = f"{database}_core"
    influxdb1.create_database(core_db)
    await setup_core_influxdb(hass, influxdb1, core_db, tmp_path)
    entry = v1_entry(influxdb1.url, database, **{CONF_SCHEMA_MODE: SCHEMA_CORE})
    await setup_entry(hass, entry)

    for n, (entity_id, state, attributes) in enumerate([*state_changes(EVENTS), *TRICKY]):
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
    tricky = {p for p in ours if any(k == "entity_id" and v.startswith("lb_") for k, v in p[2])}  # type: ignore[union-attr]
    assert len(tricky) == len(TRICKY)
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


async def test_unit_starting_with_hash_is_written_under_the_entity_id(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    """Core writes "#/0.1L,..." (ESPHome's particle counters), which InfluxDB takes as a
    comment: it answers 204 and stores nothing. Ours is stored, under the entity id."""
    entry = v1_entry(influxdb1.url, database, **{CONF_SCHEMA_MODE: SCHEMA_CORE})
    await setup_entry(hass, entry)
    hass.states.async_set("sensor.pm_0_3", "712", {"unit_of_measurement": "#/0.1L"})
    await flush(hass)

    rows = await hass.async_add_executor_job(
        influxdb1.rows, 'SELECT * FROM "sensor.pm_0_3"', database
    )
    assert [(r["entity_id"], r["value"], r["unit_of_measurement_str"]) for r in rows] == [
        ("pm_0_3", 712.0, "#/0.1L")
    ]
    data = entry.runtime_data
    assert data.stats.written == 1
    assert data.skips.reasons["unit_starts_with_hash"] == 1
    await hass.config_entries.async_unload(entry.entry_id)
