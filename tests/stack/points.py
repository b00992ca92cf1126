"""What the end-to-end tests write through the integration's own encoders and writer, and how
the dashboard must show it. Shared by the InfluxDB 1.6 run and the InfluxDB 2.7 run (CI)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
import itertools
import json
import re
import shutil
import subprocess
import threading
from typing import Any

from custom_components.ha_ingestor.coordinator import StatsSnapshot, self_metrics_line
from custom_components.ha_ingestor.line_protocol import encode_point
from custom_components.ha_ingestor.schema import SchemaOptions, StateEncoder, timestamp_us

from .helpers import ARTIFACTS, DASHBOARD, DIST, Nginx

ENTRY_ID = "01JE2E0ENTRY"
DOMAIN_COUNTS = {"sensor": 7, "light": 4, "switch": 3, "binary_sensor": 2, "climate": 1}


def state_changes(now: float) -> list[tuple[str, int, float]]:
    """(domain, index in its domain, time): one state change every 5 minutes back from now."""
    out: list[tuple[str, int, float]] = []
    for domain, count in DOMAIN_COUNTS.items():
        out.extend((domain, i, now - (len(out) + 1) * 300) for i in range(count))
    return out


def hourly_counts(now: float) -> dict[int, Counter[str]]:
    """State changes per domain in each hour bucket (its start in ms), as GROUP BY time(1h)."""
    buckets: dict[int, Counter[str]] = {}
    for domain, _, t in state_changes(now):
        buckets.setdefault(int(t // 3600) * 3_600_000, Counter())[domain] += 1
    return buckets


def snap(
    received: int, pending: int, dropped: int, epm: float, last_write: float, dead_lettered: int = 2
) -> StatsSnapshot:
    """The integration's counters, balanced: received = written + pending + 5 filtered +
    dead-lettered + dropped."""
    return StatsSnapshot(
        received=received, written=received - pending - dropped - 5 - dead_lettered,
        pending=pending, queued=pending, spooled=0, filtered=5, dead_lettered=dead_lettered,
        dropped=dropped, dropped_reasons={"spool_full": dropped}, filtered_reasons={},
        events_per_minute=epm, write_latency_ms=8.5,
        last_write=datetime.fromtimestamp(last_write, UTC), connected=True, last_error=None,
    )  # fmt: skip


def lines(now: float) -> list[str]:
    encoder = StateEncoder(SchemaOptions())
    lines: list[str] = []
    for domain, i, t in state_changes(now):
        attrs = {"friendly_name": f"{domain} {i}", "unit_of_measurement": "W"}
        state = "on" if domain in ("light", "switch", "binary_sensor") else str(10.5 + i)
        lines.append(encoder.encode(f"{domain}.e2e_{i}", state, attrs, timestamp_us(t)))
    # Other event types go to ha_events and must not count as state changes.
    lines.append(
        encode_point(
            "ha_events", {"event_type": "call_service"}, {"count": 1.0}, timestamp_us(now - 30)
        )
    )

    # An older self-metrics point first: the dashboard must show the latest one.
    for line in (
        self_metrics_line(snap(1000, 3, 0, 12.0, now - 120), ENTRY_ID, "Home", now - 90),
        self_metrics_line(snap(1234, 17, 10, 42.3, now - 20), ENTRY_ID, "Home", now - 15),
    ):
        assert line is not None
        lines.append(line)

    weather_tags = {"source": "weather.home", "condition": "rainy"}
    old = {"temperature": 9.0, "humidity": 90.0}
    # wind_speed: an entity's 14.4 km/h, which the integration stores in m/s
    latest = {"temperature": 12.5, "humidity": 81.0, "pressure": 1012.0, "wind_speed": 4.0,
              "wind_bearing": 225.0, "apparent_temperature": 10.9}  # fmt: skip
    for fields, t in ((old, now - 3600), (latest, now - 600)):
        line = encode_point("weather", weather_tags, fields, timestamp_us(t))
        assert line is not None
        lines.append(line)

    games = [
        ({"league": "nfl", "game_id": "401437654", "home": "ATL", "away": "NO", "state": "in"},
         {"home_score": 20.0, "away_score": 10.0, "period": 3.0, "detail": "Q3", "name": "NO@ATL"},
         now - 1800),
        ({"league": "nfl", "game_id": "401437654", "home": "ATL", "away": "NO", "state": "in"},
         {"home_score": 26.0, "away_score": 10.0, "period": 4.0, "detail": "0:48 - 4th Quarter",
          "name": "New Orleans Saints at Atlanta Falcons"}, now - 60),
        ({"league": "nfl", "game_id": "401437650", "home": "MIA", "away": "NE", "state": "post"},
         {"home_score": 20.0, "away_score": 7.0, "period": 4.0, "detail": "Final",
          "name": "New England Patriots at Miami Dolphins"}, now - 7200),
    ]  # fmt: skip
    for tags, fields, t in games:
        line = encode_point("sports", tags, fields, timestamp_us(t))
        assert line is not None
        lines.append(line)
    return lines


def last_write(now: float) -> int:
    """The self-metrics `last_write` of the newest point `lines(now)` writes."""
    return int(now - 20)


def browse(
    url: str,
    scenarios: list[dict[str, Any]],
    server: Nginx | None = None,
    on_signal: Callable[[str], None] | None = None,
    timeout: float = 180,
) -> dict[str, Any]:
    """Run e2e/browse.mjs; a failure message carries its log and, given, nginx's logs.

    A scenario's ``{"signal": name}`` step pauses the browser until ``on_signal(name)`` has
    returned (say, after stopping a server), so a test can change the world mid-visit."""
    node = shutil.which("node")
    assert node, "node is not installed"
    assert (DIST / "index.html").exists(), "run `npm run build` in docker/dashboard first"
    job = json.dumps({"url": url, "outDir": str(ARTIFACTS), "scenarios": scenarios})
    proc = subprocess.Popen(
        [node, "e2e/browse.mjs", job], cwd=DASHBOARD, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin and proc.stdout and proc.stderr
    stdout: list[str] = []
    reader = threading.Thread(target=lambda: stdout.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = threading.Timer(timeout, proc.kill)  # bounds a hung browser; a pass ends sooner
    deadline.start()
    log: list[str] = []
    try:
        for line in proc.stderr:
            log.append(line)
            if line.startswith("[browse] signal "):
                name = line.removeprefix("[browse] signal ").strip()
                assert on_signal is not None, f"browse.mjs signalled {name!r}, nobody listens"
                on_signal(name)
                proc.stdin.write("go\n")
                proc.stdin.flush()
        proc.stdin.close()
        proc.wait(timeout=30)
        reader.join(timeout=30)
    finally:
        deadline.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    why = "".join(log)[-4000:] + ("\n" + server.log() if server else "")
    assert proc.returncode == 0, f"browse.mjs exited with {proc.returncode}:\n{why}"
    return json.loads(stdout[0])


def check_rows_tile(grid: dict[str, Any]) -> list[list[str]]:
    """The cards tile their rows: each row runs from the left edge to the right one with one
    gap between cards, its cards are equally tall (no hole under a short one), and rows follow
    each other at one gap. Returns the card ids row by row."""
    rows: dict[int, list[dict[str, Any]]] = {}
    for card in grid["cards"]:
        rows.setdefault(round(card["y"]), []).append(card)
    previous_bottom: float | None = None
    for y, row in sorted(rows.items()):
        row.sort(key=lambda c: c["x"])
        ids = [c["id"] for c in row]
        assert abs(row[0]["x"] - grid["left"]) < 1.5, (ids, grid)
        right = row[-1]["x"] + row[-1]["width"]
        assert abs(right - grid["right"]) < 1.5, f"a hole right of {ids}: {right} < {grid['right']}"
        for a, b in itertools.pairwise(row):
            assert abs(b["x"] - a["x"] - a["width"] - grid["gap"]) < 1.5, (a, b, grid["gap"])
        heights = [c["height"] for c in row]
        assert max(heights) - min(heights) < 1.5, f"a hole under the shorter of {ids}: {heights}"
        if previous_bottom is not None:
            assert abs(y - previous_bottom - grid["rowGap"]) < 1.5, (ids, y, previous_bottom)
        previous_bottom = row[0]["y"] + row[0]["height"]
    return [[c["id"] for c in rows[y]] for y in sorted(rows)]


def check_integration(t: dict[str, str], written_at: float) -> None:
    entry = f"dashboard/ingestor/entry-{ENTRY_ID}"
    assert t[f"{entry}/events-per-minute"] == "42.3"
    assert t[f"{entry}/pending"] == "17"
    assert t[f"{entry}/dropped"] == "10"
    assert t[f"{entry}/events-received"] == "1,234"
    assert t[f"{entry}/points-written"] == f"{1234 - 17 - 10 - 7:,}"
    assert t[f"{entry}/dead-lettered"] == "2"
    assert t[f"{entry}/write-latency"] == "8.5 ms"
    assert re.fullmatch(r"\d+ ms", t["dashboard/influxdb/influx-latency"])
    shown = datetime.fromtimestamp(last_write(written_at), UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert t[f"{entry}/last-write-time"].startswith(f"Last write {shown} ·")
    # Relative ages depend on how long the run took: only their form is checked.
    assert re.fullmatch(r"\d+ (s|min) ago", t[f"{entry}/last-write"])
    # Dropped grew from 0 to 10 within the window: a warning. The 2 dead letters are old
    # (both points had them): a total on the card, no warning.
    assert "10 events dropped in the last 24h" in t[f"{entry}/problems"]
    assert "dead-lettered" not in t[f"{entry}/problems"]
    assert t[f"{entry}/lifetime"] == (
        "Since the entry was set up: 10 events dropped, 2 points dead-lettered"
    )


def check_domains(t: dict[str, str]) -> None:
    shown = {
        key.split("/")[2].removeprefix("domain-"): int(value.replace(",", ""))
        for key, value in t.items()
        if key.endswith("/domain-total")
    }
    assert shown == DOMAIN_COUNTS
    assert t["dashboard/domains/domains-total"] == str(sum(DOMAIN_COUNTS.values()))


def check_weather_and_games(t: dict[str, str]) -> None:
    w = "dashboard/weather/weather-weather.home"
    # Units on every value, as the integration stores every source (wind in m/s).
    assert t[f"{w}/temperature"] == "12.5 °C"
    assert t[f"{w}/condition"] == "rainy"
    assert t[f"{w}/humidity"] == "81 %"
    assert t[f"{w}/apparent"] == "10.9 °C"
    assert t[f"{w}/pressure"] == "1,012 hPa"
    assert t[f"{w}/wind"] == "4.0 m/s SW"

    live = "dashboard/games/game-401437654"
    assert (t[f"{live}/away"], t[f"{live}/away-score"]) == ("NO", "10")
    assert (t[f"{live}/home"], t[f"{live}/home-score"]) == ("ATL", "26")
    assert t[f"{live}/game-state"] == "live"
    assert t[f"{live}/game-detail"] == "0:48 - 4th Quarter"
    final = "dashboard/games/game-401437650"
    assert (t[f"{final}/home-score"], t[f"{final}/game-state"]) == ("20", "final")
    # Live games are listed first.
    order = [k for k in t if k.startswith("dashboard/games/game-") and k.count("/") == 2]
    assert order == [live, final]
