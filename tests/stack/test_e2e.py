"""End to end: the integration's own encoder and writer put points into a real InfluxDB 1.6,
the real sports webhooks service logs real deliveries, real nginx serves the built dashboard
with the one template, and headless Chromium shows it. The numbers on screen must be the
numbers written; no token may ever reach the browser."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any
import urllib.error
import urllib.request

import aiohttp
import pytest

from custom_components.ha_ingestor.coordinator import self_metrics_line
from custom_components.ha_ingestor.writer import InfluxWriter, Outcome, Target
from tests.helpers import START_DEADLINE_S, free_port, wait_until
from tests.servers import InfluxDB1

from .helpers import ARTIFACTS, DOCKER, Nginx, Recorder
from .points import (
    DOMAIN_COUNTS,
    ENTRY_ID,
    browse,
    check_domains,
    check_integration,
    check_rows_tile,
    check_weather_and_games,
    hourly_counts,
    last_write,
    lines,
    snap,
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


async def _write(url: str, lines: list[str], db: str = DB) -> None:
    async with aiohttp.ClientSession() as session:
        writer = InfluxWriter(session, Target(api="v1", url=url, database=db))
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

    def up() -> bool:
        """Answers /health; fails at once, with its log, if the service died or answered an
        HTTP error (HTTPError is an OSError: check it first)."""
        try:
            _http(url + "/health")
            return True
        except urllib.error.HTTPError as err:
            raise AssertionError(
                f"/health -> HTTP {err.code}\n{(tmp / 'service.log').read_text()}"
            ) from err
        except OSError:
            assert proc.poll() is None, (
                f"sports service exited with {proc.returncode}\n{(tmp / 'service.log').read_text()}"
            )
            return False

    try:
        wait_until(up, "the sports service's /health", timeout=START_DEADLINE_S, interval=0.1)
        with Recorder({"ok": True}) as ok_hook, Recorder({"error": "down"}, status=500) as bad_hook:
            for hook in (ok_hook, bad_hook):
                sub = _http(url + "/api/subscriptions", "POST", {
                    "url": hook.url + "/hook", "events": ["game_started"],
                    "teams": [{"league": "nfl", "team_id": "1"}], "secret": "s" * 24,
                })  # fmt: skip
                _http(url + f"/api/subscriptions/{sub['id']}/test", "POST", {})

            def settled() -> list[dict[str, Any]] | None:
                rows: list[dict[str, Any]] = _http(url + "/api/deliveries?limit=10")["deliveries"]
                return (
                    rows if len(rows) == 2 and all(r["status"] != "pending" for r in rows) else None
                )

            wait_until(settled, "both test deliveries delivered or failed", interval=0.1)
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
    """The dashboard container's environment; ``sports_url`` "off" means no sports service."""
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
            {"name": "desktop", "width": 1280, "height": 900, "waitForRefresh": True, "steps": [
                {"hover": ".chart g.col:last-of-type .hit", "as": "current"},
                {"hover": f'.chart g.col[data-start="{_oldest_bucket(influx[1].now)}"] .hit', "as": "full"},
            ]},
            {"name": "phone", "width": 390, "height": 844, "mobile": True},
        ], server)  # fmt: skip
    finally:
        server.stop()


def _oldest_bucket(now: float) -> int:
    """The hour bucket (start, ms) of the oldest state change written: a whole hour, never the
    current one (the changes go back 85 minutes)."""
    return min(hourly_counts(now))


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
    assert "<svg" in seen["desktop"]["html"]


def _readout(hover: dict[str, str]) -> tuple[str, dict[str, int]]:
    counts = {
        key.removeprefix("readout-"): int(value.rsplit(" ", 1)[1])
        for key, value in hover.items()
        if key.removeprefix("readout-") in DOMAIN_COUNTS
    }
    return hover["readout-time"], counts


def test_events_by_domain_hover_readout(
    seen: dict[str, Any], influx: tuple[InfluxDB1, Written]
) -> None:
    """Stacked bars per hour; hovering one reads out its hour and counts per domain. The hour
    still filling is marked partial, the whole hours are not."""
    written = hourly_counts(influx[1].now)
    hovers = seen["desktop"]["hovers"]
    hhmm = lambda ms: datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M")  # noqa: E731

    full = _oldest_bucket(influx[1].now)
    when, counts = _readout(hovers["full"])
    assert when == f"{hhmm(full)}\N{EN DASH}{hhmm(full + 3_600_000)}"
    assert counts == dict(written[full])
    total = sum(written[full].values())
    assert hovers["full"]["readout-total"] == f"{total} {'event' if total == 1 else 'events'}"
    assert "readout-partial" not in hovers["full"]

    # The last bar is the current hour (the page's clock is UTC, as the test's).
    when, counts = _readout(hovers["current"])
    assert hovers["current"]["readout-partial"] == "in progress, so far"
    current = next((b for b in written if hhmm(b) == when[:5]), None)
    assert counts == (dict(written[current]) if current is not None else {}), (when, written)
    # The hour ticks read as times, midnight too; days are spelled out apart from them.
    ticks = re.findall(r">(\d\d:\d\d)</text>", seen["desktop"]["html"])
    assert ticks and all(re.fullmatch(r"([01]\d|2[0-3]):00", t) for t in ticks), ticks
    assert not re.search(r">\d\d-\d\d</text>", seen["desktop"]["html"])
    days = [v for k, v in _texts(seen).items() if k.endswith("/day-label")]
    assert days and all(
        re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2}", d) for d in days
    ), days


@pytest.mark.parametrize(
    ("scenario", "rows"),
    [
        ("desktop", [["influxdb", "ingestor", "weather"], ["domains"], ["games", "deliveries"]]),
        (
            "phone",
            [["influxdb"], ["ingestor"], ["weather"], ["domains"], ["games"], ["deliveries"]],
        ),
    ],
)
def test_grid_has_no_holes(seen: dict[str, Any], scenario: str, rows: list[list[str]]) -> None:
    assert check_rows_tile(seen[scenario]["grid"]) == rows


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
    """One line at the top: the written data has drops and a failed delivery within the window
    (its dead letters are old: a total on the card, not a warning)."""
    t = _texts(seen, scenario)
    assert t["verdict"] == (
        "2 warnings: 10 events dropped in the last 24h; 1 webhook delivery failed in the last 24h"
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
    assert len(queries) >= 10  # two rounds of the five queries


PROXY_DOWN = "InfluxDB unreachable through the proxy (HTTP 502)"
NOT_LOADED = "Not loaded: see the status line at the top."


def test_stale_values_while_influxdb_is_down(sports: str, tmp_path: Path) -> None:
    """Data loads; then InfluxDB stops. The page keeps the last good values, marks each card
    that shows them stale with its age, names the failure once, and shows no ping time."""
    server = InfluxDB1(tmp_path)
    server.start()
    nginx = Nginx(_nginx_env(server.url, sports, DB))
    try:
        server.create_database(DB)
        now = time.time()
        asyncio.run(_write(server.url, lines(now)))
        nginx.start()
        seen = browse(nginx.url, [
            {"name": "errors", "width": 1280, "height": 900, "steps": [
                {"collect": "before"},
                {"signal": "stop-influxdb"},
                {"waitFor": "[data-testid=verdict][data-level=error]"},
                {"waitForRefresh": True},  # the age moves on: still stale, still the same values
            ]},
        ], nginx, on_signal=lambda _: server.stop())["errors"]  # fmt: skip
    finally:
        nginx.stop()
        server.stop()
    before, t = seen["snapshots"]["before"]["texts"], seen["texts"]
    entry = f"dashboard/ingestor/entry-{ENTRY_ID}"
    check_integration(before, now)
    assert before["dashboard/influxdb/influx-status"] == "Reachable"
    assert not any(key.endswith("/stale") for key in before)

    # The last good values stay, each card marked stale with the age of what it shows.
    for key in (f"{entry}/pending", f"{entry}/events-received", f"{entry}/write-latency"):
        assert t[key] == before[key], key
    assert t["dashboard/weather/weather-weather.home/temperature"] == "12.5 °C"
    assert t["dashboard/domains/domains-total"] == before["dashboard/domains/domains-total"]
    for card in ("influxdb", "ingestor", "domains", "weather", "games"):
        assert re.fullmatch(r"stale · \d+ s old", t[f"dashboard/{card}/stale"]), card
    # The sports service is fine: its card is fresh.
    assert "dashboard/deliveries/stale" not in t
    # InfluxDB's own card: down, no round-trip time, the version it last gave.
    assert t["dashboard/influxdb/influx-status"] == "Unreachable"
    assert t["dashboard/influxdb/influx-latency"] == "\N{EN DASH}"  # no value
    assert t["dashboard/influxdb/influx-version"] == before["dashboard/influxdb/influx-version"]
    # The failing part, named once: in the verdict, not on each card.
    assert t["verdict"] == (
        f"Down: {PROXY_DOWN} · 1 warning: 1 webhook delivery failed in the last 24h"
    )
    assert seen["bodyText"].count("unreachable through the proxy") == 1
    assert "HTTP 502" not in seen["bodyText"].replace(t["verdict"], "")
    assert seen["overflow"] <= 0
    assert (ARTIFACTS / "errors.png").stat().st_size > 10_000


def test_empty_and_error_states(influx: tuple[InfluxDB1, Written], sports: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: the sports proxy answers 502
    empty = Nginx(_nginx_env(influx[0].url, "off", EMPTY_DB))
    no_sports = Nginx(_nginx_env(influx[0].url, "off", DB))
    broken = Nginx(_nginx_env(influx[0].url, dead, "no_such_db"))
    seen: dict[str, Any] = {}
    try:
        for name, server in (("empty", empty), ("no-sports", no_sports), ("misconfigured", broken)):
            server.start()
            seen |= browse(
                server.url, [{"name": name, "width": 390, "height": 844, "mobile": True}], server
            )
    finally:
        for server in (empty, no_sports, broken):
            server.stop()

    # Without the sports service: no sports cards, no request to it, nothing red.
    e = seen["empty"]["texts"]
    assert e["dashboard/ingestor/empty"].startswith("No self-metrics")
    assert e["dashboard/domains/empty"].startswith("No state changes")
    assert e["dashboard/weather/empty"].startswith("No weather")
    assert "dashboard/games" not in e and "dashboard/deliveries" not in e
    assert e["verdict"] == "1 warning: no self-metrics from the integration in the last 7 days"
    for name in ("empty", "no-sports"):
        assert not [r for r in seen[name]["requests"] if "/sports/" in r["url"]], name
        assert seen[name]["consoleErrors"] == [], name
    # Games the integration writes still show; the deliveries card does not.
    n = seen["no-sports"]["texts"]
    check_weather_and_games(n)
    assert "dashboard/deliveries" not in n
    assert n["verdict"] == "1 warning: 10 events dropped in the last 24h"
    assert check_rows_tile(seen["no-sports"]["grid"]) == [
        ["influxdb"],
        ["ingestor"],
        ["weather"],
        ["domains"],
        ["games"],
    ]

    # A wrong database and a sports service that does not answer: each named once, at the top.
    b = seen["misconfigured"]
    errors = b["texts"]
    assert errors["verdict"] == (
        "Down: InfluxDB refused the query: database not found: no_such_db"
        " · 1 warning: sports service not answering (HTTP 502)"
    )
    assert b["bodyText"].count("database not found") == 1
    assert b["bodyText"].count("sports service not answering") == 1
    for card in ("ingestor", "domains", "weather", "games", "deliveries"):
        assert errors[f"dashboard/{card}/unavailable"] == NOT_LOADED, card
    assert errors["dashboard/influxdb/influx-status"] == "Reachable"
    assert b["overflow"] <= 0


def test_only_counters_grown_within_the_window_warn(influx: tuple[InfluxDB1, Written]) -> None:
    """Dropped and dead-lettered are lifetime totals. Drops from days ago, or a counter that
    started again from zero, are shown as totals and do not warn; what grew within the window
    (after a reset: from zero) does."""
    server, _ = influx
    db = "counters"
    server.create_database(db)
    now = time.time()  # the newest points 5 s old: far from "no self-metrics for 90 s"

    def point(entry: str, title: str, ago: float, dropped: int, dead_lettered: int) -> str:
        line = self_metrics_line(
            snap(5000, 0, dropped, 1.0, now - 20, dead_lettered=dead_lettered),
            entry, title, now - ago,
        )  # fmt: skip
        assert line is not None
        return line

    day = 86_400
    asyncio.run(_write(server.url, [
        # 3 drops 3 days ago, 9 more 2 days ago, none since: 12 in all, none in the window.
        point("OLD", "Old drops", 3 * day, 3, 0), point("OLD", "Old drops", 2 * day, 12, 1),
        point("OLD", "Old drops", 30, 12, 1), point("OLD", "Old drops", 5, 12, 1),
        # The entry's counters started again from zero: a reset, not 12 fewer drops.
        point("RESET", "Reset", 60, 12, 4), point("RESET", "Reset", 30, 0, 0),
        point("RESET", "Reset", 5, 0, 0),
        # A reset, then 3 drops: 3, not 3 - 12 nor 12 + 3.
        point("GREW", "Reset, then drops", 60, 12, 0), point("GREW", "Reset, then drops", 30, 0, 0),
        point("GREW", "Reset, then drops", 5, 3, 0),
    ], db=db))  # fmt: skip
    nginx = Nginx(_nginx_env(server.url, "off", db))
    nginx.start()
    try:
        seen = browse(nginx.url, [{"name": "counters", "width": 1280, "height": 900}], nginx)
    finally:
        nginx.stop()
    t = seen["counters"]["texts"]
    card = "dashboard/ingestor/entry-"
    assert t["verdict"] == "1 warning: Reset, then drops: 3 events dropped in the last 24h"
    assert t[f"{card}OLD/dropped"] == "12"
    assert t[f"{card}OLD/lifetime"] == (
        "Since the entry was set up: 12 events dropped, 1 point dead-lettered"
    )
    assert f"{card}OLD/problems" not in t
    assert f"{card}RESET/problems" not in t and f"{card}RESET/lifetime" not in t
    assert t[f"{card}GREW/problems"] == "3 events dropped in the last 24h"
    assert t[f"{card}GREW/lifetime"] == "Since the entry was set up: 3 events dropped"
