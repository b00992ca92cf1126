"""ESPN poller: fetches only subscribed leagues, detects transitions, fills the outbox.

Each league's scoreboard is fetched, parsed with the shared ESPN module, narrowed to games of
followed teams, compared with the stored state and committed (state + transitions + outbox rows
in one transaction). The interval adapts to the followed games (``espn.next_poll_interval``);
``poll_now`` runs a poll immediately (API ``POST /api/poll``, subscription changes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import logging
from typing import Any

import aiohttp

from ._espn import espn
from .config import Settings
from .db import AsyncStore, Store
from .delivery import USER_AGENT

_LOGGER = logging.getLogger(__name__)


@dataclass
class PollResult:
    """Summary of one poll (returned by ``POST /api/poll``)."""

    leagues: int = 0
    games: int = 0
    transitions: int = 0
    deliveries: int = 0
    errors: list[str] = field(default_factory=list)
    interval: timedelta = espn.POLL_IDLE

    def to_dict(self) -> dict[str, Any]:
        return {
            "leagues": self.leagues,
            "games": self.games,
            "transitions": self.transitions,
            "deliveries": self.deliveries,
            "errors": self.errors,
            "next_poll_seconds": self.interval.total_seconds(),
        }


class Poller:
    """Polls ESPN in a loop; ``on_enqueued`` is called when outbox rows were committed."""

    def __init__(
        self, settings: Settings, store: AsyncStore, on_enqueued: Callable[[], None]
    ) -> None:
        self._settings = settings
        self._store = store
        self._on_enqueued = on_enqueued
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self.last_poll: datetime | None = None
        self.last_errors: list[str] = []

    def wake(self) -> None:
        """Poll soon (e.g. a subscription was added)."""
        self._wake.set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=15), headers={"User-Agent": USER_AGENT}
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def run(self) -> None:
        while True:
            try:
                result = await self.poll_now()
                interval = result.interval
            except Exception:  # keep polling whatever happened; the next poll may work
                _LOGGER.exception("poll failed")
                interval = espn.POLL_SOON
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval.total_seconds())

    async def poll_now(self) -> PollResult:
        async with self._lock:
            return await self._poll()

    async def _fetch(self, league: str) -> object:
        assert self._session is not None
        url = espn.scoreboard_url(league, base=self._settings.espn_base_url)
        async with self._session.get(url) as resp:
            if resp.status != 200:
                raise espn.EspnError(f"{url}: HTTP {resp.status}")
            return espn.loads(await resp.read())

    async def _poll(self) -> PollResult:
        result = PollResult()
        followed = await self._store.run(Store.followed_teams)
        followed_games: list[espn.Game] = []
        for league, teams in sorted(followed.items()):
            if league not in espn.LEAGUES:
                continue
            result.leagues += 1
            try:
                games = espn.parse_scoreboard(await self._fetch(league), league)
            except (aiohttp.ClientError, TimeoutError, espn.EspnError) as err:
                message = f"{league}: {type(err).__name__}: {err}"
                _LOGGER.warning("ESPN poll failed: %s", message)
                result.errors.append(message)
                continue
            mine = [g for g in games if g.home.team_id in teams or g.away.team_id in teams]
            followed_games += mine
            result.games += len(mine)
            previous = await self._store.run(Store.load_games, league, [g.id for g in mine])
            changes = []
            for game in mine:
                before = previous.get(game.id)
                if before is not None and before == game:
                    continue  # unchanged: no write
                changes.append((game, espn.detect_transitions(before, game)))
            if changes:
                transitions, deliveries = await self._store.run(Store.apply_poll, league, changes)
                result.transitions += transitions
                result.deliveries += deliveries
                if deliveries:
                    self._on_enqueued()
        now = datetime.now(UTC)
        result.interval = espn.next_poll_interval(followed_games, now)
        if result.errors:
            result.interval = min(result.interval, espn.POLL_TODAY)
        self.last_poll = now
        self.last_errors = result.errors
        return result
