"""Delivery of outbox rows: signed POSTs, retries with exponential backoff, bounded concurrency.

Fairness: at most ``concurrency`` requests are in flight overall and at most ``per_subscription``
for any one subscription, every request has a timeout, and the dispatcher never waits for a
request before starting others, so a slow or failing receiver only delays its own deliveries.
Order between deliveries is not guaranteed; bodies carry ``occurred_at`` and the game state.
"""

from __future__ import annotations

import asyncio
from collections import Counter
import contextlib
import hashlib
import hmac
import logging
import random
import time
from typing import Final

import aiohttp

from . import __version__
from .config import Settings
from .db import AsyncStore, AttemptResult, Due, Store
from .egress import RefusedAddress, UnusableURL, canonical_url, check_url, connector

_LOGGER = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Webhook-Signature"
TIMESTAMP_HEADER: Final = "X-Webhook-Timestamp"
EVENT_HEADER: Final = "X-Webhook-Event"
DELIVERY_HEADER: Final = "X-Webhook-Delivery"
USER_AGENT: Final = f"ha-ingestor-sports-webhooks/{__version__}"
# Only the status matters; a receiver's body is read this far at most, then the connection
# is closed (a 300 MB answer must not reach memory).
RESPONSE_READ_MAX: Final = 4096
PRUNE_EVERY_S: Final = 3600.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body`` keyed by the secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def backoff(attempt: int, base: float, cap: float) -> float:
    """Delay before retry number ``attempt`` (1 = first retry): base * 2^(n-1), +-20 % jitter."""
    delay = min(cap, base * 2 ** min(attempt - 1, 30))
    return float(delay * random.uniform(0.8, 1.2))


def describe(err: BaseException, timeout: float) -> str:
    """What went wrong, without the OS error text: the delivery log is readable through the API
    (and the dashboard), and "connection refused" against "timed out" per address and port is
    how a port scanner works."""
    # aiohttp wraps what the resolver raised (ClientConnectorDNSError, os_error / __cause__).
    for cause in (err, getattr(err, "os_error", None), err.__cause__):
        if isinstance(cause, RefusedAddress):
            return f"refused: {cause}"[:500]
    if isinstance(err, UnusableURL):
        return f"the URL cannot be used: {err}"
    if isinstance(err, aiohttp.InvalidURL):  # its text is the whole URL, path included
        detail = f" ({err.description})" if err.description else ""
        return f"the URL cannot be used: the HTTP client refuses it{detail}"
    if isinstance(err, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(err, aiohttp.ClientConnectorError):
        return f"could not connect to {err.host}:{err.port}"
    if isinstance(err, aiohttp.ClientError):
        return f"bad answer from the receiver ({type(err).__name__})"
    return type(err).__name__


class Dispatcher:
    """Sends due outbox rows until stopped; ``wake()`` after enqueueing to skip the wait."""

    def __init__(self, settings: Settings, store: AsyncStore) -> None:
        self._settings = settings
        self._store = store
        self._wake = asyncio.Event()
        # Outbox ids being sent or whose result is not yet written: never fetched twice.
        self._claimed: set[int] = set()
        self._per_sub: Counter[int] = Counter()
        self._results: list[AttemptResult] = []
        self._flushed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0
        self._pruned_at: float | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout)
        checked = connector(
            self._settings.allow_networks, limit=self._settings.concurrency, limit_per_host=0
        )
        async with aiohttp.ClientSession(
            timeout=timeout, connector=checked, headers={"User-Agent": USER_AGENT}
        ) as session:
            self._session = session
            try:
                await self._loop()
            finally:
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                await self._flush()

    async def _loop(self) -> None:
        settings = self._settings
        while True:
            self._wake.clear()
            await self._flush()
            if self._pruned_at is None or time.monotonic() - self._pruned_at > PRUNE_EVERY_S:
                self._pruned_at = time.monotonic()
                pruned = await self._store.run(Store.prune, time.time(), settings.retention_days)
                if any(pruned.values()):
                    _LOGGER.info("pruned finished deliveries and transitions: %s", pruned)
            free = settings.concurrency - len(self._tasks)
            due: list[Due] = []
            if free > 0:
                due = await self._store.run(
                    Store.due,
                    time.time(),
                    free,
                    settings.per_subscription,
                    dict(self._per_sub),
                    list(self._claimed),
                )
            started = blocked = 0
            for row in due:
                if row.outbox_id in self._claimed:
                    continue
                if len(self._tasks) >= settings.concurrency:
                    break
                if self._per_sub[row.subscription_id] >= settings.per_subscription:
                    blocked += 1
                    continue
                self._start(row)
                started += 1
            if started and len(self._tasks) < settings.concurrency:
                continue  # there may be more due rows
            await self._sleep(blocked=blocked > 0 and not started)

    async def _sleep(self, blocked: bool) -> None:
        """Wait for the next due row, or for a wake-up (new rows, a finished request)."""
        wait = 30.0
        if not blocked and len(self._tasks) < self._settings.concurrency:
            next_at = await self._store.run(Store.next_due_at)
            if next_at is not None:
                wait = min(wait, next_at - time.time())
                if wait <= 0 and self._tasks:
                    # Due now but held back by a per-subscription limit: a finishing request
                    # wakes us; polling the clock here would spin.
                    wait = 30.0
        if self._results:
            wait = min(wait, 0.05)
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _start(self, row: Due) -> None:
        self._claimed.add(row.outbox_id)
        self._per_sub[row.subscription_id] += 1
        task = asyncio.create_task(self._deliver(row), name=f"deliver-{row.delivery_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, row: Due) -> None:
        assert self._session is not None
        attempt = row.attempts + 1
        body = row.body.encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(row.secret, stamp, body),
            TIMESTAMP_HEADER: stamp,
            EVENT_HEADER: row.event,
            DELIVERY_HEADER: row.delivery_id,
        }
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        try:
            # Here too: a subscription stored by an earlier version may still say 127.1.
            url = canonical_url(row.url)
            check_url(url, self._settings.allow_networks)
            # No redirects: a 307 would re-send the signed body to wherever it points.
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                code = resp.status
                await resp.content.read(RESPONSE_READ_MAX)
                resp.close()
            if 300 <= code < 400:
                error = f"HTTP {code}: redirects are not followed"
            elif not 200 <= code < 300:
                error = f"HTTP {code}"
        except asyncio.CancelledError:
            raise  # shutdown: the row stays pending and is retried after a restart
        except Exception as err:
            error = describe(err, self._settings.timeout)
        finally:
            self._per_sub[row.subscription_id] -= 1
            if self._per_sub[row.subscription_id] <= 0:
                del self._per_sub[row.subscription_id]
        duration = (time.monotonic() - started) * 1000
        retry_at: float | None = None
        if error is not None and attempt < self._settings.max_attempts:
            retry_at = time.time() + backoff(
                attempt, self._settings.retry_base, self._settings.retry_max
            )
        if error is None:
            self.sent += 1
        else:
            _LOGGER.info("delivery %s attempt %d failed: %s", row.delivery_id, attempt, error)
        self._results.append((row.outbox_id, attempt, code, error, duration, retry_at))
        self._wake.set()

    async def _flush(self) -> None:
        """Write buffered attempt results in one transaction (many results per commit)."""
        if not self._results:
            return
        results, self._results = self._results, []
        await self._store.run(Store.record_attempts, results)
        self._claimed.difference_update(r[0] for r in results)
