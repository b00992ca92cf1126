"""Writes history (backfilled states, long-term statistics) beside the live pipeline.

No Home Assistant imports. History never enters the live queue or the spool: its source, the
recorder, still holds it, so a failed request is simply retried (with backoff) and nothing
waits in memory or on disk. Live data comes first: before each request it waits while the
live pipeline has a batch or more queued, anything spooled, or InfluxDB is unreachable, so a
backfill only fills the gaps between live writes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
import logging
import time
from typing import Final

from .backoff import Backoff
from .writer import InfluxWriter, Outcome

_LOGGER = logging.getLogger(__name__)

HISTORY_BATCH: Final = 5000
LIVE_BUSY_POLL: Final = 0.05  # seconds between looks at the live pipeline while it is busy


@dataclass(slots=True)
class Delivered:
    written: int = 0
    rejected: int = 0
    seconds: float = 0.0  # time in requests and retries (not waiting for live data)


class HistoryDelivery:
    def __init__(
        self,
        writer: InfluxWriter,
        live_busy: Callable[[], bool],
        batch_size: int = HISTORY_BATCH,
        backoff: Backoff | None = None,
    ) -> None:
        self._writer = writer
        self._live_busy = live_busy
        self._batch_size = batch_size
        self._backoff = backoff or Backoff(cap=60.0)
        self._rejections_logged = 0

    async def _live_first(self) -> None:
        # The live pipeline signals nothing when it becomes idle; looking costs nothing.
        while self._live_busy():  # noqa: ASYNC110
            await asyncio.sleep(LIVE_BUSY_POLL)

    async def write(self, lines: list[str]) -> Delivered:
        """Write every line: returns when InfluxDB acknowledged or rejected each of them.

        Rejected lines (400/422, isolated by splitting) are counted and logged, not retried:
        the same state would be rejected again.
        """
        result = Delivered()
        size = self._batch_size
        parts: deque[list[str]] = deque(lines[i : i + size] for i in range(0, len(lines), size))
        while parts:
            await self._live_first()
            part = parts.popleft()
            began = time.monotonic()
            answer = await self._writer.write_lines(part)
            result.seconds += time.monotonic() - began
            if answer.outcome is Outcome.OK:
                result.written += len(part)
                self._backoff.reset()
            elif answer.outcome in (Outcome.REJECTED, Outcome.TOO_LARGE):
                if len(part) == 1:
                    result.rejected += 1
                    self._log_rejection(part[0], f"HTTP {answer.status}: {answer.message}")
                else:
                    mid = len(part) // 2
                    parts.appendleft(part[mid:])
                    parts.appendleft(part[:mid])
            else:  # unreachable, auth, missing database: the live pipeline reports it
                parts.appendleft(part)
                delay = self._backoff.next_delay(answer.retry_after)
                began = time.monotonic()
                await asyncio.sleep(delay)
                result.seconds += time.monotonic() - began
        return result

    def _log_rejection(self, line: str, reason: str) -> None:
        if self._rejections_logged < 5:  # a few examples, not one line per state
            self._rejections_logged += 1
            _LOGGER.warning("InfluxDB rejected a history point (%s): %.300s", reason, line)
