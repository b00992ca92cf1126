"""Nothing lost: the fault matrix of issue 3, against real server processes.

(f), SIGKILL of the process writing the spool, is tests/unit/test_spool.py.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from typing import Any

from homeassistant import loader
from homeassistant.components.repairs import DOMAIN as REPAIRS, repairs_flow_manager
from homeassistant.config_entries import ConfigEntryDisabler, ConfigEntryState
from homeassistant.const import CONF_TOKEN, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.ha_ingestor import pipeline as pipeline_module
from custom_components.ha_ingestor.backoff import Backoff
from custom_components.ha_ingestor.const import (
    CONF_FLUSH_INTERVAL,
    CONF_SPOOL_SIZE_MB,
    DOMAIN,
)
from custom_components.ha_ingestor.health import (
    ISSUE_DEAD_LETTERS,
    ISSUE_SPOOL_FULL,
    ISSUE_SPOOL_RECOVERED,
    ISSUE_SPOOL_UNWRITABLE,
    ISSUE_TARGET_MISSING,
    issue_id,
)
from custom_components.ha_ingestor.runtime import spool_path
from custom_components.ha_ingestor.spool import Spool
from tests.helpers import (
    FakeServer,
    async_wait_until,
    closed_port_url,
    count_in,
    flush,
    setup_entry,
    stored_counters,
    v1_entry,
    v2_entry,
)
from tests.servers import InfluxDB1


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry within tenths of a second, so outages in tests are short (the policy itself is
    tested in tests/unit/test_backoff.py)."""
    monkeypatch.setattr(
        pipeline_module, "Backoff", functools.partial(Backoff, initial=0.05, cap=0.3)
    )


async def fire_numbered(
    hass: HomeAssistant, start: int, count: int, pause_every: int = 250
) -> None:
    """State changes whose value is their sequence number (10 entities, round robin)."""
    for n in range(start, start + count):
        hass.states.async_set(f"sensor.seq_{n % 10}", str(n))
        if n % pause_every == 0:
            await asyncio.sleep(0.001)


async def test_a_server_killed_mid_stream_then_restarted(
    hass: HomeAssistant, own_influxdb: InfluxDB1
) -> None:
    entry = v1_entry(own_influxdb.url, "faults", **{CONF_FLUSH_INTERVAL: 0.1})
    await setup_entry(hass, entry)
    pipeline = entry.runtime_data.pipeline
    total = 24_000
    await fire_numbered(hass, 0, 8_000)
    await async_wait_until(lambda: pipeline.stats.written > 0, "a first write")
    own_influxdb.kill()  # SIGKILL while points are in flight
    await fire_numbered(hass, 8_000, 8_000)
    await async_wait_until(lambda: pipeline.spool.pending_points > 0, "points in the spool")
    await asyncio.sleep(1)
    own_influxdb.start()
    await fire_numbered(hass, 16_000, 8_000)
    await async_wait_until(
        lambda: pipeline.stats.written >= total and pipeline.pending == 0, "every point written"
    )

    rows = await hass.async_add_executor_job(
        own_influxdb.rows, 'SELECT "value" FROM "ha_states"', "faults"
    )
    values = sorted(int(r["value"]) for r in rows)  # type: ignore[call-overload]
    assert values == list(range(total))  # every event present, once per key, no gaps
    stats = pipeline.stats
    assert stats.failed_writes >= 1
    assert stats.received == stats.written + stats.filtered + pipeline.pending
    await hass.config_entries.async_unload(entry.entry_id)


async def test_b_backlog_survives_home_assistant_stop(
    hass: HomeAssistant, own_influxdb: InfluxDB1, hass_storage: dict[str, Any]
) -> None:
    """Home Assistant's own stop, as a restart does it: it cancels the background tasks (the
    pipeline's) before it fires homeassistant_stop, so the stop must come before that."""
    entry = v1_entry(closed_port_url(), "faults", **{CONF_FLUSH_INTERVAL: 30.0})
    await setup_entry(hass, entry)
    await fire_numbered(hass, 0, 5_000)
    assert entry.runtime_data.pipeline.queue  # not due yet: all in memory
    await hass.async_stop(force=True)

    def spooled_points() -> int:
        with sqlite3.connect(spool_path(hass, entry)) as conn:
            return int(conn.execute("SELECT COALESCE(SUM(points), 0) FROM batches").fetchone()[0])

    assert spooled_points() == 5_000
    saved = stored_counters(hass_storage, entry)
    assert (saved["received"], saved["pending"]) == (5_000, 5_000)
    # Start again, now with InfluxDB reachable: the backlog is replayed.
    async with async_test_home_assistant(config_dir=hass.config.config_dir) as restarted:
        restarted.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # as enable_custom_integrations
        again = MockConfigEntry(
            domain=DOMAIN,
            entry_id=entry.entry_id,
            minor_version=entry.minor_version,
            data={**entry.data, CONF_URL: own_influxdb.url},
            options=entry.options,
        )
        await setup_entry(restarted, again)
        pipeline = again.runtime_data.pipeline
        await async_wait_until(lambda: pipeline.spool.pending_points == 0, "the spool replayed")
        assert pipeline.stats.received == 5_000  # the counters carried over the restart
        await restarted.config_entries.async_unload(again.entry_id)
        await restarted.async_stop(force=True)
    assert count_in(own_influxdb, "faults") == 5_000


_VALUE = re.compile(r",value=(\d+)\.0 ")


def line_value(line: str) -> int:
    match = _VALUE.search(line)
    assert match is not None, line
    return int(match.group(1))


def written_values(fake: FakeServer) -> set[int]:
    return {line_value(line) for line in fake.fake.written}


async def test_c_only_rejected_points_are_dead_lettered(
    hass: HomeAssistant, fake_v2: FakeServer
) -> None:
    bad = {17, 401, 1999}
    fake_v2.fake.reject = lambda line: (
        "invalid number" if any(f"value={n}.0 " in line for n in bad) else None
    )
    entry = v2_entry(fake_v2.url)
    await setup_entry(hass, entry)
    await fire_numbered(hass, 0, 3_000)
    await flush(hass)
    data = entry.runtime_data
    assert written_values(fake_v2) == set(range(3_000)) - bad
    assert data.pipeline.stats.dead_lettered == 3
    letters = await hass.async_add_executor_job(data.pipeline.spool.dead_letters, 10)
    assert {line_value(d.line) for d in letters} == bad
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id(ISSUE_DEAD_LETTERS, entry))
    assert issue is not None and issue.is_fixable
    assert "invalid number" in issue.translation_placeholders["reason"]  # type: ignore[index]

    # The repair flow clears the table once the user has looked.
    # (the flow manager loads our repairs platform itself, on both HA versions)
    assert await async_setup_component(hass, REPAIRS, {})
    flow_manager = repairs_flow_manager(hass)
    assert flow_manager is not None
    # Submitted after the entry was disabled: said so, not claimed done (nothing was cleared).
    result = await flow_manager.async_init(DOMAIN, data={"issue_id": issue.issue_id})
    await hass.config_entries.async_set_disabled_by(entry.entry_id, ConfigEntryDisabler.USER)
    result = await flow_manager.async_configure(result["flow_id"], {})
    assert (result["type"], result["reason"]) == ("abort", "entry_not_loaded")
    await hass.config_entries.async_set_disabled_by(entry.entry_id, None)
    await hass.async_block_till_done()
    data = entry.runtime_data
    result = await flow_manager.async_init(DOMAIN, data={"issue_id": issue.issue_id})
    assert result["step_id"] == "confirm"
    result = await flow_manager.async_configure(result["flow_id"], {})
    assert result["type"] == "create_entry"
    assert await hass.async_add_executor_job(data.pipeline.spool.dead_letters, 10) == []
    await hass.config_entries.async_unload(entry.entry_id)


async def test_d_401_mid_stream_starts_reauth_and_loses_nothing(
    hass: HomeAssistant, fake_v2: FakeServer
) -> None:
    entry = v2_entry(fake_v2.url)
    await setup_entry(hass, entry)
    await fire_numbered(hass, 0, 2_000)
    await flush(hass)
    fake_v2.fake.tokens = {"new-token"}  # the old token is revoked
    await fire_numbered(hass, 2_000, 2_000)
    await async_wait_until(
        lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN), "a reauth flow"
    )
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flows[0]["context"]["source"] == "reauth"
    pipeline = entry.runtime_data.pipeline
    await async_wait_until(lambda: not pipeline.queue, "the queue emptied")
    assert pipeline.paused_for_auth
    assert (
        pipeline.stats.written + pipeline.pending
        == pipeline.stats.received - pipeline.stats.filtered
    )

    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_TOKEN: "new-token"}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    pipeline = entry.runtime_data.pipeline
    await fire_numbered(hass, 4_000, 500)
    await async_wait_until(
        lambda: written_values(fake_v2) == set(range(4_500)), "every accepted value written"
    )
    await hass.config_entries.async_unload(entry.entry_id)


async def test_e_spool_full_drops_are_counted_and_raise_an_issue(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    entry = v1_entry(closed_port_url(), "faults", **{CONF_SPOOL_SIZE_MB: 0.02})  # ~20 KB
    await setup_entry(hass, entry)
    pipeline = entry.runtime_data.pipeline
    for start in range(0, 20_000, 2_000):
        await fire_numbered(hass, start, 2_000)
        await asyncio.sleep(0.2)
    stats = pipeline.stats

    def settled() -> bool:  # nothing between the queue and the spool any more
        return not pipeline.queue and stats.received == (
            stats.written + stats.filtered + pipeline.pending + stats.dropped_total
        )

    await async_wait_until(
        lambda: settled() and stats.dropped["spool_full"] > 0, "spool_full drops, all accounted"
    )
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id(ISSUE_SPOOL_FULL, entry))
    assert issue is not None
    # all this outage's drops (it said the last drop's alone: 501 of 18,501 in one run)
    assert int(issue.translation_placeholders["points"]) == stats.dropped["spool_full"]  # type: ignore[index]
    assert pipeline.spool.size_bytes <= 0.02 * 1024 * 1024
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_spool_damaged_while_stopped_counts_its_points_as_unreadable(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """The spool file was damaged between two runs (a disk fault): the points it held were
    counted as an unclean shutdown, while the repair issue said to look at the Dropped sensor
    for what the damaged file held."""
    entry = v1_entry(closed_port_url(), "faults")
    await setup_entry(hass, entry)
    await fire_numbered(hass, 0, 300)
    await hass.config_entries.async_unload(entry.entry_id)  # all 300 spooled, counters saved
    path = spool_path(hass, entry)
    await hass.async_add_executor_job(path.write_bytes, b"not a database " * 1_000)
    for name in ("-wal", "-shm"):
        await hass.async_add_executor_job(path.with_name(path.name + name).unlink, True)
    assert await hass.config_entries.async_setup(entry.entry_id)
    stats = entry.runtime_data.stats
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(ISSUE_SPOOL_RECOVERED, entry)), (
        "the repair issue"
    )
    assert dict(stats.dropped) == {"spool_unreadable": 300}
    assert stats.received == 300 and entry.runtime_data.pipeline.pending == 0
    await hass.config_entries.async_unload(entry.entry_id)


def limit_spool_file(spool: Spool, pages: int | None) -> None:
    """SQLite's own page limit on the spool's file: at its current size, every write that
    needs a new page fails as on a full disk (SQLITE_FULL); None lifts it."""
    with spool._lock:
        conn = spool._conn
        assert conn is not None
        if pages is None:
            pages = 1 << 30
        conn.execute(f"PRAGMA max_page_count={pages}")


async def fill_the_disk(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """The spool file can grow no more; 500 events while InfluxDB is down: returns the id of
    the repair issue, once it is raised."""
    spool = entry.runtime_data.pipeline.spool
    pages = await hass.async_add_executor_job(
        lambda: spool._conn.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[union-attr]
    )
    await hass.async_add_executor_job(limit_spool_file, spool, pages)
    await fire_numbered(hass, 0, 500)
    key = issue_id(ISSUE_SPOOL_UNWRITABLE, entry)
    issues = ir.async_get(hass)
    await async_wait_until(lambda: issues.async_get_issue(DOMAIN, key), "the repair issue")
    return key


async def test_a_full_disk_raises_an_issue_that_clears_itself_and_loses_nothing(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """InfluxDB is down and the spool cannot grow: the repair issue says so (it was only in
    the log, while the points piled up in memory); once there is room it closes."""
    entry = v1_entry(closed_port_url(), "faults")
    await setup_entry(hass, entry)
    pipeline = entry.runtime_data.pipeline
    spool = pipeline.spool
    key = await fill_the_disk(hass, entry)
    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, key)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert "database or disk is full" in issue.translation_placeholders["error"]  # type: ignore[index]
    stats = pipeline.stats
    assert stats.received == 500 and pipeline.pending == 500  # in memory, none dropped
    assert spool.pending_points < 500
    await hass.async_add_executor_job(limit_spool_file, spool, None)  # room on the disk
    await async_wait_until(
        lambda: issues.async_get_issue(DOMAIN, key) is None and spool.pending_points == 500,
        "the issue closed, every point in the spool",
    )
    assert stats.dropped_total == 0
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_stopped_entry_leaves_no_unwritable_spool_issue(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """Once the entry stops, nothing of it waits in memory: what it held is spooled or
    counted as dropped. The issue (raised while it ran, and again by the last stores of its
    stop) stayed about points no longer there, until a later store happened to work; after a
    restart it is gone (not persistent), so a reload now leaves it as a restart does."""
    entry = v1_entry(closed_port_url(), "faults")
    await setup_entry(hass, entry)
    key = await fill_the_disk(hass, entry)
    issues = ir.async_get(hass)
    stats = entry.runtime_data.stats
    await hass.config_entries.async_unload(entry.entry_id)
    assert issues.async_get_issue(DOMAIN, key) is None
    assert stats.dropped["spool_error"] > 0  # what the full spool could not take, counted


async def test_missing_bucket_raises_an_issue_that_clears_itself(
    hass: HomeAssistant, fake_v2: FakeServer
) -> None:
    fake_v2.fake.buckets = set()
    entry = v2_entry(fake_v2.url)
    await setup_entry(hass, entry)
    await fire_numbered(hass, 0, 300)
    issues = ir.async_get(hass)
    key = issue_id(ISSUE_TARGET_MISSING, entry)
    await async_wait_until(
        lambda: issues.async_get_issue(DOMAIN, key) is not None, "the repair issue"
    )
    issue = issues.async_get_issue(DOMAIN, key)
    assert issue is not None
    assert 'bucket "home_assistant" not found' in issue.translation_placeholders["error"]  # type: ignore[index]
    pipeline = entry.runtime_data.pipeline
    assert pipeline.stats.written == 0
    fake_v2.fake.buckets = {"home_assistant"}  # the user creates the bucket
    await async_wait_until(
        lambda: pipeline.stats.written == 300 and pipeline.pending == 0, "300 points written"
    )
    assert issues.async_get_issue(DOMAIN, key) is None
    assert written_values(fake_v2) == set(range(300))
    await hass.config_entries.async_unload(entry.entry_id)
