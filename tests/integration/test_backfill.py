"""Backfill from the real recorder (SQLite) into real InfluxDB 1.6 and VictoriaMetrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
import logging
import time
from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ha_ingestor.backfill_plan import BackfillJob, JobStatus
from custom_components.ha_ingestor.const import (
    CONF_INCLUDE_GLOBS,
    DOMAIN,
)
from custom_components.ha_ingestor.schema import state_to_number, timestamp_us
from tests.servers import InfluxDB1, VictoriaMetrics, running

from .conftest import v1_entry
from .recorded_home import Recorded, async_record, simulate
from .test_init import setup_entry

DAYS = 4
PER_ENTITY = 2600  # x 39 entities = 101,400 states
HISTORY_GLOB = ["*.hist_*"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_db_url: str, enable_custom_integrations: None
) -> Iterator[None]:
    """The recorder's database is chosen before Home Assistant starts (the plugin requires it).

    The test plugin logs every SQL statement at INFO; that alone makes the recorder ten
    times slower, so it is quieted here.
    """
    engine_log = logging.getLogger("sqlalchemy.engine")
    level = engine_log.level
    engine_log.setLevel(logging.WARNING)
    yield
    engine_log.setLevel(level)


@pytest.fixture(scope="module")
def own_victoria() -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics of our own: other tests compare everything the shared one holds."""
    with running(VictoriaMetrics) as server:
        assert isinstance(server, VictoriaMetrics)
        yield server


def _start() -> float:
    return round(time.time() - DAYS * 86_400 - 600, 6)


async def _history(hass: HomeAssistant, per_entity: int = PER_ENTITY) -> list[Recorded]:
    """Days of recorded states; each entity also exists now (its current state is the last)."""
    rows = simulate(_start(), DAYS, per_entity)
    await async_record(hass, rows)
    for row in {row.entity_id: row for row in rows}.values():
        hass.states.async_set(row.entity_id, row.state, row.attributes)
    await hass.async_block_till_done()
    return rows


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
    deadline = time.monotonic() + timeout
    backfiller = entry.runtime_data.history.backfiller
    while backfiller.running:
        assert time.monotonic() < deadline, "backfill did not finish"
        await asyncio.sleep(0.1)
    assert backfiller.job is not None
    return backfiller.job


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
