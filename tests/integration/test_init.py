"""Setup, unload, reload, options, removal, entities, diagnostics, the flush action."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from homeassistant.components.diagnostics import REDACTED
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
    label_registry as lr,
)
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ha_ingestor.const import (
    CONF_EVENT_TYPES,
    CONF_EXCLUDE_DOMAINS,
    CONF_EXCLUDE_GLOBS,
    CONF_INCLUDE_AREAS,
    CONF_INCLUDE_DOMAINS,
    CONF_INCLUDE_ENTITIES,
    CONF_INCLUDE_GLOBS,
    CONF_INCLUDE_LABELS,
    CONF_INCLUDE_OWN,
    CONF_SCHEMA_MODE,
    DOMAIN,
    STATS_INTERVAL_SECONDS,
)
from custom_components.ha_ingestor.entity import target_model
from custom_components.ha_ingestor.health import (
    ISSUE_SPOOL_RECOVERED,
    ISSUE_SPOOL_UNWRITABLE,
    ISSUE_TARGET_MISSING,
    issue_id,
)
from custom_components.ha_ingestor.runtime import spool_path
from tests.fake_influxdb2 import FakeInfluxDB2
from tests.helpers import (
    FakeServer,
    async_wait_until,
    closed_port_url,
    flush,
    own_state,
    setup_entry,
    states_rows,
    v1_entry,
    v2_entry,
)
from tests.servers import InfluxDB1


async def test_setup_unload_reload(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    entry = v1_entry(influxdb1.url, database, flush_interval=60.0)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    hass.states.async_set("sensor.a", "1")
    # Nothing due yet (60 s interval); a reload flushes what is queued.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert [r["value"] for r in states_rows(influxdb1, database)] == [1.0]
    hass.states.async_set("sensor.a", "2")
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert sorted(r["value"] for r in states_rows(influxdb1, database)) == [1.0, 2.0]
    # listeners are gone after unload
    hass.states.async_set("sensor.a", "3")
    await hass.async_block_till_done()
    assert len(states_rows(influxdb1, database)) == 2


async def test_setup_with_influxdb_down_still_loads_and_spools(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    entry = v1_entry(closed_port_url(), "db", flush_interval=0.05)
    await setup_entry(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    hass.states.async_set("sensor.a", "1")
    pipeline = entry.runtime_data.pipeline
    # The writer task runs on real time.
    await async_wait_until(lambda: pipeline.spool.pending_points, "the point in the spool")
    assert pipeline.spool.pending_points == 1
    with pytest.raises(Exception, match="not everything"):
        await flush(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert spool_path(hass, entry).exists()
    await hass.config_entries.async_remove(entry.entry_id)
    assert not spool_path(hass, entry).exists()


@pytest.mark.parametrize(
    ("data", "model"),
    [
        ({"api": "v1"}, "InfluxDB 1.x"),
        ({"api": "v2", "victoria_metrics": False}, "InfluxDB 2.x"),
        ({"api": "v2", "victoria_metrics": True}, "VictoriaMetrics"),
        ({"api": "v1", "victoria_metrics": True}, "VictoriaMetrics"),
        ({"api": "v2"}, "InfluxDB 2.x"),  # not asked yet
        ({"api": "v3"}, "InfluxDB 3"),
    ],
)
def test_the_device_names_what_the_entry_writes_to(data: dict[str, object], model: str) -> None:
    """It said "InfluxDB 2.x/3.x" for InfluxDB 2, InfluxDB 3 and VictoriaMetrics alike."""
    assert target_model(data) == model


async def test_a_deleted_entry_takes_its_repair_issues_along(
    hass: HomeAssistant, fake_v2: FakeServer[FakeInfluxDB2]
) -> None:
    """Its issues (a missing bucket, a damaged spool, ...) stayed in Settings -> Repairs until
    the next restart, about an entry that no longer existed; another entry's stay."""
    keep = v2_entry(fake_v2.url, bucket="keep")
    gone = v2_entry(fake_v2.url, bucket="gone")
    for entry in (keep, gone):
        await setup_entry(hass, entry)
        entry.runtime_data.health.target_missing("bucket not found")
        entry.runtime_data.health.spool_recovered("/config/ha_ingestor/spool.db.damaged")
    await hass.config_entries.async_remove(gone.entry_id)
    await hass.async_block_till_done()
    issues = ir.async_get(hass)
    for kind in (ISSUE_TARGET_MISSING, ISSUE_SPOOL_RECOVERED):
        assert issues.async_get_issue(DOMAIN, issue_id(kind, gone)) is None
        assert issues.async_get_issue(DOMAIN, issue_id(kind, keep)) is not None
    await hass.config_entries.async_unload(keep.entry_id)


async def test_a_disabled_entry_drops_the_issues_about_its_running_state(
    hass: HomeAssistant, fake_v2: FakeServer[FakeInfluxDB2]
) -> None:
    """A missing bucket or a full spool stayed in Settings -> Repairs for an entry the user
    had disabled; what happened (a damaged spool moved aside) stays."""
    entry = v2_entry(fake_v2.url)
    await setup_entry(hass, entry)
    health = entry.runtime_data.health
    health.target_missing("bucket not found")
    health.spool_writes_changed(False, "database or disk is full")
    health.spool_recovered("/config/ha_ingestor/spool.db.damaged")
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    issues = ir.async_get(hass)
    for kind in (ISSUE_TARGET_MISSING, ISSUE_SPOOL_UNWRITABLE):
        assert issues.async_get_issue(DOMAIN, issue_id(kind, entry)) is None
    assert issues.async_get_issue(DOMAIN, issue_id(ISSUE_SPOOL_RECOVERED, entry)) is not None


async def test_flush_of_every_entry_goes_past_one_that_fails(
    hass: HomeAssistant, fake_v2: FakeServer[FakeInfluxDB2]
) -> None:
    """The action without config_entry_id stopped at the first entry it could not write, so a
    reachable one waiting out a retry backoff kept its points queued."""
    down = v2_entry(closed_port_url(), bucket="down")
    up = v2_entry(fake_v2.url)
    await setup_entry(hass, down)
    await setup_entry(hass, up)
    fake_v2.fake.retry_after = "300"  # one 503 puts "up" in a 5-minute backoff
    fake_v2.fake.fail_next = [503]
    hass.states.async_set("sensor.a", "1")
    pipeline = up.runtime_data.pipeline
    await async_wait_until(lambda: pipeline.stats.failed_writes, "the 503")
    assert pipeline.pending == 1
    with pytest.raises(HomeAssistantError) as info:
        await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    assert info.value.translation_placeholders == {"title": down.title}  # only the one down
    assert pipeline.pending == 0 and pipeline.stats.written == 1
    for entry in (down, up):
        await hass.config_entries.async_unload(entry.entry_id)


async def test_options_take_effect_without_restart(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    hass.states.async_set("sensor.power", "5", {"unit_of_measurement": "W"})
    await flush(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "include": {},
            "exclude": {CONF_EXCLUDE_DOMAINS: ["light"]},
            "data": {
                CONF_EVENT_TYPES: ["state_changed"],
                CONF_SCHEMA_MODE: "core",
                "include_attributes": True,
                "ignore_attributes": [],
                "metadata_tags": [],
                CONF_INCLUDE_OWN: False,
            },
            "delivery": {"batch_size": 500.0, "flush_interval": 0.2, "spool_size_mb": 100.0},
        },
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    hass.states.async_set("sensor.power", "6", {"unit_of_measurement": "W"})
    hass.states.async_set("light.l", "on")
    await flush(hass)
    assert [r["value"] for r in states_rows(influxdb1, database)] == [5.0]
    assert [r["value"] for r in influxdb1.rows('SELECT * FROM "W"', database)] == [6.0]
    assert not influxdb1.rows('SELECT * FROM "light.l"', database)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_blank_filter_lines_are_no_rules(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    """An added but empty line under "Entity ID patterns" once counted as an include rule
    that matched nothing, so nothing at all was written."""
    entry = v1_entry(influxdb1.url, database, **{CONF_INCLUDE_GLOBS: ["", "  "]})  # stored so
    await setup_entry(hass, entry)
    hass.states.async_set("sensor.power", "5")
    await flush(hass)
    assert [r["entity_id"] for r in states_rows(influxdb1, database)] == ["sensor.power"]
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "include": {CONF_INCLUDE_GLOBS: ["", " sensor.* "], CONF_INCLUDE_DOMAINS: [" "]},
            "exclude": {CONF_EXCLUDE_GLOBS: [" "]},
            "data": {
                CONF_EVENT_TYPES: ["state_changed", " ", "state_changed"],
                CONF_SCHEMA_MODE: "default",
                "include_attributes": True,
                "ignore_attributes": ["", "icon"],
                "metadata_tags": [],
                CONF_INCLUDE_OWN: False,
            },
            "delivery": {"batch_size": 500.0, "flush_interval": 0.2, "spool_size_mb": 100.0},
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    options = entry.options
    assert options[CONF_INCLUDE_GLOBS] == ["sensor.*"]
    assert (options[CONF_INCLUDE_DOMAINS], options[CONF_EXCLUDE_GLOBS]) == ([], [])
    assert options[CONF_EVENT_TYPES] == ["state_changed"]
    assert options["ignore_attributes"] == ["icon"]
    hass.states.async_set("sensor.power", "6")
    hass.states.async_set("light.l", "on")
    await flush(hass)
    assert [r["value"] for r in states_rows(influxdb1, database)] == [5.0, 6.0]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_filters_by_label_area_glob_and_own_entities(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    ent_reg = er.async_get(hass)
    label = lr.async_get(hass).async_create("Energy")
    kitchen = ar.async_get(hass).async_create("Kitchen")
    labelled = ent_reg.async_get_or_create("sensor", "test", "l1", suggested_object_id="labelled")
    ent_reg.async_update_entity(labelled.entity_id, labels={label.label_id})
    in_kitchen = ent_reg.async_get_or_create("sensor", "test", "k1", suggested_object_id="kitchen")
    ent_reg.async_update_entity(in_kitchen.entity_id, area_id=kitchen.id)
    entry = v1_entry(
        influxdb1.url,
        database,
        **{
            CONF_INCLUDE_LABELS: [label.label_id],
            CONF_INCLUDE_AREAS: [kitchen.id],
            CONF_INCLUDE_ENTITIES: ["sensor.listed", "sensor.noisy_listed"],
            CONF_EXCLUDE_GLOBS: ["sensor.noisy_*"],
            CONF_INCLUDE_OWN: False,
        },
    )
    await setup_entry(hass, entry)
    for entity_id in (
        "sensor.labelled",
        "sensor.kitchen",
        "sensor.listed",
        "sensor.noisy_listed",
        "sensor.other",
        "sensor.noisy_other",
    ):
        hass.states.async_set(entity_id, "1")
    # our own diagnostic entities change state too: never ingested by default, and not counted
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=STATS_INTERVAL_SECONDS + 1))
    await hass.async_block_till_done()
    await flush(hass)
    written = {r["entity_id"] for r in states_rows(influxdb1, database)}
    assert written == {"sensor.labelled", "sensor.kitchen", "sensor.listed", "sensor.noisy_listed"}
    stats = entry.runtime_data.pipeline.stats
    assert (stats.received, stats.filtered) == (6, 2)
    assert stats.filtered_reasons == {"excluded_by_filters": 2}
    assert stats.received == stats.written + stats.filtered + entry.runtime_data.pipeline.pending
    await hass.config_entries.async_unload(entry.entry_id)


async def test_registry_metadata_tags_follow_changes(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    config = MockConfigEntry(domain="test")
    config.add_to_hass(hass)
    areas = ar.async_get(hass)
    living, office = areas.async_create("Living room"), areas.async_create("Office")
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=config.entry_id,
        identifiers={("test", "d1")},
        name="Plug",
        manufacturer="Acme",
        model="P1",
    )
    dr.async_get(hass).async_update_device(device.id, area_id=living.id)
    ent_reg = er.async_get(hass)
    # An entity needs a name of its own to have an area of its own (HA 2026 refuses otherwise).
    entity = ent_reg.async_get_or_create(
        "sensor",
        "test",
        "p1",
        suggested_object_id="plug_power",
        device_id=device.id,
        original_name="Power",
    )
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    hass.states.async_set(entity.entity_id, "10")
    await flush(hass)
    label = lr.async_get(hass).async_create("Solar")
    ent_reg.async_update_entity(entity.entity_id, labels={label.label_id}, area_id=office.id)
    dr.async_get(hass).async_update_device(device.id, name_by_user="Heater plug")
    await hass.async_block_till_done()
    hass.states.async_set(entity.entity_id, "11")
    await flush(hass)
    rows = sorted(states_rows(influxdb1, database), key=lambda r: r["value"])
    first, second = rows
    assert (first["area"], first["device"], first["manufacturer"], first["model"]) == (
        "Living room",
        "Plug",
        "Acme",
        "P1",
    )
    assert first["platform"] == "test"
    assert first["labels"] == ""
    assert (second["area"], second["device"], second["labels"]) == (
        "Office",
        "Heater plug",
        "Solar",
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def test_other_event_types(hass: HomeAssistant, influxdb1: InfluxDB1, database: str) -> None:
    entry = v1_entry(influxdb1.url, database, **{CONF_EVENT_TYPES: ["state_changed", "my_event"]})
    await setup_entry(hass, entry)
    hass.bus.async_fire("my_event", {"entity_id": "switch.x", "level": 3, "note": "hi"})
    hass.bus.async_fire("unrelated_event", {"x": 1})
    await hass.async_block_till_done()
    await flush(hass)
    rows = influxdb1.rows('SELECT * FROM "ha_events" GROUP BY *', database)
    assert len(rows) == 1
    row = rows[0]
    assert (row["event_type"], row["entity_id"], row["domain"]) == (
        "my_event",
        "switch.x",
        "switch",
    )
    assert (row["count"], row["level"], row["note_str"]) == (1.0, 3.0, "hi")
    await hass.config_entries.async_unload(entry.entry_id)


async def test_bad_attributes_never_break_ingestion(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    class Weird:
        def __str__(self) -> str:
            raise ValueError("no text for you")

    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    hass.states.async_set("sensor.big", "1", {"blob": "x" * 100 * 1024, "nan": float("nan")})
    hass.states.async_set("sensor.weird", "2", {"obj": Weird()})
    hass.states.async_set(
        "sensor.fine", "3", {"when": dt_util.utcnow(), "nested": {"a": [1, None]}}
    )
    await flush(hass)
    rows = {r["entity_id"]: r for r in states_rows(influxdb1, database)}
    assert set(rows) == {"sensor.big", "sensor.fine"}
    assert rows["sensor.fine"]["nested_str"] == '{"a": [1, null]}'
    data = entry.runtime_data
    assert data.skips.reasons["string_too_large"] == 1
    assert data.skips.reasons["non_finite"] == 1
    assert data.pipeline.stats.dropped["encode_error"] == 1
    await hass.config_entries.async_unload(entry.entry_id)


async def test_entities_and_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    influxdb1: InfluxDB1,
    database: str,
) -> None:
    plain = v1_entry(influxdb1.url, database)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=plain.title,
        minor_version=plain.minor_version,
        data={**plain.data, CONF_USERNAME: "writer", CONF_PASSWORD: "secret"},
        options=plain.options,
    )
    await setup_entry(hass, entry)
    for i in range(5):
        hass.states.async_set("sensor.x", str(i))
    await flush(hass)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=STATS_INTERVAL_SECONDS + 1))
    await hass.async_block_till_done()

    ent_reg = er.async_get(hass)

    def state_of(key: str, platform: str = "sensor") -> str:
        entity_id = ent_reg.async_get_entity_id(platform, DOMAIN, f"{entry.entry_id}_{key}")
        assert entity_id is not None
        entity = ent_reg.async_get(entity_id)
        assert entity is not None and entity.entity_category is not None
        state = hass.states.get(entity_id)
        assert state is not None
        return state.state

    stats = entry.runtime_data.pipeline.stats
    # our own entities' state changes are neither received nor filtered: the counters add up
    assert state_of("events_received") == "5"
    assert (stats.received, stats.filtered) == (5, 0)
    assert state_of("filtered") == "0"  # shown (enabled), so the identity reads on the device
    assert state_of("points_written") == "5"
    assert state_of("pending") == "0"
    assert state_of("dropped") == "0"
    assert state_of("dead_lettered") == "0"
    assert float(state_of("write_latency")) >= 0
    assert state_of("connectivity", "binary_sensor") == "on"
    connectivity = hass.states.get(
        ent_reg.async_get_entity_id("binary_sensor", DOMAIN, f"{entry.entry_id}_connectivity") or ""
    )
    assert connectivity is not None
    assert "last_error" not in connectivity.attributes  # healthy: no "Last error: Unknown"
    # (lookup by config entry: HA 2026 deprecates async_get_device, identifiers are per entry now)
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.identifiers == {(DOMAIN, entry.entry_id)}
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    # The last-write timestamp moves on every refresh (a logbook line each time): off by default.
    last_write_id = ent_reg.async_get_entity_id("sensor", DOMAIN, f"{entry.entry_id}_last_write")
    assert (
        last_write_id
        and ent_reg.async_get(last_write_id).disabled_by is er.RegistryEntryDisabler.INTEGRATION
    )  # type: ignore[union-attr]

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["entry"]["data"][CONF_PASSWORD] == REDACTED
    assert diagnostics["entry"]["data"][CONF_USERNAME] == REDACTED
    assert "secret" not in str(diagnostics)
    assert diagnostics["counters"]["written"] == 5
    assert diagnostics["spool"]["pending_points"] == 0
    assert (diagnostics["spool"]["unreadable_points"], diagnostics["spool"]["recovered_from"]) == (
        0,
        None,
    )
    await hass.config_entries.async_unload(entry.entry_id)
    # Not loaded (failed, retrying, unloaded): the download still works, settings redacted.
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["entry"]["state"] == "not_loaded"
    assert diagnostics["entry"]["data"][CONF_PASSWORD] == REDACTED
    assert "counters" not in diagnostics and "secret" not in str(diagnostics)


async def test_flush_action_errors(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(DOMAIN, "flush", {"config_entry_id": "nope"}, blocking=True)
    await hass.services.async_call(
        DOMAIN, "flush", {"config_entry_id": entry.entry_id}, blocking=True
    )
    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as unloaded:
        await hass.services.async_call(
            DOMAIN, "flush", {"config_entry_id": entry.entry_id}, blocking=True
        )
    assert unloaded.value.translation_key == "entry_not_loaded"
    # Without an entry named, every loaded one: none is an error too, not a silent no-op.
    for action, data in (("flush", {}), ("cancel_backfill", {})):
        with pytest.raises(ServiceValidationError) as none:
            await hass.services.async_call(DOMAIN, action, data, blocking=True)
        assert none.value.translation_key == "no_entry_loaded", action


async def test_spool_lives_under_config_dir(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    path = spool_path(hass, entry)
    assert Path(hass.config.config_dir) in path.parents
    assert path.exists()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_write_latency_is_unavailable_while_influxdb_is_down(
    hass: HomeAssistant, fake_v2: FakeServer[FakeInfluxDB2]
) -> None:
    """It went on showing the latency of the last write before the outage, as if writes still
    took that long: a flat line in its history and statistics. The counters stay shown."""
    entry = v2_entry(fake_v2.url)
    await setup_entry(hass, entry)
    coordinator = entry.runtime_data.coordinator
    hass.states.async_set("sensor.a", "1")
    await flush(hass)
    await coordinator.async_refresh()
    assert float(own_state(hass, entry, "write_latency")) >= 0
    fake_v2.fake.retry_after = "300"
    fake_v2.fake.fail_next = [503]
    hass.states.async_set("sensor.a", "2")
    stats = entry.runtime_data.pipeline.stats
    await async_wait_until(lambda: stats.connected is False, "the 503")
    await coordinator.async_refresh()
    assert own_state(hass, entry, "write_latency") == "unavailable"
    assert own_state(hass, entry, "events_received") == "2"
    assert own_state(hass, entry, "connectivity", "binary_sensor") == "off"
    await hass.config_entries.async_unload(entry.entry_id)
