"""Helpers every suite shares: ports, waits with deadlines, local aiohttp servers, entries.

Waits are conditions with a deadline, never sleeps: on these 2-core machines a test may run
beside other jobs, and a fixed sleep is either too short under load or wasted time without it.
Home Assistant is imported only by the entry helpers at the end (on first use), so the pure
suites, which run without Home Assistant's pytest plugin, do not pay its import.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import inspect
from pathlib import Path
import random
import socket
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from custom_components.ha_ingestor.pipeline import Pipeline
    from custom_components.ha_ingestor.spool import Spool, SpoolBatch
    from tests.servers import InfluxDB1

DEADLINE_S = 60.0  # generous: a deadline only bounds a failure, a pass returns at once
# A server process starting beside a busy process per core: the sports service's imports alone
# took 2.5 s at load 8, and its start exceeded 30 s at load 13.
START_DEADLINE_S = 180.0


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


# Ports below the kernel's ephemeral range: no client connection (our own tests' included, in
# every xdist worker) is handed one of them while a server is about to bind it.
_PORTS = range(10_000, max(_ephemeral_start(), 10_001))
_RANDOM = random.SystemRandom()  # not the global random: Hypothesis seeds it alike in workers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (servers retry a lost race)."""
    for _ in range(100):
        port = _RANDOM.choice(_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # the range is full: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


def wait_until[T](
    probe: Callable[[], T], what: str, timeout: float = DEADLINE_S, interval: float = 0.05
) -> T:
    """Call ``probe`` until it returns something truthy and return that; after ``timeout``
    seconds fail, saying what was awaited and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}; last: {result!r}"
            )
        time.sleep(interval)


async def async_wait_until[T](
    probe: Callable[[], T | Awaitable[T]],
    what: str,
    timeout: float = DEADLINE_S,
    interval: float = 0.02,
) -> T:
    """``wait_until`` for the event loop; ``probe`` may be a coroutine function (e.g. one that
    queries a server through the executor), and the loop runs between probes."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}; last: {result!r}"
            )
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve an aiohttp app on 127.0.0.1 in the running loop; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass
class FakeServer[Fake]:
    """A fake API served by ``serve``: the fake (to set failures, read what it got) and its URL."""

    fake: Fake
    url: str


class ThreadedApp:
    """An aiohttp app served on 127.0.0.1 from its own thread and loop, for synchronous tests
    (and for servers whose handlers must not run in the loop under test)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop (for asyncio objects owned by that loop)."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def close(self) -> None:
        if self._runner is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


# The batch task's surroundings (pure: no Home Assistant).


@dataclass
class Hooks:
    """The pipeline's hooks (what it tells Home Assistant), recorded."""

    connectivity: list[bool] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)
    spool_drops: list[int] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    spool_writes: list[tuple[bool, str | None]] = field(default_factory=list)

    def connectivity_changed(self, connected: bool, error: str | None) -> None:
        self.connectivity.append(connected)

    def auth_failed(self, message: str) -> None:
        self.auth.append(message)

    def target_missing(self, message: str) -> None:
        self.missing.append(message)

    def dead_lettered(self, examples: list[tuple[str, str]]) -> None:
        self.dead.extend(examples)

    def spool_dropped(self, points: int) -> None:
        self.spool_drops.append(points)

    def spool_recovered(self, moved_to: str) -> None:
        self.recovered.append(moved_to)

    def spool_writes_changed(self, working: bool, error: str | None) -> None:
        self.spool_writes.append((working, error))


def lines(n: int, start: int = 0, measurement: str = "m") -> list[str]:
    """``n`` distinct line-protocol lines, numbered from ``start`` (the value is the number)."""
    return [
        f"{measurement},e=x{i % 7} v={i}.0 {1_700_000_000_000_000 + i}"
        for i in range(start, start + n)
    ]


def accounted(p: Pipeline) -> int:
    """Every point a pipeline was given is written, pending, filtered, dead-lettered or dropped."""
    s = p.stats
    return s.written + p.pending + s.filtered + s.dead_lettered + s.dropped_total


def spooled(path: Path) -> list[SpoolBatch]:
    """The batches a spool file holds, oldest first, read through a connection of our own:
    what the next start would replay, seen without asking the Spool that may have it open."""
    from custom_components.ha_ingestor.spool import SpoolBatch, _decode

    assert path.is_file(), f"no spool at {path}"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT id, points, fmt, data FROM batches ORDER BY id").fetchall()
    return [SpoolBatch(row_id, _decode(fmt, data, points)) for row_id, points, fmt, data in rows]


def spool_closed(spool: Spool) -> bool:
    """Whether the spool refuses calls because it was closed (its file is released)."""
    from custom_components.ha_ingestor.spool import SpoolError

    try:
        spool.oldest()
    except SpoolError as err:
        return "closed" in str(err)
    return False


def stored_counters(hass_storage: dict[str, Any], entry: MockConfigEntry) -> dict[str, Any]:
    """The entry's counters as last saved (the hass_storage fixture holds Home Assistant's
    storage files)."""
    from custom_components.ha_ingestor.const import DOMAIN

    return hass_storage[f"{DOMAIN}.counters_{entry.entry_id}"]["data"]  # type: ignore[no-any-return]


def corrupt_error() -> sqlite3.DatabaseError:
    """What SQLite raises on a damaged page."""
    err = sqlite3.DatabaseError("database disk image is malformed")
    err.sqlite_errorcode = sqlite3.SQLITE_CORRUPT
    return err


class CorruptOnce:
    """Wraps the spool's connection; the first query on ``table`` fails as SQLITE_CORRUPT."""

    def __init__(self, conn: sqlite3.Connection, table: str = "batches") -> None:
        self._conn = conn
        self._from = f"FROM {table}"
        self.armed = True

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.armed and self._from in sql:
            self.armed = False
            raise corrupt_error()
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


# Config entries as the integration stores them (Home Assistant imported on use).

TEST_FLUSH_INTERVAL = 0.2  # seconds: tests see writes quickly


def v1_entry(
    url: str, database: str, *, victoria_metrics: bool | None = False, **options: Any
) -> MockConfigEntry:
    """An InfluxDB 1.x entry, as the v1 config-flow step creates it (victoria_metrics None:
    as made before the flow asked whether the server is VictoriaMetrics)."""
    from homeassistant.const import CONF_URL, CONF_VERIFY_SSL
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from custom_components.ha_ingestor.const import (
        CONF_API,
        CONF_BATCH_SIZE,
        CONF_DATABASE,
        CONF_FLUSH_INTERVAL,
        CONF_VICTORIA_METRICS,
        DEFAULT_OPTIONS,
        DOMAIN,
    )
    from custom_components.ha_ingestor.migration import MINOR_VERSION

    data = {CONF_API: "v1", CONF_URL: url, CONF_DATABASE: database, CONF_VERIFY_SSL: True}
    if victoria_metrics is not None:
        data[CONF_VICTORIA_METRICS] = victoria_metrics
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"InfluxDB {database} (127.0.0.1)",
        minor_version=MINOR_VERSION,
        data=data,
        options={
            **DEFAULT_OPTIONS,
            CONF_FLUSH_INTERVAL: TEST_FLUSH_INTERVAL,
            CONF_BATCH_SIZE: 500,
            **options,
        },
    )


def v2_input(url: str, **overrides: Any) -> dict[str, Any]:
    """What a user types into the v2 connection form, for the fake InfluxDB 2."""
    from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL

    from custom_components.ha_ingestor.const import CONF_BUCKET, CONF_ORG

    return {
        CONF_URL: url,
        CONF_ORG: "home",
        CONF_BUCKET: "home_assistant",
        CONF_TOKEN: "good-token",
        CONF_VERIFY_SSL: True,
        **overrides,
    }


def v2_entry(
    url: str, token: str = "good-token", bucket: str = "home_assistant", **options: Any
) -> MockConfigEntry:
    """An InfluxDB 2.x entry of org "home", as the v2 config-flow step creates it (the fake
    knows org "home" and bucket "home_assistant")."""
    from homeassistant.const import CONF_TOKEN
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from custom_components.ha_ingestor.const import (
        CONF_API,
        CONF_BUCKET,
        CONF_FLUSH_INTERVAL,
        DEFAULT_OPTIONS,
        DOMAIN,
    )
    from custom_components.ha_ingestor.migration import MINOR_VERSION

    return MockConfigEntry(
        domain=DOMAIN,
        title=f"InfluxDB {bucket} (127.0.0.1)",
        minor_version=MINOR_VERSION,
        data={CONF_API: "v2", **v2_input(url, **{CONF_TOKEN: token, CONF_BUCKET: bucket})},
        options={**DEFAULT_OPTIONS, CONF_FLUSH_INTERVAL: TEST_FLUSH_INTERVAL, **options},
    )


V3_TOKEN = "apiv3_good"  # the fake InfluxDB 3's write token


def v3_input(url: str, **overrides: Any) -> dict[str, Any]:
    """What a user types into the v3 connection form, for the fake InfluxDB 3."""
    from homeassistant.const import CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL

    from custom_components.ha_ingestor.const import CONF_DATABASE

    return {
        CONF_URL: url,
        CONF_DATABASE: "home_assistant",
        CONF_TOKEN: V3_TOKEN,
        CONF_VERIFY_SSL: True,
        **overrides,
    }


def v3_entry(url: str, token: str = V3_TOKEN, **options: Any) -> MockConfigEntry:
    """An InfluxDB 3 entry (native API), as the v3 config-flow step creates it."""
    from homeassistant.const import CONF_TOKEN
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from custom_components.ha_ingestor.const import (
        CONF_API,
        CONF_BATCH_SIZE,
        CONF_FLUSH_INTERVAL,
        DEFAULT_OPTIONS,
        DOMAIN,
    )
    from custom_components.ha_ingestor.migration import MINOR_VERSION

    return MockConfigEntry(
        domain=DOMAIN,
        title="InfluxDB home_assistant (127.0.0.1)",
        minor_version=MINOR_VERSION,
        data={CONF_API: "v3", **v3_input(url, **{CONF_TOKEN: token})},
        options={
            **DEFAULT_OPTIONS,
            CONF_FLUSH_INTERVAL: TEST_FLUSH_INTERVAL,
            CONF_BATCH_SIZE: 500,
            **options,
        },
    )


def states_rows(influxdb1: InfluxDB1, db: str, where: str = "") -> list[dict[str, Any]]:
    """The ``ha_states`` points in ``db`` (tags included), optionally filtered by ``where``."""
    return influxdb1.rows(f'SELECT * FROM "ha_states" {where} GROUP BY *', db)


def count_in(server: InfluxDB1, db: str) -> int:
    """How many ``ha_states`` values ``db`` holds."""
    rows = server.rows('SELECT count("value") FROM "ha_states"', db)
    return int(rows[0]["count"]) if rows else 0  # type: ignore[call-overload]


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add the entry and set it up; fails unless setup succeeds."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def flush(hass: HomeAssistant) -> None:
    """The ha_ingestor.flush action: returns once everything queued is written."""
    from custom_components.ha_ingestor.const import DOMAIN

    await hass.services.async_call(DOMAIN, "flush", {}, blocking=True)


def own_state(
    hass: HomeAssistant, entry: MockConfigEntry, key: str, platform: str = "sensor"
) -> str:
    """The state of one of the entry's diagnostic entities (key: its unique id's suffix)."""
    from homeassistant.helpers import entity_registry as er

    from custom_components.ha_ingestor.const import DOMAIN

    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{entry.entry_id}_{key}")
    assert entity_id is not None, f"no {platform} {key}"
    state = hass.states.get(entity_id)
    assert state is not None, f"{entity_id} has no state"
    return state.state
