"""10,000+ mixed state changes through Home Assistant into real InfluxDB 1.6 and VictoriaMetrics."""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
import pytest

from custom_components.ha_ingestor.const import CONF_EVENT_TYPES, CONF_VICTORIA_METRICS
from custom_components.ha_ingestor.schema import state_to_number, timestamp_us
from tests.helpers import flush, setup_entry, v1_entry, v2_entry
from tests.servers import InfluxDB1, VictoriaMetrics

from .event_mix import state_changes

EVENTS = 12_000


async def fire(
    hass: HomeAssistant, count: int, entities_per_kind: int = 40
) -> list[tuple[str, int, str]]:
    """Set states; return (entity_id, time_us, state) of every state_changed HA fired for them."""
    seen: list[tuple[str, int, str]] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None and new.entity_id.split(".")[1].startswith(
            ("temp_", "power_", "door_", "mode_", "l_", "c_")
        ):
            seen.append((new.entity_id, timestamp_us(event.time_fired_timestamp), new.state))

    unsub = hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    for n, (entity_id, state, attributes) in enumerate(state_changes(count, entities_per_kind)):
        hass.states.async_set(entity_id, state, attributes)
        if n % 500 == 0:
            await asyncio.sleep(0)  # let the writer task run, as a live system would
    unsub()
    return seen


async def test_12k_state_changes_into_influxdb_1(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    seen = await fire(hass, EVENTS)
    assert len(seen) >= 10_000  # HA fires nothing for the rare set that changes nothing
    await flush(hass)

    rows = influxdb1.rows('SELECT * FROM "ha_states" GROUP BY *', database)
    stored = {(r["entity_id"], r["time"] // 1000): r for r in rows}
    assert len(stored) == len(rows) == len(seen)
    for entity_id, time_us, state in seen:
        row: dict[str, Any] = stored[(entity_id, time_us)]
        assert row["state"] == state
        number = state_to_number(state)
        assert row["value"] == number
    # spot-check metadata and attributes
    temp = next(
        r for r in rows if r["entity_id"] == "sensor.temp_3" and r["state"] != "unavailable"
    )
    assert (temp["unit"], temp["device_class"], temp["friendly_name"]) == (
        "°C",
        "temperature",
        "Temp 3, room",
    )
    assert temp["state_class_str"] == "measurement"
    climate = next(r for r in rows if r["entity_id"] == "climate.c_1")
    assert climate["hvac_modes_str"] == '["heat", "off"]'
    stats = entry.runtime_data.pipeline.stats
    assert stats.written == len(seen)
    assert stats.received == stats.written + stats.filtered + entry.runtime_data.pipeline.pending
    assert stats.dropped_total == 0 and stats.dead_lettered == 0
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("api", ["v2", "v1"])
async def test_line_breaks_in_strings_do_not_cost_victoriametrics_the_point(
    hass: HomeAssistant, victoria: VictoriaMetrics, socket_enabled: None, api: str
) -> None:
    """VictoriaMetrics ends a line at a line break even inside a quoted string, drops both
    halves and answers 204: a multi-line attribute (a calendar description, release notes)
    or event text cost the whole point, its value and number fields too. An entry made before
    the config flow recorded that the server is VictoriaMetrics learns it at setup, through
    either API it speaks."""
    options = {CONF_EVENT_TYPES: [EVENT_STATE_CHANGED, "custom_note"]}
    entry = (
        v2_entry(victoria.url, token="unused", **options)
        if api == "v2"
        else v1_entry(victoria.url, "home_assistant", victoria_metrics=None, **options)
    )
    await setup_entry(hass, entry)
    assert entry.data[CONF_VICTORIA_METRICS] is True
    hass.states.async_set(
        "sensor.release", "21.5", {"notes": "line one\nline two\r\nthree", "build": 7}
    )
    hass.bus.async_fire("custom_note", {"message": "a\nb", "level": 2})
    await flush(hass)
    for metric, labels, value in (
        ("ha_states_value", 'entity_id="sensor.release"', 21.5),
        ("ha_states_build", 'entity_id="sensor.release"', 7.0),
        ("ha_events_level", 'event_type="custom_note"', 2.0),
    ):
        series = await hass.async_add_executor_job(
            victoria.wait_for_samples, 1, f"{{__name__={metric!r},{labels}}}".replace("'", '"')
        )
        assert [v for s in series for v in s["values"]] == [value]  # type: ignore[attr-defined]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_12k_state_changes_into_victoriametrics_v2(
    hass: HomeAssistant, victoria: VictoriaMetrics, socket_enabled: None
) -> None:
    entry = v2_entry(victoria.url, token="unused")
    await setup_entry(hass, entry)
    # 240 entities: the same entity changes at most every few ms (VictoriaMetrics keeps ms)
    seen = await fire(hass, EVENTS, entities_per_kind=40)
    await flush(hass)
    numeric = {
        (entity_id, time_us // 1000): number
        for entity_id, time_us, state in seen
        if (number := state_to_number(state)) is not None
    }
    series = await hass.async_add_executor_job(
        victoria.wait_for_samples, len(numeric), '{__name__="ha_states_value"}'
    )
    stored = {
        (s["metric"]["entity_id"], ts): value  # type: ignore[index]
        for s in series
        for ts, value in zip(s["timestamps"], s["values"], strict=True)  # type: ignore[arg-type]
    }
    assert stored == numeric
    assert len(seen) >= 10_000
    assert entry.runtime_data.pipeline.stats.written == len(seen)
    await hass.config_entries.async_unload(entry.entry_id)
