"""The spool as the event loop uses it: every call in the executor, counted as it returns.

`points` is what the spool holds as of the last call that returned. Calls run one at a time,
and each updates `points` on the loop in the same step as the caller's own counters (points in
flight, spilled batches: the `done` callbacks), so the pipeline's pending count never has a
point in two places or in none. No Home Assistant imports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from .spool import EncodedBatch, Spool, SpoolBatch, SpoolError
from .stats import Stats

_T = TypeVar("_T")


class SpoolHooks(Protocol):
    def spool_dropped(self, points: int) -> None: ...
    def spool_recovered(self, moved_to: str) -> None: ...
    def spool_writes_changed(self, working: bool, error: str | None) -> None: ...


class SpoolAccess:
    def __init__(self, spool: Spool, stats: Stats, hooks: SpoolHooks) -> None:
        self.spool = spool
        self._stats = stats
        self._hooks = hooks
        self.points = spool.pending_points
        self._unreadable_seen = spool.unreadable_points
        self._recovered_seen = spool.recovered_from  # at open: the runtime says so at start
        self._writes_working: bool | None = None  # unknown until the first write
        self._closing = False
        self._lock = asyncio.Lock()

    async def _call(
        self, func: Callable[..., _T], *args: Any, done: Callable[[_T], None] | None = None
    ) -> _T:
        """Run a spool method in the executor, one at a time; `done` gets its result."""
        async with self._lock:
            try:
                result = await asyncio.get_running_loop().run_in_executor(None, func, *args)
            finally:
                self.points = self.spool.pending_points
                self._count_unreadable()
            if done is not None:
                done(result)
            return result

    async def _change(
        self, func: Callable[..., _T], *args: Any, done: Callable[[_T], None] | None = None
    ) -> _T:
        """A call that changes the spool: shielded, so it and its bookkeeping complete even
        when the caller is cancelled (shutdown)."""
        return await asyncio.shield(self._call(func, *args, done=done))

    async def _store(
        self, func: Callable[..., _T], *args: Any, done: Callable[[_T], None] | None = None
    ) -> _T:
        """A call that stores points (shielded too). Says when storing starts failing (a full
        disk: the points wait in memory) and when it works again. Other calls do not count:
        on a full disk a read, a removal (it frees space) or a small dead letter can still
        work while a batch cannot be stored, and the issue would come and go."""
        return await asyncio.shield(self._write(func, *args, done=done))

    async def _write(
        self, func: Callable[..., _T], *args: Any, done: Callable[[_T], None] | None = None
    ) -> _T:
        recovered = self.spool.recovered_from
        try:
            result = await self._call(func, *args, done=done)
        except SpoolError as err:
            # A damaged file moved aside is said by spool_recovered; at shutdown, nobody asks.
            if not self._closing and self.spool.recovered_from == recovered:
                self._writes_changed(False, str(err))
            raise
        self._writes_changed(True, None)
        return result

    def _writes_changed(self, working: bool, error: str | None) -> None:
        if working is not self._writes_working:
            self._writes_working = working
            self._hooks.spool_writes_changed(working, error)

    def _count_unreadable(self) -> None:
        """Points the spool had to discard (a damaged row or file) are dropped, with a reason;
        a file found damaged while running is said as at start (a repair issue)."""
        unreadable = self.spool.unreadable_points
        if unreadable > self._unreadable_seen:
            self._stats.dropped["spool_unreadable"] += unreadable - self._unreadable_seen
            self._unreadable_seen = unreadable
        if (moved := self.spool.recovered_from) is not None and moved != self._recovered_seen:
            self._recovered_seen = moved
            self._hooks.spool_recovered(str(moved))

    def _dropped(self, points: int) -> None:
        if points:
            self._stats.dropped["spool_full"] += points
            self._hooks.spool_dropped(points)

    def _stored(self, done: Callable[[], None]) -> Callable[[int], None]:
        def stored(dropped: int) -> None:
            done()
            self._dropped(dropped)

        return stored

    async def append(self, lines: Sequence[str], done: Callable[[], None]) -> int:
        """Store a batch; `done` runs in the same step as the count of what the spool holds.
        Returns the points dropped to make room (counted here)."""
        return await self._store(self.spool.append, lines, done=self._stored(done))

    async def append_encoded(self, batch: EncodedBatch, done: Callable[[], None]) -> int:
        return await self._store(self.spool.append_encoded, batch, done=self._stored(done))

    async def oldest(self) -> SpoolBatch | None:
        return await self._call(self.spool.oldest)

    async def remove(self, batch_id: int, done: Callable[[bool], None]) -> bool:
        return await self._change(self.spool.remove, batch_id, done=done)

    async def replace(
        self, batch_id: int, lines: Sequence[str], done: Callable[[bool], None]
    ) -> bool:
        return await self._change(self.spool.replace, batch_id, lines, done=done)

    async def add_dead_letters(self, items: Sequence[tuple[str, str]]) -> None:
        await self._change(self.spool.add_dead_letters, items)

    async def close(self) -> None:
        self._closing = True
        await self._call(self.spool.close)
