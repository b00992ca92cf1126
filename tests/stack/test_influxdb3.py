"""The dashboard pointed at InfluxDB 3 through its v1-compatible InfluxQL ``/query`` endpoint.

No InfluxDB 3 runs here: the fake in tests/fake_influxdb3.py (built from InfluxDB 3 Core's API
documentation) stands in, written to by our own writer over the native ``/api/v3/write_lp``.
What it shows: nginx's injected read token (``Authorization: Token ...``, which InfluxDB 3 takes
on its v1 endpoints) is what makes the dashboard's queries work, the browser never sees it, that
token cannot write, and the dashboard renders the integration, domains, weather and games.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
from aiohttp import web
import pytest

from custom_components.ha_ingestor.const import ApiKind
from custom_components.ha_ingestor.writer import InfluxWriter, Outcome, Target
from tests.fake_influxdb3 import FakeInfluxDB3
from tests.servers import free_port

from .helpers import Nginx
from .points import browse, check_domains, check_integration, check_weather_and_games, lines

DATABASE = "home_assistant"
WRITE_TOKEN = "apiv3_writer"
READ_TOKEN = "apiv3_dashboard_reader"


@dataclass
class Served:
    fake: FakeInfluxDB3
    url: str
    written_at: float


@pytest.fixture(scope="module")
def influx3() -> Iterator[Served]:
    # A read-only database token, as InfluxDB 3 Enterprise makes them (db:home_assistant:read);
    # ping without a token, as `--disable-authz ping` allows (the dashboard's status card).
    fake = FakeInfluxDB3(tokens={WRITE_TOKEN: "write", READ_TOKEN: "read"}, disable_authz={"ping"})
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port = free_port()
    runner = web.AppRunner(fake.app())

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    assert ready.wait(10)
    url = f"http://127.0.0.1:{port}"
    now = time.time()

    async def write() -> None:
        async with aiohttp.ClientSession() as session:
            target = Target(api=ApiKind.V3, url=url, database=DATABASE, token=WRITE_TOKEN)
            result = await InfluxWriter(session, target).write_lines(lines(now))
        assert result.outcome is Outcome.OK, result

    asyncio.run(write())
    try:
        yield Served(fake, url, now)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _nginx(served: Served, token: str) -> Nginx:
    return Nginx({
        "INFLUXDB_URL": served.url,
        "INFLUXDB_READ_TOKEN": token,
        "INFLUXDB_DATABASE": DATABASE,
        "INFLUXDB_CONTEXT_DATABASE": DATABASE,
        "SPORTS_WEBHOOKS_URL": f"http://127.0.0.1:{free_port()}",
        "SPORTS_WEBHOOKS_READ_KEY": "unused-key-0123456789",
        "DASHBOARD_REFRESH_SECONDS": "30",
        "DASHBOARD_BASIC_AUTH": "off",
        "DASHBOARD_HTPASSWD_FILE": "/nonexistent",
    })  # fmt: skip


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_read_token_queries_influxql_and_cannot_write(influx3: Served) -> None:
    q = urllib.parse.urlencode({"db": DATABASE, "q": 'SELECT count("state") FROM "ha_states"'})
    status, body = _get(f"{influx3.url}/query?{q}", {"Authorization": f"Token {READ_TOKEN}"})
    assert status == 200, body
    assert json.loads(body)["results"][0]["series"][0]["values"][0][1] == 17
    assert _get(f"{influx3.url}/query?{q}", {"Authorization": "Token nope"})[0] == 401
    req = urllib.request.Request(
        f"{influx3.url}/api/v3/write_lp?db={DATABASE}", data=b"intruder value=1", method="POST",
        headers={"Authorization": f"Bearer {READ_TOKEN}"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 403


def test_dashboard_on_influxdb3(influx3: Served) -> None:
    server = _nginx(influx3, READ_TOKEN)
    server.start()
    try:
        # Through nginx, with no credentials from the client: nginx adds the token.
        q = urllib.parse.urlencode({"db": DATABASE, "q": "SHOW MEASUREMENTS", "epoch": "ms"})
        status, body = _get(f"{server.url}/influxdb/query?{q}")
        assert status == 200, body
        names = {v[0] for v in json.loads(body)["results"][0]["series"][0]["values"]}
        assert {"ha_states", "ha_ingestor", "weather", "sports"} <= names
        seen = browse(server.url, [{"name": "influxdb3", "width": 1280, "height": 900}], server)
    finally:
        server.stop()
    t = seen["influxdb3"]["texts"]
    assert t["dashboard/influxdb/influx-status"] == "Reachable"
    assert t["dashboard/influxdb/influx-version"].lstrip("v").startswith("3.")
    check_integration(t, influx3.written_at)
    check_domains(t)
    check_weather_and_games(t)
    assert READ_TOKEN not in json.dumps(seen)


def test_without_the_injected_token_influxdb3_refuses(influx3: Served) -> None:
    server = _nginx(influx3, "apiv3_wrong")
    server.start()
    try:
        seen = browse(server.url, [{"name": "influxdb3-bad-token", "width": 390, "height": 844}])
    finally:
        server.stop()
    t = seen["influxdb3-bad-token"]["texts"]
    # Named once, at the top; the cards only point there.
    assert "InfluxDB refused the dashboard's read token (HTTP 401" in t["verdict"]
    assert t["dashboard/ingestor/unavailable"] == "Not loaded: see the status line at the top."
