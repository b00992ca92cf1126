"""The dashboard against a real InfluxDB 2.7 (CI's service container; skipped without it).

What only 2.x can show: InfluxQL reaches a bucket through an explicit DBRP mapping, a token
with nothing but read permission on that bucket is enough for every dashboard query, nginx's
injected token is what makes them work, and that token cannot write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
import json
import os
import secrets
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
import pytest

from custom_components.ha_ingestor.writer import InfluxWriter, Outcome, Target
from tests.helpers import free_port

from .helpers import Nginx
from .points import browse, check_domains, check_integration, check_weather_and_games, lines

URL = os.environ.get("INFLUXDB2_URL", "").rstrip("/")
ADMIN = os.environ.get("INFLUXDB2_TOKEN", "")
ORG = os.environ.get("INFLUXDB2_ORG", "")

if os.environ.get("GITHUB_ACTIONS") and not (URL and ADMIN and ORG):
    # The GitHub workflow runs InfluxDB 2.7 as a service: there, a missing server is a failure.
    raise RuntimeError("INFLUXDB2_URL, INFLUXDB2_TOKEN and INFLUXDB2_ORG must be set on GitHub")

# InfluxDB 2.7 cannot run on the project's own machines (no container engine, no package).
pytestmark = pytest.mark.skipif(
    not (URL and ADMIN and ORG),
    reason="needs a real InfluxDB 2.7: INFLUXDB2_URL, INFLUXDB2_TOKEN, INFLUXDB2_ORG (CI sets them)",
)


def api(method: str, path: str, body: object = None, token: str = ADMIN) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        URL + path, data=data, method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


@dataclass
class Setup:
    org_id: str
    bucket: str
    bucket_id: str
    database: str
    read_token: str
    written_at: float


@pytest.fixture(scope="module")
def influx2() -> Iterator[Setup]:
    suffix = secrets.token_hex(4)
    status, body = api("GET", "/api/v2/orgs?" + urllib.parse.urlencode({"org": ORG}))
    assert status == 200, body
    org_id = body["orgs"][0]["id"]
    bucket = f"ha_dashboard_{suffix}"
    # A database name unlike the bucket's: only the explicit mapping can make it resolve.
    database = f"ha_dashboard_db_{suffix}"
    status, body = api(
        "POST", "/api/v2/buckets", {"orgID": org_id, "name": bucket, "retentionRules": []}
    )
    assert status == 201, body
    bucket_id = body["id"]
    cleanup: list[tuple[str, str]] = [("DELETE", f"/api/v2/buckets/{bucket_id}")]
    try:
        status, body = api("POST", "/api/v2/dbrps", {
            "orgID": org_id, "bucketID": bucket_id, "database": database,
            "retention_policy": "autogen", "default": True,
        })  # fmt: skip
        assert status == 201, body
        dbrp_id = body.get("id") or body.get("content", {}).get("id")
        cleanup.insert(0, ("DELETE", f"/api/v2/dbrps/{dbrp_id}?orgID={org_id}"))
        # What the init script's dashboard token is: read on the bucket, nothing else.
        status, body = api("POST", "/api/v2/authorizations", {
            "orgID": org_id, "description": f"dashboard test {suffix}",
            "permissions": [{"action": "read",
                             "resource": {"type": "buckets", "id": bucket_id, "orgID": org_id}}],
        })  # fmt: skip
        assert status == 201, body
        cleanup.insert(0, ("DELETE", f"/api/v2/authorizations/{body['id']}"))
        read_token = body["token"]

        now = time.time()

        async def write() -> None:
            async with aiohttp.ClientSession() as session:
                target = Target(api="v2", url=URL, org=ORG, bucket=bucket, token=ADMIN)
                result = await InfluxWriter(session, target).write_lines(lines(now))
            assert result.outcome is Outcome.OK, result

        asyncio.run(write())
        yield Setup(org_id, bucket, bucket_id, database, read_token, now)
    finally:
        for method, path in cleanup:
            api(method, path)


def _nginx(setup: Setup, token: str) -> Nginx:
    return Nginx({
        "INFLUXDB_URL": URL,
        "INFLUXDB_READ_TOKEN": token,
        "INFLUXDB_DATABASE": setup.database,
        "INFLUXDB_CONTEXT_DATABASE": setup.database,
        # No sports service in this run: its card shows an error, the rest must not care.
        "SPORTS_WEBHOOKS_URL": f"http://127.0.0.1:{free_port()}",
        "SPORTS_WEBHOOKS_READ_KEY": "unused-key-0123456789",
        "DASHBOARD_REFRESH_SECONDS": "30",
        "DASHBOARD_BASIC_AUTH": "off",
        "DASHBOARD_HTPASSWD_FILE": "/nonexistent",
    })  # fmt: skip


def test_read_token_reads_through_dbrp_and_cannot_write(influx2: Setup) -> None:
    q = urllib.parse.urlencode(
        {"db": influx2.database, "q": 'SELECT count("state") FROM "ha_states"'}
    )
    status, body = api("GET", f"/query?{q}", token=influx2.read_token)
    assert status == 200, body
    assert body["results"][0]["series"][0]["values"][0][1] == 17
    status, _ = api("GET", f"/query?{q}", token="not-a-token")
    assert status == 401
    write = "/api/v2/write?" + urllib.parse.urlencode({"org": ORG, "bucket": influx2.bucket})
    req = urllib.request.Request(
        URL + write, data=b"intruder value=1", method="POST",
        headers={"Authorization": f"Token {influx2.read_token}"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code in (401, 403)


def test_dashboard_on_influxdb_27(influx2: Setup) -> None:
    server = _nginx(influx2, influx2.read_token)
    server.start()
    try:
        seen = browse(server.url, [{"name": "influxdb2", "width": 1280, "height": 900}], server)
    finally:
        server.stop()
    t = seen["influxdb2"]["texts"]
    assert t["dashboard/influxdb/influx-status"] == "Reachable"
    assert t["dashboard/influxdb/influx-version"].lstrip("v").startswith("2.")
    check_integration(t, influx2.written_at)
    check_domains(t)
    check_weather_and_games(t)
    assert influx2.read_token not in json.dumps(seen)


def test_without_the_injected_token_influxdb_refuses(influx2: Setup) -> None:
    server = _nginx(influx2, "wrong-token")
    server.start()
    try:
        seen = browse(
            server.url, [{"name": "influxdb2-bad-token", "width": 390, "height": 844}], server
        )
    finally:
        server.stop()
    t = seen["influxdb2-bad-token"]["texts"]
    # Named once, at the top; the cards only point there.
    assert "InfluxDB refused the dashboard's read token (HTTP 401" in t["verdict"]
    assert t["dashboard/ingestor/unavailable"] == "Not loaded: see the status line at the top."
