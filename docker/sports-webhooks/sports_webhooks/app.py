"""The aiohttp application: HTTP API, plus the poller and dispatcher as background tasks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import dataclasses
import hmac
import json
import logging
import time
from typing import Any, Final

from aiohttp import hdrs, web

from . import __version__
from .config import Settings, host_name
from .db import AsyncStore, Store
from .delivery import Dispatcher
from .egress import RefusedAddress, UnusableURL, canonical_url, check_url
from .openapi import document
from .poller import Poller
from .validation import ValidationError, subscription

_LOGGER = logging.getLogger(__name__)

API_KEY_HEADER: Final = "X-API-Key"
MAX_BODY: Final = 64 * 1024
_INT64_MAX: Final = 2**63 - 1
_PUBLIC: Final = frozenset({"/health", "/openapi.json"})
# What the read key (SPORTS_WEBHOOKS_READ_KEY, held by the dashboard) may do.
_READ_ONLY: Final = frozenset({("GET", "/api/games"), ("GET", "/api/deliveries")})
WINDOW_S: Final = 60.0

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", AsyncStore)
POLLER = web.AppKey("poller", Poller)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
OPENAPI = web.AppKey("openapi", bytes)


class RateLimit:
    """At most ``limit`` events per key in a fixed one-minute window (a small dict, pruned)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._windows: dict[object, tuple[float, int]] = {}

    def hit(self, key: object, now: float) -> float | None:
        """Count one event; None while within the limit, else seconds until it resets."""
        start, count = self._windows.get(key, (now, 0))
        if now - start >= WINDOW_S:
            start, count = now, 0
        if count >= self.limit:
            return WINDOW_S - (now - start)
        self._windows[key] = (start, count + 1)
        if len(self._windows) > 10_000:
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < WINDOW_S}
        return None

    def blocked(self, key: object, now: float) -> float | None:
        start, count = self._windows.get(key, (now, 0))
        if now - start < WINDOW_S and count >= self.limit:
            return WINDOW_S - (now - start)
        return None


AUTH_FAILURES = web.AppKey("auth_failures", RateLimit)
TESTS = web.AppKey("tests", RateLimit)


def _too_many(retry_after: float, what: str) -> web.Response:
    return _error(
        429, f"too many {what}; try again later", {"Retry-After": str(int(retry_after) + 1)}
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is JSON ``{"error": ...}``, including aiohttp's own 404/405/413."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return _error(exc.status, exc.reason, headers)


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only the names this service is really reached by (``server_names``, any port) are
    served; another Host is 421, before the key check. A browser page on an attacker's name
    re-pointed at 127.0.0.1 (DNS rebinding) is same-origin with the service as far as the
    browser knows: its Host header is the one thing that tells. No Host at all is no browser."""
    host = request.headers.get(hdrs.HOST)
    if host is not None and host_name(host) not in request.app[SETTINGS].server_names:
        return _error(421, "unknown host name: add it to SPORTS_WEBHOOKS_SERVER_NAMES")
    return await handler(request)


@web.middleware
async def encoding_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bodies are small JSON, sent as is: any ``Content-Encoding`` but identity is 415. The
    server is started with ``auto_decompress=False`` (see ``__main__.serve``), so such a body
    was never inflated; refusing it here, before the key check, keeps it that way."""
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    if encoding not in ("", "identity"):
        return _error(415, "Content-Encoding is not supported: send the JSON body uncompressed")
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """X-API-Key on everything but /health and /openapi.json, compared in constant time. The
    read key opens only the dashboard's reads. A client (address) that sends wrong keys too
    often is answered 429 for the rest of the minute, right keys included: guessing is slow.
    A request without the header guesses nothing and is not counted: any web page can send
    those (an image, a no-cors fetch), and under Docker every client on the host shares one
    address, so counting them would let a page lock the owner out."""
    if request.path in _PUBLIC:
        return await handler(request)
    settings = request.app[SETTINGS]
    failures = request.app[AUTH_FAILURES]
    client, now = request.remote or "?", time.monotonic()
    if (wait := failures.blocked(client, now)) is not None:
        return _too_many(wait, "wrong API keys")
    header = request.headers.get(API_KEY_HEADER)
    if not header:
        return _error(401, f"missing or wrong {API_KEY_HEADER} header")
    provided = header.encode("utf-8", "replace")
    if hmac.compare_digest(provided, settings.api_key.encode()):
        return await handler(request)
    if settings.read_key and hmac.compare_digest(provided, settings.read_key.encode()):
        if (request.method, request.path) in _READ_ONLY:
            return await handler(request)
        return _error(403, "the read key may only GET /api/games and /api/deliveries")
    failures.hit(client, now)
    return _error(401, f"missing or wrong {API_KEY_HEADER} header")


def _bounded_int(raw: str, high: int) -> int | None:
    """``raw`` as an integer from 1 to ``high``, else None. Digits are counted before int()
    runs: Python refuses to convert more than 4300 (ValueError), and a long number is out of
    range anyway."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(high)):
        return None
    value = int(raw)
    return value if 1 <= value <= high else None


def _sub_id(request: web.Request) -> int:
    value = _bounded_int(request.match_info["id"], _INT64_MAX)
    if value is None:
        raise web.HTTPNotFound(reason="no such subscription")
    return value


async def health(request: web.Request) -> web.Response:
    poller = request.app[POLLER]
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "database": "ok",
        "last_poll": poller.last_poll.isoformat() if poller.last_poll else None,
        "deliveries": {},
        "subscriptions": 0,
    }
    try:
        body["deliveries"] = await request.app[STORE].run(Store.stats)
        body["subscriptions"] = await request.app[STORE].run(Store.count_subscriptions)
    except Exception as err:  # report, don't crash: this is what the health check is for
        body.update(status="error", database=f"{type(err).__name__}: {err}")
        return web.json_response(body, status=503)
    return web.json_response(body)


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


async def list_subscriptions(request: web.Request) -> web.Response:
    subs = await request.app[STORE].run(Store.list_subscriptions)
    return web.json_response({"subscriptions": subs})


async def create_subscription(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return _error(400, "body must be valid JSON")
    try:
        new = subscription(data)
        new = dataclasses.replace(new, url=canonical_url(new.url))
        check_url(new.url, request.app[SETTINGS].allow_networks)
    except ValidationError as err:
        return _error(400, str(err))
    except UnusableURL as err:
        return _error(400, f"'url' cannot be used: {err}")
    except RefusedAddress as err:
        return _error(400, f"'url' refused: {err}")
    created = await request.app[STORE].run(Store.create_subscription, new)
    request.app[POLLER].wake()
    return web.json_response(
        created, status=201, headers={"Location": f"/api/subscriptions/{created['id']}"}
    )


async def get_subscription(request: web.Request) -> web.Response:
    found = await request.app[STORE].run(Store.get_subscription, _sub_id(request))
    if found is None:
        return _error(404, "no such subscription")
    return web.json_response(found)


async def delete_subscription(request: web.Request) -> web.Response:
    if not await request.app[STORE].run(Store.delete_subscription, _sub_id(request)):
        return _error(404, "no such subscription")
    return web.Response(status=204)


async def _set_enabled(request: web.Request, enabled: bool) -> web.Response:
    found = await request.app[STORE].run(Store.set_enabled, _sub_id(request), enabled)
    if found is None:
        return _error(404, "no such subscription")
    request.app[POLLER].wake()
    request.app[DISPATCHER].wake()
    return web.json_response(found)


async def enable_subscription(request: web.Request) -> web.Response:
    return await _set_enabled(request, True)


async def disable_subscription(request: web.Request) -> web.Response:
    return await _set_enabled(request, False)


async def test_subscription(request: web.Request) -> web.Response:
    store = request.app[STORE]
    sub_id = _sub_id(request)
    found = await store.run(Store.get_subscription, sub_id)
    if found is None:
        return _error(404, "no such subscription")
    if not found["enabled"]:
        return _error(409, "subscription is disabled; enable it first")
    if (wait := request.app[TESTS].hit(sub_id, time.monotonic())) is not None:
        return _too_many(wait, "test deliveries for this subscription")
    delivery_id = await store.run(Store.enqueue_test, sub_id)
    request.app[DISPATCHER].wake()
    return web.json_response({"delivery_id": delivery_id, "status": "pending"}, status=202)


def _query_int(request: web.Request, name: str, default: int | None, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    value = _bounded_int(raw, high)
    if value is None:
        raise web.HTTPBadRequest(reason=f"'{name}' must be an integer from 1 to {high}")
    return value


_DELIVERY_QUERY: Final = frozenset({"limit", "subscription_id", "status"})


async def list_deliveries(request: web.Request) -> web.Response:
    unknown = sorted(set(request.query) - _DELIVERY_QUERY)
    if unknown:
        return _error(400, f"unknown query parameter(s): {', '.join(unknown)}")
    limit = _query_int(request, "limit", 100, 1000) or 100
    sub_id = _query_int(request, "subscription_id", None, _INT64_MAX)
    status = request.query.get("status")
    if status is not None and status not in ("pending", "delivered", "failed"):
        return _error(400, "'status' must be pending, delivered or failed")
    rows = await request.app[STORE].run(Store.list_deliveries, limit, sub_id, status)
    return web.json_response({"deliveries": rows})


async def list_games(request: web.Request) -> web.Response:
    return web.json_response({"games": await request.app[STORE].run(Store.list_games)})


async def poll(request: web.Request) -> web.Response:
    result = await request.app[POLLER].poll_now()
    request.app[POLLER].wake()  # the loop recomputes its interval from the new state
    return web.json_response(result.to_dict())


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Open the store, start the dispatcher and poller; stop them in reverse on shutdown."""
    settings = app[SETTINGS]
    store = app[STORE]
    await store.open()
    dispatcher = app[DISPATCHER]
    poller = app[POLLER]
    await poller.start()
    tasks = [asyncio.create_task(dispatcher.run(), name="dispatcher")]
    if settings.poll_enabled:
        tasks.append(asyncio.create_task(poller.run(), name="poller"))
    _LOGGER.info("sports webhooks %s ready, database %s", __version__, settings.db_path)
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await poller.close()
    await store.close()


def make_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[errors_middleware, host_middleware, encoding_middleware, auth_middleware],
        client_max_size=MAX_BODY,
    )
    store = AsyncStore(settings.db_path)
    dispatcher = Dispatcher(settings, store)
    app[SETTINGS] = settings
    app[STORE] = store
    app[DISPATCHER] = dispatcher
    app[POLLER] = Poller(settings, store, dispatcher.wake)
    app[OPENAPI] = json.dumps(document()).encode()
    app[AUTH_FAILURES] = RateLimit(settings.auth_failures_per_minute)
    app[TESTS] = RateLimit(settings.tests_per_minute)
    app.cleanup_ctx.append(_background)
    app.router.add_get("/health", health)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/api/subscriptions", list_subscriptions)
    app.router.add_post("/api/subscriptions", create_subscription)
    app.router.add_get("/api/subscriptions/{id}", get_subscription)
    app.router.add_delete("/api/subscriptions/{id}", delete_subscription)
    app.router.add_post("/api/subscriptions/{id}/enable", enable_subscription)
    app.router.add_post("/api/subscriptions/{id}/disable", disable_subscription)
    app.router.add_post("/api/subscriptions/{id}/test", test_subscription)
    app.router.add_get("/api/deliveries", list_deliveries)
    app.router.add_get("/api/games", list_games)
    app.router.add_post("/api/poll", poll)
    return app
