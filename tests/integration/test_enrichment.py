"""Registry, weather and sports enrichment, with ESPN and OpenWeatherMap served locally
from the captured responses in tests/fixtures."""

from __future__ import annotations

import asyncio
import copy
import functools
import json
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_TOKEN, EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ha_ingestor import espn
from custom_components.ha_ingestor.const import (
    CONF_OWM_API_KEY,
    CONF_SCHEMA_MODE,
    CONF_SPORTS_TEAMS,
    CONF_WEATHER_ENRICHMENT,
    CONF_WEATHER_ENTITY,
    CONF_WEATHER_SOURCE,
    DOMAIN,
    EVENT_SPORTS,
)
from custom_components.ha_ingestor.coordinator import SportsCoordinator
from tests.fake_influxdb2 import FakeInfluxDB2
from tests.helpers import (
    FakeServer,
    async_wait_until,
    closed_port_url,
    flush,
    setup_entry,
    states_rows,
    v1_entry,
    v2_entry,
)
from tests.servers import InfluxDB1

from .fake_apis import FIXTURES, KC, NFL, FakeApis, team_entity, use_apis


async def options_step(hass: HomeAssistant, entry: MockConfigEntry, *steps: str) -> dict[str, Any]:
    """Through the options menus (e.g. "weather", "weather_owm") to a form."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    for step in steps:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"next_step_id": step}
        )
    return result


async def test_sports_picker_sensor_events_and_points(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis
) -> None:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    result = await options_step(hass, entry, "sports")
    assert result["step_id"] == "sports"
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"league": "nfl"})
    assert result["step_id"] == "sports_teams"
    labels = {
        o["value"]: o["label"] for o in result["data_schema"].schema["teams"].config["options"]
    }
    assert labels["12"] == "Kansas City Chiefs" and len(labels) == 32
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"teams": ["12"]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_SPORTS_TEAMS] == [KC]

    sports = entry.runtime_data.sports
    assert sports is not None
    events: list[dict[str, Any]] = []

    @callback
    def record(event: Event) -> None:
        events.append(dict(event.data))

    hass.bus.async_listen(EVENT_SPORTS, record)
    # The first refresh runs in the background.
    await async_wait_until(lambda: sports.data is not None, "the first sports refresh")
    await sports.async_refresh()
    await hass.async_block_till_done()
    entity_id = team_entity(hass, entry, "nfl_12")
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == "scheduled"
    assert state.attributes["opponent"] == "Arizona Cardinals"
    assert state.attributes["home"] is False
    assert events == []  # first sight only records

    apis.set_game("in", away=7, home=0)
    await sports.async_refresh()
    await hass.async_block_till_done()
    assert [e["type"] for e in events] == ["game_started", "score_changed"]
    assert (events[1]["away_abbreviation"], events[1]["away_score"], events[1]["home_score"]) == (
        "KC",
        7,
        0,
    )
    assert hass.states.get(entity_id).state == "live"  # type: ignore[union-attr]
    assert sports.update_interval is not None and sports.update_interval.total_seconds() == 20

    apis.set_game("post", away=21, home=14)
    await sports.async_refresh()
    await hass.async_block_till_done()
    assert [e["type"] for e in events][2:] == ["score_changed", "game_ended"]
    assert hass.states.get(entity_id).state == "final"  # type: ignore[union-attr]

    # A restart does not repeat anything: the last state is persisted.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await entry.runtime_data.sports.async_refresh()  # type: ignore[union-attr]
    await entry.runtime_data.sports.async_refresh()  # type: ignore[union-attr]
    await hass.async_block_till_done()
    assert len(events) == 4
    await flush(hass)
    rows = influxdb1.rows(
        "SELECT * FROM \"sports\" WHERE game_id = '401437653' GROUP BY *", database
    )
    rows.sort(key=lambda r: r["time"])  # one series per state (a tag)
    assert [(r["state"], r["away_score"], r["home_score"]) for r in rows] == [
        ("pre", 0.0, 0.0),
        ("in", 7.0, 0.0),
        ("post", 21.0, 14.0),
    ]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_team_sensor_is_unknown_until_espn_first_answers(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis
) -> None:
    """Until the first scoreboard arrived, a team sensor said "No game" (at every restart and
    reload): history showed it and a trigger on it fired, though the team had a game."""
    apis.scoreboard_gate.clear()
    seen: list[str] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None and "_chiefs" in new.entity_id:
            seen.append(new.state)

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    entry = v1_entry(influxdb1.url, database, **{CONF_SPORTS_TEAMS: [KC]})
    await setup_entry(hass, entry)
    entity_id = team_entity(hass, entry, "nfl_12")
    assert hass.states.get(entity_id).state == STATE_UNKNOWN  # type: ignore[union-attr]
    apis.scoreboard_gate.set()
    await async_wait_until(
        lambda: hass.states.get(entity_id).state == "scheduled",  # type: ignore[union-attr]
        "the first scoreboard shown",
    )
    assert "no_game" not in seen
    await hass.config_entries.async_unload(entry.entry_id)


async def test_sports_events_go_on_with_the_team_sensor_disabled(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis
) -> None:
    """The team sensor was the sports coordinator's only listener, and a coordinator polls
    only while something listens: with it disabled, no poll, no event, no point."""
    entry = v1_entry(influxdb1.url, database, **{CONF_SPORTS_TEAMS: [KC]})
    await setup_entry(hass, entry)
    registry = er.async_get(hass)
    registry.async_update_entity(
        team_entity(hass, entry, "nfl_12"), disabled_by=er.RegistryEntryDisabler.USER
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()

    def polls() -> int:
        return sum("scoreboard" in path for path in apis.requests)

    sports = entry.runtime_data.sports
    assert sports is not None
    await async_wait_until(lambda: sports.data is not None, "the first poll after the reload")
    before = polls()

    def polled(count: int) -> bool:
        """Time moves on until the poll is made: the next one is scheduled only when the one
        before is done (its request counted here, its parse in the executor still to come)."""
        if polls() >= before + count:
            return True
        async_fire_time_changed(hass, dt_util.utcnow() + espn.POLL_IDLE, fire_all=True)
        return False

    for n in (1, 2):  # each poll runs in the background: waited for, not blocked on
        await async_wait_until(functools.partial(polled, n), f"poll {n}", timeout=10)
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("failure", ["http_500", "truncated", "empty", "not_json"])
async def test_sports_bad_input_fails_the_update_only(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis, failure: str
) -> None:
    entry = v1_entry(
        influxdb1.url,
        database,
        **{CONF_SPORTS_TEAMS: [KC]},
    )
    await setup_entry(hass, entry)
    sports = entry.runtime_data.sports
    assert sports is not None
    await sports.async_refresh()
    entity_id = team_entity(hass, entry, "nfl_12")
    assert hass.states.get(entity_id).state == "scheduled"  # type: ignore[union-attr]
    if failure == "http_500":
        apis.scoreboard_status = 500
    elif failure == "truncated":
        apis.raw_scoreboard = json.dumps(NFL).encode()[:5000]
    elif failure == "not_json":
        apis.raw_scoreboard = b"<html>maintenance</html>"
    else:
        apis.scoreboard = {"leagues": [], "events": []}
    await sports.async_refresh()
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state is not None
    if failure == "empty":  # a valid, empty scoreboard: no game today
        assert state.state == "no_game"
    else:
        assert not sports.last_update_success
        assert state.state == STATE_UNAVAILABLE
    hass.states.async_set("sensor.still_flowing", "1")
    await flush(hass)
    assert [
        r["entity_id"]
        for r in states_rows(influxdb1, database, "WHERE entity_id = 'sensor.still_flowing'")
    ] == ["sensor.still_flowing"]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_weather_entity_enriches_state_points(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    # An entity in the user's units (here °F): points carry °C, as OpenWeatherMap's do.
    hass.states.async_set(
        "weather.home", "rainy", {"temperature": 45.5, "temperature_unit": "°F", "humidity": 90}
    )
    entry = v1_entry(
        influxdb1.url,
        database,
        **{CONF_WEATHER_ENTITY: "weather.home", CONF_WEATHER_ENRICHMENT: "tag_fields"},
    )
    await setup_entry(hass, entry)
    weather = entry.runtime_data.weather
    assert weather is not None
    await weather.async_refresh()
    hass.states.async_set("sensor.inside", "21")
    await flush(hass)
    row = states_rows(influxdb1, database, "WHERE entity_id = 'sensor.inside'")[0]
    assert (row["weather_condition"], row["outdoor_temperature"]) == ("rainy", 7.5)
    points = influxdb1.rows('SELECT * FROM "weather" GROUP BY *', database)
    assert [(p["source"], p["condition"], p["temperature"], p["humidity"]) for p in points] == [
        ("weather.home", "rainy", 7.5, 90.0)
    ]
    # The source goes away: the update fails and points flow without enrichment.
    hass.states.async_set("weather.home", "unavailable")
    await weather.async_refresh()
    hass.states.async_set("sensor.inside", "22")
    await flush(hass)
    rows = states_rows(influxdb1, database, "WHERE entity_id = 'sensor.inside' AND value = 22")
    assert rows[0]["weather_condition"] == ""
    await hass.config_entries.async_unload(entry.entry_id)


async def test_core_mode_is_never_enriched(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    hass.states.async_set("weather.home", "sunny", {"temperature": 30})
    entry = v1_entry(
        influxdb1.url,
        database,
        **{
            CONF_WEATHER_ENTITY: "weather.home",
            CONF_WEATHER_ENRICHMENT: "tag",
            CONF_SCHEMA_MODE: "core",
        },
    )
    await setup_entry(hass, entry)
    await entry.runtime_data.weather.async_refresh()  # type: ignore[union-attr]
    hass.states.async_set("sensor.t", "5", {"unit_of_measurement": "W"})
    await flush(hass)
    row = influxdb1.rows('SELECT * FROM "W" GROUP BY *', database)[0]
    assert "weather_condition" not in row
    await hass.config_entries.async_unload(entry.entry_id)


async def test_openweathermap_key_checked_then_reauth_on_401(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis
) -> None:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    result = await options_step(hass, entry, "weather", "weather_owm")
    assert result["step_id"] == "weather_owm"  # no key stored yet
    source = {CONF_WEATHER_ENRICHMENT: "tag"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**source, CONF_OWM_API_KEY: "wrong"}
    )
    assert result["errors"] == {CONF_OWM_API_KEY: "invalid_api_key"}
    result = await hass.config_entries.options.async_configure(result["flow_id"], source)
    assert result["errors"] == {CONF_OWM_API_KEY: "api_key_required"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**source, CONF_OWM_API_KEY: "good-key"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    # the key is a secret: entry data, not options (which a diagnostics download shows redacted)
    assert entry.data[CONF_OWM_API_KEY] == "good-key"
    assert CONF_OWM_API_KEY not in entry.options
    assert entry.options[CONF_WEATHER_SOURCE] == "openweathermap"
    weather = entry.runtime_data.weather
    assert weather is not None
    await weather.async_refresh()
    assert weather.data.temperature == 28.42 and weather.data.condition == "sunny"
    await flush(hass)
    point = influxdb1.rows('SELECT * FROM "weather" GROUP BY *', database)[0]
    assert (point["source"], point["temperature"], point["time"]) == (
        "openweathermap",
        28.42,
        1699465286 * 10**9,
    )

    apis.owm_keys = {"new-key"}  # the key is revoked
    await weather.async_refresh()
    await hass.async_block_till_done()
    assert not weather.last_update_success
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flows and flows[0]["step_id"] == "reauth_owm"
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_OWM_API_KEY: "nope"}
    )
    assert result["errors"] == {CONF_OWM_API_KEY: "invalid_api_key"}
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_OWM_API_KEY: "new-key"}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_OWM_API_KEY] == "new-key"

    # With a key stored, an empty field keeps it (and the form says so).
    result = await options_step(hass, entry, "weather", "weather_owm")
    assert result["step_id"] == "weather_owm_stored"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_WEATHER_ENRICHMENT: "off"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.data[CONF_OWM_API_KEY] == "new-key"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_new_openweathermap_key_alone_is_used_at_once(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis
) -> None:
    """Options -> Weather with a new key and the rest as it was: on Home Assistant 2025.8+
    the options flow reloads only when options change, and the key is entry data, so the
    weather coordinator kept the revoked key (and asked for reauth) until a restart."""
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    options = {CONF_WEATHER_ENRICHMENT: "tag"}
    for key in ("good-key", "second-key"):
        apis.owm_keys = {"good-key", "second-key"}
        result = await options_step(hass, entry, "weather", "weather_owm")
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**options, CONF_OWM_API_KEY: key}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
    apis.owm_keys = {"second-key"}  # the first one is revoked
    weather = entry.runtime_data.weather
    assert weather is not None
    await weather.async_refresh()
    assert weather.last_update_success
    assert weather.data.temperature == 28.42
    await hass.config_entries.async_unload(entry.entry_id)


async def test_influxdb_reauth_goes_before_a_pending_openweathermap_one(
    hass: HomeAssistant, fake_v2: FakeServer[FakeInfluxDB2], apis: FakeApis
) -> None:
    """An entry has one reauth flow at a time: an ignored OpenWeatherMap prompt used to keep
    InfluxDB's from ever starting, and the points waited in the spool until it filled."""
    v2 = v2_entry(
        fake_v2.url, **{CONF_WEATHER_SOURCE: "openweathermap", CONF_WEATHER_ENRICHMENT: "tag"}
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=v2.minor_version,
        data={**v2.data, CONF_OWM_API_KEY: "good-key"},
        options=v2.options,
    )
    await setup_entry(hass, entry)
    weather = entry.runtime_data.weather
    assert weather is not None
    apis.owm_keys = {"new-key"}  # the weather key is revoked, and the prompt left open
    await weather.async_refresh()
    await hass.async_block_till_done()

    def reauth_steps() -> list[str]:
        return [
            f.get("step_id", "") for f in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        ]

    assert reauth_steps() == ["reauth_owm"]
    await flush(hass)  # the weather point of the setup is written
    fake_v2.fake.tokens = {"new-token"}  # then InfluxDB's token
    hass.states.async_set("sensor.power", "5")
    await async_wait_until(lambda: reauth_steps() == ["reauth_confirm"], "InfluxDB's reauth")
    pipeline = entry.runtime_data.pipeline
    assert pipeline.paused_for_auth and pipeline.pending == 1
    # Were InfluxDB's flow dismissed, a weather failure still asks for InfluxDB's credentials.
    flow_id = hass.config_entries.flow.async_progress_by_handler(DOMAIN)[0]["flow_id"]
    hass.config_entries.flow.async_abort(flow_id)
    await weather.async_refresh()
    await hass.async_block_till_done()
    assert reauth_steps() == ["reauth_confirm"]
    flow_id = hass.config_entries.flow.async_progress_by_handler(DOMAIN)[0]["flow_id"]
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_TOKEN: "new-token"})
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    # Reloaded with the new token, the point is written; the weather key is asked for again.
    await async_wait_until(
        lambda: any("entity_id=sensor.power" in line for line in fake_v2.fake.written),
        "the point written",
    )
    await entry.runtime_data.weather.async_refresh()  # type: ignore[union-attr]
    await hass.async_block_till_done()
    assert reauth_steps() == ["reauth_owm"]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_weather_can_be_turned_off_and_the_key_forgotten(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis
) -> None:
    """Both weather forms need a source (an entity, a key): "off" is a menu choice of its own."""
    v1 = v1_entry(
        influxdb1.url,
        database,
        **{CONF_WEATHER_SOURCE: "openweathermap", CONF_WEATHER_ENRICHMENT: "tag"},
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=v1.minor_version,
        data={**v1.data, CONF_OWM_API_KEY: "good-key"},
        options={**v1.options, CONF_WEATHER_ENTITY: "weather.home"},
    )
    await setup_entry(hass, entry)
    assert entry.runtime_data.weather is not None
    result = await options_step(hass, entry, "weather", "weather_off")
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.weather is None  # nothing polled, nothing written
    assert CONF_OWM_API_KEY not in entry.data
    assert CONF_WEATHER_ENTITY not in entry.options
    assert entry.options[CONF_WEATHER_ENRICHMENT] == "off"
    hass.states.async_set("sensor.inside", "22")
    await flush(hass)
    row = states_rows(influxdb1, database, "WHERE entity_id = 'sensor.inside'")[0]
    assert not row.get("weather_condition")
    await hass.config_entries.async_unload(entry.entry_id)


async def test_weather_entity_required(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    result = await options_step(hass, entry, "weather", "weather_entity")
    assert CONF_OWM_API_KEY not in result["data_schema"].schema  # no key field for an entity
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_WEATHER_ENRICHMENT: "off"}
    )
    assert result["errors"] == {CONF_WEATHER_ENTITY: "weather_entity_required"}
    await hass.config_entries.async_unload(entry.entry_id)


async def test_renamed_entity_and_new_device_in_next_points(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    config = MockConfigEntry(domain="test")
    config.add_to_hass(hass)
    devices = dr.async_get(hass)
    old = devices.async_get_or_create(
        config_entry_id=config.entry_id, identifiers={("test", "a")}, name="Old plug"
    )
    new = devices.async_get_or_create(
        config_entry_id=config.entry_id, identifiers={("test", "b")}, name="New plug"
    )
    ent_reg = er.async_get(hass)
    entity = ent_reg.async_get_or_create(
        "sensor", "test", "x", suggested_object_id="power", device_id=old.id
    )
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    hass.states.async_set(entity.entity_id, "1")
    await flush(hass)
    ent_reg.async_update_entity(
        entity.entity_id, new_entity_id="sensor.heater_power", device_id=new.id
    )
    await hass.async_block_till_done()
    hass.states.async_set("sensor.heater_power", "2")
    await flush(hass)
    rows = sorted(states_rows(influxdb1, database), key=lambda r: r["value"])
    assert [(r["entity_id"], r["device"]) for r in rows] == [
        ("sensor.power", "Old plug"),
        ("sensor.heater_power", "New plug"),
    ]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_sports_options_edge_cases(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis
) -> None:
    entry = v1_entry(influxdb1.url, database, **{CONF_SPORTS_TEAMS: [KC]})
    await setup_entry(hass, entry)
    sensor = team_entity(hass, entry, "nfl_12")
    # ESPN down: the picker says so instead of showing an empty list
    apis.scoreboard_status = 500
    result = await options_step(hass, entry, "sports")
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"league": "nba"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "espn_unavailable"
    # an empty scoreboard and no teams list: nothing to pick from
    apis.scoreboard_status = 200
    apis.scoreboard = {"leagues": [], "events": []}
    result = await options_step(hass, entry, "sports")
    result = await hass.config_entries.options.async_configure(result["flow_id"], {"league": "nba"})
    assert result["reason"] == "no_teams"
    # untick the followed team, add none: it is no longer followed, and its sensor goes
    result = await options_step(hass, entry, "sports")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SPORTS_TEAMS: []}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_SPORTS_TEAMS] == []
    assert entry.runtime_data.sports is None
    assert er.async_get(hass).async_get(sensor) is None  # not left behind, unavailable
    assert hass.states.get(sensor) is None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_openweathermap_unreachable_in_options(
    hass: HomeAssistant,
    influxdb1: InfluxDB1,
    database: str,
    apis: FakeApis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_apis(monkeypatch, espn_base=closed_port_url(), owm_base=closed_port_url())
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    result = await options_step(hass, entry, "weather", "weather_owm")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_WEATHER_ENRICHMENT: "off", CONF_OWM_API_KEY: "good-key"}
    )
    assert result["errors"] == {"base": "weather_unavailable"}
    await hass.config_entries.async_unload(entry.entry_id)


async def test_translated_update_failures(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, caplog: pytest.LogCaptureFixture
) -> None:
    entry = v1_entry(influxdb1.url, database, **{CONF_WEATHER_ENTITY: "weather.nowhere"})
    await setup_entry(hass, entry)
    weather = entry.runtime_data.weather
    assert weather is not None
    await weather.async_refresh()
    assert not weather.last_update_success
    assert "The weather entity weather.nowhere does not exist" in caplog.text
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_doubleheader_reports_the_end_of_its_first_game(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis
) -> None:
    """The Twins' game 1 (captured final 5-1) is live; game 2 is to come. When game 1 ends,
    the sensor moves on to game 2, and only the game it showed was compared: game 1's last
    score and its end were never reported."""
    mlb = json.loads((FIXTURES / "espn/mlb_scoreboard_2022-09-17_pre_in_post.json").read_text())
    game1 = "401423263"  # MIN @ CLE
    live = copy.deepcopy(mlb)
    event = next(e for e in live["events"] if e["id"] == game1)
    for status in (event["status"], event["competitions"][0]["status"]):
        status["type"].update(state="in", completed=False, name="STATUS_IN_PROGRESS")
    for side in event["competitions"][0]["competitors"]:
        side["score"] = "4" if side["homeAway"] == "home" else "1"
    apis.scoreboard = live
    twins = {"league": "mlb", "team_id": "9", "name": "Minnesota Twins", "abbreviation": "MIN"}
    entry = v1_entry(influxdb1.url, database, **{CONF_SPORTS_TEAMS: [twins]})
    events: list[tuple[str, str]] = []

    @callback
    def record(event: Event) -> None:
        events.append((event.data["game_id"], event.data["type"]))

    hass.bus.async_listen(EVENT_SPORTS, record)
    await setup_entry(hass, entry)
    sports = entry.runtime_data.sports
    assert sports is not None
    await async_wait_until(lambda: sports.data is not None, "the first sports refresh")
    assert sports.data["mlb:9"].id == game1  # live: the one the sensor shows
    apis.scoreboard = mlb  # game 1 final 5-1, game 2 still to come
    await sports.async_refresh()
    await hass.async_block_till_done()
    assert events == [(game1, "score_changed"), (game1, "game_ended")]
    assert sports.data["mlb:9"].id != game1  # the sensor shows game 2
    await hass.config_entries.async_unload(entry.entry_id)


async def _following_kc(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> tuple[MockConfigEntry, SportsCoordinator, list[str]]:
    """An entry following KC, once its first poll is in, and the sports events' types fired
    from then on (a list that grows)."""
    entry = v1_entry(influxdb1.url, database, **{CONF_SPORTS_TEAMS: [KC]})
    events: list[str] = []

    @callback
    def record(event: Event) -> None:
        events.append(event.data["type"])

    hass.bus.async_listen(EVENT_SPORTS, record)
    await setup_entry(hass, entry)
    sports = entry.runtime_data.sports
    assert sports is not None
    await async_wait_until(lambda: sports.data is not None, "the first sports refresh")
    return entry, sports, events


async def test_espn_flapping_does_not_repeat_a_kick_off_or_an_end(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis
) -> None:
    """A poll whose state went backwards was ignored, but kept as the baseline, so the next
    poll reported the kick-off (or the end) a second time."""
    entry, sports, events = await _following_kc(hass, influxdb1, database)
    for state in ("in", "pre", "in", "post", "in", "post"):
        apis.set_game(state, away=0, home=0)
        await sports.async_refresh()
        await hass.async_block_till_done()
    assert events == ["game_started", "game_ended"]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_reload_during_a_poll_fires_its_events_once(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, apis: FakeApis
) -> None:
    """An options change while ESPN was answering: the unload saved the games before the
    poll on its way had handled them, so the reloaded entry fired its kick-off again."""
    entry, sports, events = await _following_kc(hass, influxdb1, database)
    asked = len(apis.requests)
    apis.scoreboard_gate.clear()
    apis.set_game("in", away=7, home=0)
    poll = hass.async_create_task(sports.async_refresh())
    await async_wait_until(lambda: len(apis.requests) > asked, "the poll on its way")
    reload = hass.async_create_task(hass.config_entries.async_reload(entry.entry_id))
    await asyncio.sleep(0.2)  # the unload has begun
    apis.scoreboard_gate.set()
    await poll
    assert await reload
    await hass.async_block_till_done()
    reloaded = entry.runtime_data.sports
    assert reloaded is not None
    await async_wait_until(lambda: reloaded.data is not None, "the reloaded entry's poll")
    await hass.async_block_till_done()
    assert events == ["game_started", "score_changed"]
    await hass.config_entries.async_unload(entry.entry_id)
