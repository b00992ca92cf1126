"""What our diagnostic entities cost the user's Home Assistant database and logbook, measured
with the real recorder (SQLite) and the real logbook over 5 minutes of steady ingestion.

The statistics coordinator's timer is driven by firing time forward one refresh interval at a
time (HA's scheduling, not a direct refresh call); between refreshes the user's entities change
twice a second and everything is written to a real InfluxDB 1.6.
"""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import patch

from homeassistant.components.recorder import Recorder, history
from homeassistant.components.recorder.db_schema import States, StatesMeta
from homeassistant.components.recorder.util import session_scope
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
import homeassistant.util.dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import (
    RecorderInstanceContextManager,
    WebSocketGenerator,
)

from custom_components.ha_ingestor.const import CONF_SPORTS_TEAMS, DOMAIN, STATS_INTERVAL_SECONDS
from tests.helpers import async_wait_until, setup_entry, v1_entry
from tests.servers import InfluxDB1

from .fake_apis import KC, FakeApis, team_entity

MINUTES = 5
CHANGES_PER_SECOND = 2


@pytest.fixture
def mock_recorder_before_hass(async_test_recorder: RecorderInstanceContextManager) -> None:
    """The recorder's database is prepared before `hass` (as HA's recorder tests do)."""


def _rows_for(hass: HomeAssistant, entity_ids: list[str]) -> dict[str, int]:
    with session_scope(hass=hass, read_only=True) as session:
        rows = (
            session.query(StatesMeta.entity_id, States.state_id)
            .join(States, States.metadata_id == StatesMeta.metadata_id)
            .filter(StatesMeta.entity_id.in_(entity_ids))
            .all()
        )
    counts = dict.fromkeys(entity_ids, 0)
    for entity_id, _ in rows:
        counts[entity_id] += 1
    return counts


async def test_steady_ingestion_is_quiet_in_recorder_and_logbook(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    influxdb1: InfluxDB1,
    database: str,
) -> None:
    # The real logbook (its queries, its continuous-sensor rule, its websocket API) without the
    # frontend package, which only gets a sidebar panel from it.
    assert await async_setup_component(hass, "http", {})
    hass.config.components.add("frontend")
    with patch("homeassistant.components.logbook.frontend.async_register_built_in_panel"):
        assert await async_setup_component(hass, "logbook", {})
    entry = v1_entry(influxdb1.url, database)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    ent_reg = er.async_get(hass)
    ours = [e.entity_id for e in er.async_entries_for_config_entry(ent_reg, entry.entry_id)]
    enabled = [e for e in ours if not ent_reg.async_get(e).disabled]  # type: ignore[union-attr]
    await async_wait_recording_done(hass)
    start = dt_util.utcnow()
    at_start = _rows_for(hass, ours)

    refreshes = MINUTES * 60 // STATS_INTERVAL_SECONDS
    value = 0
    for step in range(1, refreshes + 1):
        for _ in range(STATS_INTERVAL_SECONDS * CHANGES_PER_SECOND):
            value += 1
            hass.states.async_set("sensor.power", str(value % 97), {"unit_of_measurement": "W"})
        await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
        async_fire_time_changed(
            hass, dt_util.utcnow() + timedelta(seconds=step * STATS_INTERVAL_SECONDS + 1)
        )
        await hass.async_block_till_done()
    await async_wait_recording_done(hass)

    stats = entry.runtime_data.pipeline.stats
    assert stats.written == value  # steady ingestion really went on, all of it written
    rows = {e: n - at_start[e] for e, n in _rows_for(hass, ours).items()}
    total = sum(rows.values())
    per_hour = total * 60 // MINUTES
    print(f"recorder rows from our entities in {MINUTES} min: {rows}")
    print(f"= {total} rows, {per_hour} per hour ({refreshes} refreshes)")

    client = await hass_ws_client()
    await client.send_json(
        {
            "id": 1,
            "type": "logbook/get_events",
            "start_time": start.isoformat(),
            "end_time": (dt_util.utcnow() + timedelta(hours=1)).isoformat(),
        }
    )
    answer = await client.receive_json()
    assert answer["success"], answer
    lines = [e for e in answer["result"] if e.get("entity_id") in ours]
    print(f"logbook lines from our entities in {MINUTES} min: {len(lines)} {lines}")

    assert len(lines) <= 1
    # At most one state per entity per refresh, and only for values that moved.
    assert all(n <= refreshes for n in rows.values()), rows
    unchanging = [e for e in enabled if "dropped" in e or "dead_lettered" in e or "filtered" in e]
    assert unchanging and all(rows[e] == 0 for e in unchanging), rows
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_live_games_clock_is_not_kept_by_the_recorder(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    influxdb1: InfluxDB1,
    database: str,
    apis: FakeApis,
) -> None:
    """A team sensor's clock and detail change on every live poll (20 s): shown in the UI,
    left out of the recorder's attributes, as the score and the opponent are not."""
    apis.set_game("in", away=7, home=3)
    entry = v1_entry(influxdb1.url, database, **{CONF_SPORTS_TEAMS: [KC]})
    await setup_entry(hass, entry)
    sports = entry.runtime_data.sports
    assert sports is not None
    await async_wait_until(lambda: sports.data is not None, "the first sports refresh")
    entity_id = team_entity(hass, entry, "nfl_12")
    state = hass.states.get(entity_id)
    assert state is not None and state.state == "live" and state.attributes["clock"] == "5:00"
    await async_wait_recording_done(hass)
    recorded = await recorder_mock.async_add_executor_job(
        history.get_last_state_changes, hass, 1, entity_id
    )
    attributes = recorded[entity_id][0].attributes
    assert "clock" not in attributes and "detail" not in attributes
    assert attributes["score"] is not None and attributes["opponent"]
    await hass.config_entries.async_unload(entry.entry_id)
