"""End to end: the integration's own encoder and writer put points into a real InfluxDB 1.6,
the real sports webhooks service logs real deliveries, real nginx serves the built dashboard
with the one template, and headless Chromium shows it. The numbers on screen must be the
numbers written; no token may ever reach the browser."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
import json
import os
from pathlib import Path
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any
import urllib.request

import aiohttp
import pytest

from custom_components.ha_ingestor.writer import InfluxWriter, Outcome, Target
from tests.helpers import free_port
from tests.servers import InfluxDB1

from .helpers import ARTIFACTS, DOCKER, Nginx, Recorder
from .points import (
    browse,
    check_domains,
    check_integration,
    check_weather_and_games,
    last_write,
    lines,
)

DB = "home_assistant"
EMPTY_DB = "empty_db"
INFLUX_TOKEN = "influx-read-" + secrets.token_hex(8)
SPORTS_KEY = "sports-key-" + secrets.token_hex(8)
READ_KEY = "sports-read-" + secrets.token_hex(8)  # what nginx holds: reads only


@dataclass
class Written:
    now: float
    last_write: int


async def _write(url: str, lines: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        writer = InfluxWriter(session, Target(api="v1", url=url, database=DB))
        result = await writer.write_lines(lines)
    assert result.outcome is Outcome.OK, result


def _http(url: str, method: str = "GET", body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method,
        headers={"X-API-Key": SPORTS_KEY, "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def influx() -> Iterator[tuple[InfluxDB1, Written]]:
    tmp = Path(tempfile.mkdtemp(prefix="ha_dashboard_influx_"))
    server = InfluxDB1(tmp)
    server.start()
    try:
        server.create_database(DB)
        server.create_database(EMPTY_DB)
        now = time.time()
        asyncio.run(_write(server.url, lines(now)))
        yield server, Written(now=now, last_write=last_write(now))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def sports() -> Iterator[str]:
    service_dir = DOCKER / "sports-webhooks"
    if not (service_dir / "sports_webhooks" / "__main__.py").exists():
        pytest.fail("docker/sports-webhooks is missing")
    tmp = Path(tempfile.mkdtemp(prefix="ha_dashboard_sports_"))
    port = free_port()
    env = {
        **os.environ,
        "SPORTS_WEBHOOKS_API_KEY": SPORTS_KEY,
        "SPORTS_WEBHOOKS_READ_KEY": READ_KEY,
        "SPORTS_WEBHOOKS_ALLOW_NETWORKS": "127.0.0.0/8",  # the receivers below are on loopback
        "SPORTS_WEBHOOKS_DB": str(tmp / "webhooks.db"),
        "SPORTS_WEBHOOKS_HOST": "127.0.0.1",
        "SPORTS_WEBHOOKS_PORT": str(port),
        "SPORTS_WEBHOOKS_POLL": "false",
        "SPORTS_WEBHOOKS_MAX_ATTEMPTS": "1",
        "ESPN_BASE_URL": "http://127.0.0.1:9/",
    }
    log = (tmp / "service.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sports_webhooks"], cwd=service_dir, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _http(url + "/health")
                break
            except OSError:
                assert proc.poll() is None, (tmp / "service.log").read_text()
                assert time.monotonic() < deadline, "sports service did not come up"
                time.sleep(0.1)
        with Recorder({"ok": True}) as ok_hook, Recorder({"error": "down"}, status=500) as bad_hook:
            for hook in (ok_hook, bad_hook):
                sub = _http(url + "/api/subscriptions", "POST", {
                    "url": hook.url + "/hook", "events": ["game_started"],
                    "teams": [{"league": "nfl", "team_id": "1"}], "secret": "s" * 24,
                })  # fmt: skip
                _http(url + f"/api/subscriptions/{sub['id']}/test", "POST", {})
            deadline = time.monotonic() + 30
            while True:
                rows = _http(url + "/api/deliveries?limit=10")["deliveries"]
                if len(rows) == 2 and all(r["status"] != "pending" for r in rows):
                    break
                assert time.monotonic() < deadline, rows
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _nginx_env(influx_url: str, sports_url: str, database: str) -> dict[str, str]:
    return {
        "INFLUXDB_URL": influx_url,
        "INFLUXDB_READ_TOKEN": INFLUX_TOKEN,
        "INFLUXDB_DATABASE": database,
        # The image's default context database does not exist on a one-database InfluxDB 1.x:
        # weather and sports must still come from the events database.
        "INFLUXDB_CONTEXT_DATABASE": "home_assistant_context",
        "SPORTS_WEBHOOKS_URL": sports_url,
        "SPORTS_WEBHOOKS_READ_KEY": READ_KEY,
        "DASHBOARD_REFRESH_SECONDS": "2",
        "DASHBOARD_BASIC_AUTH": "off",
        "DASHBOARD_HTPASSWD_FILE": "/nonexistent",
    }


@pytest.fixture(scope="module")
def seen(influx: tuple[InfluxDB1, Written], sports: str) -> Iterator[dict[str, Any]]:
    server = Nginx(_nginx_env(influx[0].url, sports, DB))
    server.start()
    try:
        yield browse(server.url, [
            {"name": "desktop", "width": 1280, "height": 900, "waitForRefresh": True},
            {"name": "phone", "width": 390, "height": 844, "mobile": True},
        ], server)  # fmt: skip
    finally:
        server.stop()


def _texts(seen: dict[str, Any], scenario: str = "desktop") -> dict[str, str]:
    return seen[scenario]["texts"]


@pytest.mark.parametrize("scenario", ["desktop", "phone"])
def test_integration_health_matches_what_was_written(
    seen: dict[str, Any], influx: tuple[InfluxDB1, Written], scenario: str
) -> None:
    check_integration(_texts(seen, scenario), influx[1].now)


def test_influxdb_health(seen: dict[str, Any], influx: tuple[InfluxDB1, Written]) -> None:
    with urllib.request.urlopen(influx[0].url + "/ping", timeout=5) as resp:
        version = resp.headers["X-Influxdb-Version"]
    t = _texts(seen)
    assert t["dashboard/influxdb/influx-status"] == "Reachable"
    assert t["dashboard/influxdb/influx-version"] == version


def test_events_by_domain(seen: dict[str, Any]) -> None:
    check_domains(_texts(seen))
    assert "<canvas" in seen["desktop"]["html"]


def test_weather_games_and_deliveries(seen: dict[str, Any], sports: str) -> None:
    check_weather_and_games(_texts(seen))
    t = _texts(seen)
    rows = _http(sports + "/api/deliveries?limit=20")["deliveries"]
    for row in rows:
        d = f"dashboard/deliveries/delivery-{row['delivery_id']}"
        assert t[f"{d}/delivery-event"] == row["event"] == "test"
        assert t[f"{d}/delivery-status"] == f"{row['status']} ({row['last_status_code']})"
        assert t[f"{d}/delivery-attempts"] == str(row["attempts"])
        # Which receiver, never its path (an HA webhook id is a secret); why it failed.
        assert t[f"{d}/delivery-target"] == row["target"]
        assert "/hook" not in row["target"] and row["target"].startswith("http://127.0.0.1:")
        if row["status"] == "failed":
            assert t[f"{d}/delivery-error"] == row["last_error"] == "HTTP 500"
        else:
            assert f"{d}/delivery-error" not in t
    assert sorted(r["status"] for r in rows) == ["delivered", "failed"]


@pytest.mark.parametrize("scenario", ["desktop", "phone"])
def test_verdict_says_what_needs_a_look(seen: dict[str, Any], scenario: str) -> None:
    """One line at the top: the written data has drops, dead letters and a failed delivery."""
    t = _texts(seen, scenario)
    assert t["verdict"] == (
        "3 warnings: 10 events dropped; 2 points dead-lettered; 1 webhook delivery failed"
    )
    assert 'data-level="warn"' in seen[scenario]["html"]


@pytest.mark.parametrize("scenario", ["desktop", "phone"])
def test_the_browser_never_sees_a_token(seen: dict[str, Any], scenario: str) -> None:
    s = seen[scenario]
    urls = [r["url"] for r in s["requests"]]
    assert any("/influxdb/query?" in u for u in urls)
    assert any("/sports/api/deliveries" in u for u in urls)
    # Nothing leaves the origin (no CDN, fonts or telemetry).
    origin = urls[0].split("/", 3)[:3]
    assert all(u.split("/", 3)[:3] == origin for u in urls), urls
    for r in s["requests"]:
        assert not {"authorization", "x-api-key"} & set(r["headers"]), r
    everything = json.dumps([s["requests"], s["responses"], s["html"], s["storage"], s["cookies"]])
    assert INFLUX_TOKEN not in everything
    assert SPORTS_KEY not in everything
    assert READ_KEY not in everything


@pytest.mark.parametrize("scenario", ["desktop", "phone"])
def test_page_is_clean_and_fits(seen: dict[str, Any], scenario: str) -> None:
    s = seen[scenario]
    assert s["consoleErrors"] == []
    assert s["csp"] == []
    assert s["overflow"] <= 0  # no sideways scrolling, phone included
    assert (ARTIFACTS / f"{scenario}.png").stat().st_size > 10_000


def test_auto_refresh(seen: dict[str, Any]) -> None:
    refreshed = seen["desktop"]["refreshed"]
    assert int(refreshed["second"]) > int(refreshed["first"])
    queries = [r for r in seen["desktop"]["requests"] if "/influxdb/query?" in r["url"]]
    assert len(queries) >= 8  # two rounds of the four queries


def test_empty_and_error_states(influx: tuple[InfluxDB1, Written], sports: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: the sports proxy answers 502
    empty = Nginx(_nginx_env(influx[0].url, sports, EMPTY_DB))
    broken = Nginx(_nginx_env(influx[0].url, dead, "no_such_db"))
    empty.start()
    broken.start()
    try:
        e = browse(empty.url, [{"name": "empty", "width": 1280, "height": 900}], empty)["empty"][
            "texts"
        ]
        b = browse(
            broken.url, [{"name": "errors", "width": 390, "height": 844, "mobile": True}], broken
        )
    finally:
        empty.stop()
        broken.stop()
    assert e["dashboard/ingestor/empty"].startswith("No self-metrics")
    assert e["dashboard/domains/empty"].startswith("No state changes")
    assert e["dashboard/weather/empty"].startswith("No weather")
    assert e["dashboard/games/empty"].startswith("No games")
    errors = b["errors"]["texts"]
    for card in ("ingestor", "domains", "weather", "games"):
        assert "database not found: no_such_db" in errors[f"dashboard/{card}/error"], card
    assert errors["dashboard/deliveries/error"] == (
        "Could not load: sports service answered HTTP 502"
    )
    assert errors["dashboard/influxdb/influx-status"] == "Reachable"
    assert b["errors"]["overflow"] <= 0
    assert errors["verdict"].startswith("Down: integration metrics: ")
    assert "database not found: no_such_db" in errors["verdict"]
    assert e["verdict"] == (
        "2 warnings: no self-metrics from the integration in the last hour; "
        "1 webhook delivery failed"
    )
