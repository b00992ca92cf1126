"""The entry's runtime: a failed setup step releases everything, options changes lose no
event, counters add up across reloads and restarts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
import contextlib
import copy
from datetime import timedelta
import functools
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.const import CONF_TOKEN, CONF_URL, EVENT_STATE_CHANGED
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ha_ingestor import capture as capture_module, pipeline as pipeline_module
from custom_components.ha_ingestor.backoff import Backoff
from custom_components.ha_ingestor.const import (
    CONF_BATCH_SIZE,
    CONF_EXCLUDE_DOMAINS,
    CONF_SPORTS_TEAMS,
    CONF_WEATHER_ENTITY,
    DOMAIN,
    STATS_INTERVAL_SECONDS,
)
from custom_components.ha_ingestor.coordinator import SportsCoordinator, StatsCoordinator
from custom_components.ha_ingestor.health import ISSUE_SPOOL_RECOVERED, issue_id
from custom_components.ha_ingestor.runtime import (
    HANDOVER_HOLD,
    HANDOVERS,
    IngestorRuntime,
    spool_path,
)
from custom_components.ha_ingestor.spool import Spool
from tests.fake_influxdb2 import FakeInfluxDB2
from tests.helpers import (
    FakeServer,
    async_wait_until,
    closed_port_url,
    count_in,
    flush,
    own_state,
    setup_entry,
    spool_closed,
    spooled,
    stored_counters,
    v1_entry,
    v2_entry,
)
from tests.servers import InfluxDB1, VictoriaMetrics

from .fake_apis import KC
from .test_faults import fire_numbered, written_values


def our_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(DOMAIN) and not t.done()]


@contextlib.contextmanager
def spools_opened() -> Iterator[list[Spool]]:
    """Every Spool the integration opens, to check that each one is closed again."""
    opened: list[Spool] = []
    original = Spool.__init__

    def record(self: Spool, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        opened.append(self)

    with patch.object(Spool, "__init__", record):
        yield opened


def fail_counters_load() -> Any:
    return patch(
        "custom_components.ha_ingestor.runtime.Stats.restore", side_effect=ValueError("bad store")
    )


def fail_stats_refresh() -> Any:
    return patch.object(StatsCoordinator, "_async_update_data", side_effect=OSError("boom"))


def fail_sports_load() -> Any:
    return patch.object(SportsCoordinator, "async_load", side_effect=OSError("store unreadable"))


def fail_platforms(hass: HomeAssistant) -> Any:
    return patch.object(
        hass.config_entries, "async_forward_entry_setups", side_effect=RuntimeError("platform")
    )


FAILURES: dict[str, Callable[[HomeAssistant], Any]] = {
    "counters": lambda hass: fail_counters_load(),
    "stats_refresh": lambda hass: fail_stats_refresh(),
    "sports_load": lambda hass: fail_sports_load(),
    "platforms": fail_platforms,
}


@pytest.mark.parametrize("step", list(FAILURES))
async def test_a_failed_setup_step_releases_everything(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, step: str
) -> None:
    hass.states.async_set("weather.home", "sunny", {"temperature": 20})
    async_get_clientsession(hass)  # Home Assistant's shared session (and its close listener)
    baseline = dict(hass.bus.async_listeners())
    entry = v1_entry(
        influxdb1.url,
        database,
        **{CONF_WEATHER_ENTITY: "weather.home", CONF_SPORTS_TEAMS: [KC]},
    )
    entry.add_to_hass(hass)
    with (
        spools_opened() as spools,
        FAILURES[step](hass),
        patch.object(SportsCoordinator, "async_refresh"),  # no ESPN here
    ):
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    assert entry.state in (ConfigEntryState.SETUP_ERROR, ConfigEntryState.SETUP_RETRY)
    # listeners gone, tasks done, spool closed
    assert dict(hass.bus.async_listeners()) == baseline
    assert our_tasks() == []
    assert len(spools) == 1
    assert spool_closed(spools[0])
    hass.states.async_set("sensor.after", "1")  # reaches nothing of ours
    await hass.async_block_till_done()


async def test_a_spool_that_cannot_be_opened_is_retried_until_it_can(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    """A full disk or a wrong permission is put right without a reload: Home Assistant retries
    the setup (it once failed for good) and shows why, in the user's language."""
    entry = v1_entry(influxdb1.url, database)
    entry.add_to_hass(hass)
    blocked = spool_path(hass, entry)
    blocked.mkdir(parents=True)  # a folder where the file goes: it cannot be opened
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert entry.reason.startswith("The spool file cannot be opened: ")
    blocked.rmdir()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=2))
    await async_wait_until(lambda: entry.state is ConfigEntryState.LOADED, "the setup retried")
    hass.states.async_set("sensor.after", "1")
    await flush(hass)
    assert count_in(influxdb1, database) == 1


async def options_change(hass: HomeAssistant, entry: MockConfigEntry, batch_size: int) -> None:
    """Save the settings step of the options flow (it reloads the entry), as a user would."""
    options = entry.options
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "settings"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "include": {},
            "exclude": {},
            "data": {
                key: options[key]
                for key in (
                    "event_types",
                    "schema_mode",
                    "include_attributes",
                    "ignore_attributes",
                    "metadata_tags",
                    "include_own_entities",
                )
            },
            "delivery": {
                "batch_size": float(batch_size),
                "flush_interval": 0.2,
                "spool_size_mb": 100.0,
            },
        },
    )
    assert result["type"] == "create_entry"


async def stream_across_reloads(
    hass: HomeAssistant, entry: MockConfigEntry, reload: Callable[[int], Awaitable[None]]
) -> int:
    """~150 state changes/s while the entry reloads 5 times (``reload(n)``), at least 50 before
    each reload and after the last (counted, not timed: a loaded machine streams fewer per
    second); returns how many were fired."""
    fired = 0
    stop = asyncio.Event()

    async def stream() -> None:
        nonlocal fired
        while not stop.is_set():
            for _ in range(3):
                hass.states.async_set(f"sensor.seq_{fired % 10}", str(fired))
                fired += 1
            await asyncio.sleep(0.02)

    task = hass.async_create_task(stream())
    for n in range(5):
        await async_wait_until(lambda n=n: fired >= 50 * (n + 1), "50 more state changes")
        runtime = entry.runtime_data
        await reload(n)
        await async_wait_until(
            lambda old=runtime: (
                entry.state is ConfigEntryState.LOADED
                and getattr(entry, "runtime_data", old) is not old
            ),
            "the entry reloaded",
        )
    await async_wait_until(lambda: fired >= 300, "50 state changes after the last reload")
    stop.set()
    await task
    await hass.async_block_till_done()
    await flush(hass)
    return fired


async def stream_across_options_changes(hass: HomeAssistant, entry: MockConfigEntry) -> int:
    return await stream_across_reloads(
        hass, entry, lambda n: options_change(hass, entry, batch_size=100 + n)
    )


def assert_accounted(entry: MockConfigEntry) -> None:
    runtime: IngestorRuntime = entry.runtime_data
    stats = runtime.stats
    assert stats.received == (
        stats.written
        + runtime.pipeline.pending
        + stats.filtered
        + stats.dead_lettered
        + stats.dropped_total
    )


async def test_options_changes_lose_no_event_v1(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    fired = await stream_across_options_changes(hass, entry)
    rows = await hass.async_add_executor_job(
        influxdb1.rows, 'SELECT "value" FROM "ha_states"', database
    )
    values = sorted(int(r["value"]) for r in rows)  # type: ignore[call-overload]
    assert fired > 200
    assert values == list(range(fired))  # every event, by sequence number
    assert entry.options[CONF_BATCH_SIZE] == 104
    assert_accounted(entry)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_options_changes_lose_no_event_v2(
    hass: HomeAssistant, victoria: VictoriaMetrics, socket_enabled: None
) -> None:
    entry = v2_entry(victoria.url, "unused", "options_test", **{CONF_BATCH_SIZE: 500})
    await setup_entry(hass, entry)
    fired = await stream_across_options_changes(hass, entry)
    match = '{__name__="ha_states_value",entity_id=~"sensor.seq_.*"}'
    series = await hass.async_add_executor_job(victoria.wait_for_samples, fired, match)
    values = sorted(int(v) for s in series for v in s["values"])  # type: ignore[attr-defined]
    assert fired > 200
    assert values == list(range(fired))
    assert_accounted(entry)
    await hass.config_entries.async_unload(entry.entry_id)


async def plain_reload(hass: HomeAssistant, entry: MockConfigEntry, n: int) -> None:
    """A reload that changes nothing in the entry: the Reload of its menu in Settings > Devices
    & services (which calls async_reload) or the homeassistant.reload_config_entry action."""
    if n % 2:
        await hass.services.async_call(
            "homeassistant", "reload_config_entry", {"entry_id": entry.entry_id}, blocking=True
        )
    else:
        assert await hass.config_entries.async_reload(entry.entry_id)


async def test_plain_reloads_lose_no_event(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    """The entry unchanged, an unload could not tell the reload's from any other and handed
    nothing over: the changes fired while the entry reloaded were never captured."""
    assert await async_setup_component(hass, "homeassistant", {})
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    fired = await stream_across_reloads(hass, entry, functools.partial(plain_reload, hass, entry))
    rows = await hass.async_add_executor_job(
        influxdb1.rows, 'SELECT "value" FROM "ha_states"', database
    )
    values = sorted(int(r["value"]) for r in rows)  # type: ignore[call-overload]
    assert fired > 200
    assert values == list(range(fired))  # every event, by sequence number
    assert entry.runtime_data.stats.received == fired
    assert_accounted(entry)
    await hass.config_entries.async_unload(entry.entry_id)


def fire_now(hass: HomeAssistant, start: int, count: int) -> None:
    """Numbered state changes with no await between: all of them before any task runs."""
    for n in range(start, start + count):
        hass.states.async_set(f"sensor.seq_{n % 10}", str(n))


def spooled_values(hass: HomeAssistant, entry: MockConfigEntry) -> list[int]:
    return [
        int(float(line.split("value=")[1].split()[0]))
        for batch in spooled(spool_path(hass, entry))
        for line in batch.lines
    ]


async def written_rows(influxdb1: InfluxDB1, hass: HomeAssistant, database: str) -> list[int]:
    rows = await hass.async_add_executor_job(
        influxdb1.rows, 'SELECT "value" FROM "ha_states"', database
    )
    return sorted(int(r["value"]) for r in rows)  # type: ignore[call-overload]


async def test_an_unload_no_setup_follows_spools_what_its_handover_held(
    hass: HomeAssistant, hass_storage: dict[str, Any], influxdb1: InfluxDB1, database: str
) -> None:
    """An unload cannot know whether a setup follows, so it hands over; when none took the
    capture by the time the entry's setup lock is free (an unload on its own), the capture
    stops and what it caught goes to the spool, counted as pending; the next setup writes it."""
    listening = hass.bus.async_listeners().get(EVENT_STATE_CHANGED, 0)
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    fire_now(hass, 0, 100)
    await flush(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    fire_now(hass, 100, 20)  # after the unload, before a setup could follow: held
    await hass.async_block_till_done()
    assert not hass.data.get(HANDOVERS)
    assert hass.bus.async_listeners().get(EVENT_STATE_CHANGED, 0) == listening
    fire_now(hass, 120, 10)  # reaches nothing of ours
    await hass.async_block_till_done()
    assert sorted(spooled_values(hass, entry)) == list(range(100, 120))
    saved = stored_counters(hass_storage, entry)
    assert (saved["received"], saved["written"], saved["pending"]) == (120, 100, 20)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await flush(hass)
    assert await written_rows(influxdb1, hass, database) == list(range(120))
    assert entry.runtime_data.stats.received == 120
    assert_accounted(entry)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_handover_nobody_takes_stops_capturing_within_its_bound(
    hass: HomeAssistant, hass_storage: dict[str, Any], influxdb1: InfluxDB1, database: str
) -> None:
    """While the setup lock stays taken and no setup of ours takes the capture (a setup stuck
    before it gets that far), the capture holds at most HOLD_LIMIT lines (the rest dropped as
    queue_full, as the pipeline's full queue drops them) and stops after HANDOVER_HOLD; once
    the lock is free, what it held goes to the spool, every event accounted for."""
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    fire_now(hass, 0, 100)
    await flush(hass)
    old = entry.runtime_data
    with patch.object(capture_module, "HOLD_LIMIT", 15):
        async with entry.setup_lock:
            assert await hass.config_entries.async_unload(entry.entry_id, _lock=False)
            fire_now(hass, 100, 20)  # 15 held, 5 past the limit
            async_fire_time_changed(hass, dt_util.utcnow() + HANDOVER_HOLD - timedelta(seconds=1))
            assert old.capture.listening
            async_fire_time_changed(hass, dt_util.utcnow() + HANDOVER_HOLD + timedelta(seconds=1))
            assert not old.capture.listening
            fire_now(hass, 120, 10)  # reaches nothing of ours
            assert entry.entry_id in hass.data[HANDOVERS]  # spooled once the lock is free
    await hass.async_block_till_done()
    assert not hass.data.get(HANDOVERS)
    assert sorted(spooled_values(hass, entry)) == list(range(100, 115))
    saved = stored_counters(hass_storage, entry)
    assert (saved["received"], saved["written"], saved["pending"]) == (120, 100, 15)
    assert saved["dropped"] == {"queue_full": 5}
    assert await hass.config_entries.async_setup(entry.entry_id)
    await flush(hass)
    assert await written_rows(influxdb1, hass, database) == list(range(115))
    assert_accounted(entry)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_spool_damaged_before_a_handover_ends_counts_its_points_as_unreadable(
    hass: HomeAssistant, hass_storage: dict[str, Any], socket_enabled: None
) -> None:
    """The spool the old pipeline left is found damaged when the hand-over no setup took puts
    what it held there: the points the file held count as spool_unreadable, with the repair
    issue, as at a setup (they had vanished from pending, counted nowhere)."""
    entry = v1_entry(closed_port_url(), "faults")
    await setup_entry(hass, entry)
    fire_now(hass, 0, 100)
    pipeline = entry.runtime_data.pipeline
    await async_wait_until(lambda: pipeline.spool.pending_points == 100, "100 points spooled")
    async with entry.setup_lock:
        assert await hass.config_entries.async_unload(entry.entry_id, _lock=False)
        fire_now(hass, 100, 20)  # held
        path = spool_path(hass, entry)
        await hass.async_add_executor_job(path.write_bytes, b"not a database " * 1_000)
        for name in ("-wal", "-shm"):
            await hass.async_add_executor_job(path.with_name(path.name + name).unlink, True)
    await hass.async_block_till_done()
    saved = stored_counters(hass_storage, entry)
    assert (saved["received"], saved["pending"]) == (120, 20)
    assert saved["dropped"] == {"spool_unreadable": 100}
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(ISSUE_SPOOL_RECOVERED, entry))


@pytest.mark.parametrize("why", ["disabled", "stopping"])
async def test_disabling_or_stopping_hands_nothing_over(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str, why: str
) -> None:
    """No setup follows an unload that disables the entry or comes while Home Assistant stops:
    the capture stops with it, holding nothing (the gap repair knows the disabled time)."""
    listening = hass.bus.async_listeners().get(EVENT_STATE_CHANGED, 0)
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    fire_now(hass, 0, 100)
    await flush(hass)
    old = entry.runtime_data
    if why == "disabled":
        assert await hass.config_entries.async_set_disabled_by(
            entry.entry_id, ConfigEntryDisabler.USER
        )
    else:
        hass.set_state(CoreState.stopping)
        try:
            assert await hass.config_entries.async_unload(entry.entry_id)
        finally:
            hass.set_state(CoreState.running)
    assert not old.capture.listening and not hass.data.get(HANDOVERS)
    assert hass.bus.async_listeners().get(EVENT_STATE_CHANGED, 0) == listening
    fire_now(hass, 100, 20)  # reaches nothing of ours
    await hass.async_block_till_done()
    assert old.stats.received == 100
    assert old.pipeline.pending == 0


@pytest.mark.parametrize("token", ["new-token", "good-token"])
async def test_a_reauth_reloads_once_and_loses_no_event(
    hass: HomeAssistant, fake_v2: FakeServer[FakeInfluxDB2], token: str
) -> None:
    """A reauth with a new token (the entry changes) or the same one retyped (it does not):
    one reload, handing over, so every change fired meanwhile is written. Before Home
    Assistant 2025.8 a changed entry reloaded twice (the update listener, then the flow), and
    the second reload, finding the entry unchanged, handed nothing over."""
    fake_v2.fake.tokens.add("new-token")
    entry = v2_entry(fake_v2.url)
    await setup_entry(hass, entry)
    builds = 0
    build = IngestorRuntime.async_build

    async def counted(hass_: HomeAssistant, entry_: Any) -> IngestorRuntime:
        nonlocal builds
        builds += 1
        return await build(hass_, entry_)

    fired = 0
    stop = asyncio.Event()

    async def stream() -> None:
        nonlocal fired
        while not stop.is_set():
            hass.states.async_set(f"sensor.seq_{fired % 10}", str(fired))
            fired += 1
            await asyncio.sleep(0.002)

    task = hass.async_create_background_task(stream(), "stream")
    await async_wait_until(lambda: fired >= 50, "50 state changes")
    with patch.object(IngestorRuntime, "async_build", counted):
        result = await entry.start_reauth_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_TOKEN: token}
        )
        assert result["reason"] == "reauth_successful"
        await async_wait_until(
            lambda: builds and entry.state is ConfigEntryState.LOADED, "reloaded"
        )
        settled = fired + 100
        await async_wait_until(lambda: fired >= settled, "100 more state changes")
    stop.set()
    await task
    await hass.async_block_till_done()
    await flush(hass)
    assert builds == 1
    assert entry.data[CONF_TOKEN] == token
    assert entry.runtime_data.stats.received == fired
    assert written_values(fake_v2) == set(range(fired))
    await hass.config_entries.async_unload(entry.entry_id)


async def test_counters_add_up_across_reloads_and_a_restart_that_replays_a_spool(
    hass: HomeAssistant, hass_storage: dict[str, Any], own_influxdb: InfluxDB1
) -> None:
    entry = v1_entry(closed_port_url(), "faults", **{CONF_EXCLUDE_DOMAINS: ["light"]})
    await setup_entry(hass, entry)
    for n in range(3_000):
        hass.states.async_set(f"sensor.seq_{n % 10}", str(n))
    for n in range(31):
        hass.states.async_set("light.l", "on" if n % 2 else "off")  # filtered
    runtime = entry.runtime_data
    # Both: for a moment after the spool stored a batch (in the executor) and before the loop
    # takes it off the in-flight count, pending counts it twice.
    await async_wait_until(
        lambda: runtime.pipeline.spool.pending_points == runtime.pipeline.pending == 3_000,
        "3,000 points spooled",
    )
    assert_accounted(entry)
    # Saved when the sensors show new counters (a statistics refresh), never per event.
    assert await refresh_statistics(hass, hass_storage, entry) == runtime.stats.received
    received = runtime.stats.received
    hass.states.async_set("light.l", "on")  # one more (filtered)
    await hass.async_block_till_done()
    assert stored_counters(hass_storage, entry)["received"] == received

    # A reload keeps counting from where it was.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.stats.received >= received
    assert_accounted(entry)

    # Unloaded with the backlog spooled (Home Assistant's own stop: test_faults.py), then
    # set up again with InfluxDB reachable.
    await hass.config_entries.async_unload(entry.entry_id)
    saved = stored_counters(hass_storage, entry)
    assert saved["pending"] == 3_000
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_URL: own_influxdb.url})
    assert await hass.config_entries.async_setup(entry.entry_id)
    runtime = entry.runtime_data
    await async_wait_until(lambda: runtime.pipeline.pending == 0, "nothing pending")
    assert await hass.async_add_executor_job(count_in, own_influxdb, "faults") == 3_000
    stats = runtime.stats
    assert stats.written == 3_000
    assert stats.filtered >= 31
    assert stats.received >= saved["received"] >= 3_031  # cumulative, not reset
    assert_accounted(entry)
    await hass.config_entries.async_unload(entry.entry_id)


async def refresh_statistics(
    hass: HomeAssistant, hass_storage: dict[str, Any], entry: MockConfigEntry
) -> int:
    """The diagnostic sensors' next refresh (every STATS_INTERVAL_SECONDS), and the counters'
    save it starts (Home Assistant's Store writes in a background task); the count shown."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=STATS_INTERVAL_SECONDS + 1))
    await hass.async_block_till_done()
    shown = int(own_state(hass, entry, "events_received"))
    key = f"{DOMAIN}.counters_{entry.entry_id}"
    await async_wait_until(
        lambda: key in hass_storage and stored_counters(hass_storage, entry)["received"] == shown,
        f"the {shown} events received the sensor shows saved",
    )
    return shown


async def test_a_crash_never_sets_a_counter_below_what_its_sensor_showed(
    hass: HomeAssistant, hass_storage: dict[str, Any], influxdb1: InfluxDB1, database: str
) -> None:
    """Counters were saved every 5 minutes: after a power cut the total_increasing sensors
    resumed from the last save, below what they had shown and what the recorder holds (Home
    Assistant logs that, or reads a meter reset)."""
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    for n in range(100):
        hass.states.async_set(f"sensor.seq_{n % 10}", str(n))
    await flush(hass)
    shown = await refresh_statistics(hass, hass_storage, entry)
    assert shown == 100
    key = f"{DOMAIN}.counters_{entry.entry_id}"
    on_disk = copy.deepcopy(hass_storage.get(key))  # what a power cut now leaves
    await hass.config_entries.async_unload(entry.entry_id)  # frees the entry; its save undone:
    hass_storage.pop(key, None)
    if on_disk is not None:
        hass_storage[key] = on_disk
    assert await hass.config_entries.async_setup(entry.entry_id)  # the next start
    await hass.async_block_till_done()
    assert int(own_state(hass, entry, "events_received")) >= shown
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("failing", ["the spool", "the runtime"])
async def test_a_reload_whose_setup_fails_leaves_nothing_listening_and_counts_hold(
    hass: HomeAssistant, hass_storage: dict[str, Any], socket_enabled: None, failing: str
) -> None:
    """The old capture holds what arrives while the entry reloads; when the new setup fails,
    the capture stops (it once stayed subscribed, holding every event for good), what it held
    goes to the spool if one opened, and the counters saved match the spool (the spool's
    points once counted as received a second time on the next start)."""
    listening = hass.bus.async_listeners().get(EVENT_STATE_CHANGED, 0)
    entry = v1_entry(closed_port_url(), "faults")
    await setup_entry(hass, entry)
    await fire_numbered(hass, 0, 100)
    pipeline = entry.runtime_data.pipeline
    await async_wait_until(lambda: pipeline.spool.pending_points == 100, "100 points spooled")
    old = entry.runtime_data

    def fail(*_args: Any) -> None:
        """The failing step of the new setup, with 20 changes fired while it runs: held."""
        for n in range(100, 120):
            hass.states.async_set(f"sensor.seq_{n % 10}", str(n))
        raise RuntimeError("disk trouble" if failing == "the spool" else "bug")

    if failing == "the spool":
        fails = patch("custom_components.ha_ingestor.runtime._async_open_spool", side_effect=fail)
    else:
        fails = patch.object(IngestorRuntime, "__init__", side_effect=fail)
    with fails:
        await options_change(hass, entry, batch_size=77)  # the entry reloads
        await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    await fire_numbered(hass, 120, 30)  # reaches nothing of ours
    await hass.async_block_till_done()
    assert not old.capture.listening and not old.capture.held
    assert hass.bus.async_listeners().get(EVENT_STATE_CHANGED, 0) == listening
    saved = stored_counters(hass_storage, entry)
    kept = 120 if failing == "the runtime" else 100
    assert saved["received"] == 120
    assert (saved["pending"], saved["dropped"].get("setup_failed", 0)) == (kept, 120 - kept)
    # Set up again (the disk is fine, the bug fixed): every point is accounted for once.
    assert await hass.config_entries.async_reload(entry.entry_id)
    assert_accounted(entry)
    assert entry.runtime_data.stats.received == 120
    assert entry.runtime_data.pipeline.pending == kept
    await hass.config_entries.async_unload(entry.entry_id)


async def test_an_own_point_after_the_stop_is_not_counted(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    """A weather or sports refresh still on its way when the entry unloads hands its point to
    a pipeline that no longer writes or spools: it used to be counted received, then lost."""
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    runtime: IngestorRuntime = entry.runtime_data
    runtime.submit_own_point("weather,source=entity temperature=20.0 1700000000000000")
    await flush(hass)
    assert runtime.stats.received == runtime.stats.written == 1
    await hass.config_entries.async_unload(entry.entry_id)
    runtime.submit_own_point("weather,source=entity temperature=21.0 1700000001000000")
    assert runtime.stats.received == 1
    assert not runtime.pipeline.queue
    assert runtime.stats.as_stored(runtime.pipeline.pending)["pending"] == 0


async def test_flush_action_writes_during_a_backoff_and_explains_a_refusal(
    hass: HomeAssistant,
    fake_v2: FakeServer[FakeInfluxDB2],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(pipeline_module, "Backoff", functools.partial(Backoff, cap=60))
    fake_v2.fake.fail_next = [503]
    fake_v2.fake.retry_after = "60"  # InfluxDB asks for a minute; it is back in a moment
    entry = v2_entry(fake_v2.url)
    await setup_entry(hass, entry)
    pipeline = entry.runtime_data.pipeline
    await fire_numbered(hass, 0, 20)
    await async_wait_until(
        lambda: pipeline.stats.failed_writes == 1 and pipeline.spool.pending_points,
        "the first write refused and spooled",
    )
    await fire_numbered(hass, 20, 5)
    await flush(hass)  # during the minute's backoff
    await async_wait_until(
        lambda: written_values(fake_v2) == set(range(25)), "all 25 written", timeout=10
    )

    fake_v2.fake.fail_next = [503] * 1_000  # down again: refused, translated, no traceback
    await fire_numbered(hass, 25, 5)
    caplog.clear()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "flush_incomplete"
    assert "not everything could be written" in str(err.value)
    assert not [r for r in caplog.records if r.exc_info]
    assert_accounted(entry)
    await hass.config_entries.async_unload(entry.entry_id)
