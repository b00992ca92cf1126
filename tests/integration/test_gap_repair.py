"""Gap repair with the real recorder (SQLite) and a real InfluxDB 1.6 that goes down.

Points lost to a full spool or a full queue, and states recorded while the entry was
disabled, become one repair issue naming the window; its fix flow backfills the window and
the issue goes away. InfluxDB's points are compared with the recorder's states, state by state.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import functools
import random
import threading
from typing import Any

from homeassistant.components.recorder import history
from homeassistant.components.recorder.tasks import RecorderTask
from homeassistant.components.repairs import DOMAIN as REPAIRS, repairs_flow_manager
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.ha_ingestor import runtime as runtime_module
from custom_components.ha_ingestor.const import (
    CONF_BATCH_SIZE,
    CONF_INCLUDE_GLOBS,
    CONF_SPOOL_SIZE_MB,
    DOMAIN,
)
from custom_components.ha_ingestor.gap_repair import gap_issue_id, local_time
from custom_components.ha_ingestor.gaps import NOT_RUNNING
from custom_components.ha_ingestor.health import ISSUE_SPOOL_FULL, issue_id
from custom_components.ha_ingestor.pipeline import PipelineConfig
from custom_components.ha_ingestor.schema import timestamp_us
from tests.helpers import async_wait_until, setup_entry, states_rows, v1_entry
from tests.servers import InfluxDB1

from .recorded_home import auto_enable_custom_integrations  # noqa: F401 - autouse

ENTITIES = [f"sensor.gap_{n}" for n in range(8)]
GAP_GLOB = ["sensor.gap_*"]

type Seen = set[tuple[str, int, str]]  # entity_id, timestamp (us), state


async def _set_states(hass: HomeAssistant, rounds: int, offset: int) -> None:
    """`rounds` changes of every gap entity, yielding now and then so the pipeline runs."""
    for n in range(rounds):
        for entity_id in ENTITIES:
            hass.states.async_set(
                entity_id, str(offset + n), {"unit_of_measurement": "W", "note": "x" * 40}
            )
        if n % 50 == 49:
            await hass.async_block_till_done()
    await hass.async_block_till_done()


def _recorded(hass: HomeAssistant, start: float, end: float) -> Seen:
    """What the recorder holds for the gap entities in [start, end] (its own history API)."""
    found: Seen = set()
    for entity_id in ENTITIES:
        changes = history.state_changes_during_period(
            hass,
            datetime.fromtimestamp(start, UTC),
            datetime.fromtimestamp(end, UTC),
            entity_id,
            no_attributes=True,
            include_start_time_state=False,
        )
        for state in changes.get(entity_id, []):
            found.add((entity_id, timestamp_us(state.last_updated_timestamp), state.state))
    return found


def _in_influxdb(server: InfluxDB1, database: str) -> Seen:
    rows = states_rows(server, database)
    return {(str(r["entity_id"]), int(r["time"]) // 1000, str(r["state"])) for r in rows}  # type: ignore[call-overload]


async def _check(hass: HomeAssistant) -> None:
    """Let the gap watch look at the counters (it runs every 10 s)."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    await hass.async_block_till_done()


async def _fix(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Run the gap issue's fix flow as the UI does: confirm, then wait for the progress."""
    issue_id = gap_issue_id(entry.entry_id)
    assert await async_setup_component(hass, REPAIRS, {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
    assert result["type"] == "form"
    assert result["step_id"] == "confirm"
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] == "progress"
    issues = ir.async_get(hass)
    await async_wait_until(
        lambda: issues.async_get_issue(DOMAIN, issue_id) is None, "the issue to close", 120
    )
    await hass.async_block_till_done()
    result = await manager.async_configure(result["flow_id"])  # the UI, after progress done
    assert result["type"] == "create_entry"
    assert not manager.async_progress()


def _issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry:
    """The gap issue, the only one about the loss (no spool_full issue beside it)."""
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, gap_issue_id(entry.entry_id))
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "gap"
    assert issues.async_get_issue(DOMAIN, issue_id(ISSUE_SPOOL_FULL, entry)) is None
    return issue


async def _dropped_sensor(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """The Dropped sensor's attributes, refreshed now."""
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    sensor = next(s for s in hass.states.async_all("sensor") if s.entity_id.endswith("_dropped"))
    return dict(sensor.attributes)


async def test_spool_overflow_is_repaired_from_the_recorder(
    recorder_mock: Any, hass: HomeAssistant, own_influxdb: InfluxDB1
) -> None:
    entry = v1_entry(
        own_influxdb.url,
        "faults",
        **{CONF_SPOOL_SIZE_MB: 0.02, CONF_INCLUDE_GLOBS: GAP_GLOB},  # ~20 KB of spool
    )
    await setup_entry(hass, entry)
    runtime = entry.runtime_data
    pipeline, stats = runtime.pipeline, runtime.pipeline.stats
    began = dt_util.utcnow().timestamp()

    own_influxdb.stop()
    await _set_states(hass, 1_000, 0)  # 8,000 states, far more than the spool holds
    await async_wait_recording_done(hass)
    await async_wait_until(
        lambda: not pipeline.queue and stats.dropped["spool_full"] > 0, "spool_full drops"
    )
    await _check(hass)
    issue = _issue(hass, entry)
    window = runtime.history.gaps.tracker.window
    assert window is not None
    placeholders = issue.translation_placeholders or {}
    assert placeholders["start"] == local_time(window.start)
    assert placeholders["end"] == local_time(window.end)
    assert int(placeholders["dropped"]) == stats.dropped["spool_full"] == window.dropped
    assert window.start <= began  # the window holds every state set since the outage began
    last_set = max(hass.states.get(e).last_updated_timestamp for e in ENTITIES)  # type: ignore[union-attr]
    assert window.end >= last_set

    # A restart keeps the window (Store) and the issue.
    await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    pipeline, stats = runtime.pipeline, runtime.pipeline.stats
    restored = runtime.history.gaps.tracker.window
    assert restored is not None
    assert (restored.start, restored.end) == (window.start, window.end)
    assert restored.lost == window.lost
    _issue(hass, entry)

    own_influxdb.start()
    await async_wait_until(lambda: pipeline.pending == 0, "the spool replayed", 60)
    backfiller = runtime.history.backfiller
    await async_wait_until(lambda: not backfiller.running, "the restart's own catch-up")
    lost = stats.dropped["spool_full"]
    missing = await hass.async_add_executor_job(
        _recorded, hass, window.start, window.end
    ) - await hass.async_add_executor_job(_in_influxdb, own_influxdb, "faults")
    assert len(missing) == lost  # exactly the dropped ones are not in InfluxDB

    await _fix(hass, entry)
    recorded = await hass.async_add_executor_job(_recorded, hass, window.start, window.end)
    stored = await hass.async_add_executor_job(_in_influxdb, own_influxdb, "faults")
    assert len(recorded) >= 8_000
    assert recorded <= stored  # every recorded state of the window, with its own value
    assert stats.recovered == lost
    assert runtime.history.gaps.tracker.window is None
    # The accounting identity holds with the recovered points beside it, not in it.
    assert (
        stats.received
        == (stats.written + pipeline.pending + stats.filtered + stats.dead_lettered)
        + stats.dropped_total
    )
    attributes = await _dropped_sensor(hass, entry)
    assert attributes["recovered"] == lost
    assert attributes["reasons"]["spool_full"] == lost
    await hass.config_entries.async_unload(entry.entry_id)


async def _entry_with_a_small_queue(
    hass: HomeAssistant, server: InfluxDB1, monkeypatch: pytest.MonkeyPatch
) -> MockConfigEntry:
    """An entry whose queue holds 400 lines (twice the spill threshold, itself twice the
    batch size): the default, 1,000,000, is the same cap, only far bigger."""
    monkeypatch.setattr(
        runtime_module,
        "PipelineConfig",
        functools.partial(PipelineConfig, spill_at=200, spill_chunk=200, max_queue=400),
    )
    entry = v1_entry(server.url, "faults", **{CONF_BATCH_SIZE: 100, CONF_INCLUDE_GLOBS: GAP_GLOB})
    await setup_entry(hass, entry)
    return entry


async def test_queue_overflow_is_repaired_from_the_recorder(
    recorder_mock: Any,
    hass: HomeAssistant,
    own_influxdb: InfluxDB1,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = await _entry_with_a_small_queue(hass, own_influxdb, monkeypatch)
    runtime = entry.runtime_data
    pipeline, stats = runtime.pipeline, runtime.pipeline.stats
    began = dt_util.utcnow().timestamp()

    # A burst in one turn of the event loop, as a flood of changes does: nothing can take
    # lines out of the queue meanwhile, so past 400 the capture drops them (queue_full).
    for n in range(250):
        for entity_id in ENTITIES:
            hass.states.async_set(entity_id, str(n), {"unit_of_measurement": "W"})
    lost = stats.dropped["queue_full"]
    assert lost == 250 * len(ENTITIES) - 400
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    await async_wait_until(lambda: pipeline.pending == 0, "the queued points written", 60)
    await _check(hass)
    issue = _issue(hass, entry)
    window = runtime.history.gaps.tracker.window
    assert window is not None
    assert window.lost == {"queue_full": lost}
    assert (issue.translation_placeholders or {})["dropped"] == str(lost)
    assert window.start <= began
    last_set = max(hass.states.get(e).last_updated_timestamp for e in ENTITIES)  # type: ignore[union-attr]
    assert window.end >= last_set
    recorded = await hass.async_add_executor_job(_recorded, hass, window.start, window.end)
    assert len(recorded) == 250 * len(ENTITIES)  # the recorder took every change
    stored = await hass.async_add_executor_job(_in_influxdb, own_influxdb, "faults")
    assert len(recorded - stored) == lost  # exactly the dropped ones are not in InfluxDB

    await _fix(hass, entry)
    stored = await hass.async_add_executor_job(_in_influxdb, own_influxdb, "faults")
    assert recorded <= stored  # every dropped state is back, with its own value and time
    assert stats.recovered == lost
    assert runtime.history.gaps.tracker.window is None
    attributes = await _dropped_sensor(hass, entry)
    assert attributes["recovered"] == lost
    assert attributes["reasons"]["queue_full"] == lost
    await hass.config_entries.async_unload(entry.entry_id)


async def test_disabled_time_is_an_issue_and_a_restart_fills_itself(
    recorder_mock: Any, hass: HomeAssistant, own_influxdb: InfluxDB1
) -> None:
    entry = v1_entry(own_influxdb.url, "faults", **{CONF_INCLUDE_GLOBS: GAP_GLOB})
    await setup_entry(hass, entry)

    # Home Assistant restarting (the entry stays enabled): what the recorder holds from the
    # time the entry was down is written at once; no issue.
    await hass.config_entries.async_unload(entry.entry_id)
    down = dt_util.utcnow().timestamp()
    await _set_states(hass, 20, 0)
    await async_wait_recording_done(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    backfiller = entry.runtime_data.history.backfiller
    await async_wait_until(lambda: not backfiller.running, "the catch-up")
    up = dt_util.utcnow().timestamp()
    missed = await hass.async_add_executor_job(_recorded, hass, down, up)
    assert len(missed) == 20 * len(ENTITIES)
    assert missed <= await hass.async_add_executor_job(_in_influxdb, own_influxdb, "faults")
    assert ir.async_get(hass).async_get_issue(DOMAIN, gap_issue_id(entry.entry_id)) is None

    # Disabled by the user: the time it was off is an issue, for the user to fill.
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, ConfigEntryDisabler.USER)
    await hass.async_block_till_done()
    off = dt_util.utcnow().timestamp()
    await _set_states(hass, 30, 100)
    await async_wait_recording_done(hass)
    assert await hass.config_entries.async_set_disabled_by(entry.entry_id, None)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    on = dt_util.utcnow().timestamp()
    issue = _issue(hass, entry)
    window = entry.runtime_data.history.gaps.tracker.window
    assert window is not None
    assert window.lost == {NOT_RUNNING: 0}
    assert window.start <= off and window.end >= on - 5
    assert (issue.translation_placeholders or {})["dropped"] == "0"
    while_off = await hass.async_add_executor_job(_recorded, hass, off, on)
    assert len(while_off) == 30 * len(ENTITIES)
    assert not while_off & await hass.async_add_executor_job(_in_influxdb, own_influxdb, "faults")

    await _fix(hass, entry)
    assert while_off <= await hass.async_add_executor_job(_in_influxdb, own_influxdb, "faults")
    assert entry.runtime_data.pipeline.stats.recovered == 0  # nothing had been dropped
    await hass.config_entries.async_unload(entry.entry_id)


class _Busy(RecorderTask):
    """Holds the recorder's thread, as a burst of events or a purge does, until released."""

    commit_before = False

    def __init__(self) -> None:
        self.release = threading.Event()

    def run(self, instance: Any) -> None:
        self.release.wait(30)


# The recorder's default commit interval, and a database on disk as a real one is (in memory
# the reading session shares the recorder's connection, so it sees what is not committed).
@pytest.mark.parametrize("recorder_config", [{"commit_interval": 5}])
@pytest.mark.parametrize("persistent_database", [True])
async def test_a_restart_catches_up_what_the_recorder_has_not_written_yet(
    recorder_mock: Any, hass: HomeAssistant, own_influxdb: InfluxDB1
) -> None:
    """The recorder writes its queue in its own thread and commits every 5 s: the catch-up
    after a restart read the database at once and missed the states set in the moments
    before the entry's setup (those of the integrations set up just before it), which the
    live capture had not seen either."""
    entry = v1_entry(own_influxdb.url, "faults", **{CONF_INCLUDE_GLOBS: GAP_GLOB})
    await setup_entry(hass, entry)
    await hass.config_entries.async_unload(entry.entry_id)
    down = dt_util.utcnow().timestamp()
    busy = _Busy()
    get_instance(hass).queue_task(busy)
    await _set_states(hass, 5, 0)  # queued behind the busy recorder
    timer = hass.loop.call_later(1.0, busy.release.set)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        backfiller = entry.runtime_data.history.backfiller
        await async_wait_until(lambda: not backfiller.running, "the catch-up")
    finally:
        timer.cancel()
        busy.release.set()
    await async_wait_recording_done(hass)
    up = dt_util.utcnow().timestamp()
    missed = await hass.async_add_executor_job(_recorded, hass, down, up)
    assert len(missed) == 5 * len(ENTITIES)
    assert missed <= await hass.async_add_executor_job(_in_influxdb, own_influxdb, "faults")
    await hass.config_entries.async_unload(entry.entry_id)


async def test_what_the_spool_drops_while_the_entry_stops_is_a_gap(
    recorder_mock: Any, hass: HomeAssistant, own_influxdb: InfluxDB1
) -> None:
    """InfluxDB is down and the entry stops: spooling the queue at the stop overflows the
    spool after the gap tracker's last look, and the next start took those counters as old
    news: the points were gone with no window to repair them from."""
    entry = v1_entry(
        own_influxdb.url,
        "faults",
        **{CONF_SPOOL_SIZE_MB: 0.02, CONF_INCLUDE_GLOBS: ["sensor.gap_*"]},
    )
    await setup_entry(hass, entry)
    stats = entry.runtime_data.pipeline.stats
    noise = random.Random(5)  # text that does not compress, so the small spool fills
    own_influxdb.stop()
    try:
        for n in range(300):
            for e in range(8):
                hass.states.async_set(
                    f"sensor.gap_{e}", str(n), {"note": noise.randbytes(40).hex()}
                )
        before = stats.dropped["spool_full"]
        await hass.config_entries.async_unload(entry.entry_id)
        dropped = stats.dropped["spool_full"]
        assert dropped > before  # the stop itself overflowed the spool
        await async_wait_recording_done(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        window = entry.runtime_data.history.gaps.tracker.window
        assert window is not None and window.dropped == dropped
    finally:
        own_influxdb.start()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_points_dropped_during_a_backfill_keep_their_issue(
    recorder_mock: Any,
    hass: HomeAssistant,
    own_influxdb: InfluxDB1,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fix flow ended with an entry when its backfill was done, and Home Assistant then
    deletes the issue: the one the gap repair had raised meanwhile for a newer gap too."""
    entry = await _entry_with_a_small_queue(hass, own_influxdb, monkeypatch)
    runtime = entry.runtime_data
    pipeline, stats = runtime.pipeline, runtime.pipeline.stats

    async def burst(value: int) -> None:
        """More changes in one turn of the loop than the queue holds (queue_full)."""
        for n in range(60):
            for entity_id in ENTITIES:
                hass.states.async_set(entity_id, str(value + n), {"unit_of_measurement": "W"})
        await hass.async_block_till_done()
        await async_wait_recording_done(hass)
        await async_wait_until(lambda: pipeline.pending == 0, "the queued points written", 60)
        await _check(hass)

    await burst(0)
    first = stats.dropped["queue_full"]
    assert first > 0
    _issue(hass, entry)
    issue = gap_issue_id(entry.entry_id)
    assert await async_setup_component(hass, REPAIRS, {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": issue})
    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] == "progress"
    await async_wait_until(lambda: not runtime.history.gaps.busy, "the backfill", 120)
    await burst(1_000)  # dropped again before the dialog takes the progress's end
    assert stats.dropped["queue_full"] > first
    assert runtime.history.gaps.tracker.window is not None
    result = await manager.async_configure(result["flow_id"])
    assert result["type"] == "abort"
    assert result["reason"] == "new_gap"
    assert not manager.async_progress()
    _issue(hass, entry)  # still there, for the new gap
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_gap_over_the_repeated_hour_reads_in_order(hass: HomeAssistant) -> None:
    """The night the clocks go back, 02:00 to 03:00 happens twice: the issue named a gap from
    the first 02:40 to the second 02:10 "from 02:40 to 02:10", as if it ended before it began."""
    await hass.config.async_set_time_zone("Europe/Berlin")
    first = datetime(2026, 10, 25, 0, 40, tzinfo=UTC).timestamp()  # 02:40 CEST
    second = datetime(2026, 10, 25, 1, 10, tzinfo=UTC).timestamp()  # 02:10 CET
    assert local_time(first) == "2026-10-25 02:40 (UTC+02:00)"
    assert local_time(second) == "2026-10-25 02:10 (UTC+01:00)"
    assert local_time(second + 3600) == "2026-10-25 03:10"  # a time that happens once
