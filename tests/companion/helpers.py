"""Real processes and real sockets for the sports webhooks service tests (no mocks).

* ``FakeEspn``: an aiohttp server on 127.0.0.1 serving scoreboards from the captured fixtures
  (tests swap in mutated copies to make games move).
* ``Receiver``: an aiohttp webhook receiver that verifies every signature and can answer
  ok / fail / fail-n-times / hold (block until released).
* ``Service``: ``python -m sports_webhooks`` as a child process with its own database.

Both servers run in their own thread and event loop, so tests can be plain synchronous code.
Every wait is bounded by a deadline (``tests.helpers.wait_until``); nothing asserts on elapsed time.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
import functools
import hashlib
import hmac
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time
from typing import Any
import urllib.error
import urllib.request

from aiohttp import web

from tests.helpers import START_DEADLINE_S, ThreadedApp, free_port, wait_until
from tests.servers import stop_process

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "docker" / "sports-webhooks"
FIXTURES = ROOT / "tests" / "fixtures" / "espn"
NFL = "nfl_scoreboard_2022-09-11_pre_in_post.json"
MLS = "soccer_usa1_scoreboard_2022-09-17_pre_in_post.json"
API_KEY = "test-api-key-0123456789"
SECRET = "receiver-secret-0123456789"

if str(SERVICE_DIR) not in sys.path:
    sys.path.insert(0, str(SERVICE_DIR))

from sports_webhooks._espn import espn  # noqa: E402


@functools.cache
def _fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> Any:
    """A fresh decoded copy of a captured ESPN response."""
    return json.loads(_fixture_bytes(name))


def event(doc: Any, event_id: str) -> Any:
    return next(e for e in doc["events"] if e["id"] == event_id)


def set_score(doc: Any, event_id: str, home: int, away: int, state: str | None = None) -> None:
    """Mutate a scoreboard copy: new scores and, optionally, a new state."""
    ev = event(doc, event_id)
    for competitor in ev["competitions"][0]["competitors"]:
        competitor["score"] = str(home if competitor["homeAway"] == "home" else away)
    if state is not None:
        for status in (ev["status"], ev["competitions"][0]["status"]):
            status["type"]["state"] = state
            status["type"]["completed"] = state == "post"
            status["type"]["detail"] = {"pre": "Scheduled", "in": "Live", "post": "Final"}[state]


class FakeEspn(ThreadedApp):
    """ESPN's site API for scoreboards: ``/{sport}/{league}/scoreboard``."""

    def __init__(self) -> None:
        self.docs: dict[str, bytes] = {}
        self.requests: list[str] = []
        app = web.Application()
        app.router.add_get("/{sport}/{league}/scoreboard", self._scoreboard)
        super().__init__(app)

    def set(self, league: str, doc: Any) -> None:
        self.docs[league] = json.dumps(doc).encode()

    async def _scoreboard(self, request: web.Request) -> web.Response:
        path = (request.match_info["sport"], request.match_info["league"])
        key = next((k for k, v in espn.LEAGUES.items() if (v.sport, v.league) == path), None)
        self.requests.append(key or "?")
        if key is None or key not in self.docs:
            return web.json_response({"code": 404, "message": "not found"}, status=404)
        return web.Response(body=self.docs[key], content_type="application/json")


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    delivery_id: str
    event: str
    timestamp: str
    body: dict[str, Any]
    signature_ok: bool
    answered: int  # HTTP status sent back; 0 while a /hold request is being held
    attempt: int  # how many requests with this delivery id the receiver has seen so far


class Receiver(ThreadedApp):
    """A webhook receiver. Paths: ``/ok/*``, ``/fail/*``, ``/flaky/{n}/*``, ``/hold/*``."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._attempts: dict[str, int] = {}
        self._release: asyncio.Event | None = None
        app = web.Application()
        app.router.add_post("/{mode}/{rest:.*}", self._handle)
        super().__init__(app)
        self._release = self.call(asyncio.Event)

    def release(self) -> None:
        """Let held requests (``/hold/*``) complete from now on."""
        assert self._release is not None
        self.loop.call_soon_threadsafe(self._release.set)

    def deliveries(self, path_prefix: str = "/", ok_only: bool = True) -> list[Received]:
        with self._lock:
            return [
                r
                for r in self.received
                if r.path.startswith(path_prefix) and (200 <= r.answered < 300 or not ok_only)
            ]

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        stamp = request.headers.get("X-Webhook-Timestamp", "")
        expected = (
            "sha256="
            + hmac.new(
                self.secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256
            ).hexdigest()
        )
        signature_ok = (
            hmac.compare_digest(request.headers.get("X-Webhook-Signature", ""), expected)
            and abs(time.time() - int(stamp or 0)) < 300
        )
        delivery_id = request.headers.get("X-Webhook-Delivery", "")
        mode = request.match_info["mode"]
        with self._lock:
            self._attempts[delivery_id] = self._attempts.get(delivery_id, 0) + 1
            attempt = self._attempts[delivery_id]
        status = 200
        if mode == "fail":
            status = 500
        elif mode == "flaky":
            fails = int(request.match_info["rest"].split("/")[0])
            status = 503 if attempt <= fails else 200
        elif mode == "hold":
            with self._lock:
                self.received.append(
                    self._record(request, raw, stamp, signature_ok, status=0, attempt=attempt)
                )
            assert self._release is not None
            await self._release.wait()
        with self._lock:
            self.received.append(
                self._record(request, raw, stamp, signature_ok, status=status, attempt=attempt)
            )
        return web.json_response({"ok": status < 300}, status=status)

    @staticmethod
    def _record(
        request: web.Request, raw: bytes, stamp: str, ok: bool, *, status: int, attempt: int
    ) -> Received:
        return Received(
            path=request.path,
            delivery_id=request.headers.get("X-Webhook-Delivery", ""),
            event=request.headers.get("X-Webhook-Event", ""),
            timestamp=stamp,
            body=json.loads(raw),
            signature_ok=ok,
            answered=status,
            attempt=attempt,
        )


class Service:
    """``python -m sports_webhooks`` as a child process (SIGTERM to stop, SIGKILL to crash)."""

    def __init__(self, data_dir: Path, espn_url: str, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.db = data_dir / "webhooks.db"
        self.log = data_dir / "service.log"
        self.env = {
            **os.environ,
            "SPORTS_WEBHOOKS_API_KEY": API_KEY,
            "SPORTS_WEBHOOKS_DB": str(self.db),
            "SPORTS_WEBHOOKS_HOST": "127.0.0.1",
            "SPORTS_WEBHOOKS_PORT": str(self.port),
            "ESPN_BASE_URL": espn_url,
            "SPORTS_WEBHOOKS_RETRY_BASE": "0.05",
            "SPORTS_WEBHOOKS_RETRY_MAX": "0.5",
            "SPORTS_WEBHOOKS_TIMEOUT": "10",
            "SPORTS_WEBHOOKS_LOG_LEVEL": "INFO",
            # Receivers run on loopback: the allowance a LAN receiver needs, made for 127/8.
            "SPORTS_WEBHOOKS_ALLOW_NETWORKS": "127.0.0.0/8",
            # Tests send many wrong keys and use /test to fill queues; test_security.py checks
            # the default limits.
            "SPORTS_WEBHOOKS_AUTH_FAILURES_PER_MINUTE": "100000",
            "SPORTS_WEBHOOKS_TESTS_PER_MINUTE": "100000",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sports_webhooks"],
                cwd=SERVICE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited: {self.log.read_text()[-3000:]}")
            try:
                return self.request("GET", "/health", key=None)[0] == 200
            except OSError:
                return False

        try:
            wait_until(up, "service /health", timeout=START_DEADLINE_S)
        except AssertionError as err:
            self.stop()
            raise AssertionError(f"{err}; its log ends:\n{self.log.read_text()[-3000:]}") from err
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            stop_process(self.proc, sig, wait=20)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sports_webhooks", *args],
            cwd=SERVICE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        key: str | None = API_KEY,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if key is not None:
            req.add_header("X-API-Key", key)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                text = resp.read()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            text = err.read()
            return err.code, json.loads(text) if text else None

    def subscribe(self, url: str, teams: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
        body = {
            "url": url,
            "events": list(espn.EVENT_KINDS),
            "teams": [{"league": lg, "team_id": t} for lg, t in teams],
            "secret": SECRET,
            **extra,
        }
        status, created = self.request("POST", "/api/subscriptions", body)
        assert status == 201, created
        return dict(created)

    def poll(self) -> dict[str, Any]:
        status, result = self.request("POST", "/api/poll")
        assert status == 200, result
        return dict(result)

    def deliveries(self, **query: Any) -> list[dict[str, Any]]:
        qs = "&".join(f"{k}={v}" for k, v in {"limit": 1000, **query}.items())
        status, body = self.request("GET", f"/api/deliveries?{qs}")
        assert status == 200, body
        return list(body["deliveries"])


def copy_doc(doc: Any) -> Any:
    return copy.deepcopy(doc)
