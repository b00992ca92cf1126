"""Long-term statistics into ha_statistics: the real recorder's compiled and external rows,
compared with `statistics_during_period` value by value in real InfluxDB 1.6."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import time
from typing import Any
from unittest.mock import patch

from homeassistant.components.recorder.db_schema import StatisticsMeta
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    async_import_statistics,
    statistics_during_period,
)
from homeassistant.components.recorder.tasks import StatisticsTask
from homeassistant.const import EVENT_RECORDER_HOURLY_STATISTICS_GENERATED
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy.exc import OperationalError

from custom_components.ha_ingestor import long_term_statistics
from custom_components.ha_ingestor.const import CONF_INCLUDE_GLOBS, CONF_STATISTICS
from tests.helpers import async_wait_until, setup_entry, v1_entry
from tests.servers import InfluxDB1

from .recorded_home import auto_enable_custom_integrations  # noqa: F401 - autouse


def _hour(ts: float) -> datetime:
    return datetime.fromtimestamp(ts - ts % 3600, UTC)


def _metadata(statistic_id: str, source: str, unit: str, unit_class: str, **kinds: Any) -> Any:
    """A statistic's metadata as the recorder takes it on either Home Assistant version."""
    metadata: Any = {
        "name": statistic_id,
        "source": source,
        "statistic_id": statistic_id,
        "unit_of_measurement": unit,
        **kinds,
    }
    if hasattr(StatisticsMeta, "unit_class"):  # Home Assistant 2025.10+
        metadata["unit_class"] = unit_class
    return metadata


async def _external_energy(hass: HomeAssistant, hours: int) -> None:
    """An external statistic (as an energy provider imports them): hourly state and sum."""
    start = _hour(time.time()) - timedelta(hours=hours + 2)
    metadata = _metadata(
        "test:grid_import", "test", "kWh", "energy", has_sum=True, mean_type=StatisticMeanType.NONE
    )
    rows: Any = [
        {"start": start + timedelta(hours=h), "state": 0.5 * h, "sum": 0.25 * h * h}
        for h in range(hours)
    ]
    async_add_external_statistics(hass, metadata, rows)
    await async_wait_recording_done(hass)


async def _compile(hass: HomeAssistant, start: datetime) -> None:
    """The recorder's own compile of the 5 minutes from `start`, announcing it as it does."""
    get_instance(hass).queue_task(StatisticsTask(start, True))
    await async_wait_recording_done(hass)


async def _exporting_entry(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> MockConfigEntry:
    """An entry exporting statistics (and no states), once it has caught up with the past."""
    entry = v1_entry(
        influxdb1.url, database, **{CONF_STATISTICS: True, CONF_INCLUDE_GLOBS: ["none.*"]}
    )
    await setup_entry(hass, entry)
    exporter = entry.runtime_data.history.statistics
    assert exporter is not None
    await asyncio.wait_for(exporter.caught_up.wait(), 60)
    return entry


def _influx(influxdb1: InfluxDB1, database: str) -> dict[tuple[str, str, int], dict[str, Any]]:
    rows = influxdb1.rows('SELECT * FROM "ha_statistics" GROUP BY *', database)
    return {(r["statistic_id"], r["period"], int(r["time"]) // 10**9): r for r in rows}  # type: ignore[misc]


def _recorder(hass: HomeAssistant) -> dict[tuple[str, str, int], dict[str, Any]]:
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for period in ("5minute", "hour"):
        rows = statistics_during_period(
            hass,
            datetime.fromtimestamp(0, UTC),
            None,
            None,
            period,  # type: ignore[arg-type]
            None,
            {"mean", "min", "max", "state", "sum"},
        )
        for statistic_id, stats in rows.items():
            for row in stats:
                out[(statistic_id, period, int(row["start"]))] = dict(row)
    return out


async def test_statistics_past_and_compiled_match_the_recorder_value_by_value(
    recorder_mock: Any, hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    await async_setup_component(hass, "sensor", {})
    await _external_energy(hass, hours=72)
    # A sensor whose 5-minute and hourly statistics the recorder compiles from its states.
    # xx:55 (it closes an hour too) of the hour before last. A new recorder database marks the
    # last finished 5 minutes as compiled (statistics.get_start_time): the last hour's xx:55 when
    # the test starts in the first 5 minutes of an hour, and its compile would then be skipped.
    period = _hour(time.time()) - timedelta(hours=1, minutes=5)
    for n in range(20):
        hass.states.async_set(
            "sensor.stat_power",
            str(100 + n * 7 % 13),
            {"unit_of_measurement": "W", "device_class": "power", "state_class": "measurement"},
            timestamp=period.timestamp() - 200 + n * 20,
        )
    await async_wait_recording_done(hass)

    entry = await _exporting_entry(hass, influxdb1, database)  # the past: external rows

    await _compile(hass, period)  # recorder compiles, fires its events, we write
    expected = await get_instance(hass).async_add_executor_job(_recorder, hass)
    assert ("sensor.stat_power", "5minute", int(period.timestamp())) in expected
    assert ("sensor.stat_power", "hour", int(period.timestamp()) - 3300) in expected
    assert sum(1 for key in expected if key[0] == "test:grid_import") == 72

    async def all_written() -> bool:
        stored = await hass.async_add_executor_job(_influx, influxdb1, database)
        return stored.keys() >= expected.keys()

    await async_wait_until(all_written, "every statistics row in InfluxDB", 60)
    stored = await hass.async_add_executor_job(_influx, influxdb1, database)
    assert stored.keys() == expected.keys()
    for key, row in expected.items():
        point = stored[key]
        for field in ("mean", "min", "max", "state", "sum"):
            assert point.get(field) == row.get(field), (key, field)
        assert point["unit"] == ("kWh" if key[0] == "test:grid_import" else "W")
        assert point["source"] == ("test" if key[0] == "test:grid_import" else "recorder")
    await hass.config_entries.async_unload(entry.entry_id)


async def test_values_are_in_the_unit_their_tag_names(
    recorder_mock: Any, hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    """Statistics stored in °C of a sensor now shown in °F: the recorder converts to the
    display unit unless asked not to, so points tagged °C held °F values (68 for 20)."""
    await async_setup_component(hass, "sensor", {})
    hass.states.async_set(
        "sensor.outside",
        "70",
        {"unit_of_measurement": "°F", "device_class": "temperature", "state_class": "measurement"},
    )
    start = _hour(time.time()) - timedelta(hours=5)
    metadata = _metadata(
        "sensor.outside",
        "recorder",
        "°C",
        "temperature",
        has_sum=False,
        mean_type=StatisticMeanType.ARITHMETIC,
    )
    async_import_statistics(
        hass, metadata, [{"start": start, "mean": 20.0, "min": 10.0, "max": 30.0}]
    )
    await async_wait_recording_done(hass)
    entry = await _exporting_entry(hass, influxdb1, database)
    key = ("sensor.outside", "hour", int(start.timestamp()))

    async def exported() -> bool:
        return key in await hass.async_add_executor_job(_influx, influxdb1, database)

    await async_wait_until(exported, "the hour exported", 30)
    point = (await hass.async_add_executor_job(_influx, influxdb1, database))[key]
    assert (point["unit"], point["mean"], point["min"], point["max"]) == ("°C", 20.0, 10.0, 30.0)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_statistic_that_appears_later_is_exported_from_its_beginning(
    recorder_mock: Any, hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> None:
    """An energy provider set up after the export caught up imports three days of hours: the
    shared cursor's lookback (a day) reached only the last 26 of them."""
    await _external_energy(hass, hours=4)
    entry = await _exporting_entry(hass, influxdb1, database)
    old = _hour(time.time()) - timedelta(hours=72)
    metadata = _metadata(
        "test:water", "test", "m³", "volume", has_sum=True, mean_type=StatisticMeanType.NONE
    )
    rows: Any = [
        {"start": old + timedelta(hours=h), "state": float(h), "sum": float(h)} for h in range(70)
    ]
    async_add_external_statistics(hass, metadata, rows)
    await async_wait_recording_done(hass)
    hass.bus.async_fire(EVENT_RECORDER_HOURLY_STATISTICS_GENERATED)

    async def all_hours() -> bool:
        stored = await hass.async_add_executor_job(_influx, influxdb1, database)
        hours = [t for (sid, period, t) in stored if sid == "test:water" and period == "hour"]
        return len(hours) == 70

    await async_wait_until(all_hours, "all 70 hours of test:water exported", 30)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_failed_read_while_catching_up_is_tried_again(
    recorder_mock: Any,
    hass: HomeAssistant,
    influxdb1: InfluxDB1,
    database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One database error during the first catch-up (a dropped MySQL connection, a locked
    SQLite file) ended the export until a reload: later compiles were ignored while it had
    not caught up, and nothing said so but an unretrieved task exception."""
    await _external_energy(hass, hours=6)
    real = long_term_statistics.async_read_statistics
    failures = [OperationalError("SELECT", {}, Exception("database is locked"))]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    with patch.object(long_term_statistics, "async_read_statistics", flaky):
        entry = v1_entry(
            influxdb1.url, database, **{CONF_STATISTICS: True, CONF_INCLUDE_GLOBS: ["none.*"]}
        )
        await setup_entry(hass, entry)
        exporter = entry.runtime_data.history.statistics
        assert exporter is not None
        await async_wait_until(
            lambda: "Exporting long-term statistics failed" in caplog.text, "the failure logged"
        )
        assert not exporter.caught_up.is_set()
        hass.bus.async_fire(EVENT_RECORDER_HOURLY_STATISTICS_GENERATED)
        await asyncio.wait_for(exporter.caught_up.wait(), 60)

    stored = await hass.async_add_executor_job(_influx, influxdb1, database)
    recorded = await get_instance(hass).async_add_executor_job(_recorder, hass)
    assert {key for key in recorded if key[0] == "test:grid_import"} <= set(stored)
    assert "works again" in caplog.text
    await hass.config_entries.async_unload(entry.entry_id)
