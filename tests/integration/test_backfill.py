"""Backfill from the real recorder (SQLite) into real InfluxDB 1.6 and VictoriaMetrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
import time
from typing import Any
from unittest.mock import patch

from freezegun import freeze_time
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.recorder import get_instance
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import pytest_socket
from sqlalchemy.exc import OperationalError

from custom_components.ha_ingestor.backfill_plan import BackfillJob, JobStatus
from custom_components.ha_ingestor.const import (
    CONF_INCLUDE_GLOBS,
    DOMAIN,
)
from custom_components.ha_ingestor.schema import state_to_number, timestamp_us
from tests.helpers import async_wait_until, setup_entry, v1_entry, v2_entry
from tests.servers import InfluxDB1, VictoriaMetrics, running

from .recorded_home import (
    Recorded,
    async_record,
    auto_enable_custom_integrations,  # noqa: F401 - autouse: the recorder before hass
    simulate,
)

DAYS = 4
PER_ENTITY = 2600  # x 39 entities = 101,400 states
HISTORY_GLOB = ["*.hist_*"]


@pytest.fixture(scope="module")
def own_victoria() -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics of our own: other tests compare everything the shared one holds."""
    pytest_socket.enable_socket()  # its readiness probe runs before a test enables sockets
    with running(VictoriaMetrics) as server:
        assert isinstance(server, VictoriaMetrics)
        yield server


_START: dict[str, float] = {}


@pytest.fixture(autouse=True)
def _window_start() -> None:
    """One start per test: the simulated days and the window asked for must agree, and
    recording 100,000 states under load can take longer than the window's 60 s margin."""
    _START["start"] = round(time.time() - DAYS * 86_400 - 600, 6)


def _start() -> float:
    return _START["start"]


async def _recorded(hass: HomeAssistant, rows: list[Recorded]) -> list[Recorded]:
    """The rows in the recorder; each entity also exists now (its current state is the last)."""
    await async_record(hass, rows)
    for row in {row.entity_id: row for row in rows}.values():
        hass.states.async_set(row.entity_id, row.state, row.attributes)
    await hass.async_block_till_done()
    return rows


async def _history(hass: HomeAssistant, per_entity: int = PER_ENTITY) -> list[Recorded]:
    """Days of recorded states."""
    return await _recorded(hass, simulate(_start(), DAYS, per_entity))


def _window(**data: Any) -> dict[str, Any]:
    """The simulated days (the entities' current states, set now, fall outside)."""
    start = _start()
    return {
        "start": datetime.fromtimestamp(start - 60, UTC),
        "end": datetime.fromtimestamp(start + DAYS * 86_400, UTC),
        **data,
    }


async def _backfill(hass: HomeAssistant, **data: Any) -> None:
    await hass.services.async_call(DOMAIN, "backfill", _window(**data), blocking=True)


async def _until_done(entry: MockConfigEntry, timeout: float = 300) -> BackfillJob:
    backfiller = entry.runtime_data.history.backfiller
    await async_wait_until(lambda: not backfiller.running, "the backfill to finish", timeout)
    assert backfiller.job is not None
    return backfiller.job


def _reads_ahead() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == f"{DOMAIN} backfill read"]


def _stored(influxdb1: InfluxDB1, database: str) -> dict[tuple[str, int], dict[str, Any]]:
    rows = influxdb1.rows('SELECT * FROM "ha_states" GROUP BY *', database)
    stored = {(r["entity_id"], int(r["time"]) // 1000): r for r in rows}
    assert len(stored) == len(rows)
    return stored  # type: ignore[return-value]


def _assert_same(rows: list[Recorded], stored: dict[tuple[str, int], dict[str, Any]]) -> None:
    """Every recorded state is in InfluxDB once, with its own timestamp, state and attributes."""
    assert len(stored) == len(rows)
    for row in rows:
        point = stored[(row.entity_id, timestamp_us(row.ts))]
        assert point["state"] == row.state
        assert point["value"] == state_to_number(row.state)
        if "brightness" in row.attributes:
            assert point["brightness"] == float(row.attributes["brightness"])
        if "current_temperature" in row.attributes:
            assert point["current_temperature"] == row.attributes["current_temperature"]
        assert point.get("friendly_name") == row.attributes["friendly_name"]


async def test_backfill_100k_states_into_influxdb_1_state_by_state(
    recorder_mock: Any, hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    rows = await _history(hass)
    assert len(rows) >= 100_000
    entry = v1_entry(influxdb1.url, database, **{CONF_INCLUDE_GLOBS: HISTORY_GLOB})
    await setup_entry(hass, entry)

    await _backfill(hass)  # no target: the entry's own filters choose the entities
    job = await _until_done(entry)
    assert job.status is JobStatus.DONE
    assert job.states_read == len(rows) == job.points_written
    stored = await hass.async_add_executor_job(_stored, influxdb1, database)
    _assert_same(rows, stored)

    # The progress sensor says it is done, with what was written.
    progress = hass.states.get("sensor.test_0_127_0_0_1_backfill") or next(
        s for s in hass.states.async_all("sensor") if s.entity_id.endswith("_backfill")
    )
    assert float(progress.state) == 100.0
    assert progress.attributes["status"] == "done"
    assert progress.attributes["points_written"] == len(rows)

    # Idempotent: the same window again writes the same points, nothing more.
    await _backfill(hass)
    again = await _until_done(entry)
    assert again.points_written == len(rows)
    assert await hass.async_add_executor_job(_stored, influxdb1, database) == stored
    # The live counters account for live events only: a backfill is not "received".
    assert entry.runtime_data.pipeline.stats.written == 0
    await hass.config_entries.async_unload(entry.entry_id)


async def test_backfill_100k_states_into_victoriametrics_value_by_value(
    recorder_mock: Any, hass: HomeAssistant, own_victoria: VictoriaMetrics, socket_enabled: None
) -> None:
    rows = await _history(hass)
    entry = v2_entry(own_victoria.url, **{CONF_INCLUDE_GLOBS: HISTORY_GLOB})
    await setup_entry(hass, entry)
    await _backfill(hass, config_entry_id=entry.entry_id)
    job = await _until_done(entry)
    assert job.points_written == len(rows)
    # VictoriaMetrics keeps numbers (not strings), in milliseconds
    numeric = {
        (row.entity_id, timestamp_us(row.ts) // 1000): number
        for row in rows
        if (number := state_to_number(row.state)) is not None
    }
    series = await hass.async_add_executor_job(
        own_victoria.wait_for_samples, len(numeric), '{__name__="ha_states_value"}'
    )
    stored = {
        (s["metric"]["entity_id"], ts): value  # type: ignore[index]
        for s in series
        for ts, value in zip(s["timestamps"], s["values"], strict=True)  # type: ignore[arg-type]
    }
    assert stored == numeric
    await hass.config_entries.async_unload(entry.entry_id)


async def test_interrupted_backfill_resumes_after_restart_with_no_gap_and_no_duplicate(
    recorder_mock: Any,
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    influxdb1: InfluxDB1,
    database: str,
) -> None:
    rows = await _history(hass)
    entry = v1_entry(influxdb1.url, database, **{CONF_INCLUDE_GLOBS: HISTORY_GLOB})
    await setup_entry(hass, entry)
    await _backfill(hass)
    backfiller = entry.runtime_data.history.backfiller
    assert backfiller.job is not None
    job = backfiller.job
    await async_wait_until(lambda: job.percent >= 40, "the backfill at 40 %", 300)

    # Home Assistant stops (the entry unloads): the task ends, with the read of the next
    # slice it had started, and the checkpoint stays.
    await hass.config_entries.async_unload(entry.entry_id)
    assert not _reads_ahead()
    saved = hass_storage[f"{DOMAIN}.history_{entry.entry_id}"]["data"]["job"]
    assert saved["status"] == "running"
    assert 40 <= BackfillJob.from_dict(saved).percent < 100
    before = await hass.async_add_executor_job(_stored, influxdb1, database)
    assert 0 < len(before) < len(rows)

    # It starts again and continues from the checkpoint to the end.
    assert await hass.config_entries.async_setup(entry.entry_id)
    job = await _until_done(entry)
    assert job.status is JobStatus.DONE
    # Slices written before the stop were not read again (states_read counts checkpointed
    # slices): every state was read and written exactly once.
    assert job.states_read == len(rows) == job.points_written
    _assert_same(rows, await hass.async_add_executor_job(_stored, influxdb1, database))
    await hass.config_entries.async_unload(entry.entry_id)


async def test_backfill_and_a_live_stream_both_complete(
    recorder_mock: Any, hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    rows = await _history(hass, per_entity=800)
    entry = v1_entry(influxdb1.url, database, **{CONF_INCLUDE_GLOBS: [*HISTORY_GLOB, "*.live_*"]})
    await setup_entry(hass, entry)
    await _backfill(hass)
    backfiller = entry.runtime_data.history.backfiller
    live: dict[tuple[str, int], str] = {}
    during = 0
    # The live stream runs until the backfill has finished (and for at least 3,000 events), so
    # the two overlap however fast this machine is.
    n = 0
    deadline = time.monotonic() + 300
    while n < 3000 or (backfiller.running and time.monotonic() < deadline):
        entity_id = f"sensor.live_{n % 25}"
        during += backfiller.running
        hass.states.async_set(entity_id, str(n), {"unit_of_measurement": "W"})
        state = hass.states.get(entity_id)
        assert state is not None
        live[(entity_id, timestamp_us(state.last_updated_timestamp))] = str(n)
        n += 1
        if n % 50 == 0:
            await asyncio.sleep(0.005)
    assert during >= 100, during  # the live stream ran while the backfill did
    job = await _until_done(entry)
    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)
    stored = await hass.async_add_executor_job(_stored, influxdb1, database)
    assert job.points_written == len(rows)
    _assert_same(rows, {key: p for key, p in stored.items() if ".hist_" in key[0]})
    assert {key: p["state"] for key, p in stored.items() if ".live_" in key[0]} == live
    assert entry.runtime_data.pipeline.stats.written == len(live)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_bad_input_is_a_translated_validation_error_and_cancel_stops(
    recorder_mock: Any, hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    rows = await _history(hass, per_entity=1500)
    entry = v1_entry(influxdb1.url, database, **{CONF_INCLUDE_GLOBS: HISTORY_GLOB})
    await setup_entry(hass, entry)
    now = datetime.now(UTC)

    async def error(data: dict[str, Any]) -> ServiceValidationError:
        with pytest.raises(ServiceValidationError) as info:
            await hass.services.async_call(DOMAIN, "backfill", data, blocking=True)
        return info.value

    err = await error({"start": now, "end": now - timedelta(hours=1)})
    assert err.translation_key == "backfill_end_before_start"
    # Dates that leave the calendar in UTC (an OverflowError before): as typed, in local time
    # (the tests' US/Pacific), and with an offset east of UTC.
    tokyo = timezone(timedelta(hours=9))
    for data in (
        {"start": "2026-01-01 00:00:00", "end": "9999-12-31 23:00:00"},
        {"start": datetime(1, 1, 1, tzinfo=tokyo)},
    ):
        err = await error(data)
        assert err.translation_key == "backfill_date_out_of_range"
        assert err.translation_placeholders["date"].startswith(("9999-12-31 23:00", "0001-01-01"))
    err = await error({"start": now - timedelta(days=40), "end": now - timedelta(days=30)})
    assert err.translation_key == "backfill_window_purged"
    assert "oldest" in err.translation_placeholders
    err = await error(_window(entity_id=["sensor.hist_temp_1", "sensor.not_there"]))
    assert err.translation_key == "unknown_entity"
    assert err.translation_placeholders == {"entity_ids": "sensor.not_there"}

    # A target selects entities instead of the filters; a second run while one runs is refused.
    await _backfill(hass, entity_id=["sensor.hist_temp_1", "light.hist_lamp_2"])
    backfiller = entry.runtime_data.history.backfiller
    assert backfiller.job is not None
    assert backfiller.job.entity_ids == ["light.hist_lamp_2", "sensor.hist_temp_1"]
    err = await error(_window())
    assert err.translation_key == "backfill_running"
    await hass.services.async_call(DOMAIN, "cancel_backfill", {}, blocking=True)
    assert not backfiller.running
    assert not _reads_ahead()
    assert backfiller.job.status is JobStatus.CANCELLED
    await hass.async_block_till_done()
    progress = next(s for s in hass.states.async_all("sensor") if s.entity_id.endswith("_backfill"))
    assert progress.attributes["status"] == "cancelled"
    assert backfiller.job.points_written < len(rows)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_backfill_the_recorder_fails_ends_as_failed_and_can_run_again(
    recorder_mock: Any,
    hass: HomeAssistant,
    influxdb1: InfluxDB1,
    database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A read that raises (the database went away) ended the task but left the job running:
    the sensor said running at 0% for good, and cancel_backfill found nothing to cancel."""
    rows = await _history(hass, per_entity=50)
    entry = v1_entry(influxdb1.url, database, **{CONF_INCLUDE_GLOBS: HISTORY_GLOB})
    await setup_entry(hass, entry)
    with patch(
        "custom_components.ha_ingestor.backfill.async_read_states",
        side_effect=OperationalError("SELECT", {}, Exception("server has gone away")),
    ):
        await _backfill(hass)
        job = await _until_done(entry)
    assert job.status is JobStatus.FAILED and job.finished_at is not None
    assert "Backfill failed at 0.0%" in caplog.text
    await hass.async_block_till_done()
    progress = next(s for s in hass.states.async_all("sensor") if s.entity_id.endswith("_backfill"))
    assert progress.attributes["status"] == "failed"
    # Not running any more: the same window can be run again, and this time it works.
    await _backfill(hass)
    assert (await _until_done(entry)).status is JobStatus.DONE
    assert len(await hass.async_add_executor_job(_stored, influxdb1, database)) == len(rows)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_backfill_without_the_recorder_is_refused(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    with pytest.raises(ServiceValidationError) as info:
        await hass.services.async_call(DOMAIN, "backfill", _window(), blocking=True)
    assert info.value.translation_key == "recorder_not_loaded"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_recorder_that_does_not_purge_is_read_as_far_back_as_it_holds(
    recorder_mock: Any,
    hass: HomeAssistant,
    influxdb1: InfluxDB1,
    database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With `auto_purge: false` the recorder keeps everything, but a window older than
    `purge_keep_days` was refused as purged."""
    start = time.time() - 13 * 86_400
    rows = await _recorded(hass, simulate(start, 1, 20))
    entry = v1_entry(influxdb1.url, database, **{CONF_INCLUDE_GLOBS: HISTORY_GLOB})
    await setup_entry(hass, entry)
    window = {
        "start": datetime.fromtimestamp(start - 60, UTC),
        "end": datetime.fromtimestamp(start + 86_400, UTC),
    }
    with pytest.raises(ServiceValidationError) as purged:  # purging: 10 days (+ 1) are kept
        await hass.services.async_call(DOMAIN, "backfill", window, blocking=True)
    assert purged.value.translation_key == "backfill_window_purged"
    monkeypatch.setattr(get_instance(hass), "auto_purge", False)
    await hass.services.async_call(DOMAIN, "backfill", window, blocking=True)
    job = await _until_done(entry)
    assert job.status is JobStatus.DONE
    assert job.points_written == len(rows)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_the_hour_the_recorder_keeps_longer_after_the_autumn_change_can_be_backfilled(
    recorder_mock: Any,
    hass: HomeAssistant,
    influxdb1: InfluxDB1,
    database: str,
) -> None:
    """The recorder purges at 04:12 local time, so its last purge can be 25 hours back (the
    night the clocks go back), and the hour before its 25th was refused as purged."""
    await hass.config.async_set_time_zone("Europe/Berlin")
    # 03:30 CET, after the clocks went back: the last purge (Saturday 04:12 CEST, 02:12 UTC)
    # kept the recorder's keep_days (10) from then: from 2026-10-14 02:12 UTC on.
    now = datetime(2026, 10, 25, 2, 30, tzinfo=UTC)
    assert get_instance(hass).keep_days == 10
    kept_from = datetime(2026, 10, 14, 2, 12, tzinfo=UTC).timestamp()
    rows = await _recorded(hass, simulate(kept_from + 60, 600 / 86_400, 10))  # 02:13-02:23 UTC
    entry = v1_entry(influxdb1.url, database, **{CONF_INCLUDE_GLOBS: HISTORY_GLOB})
    await setup_entry(hass, entry)
    window = {
        "start": datetime.fromtimestamp(kept_from, UTC),
        "end": datetime.fromtimestamp(kept_from + 900, UTC),
    }
    with freeze_time(now):  # only for the action: the loop's timers need the clock to run
        await hass.services.async_call(DOMAIN, "backfill", window, blocking=True)
    job = await _until_done(entry)
    assert job.status is JobStatus.DONE
    assert job.points_written == len(rows)
    await hass.config_entries.async_unload(entry.entry_id)
