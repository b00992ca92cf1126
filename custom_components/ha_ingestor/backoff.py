"""Retry delays for writes to InfluxDB: exponential backoff, full jitter, Retry-After.

Stdlib only, no Home Assistant imports.

``Backoff.next_delay()`` returns ``uniform(0, min(cap, initial * multiplier ** attempt))`` and
counts the attempt; ``reset()`` after a successful write starts again at ``initial``. This is
"full jitter": it is stateless apart from the attempt count (the delay for attempt *n* depends
only on *n* and one random draw, so the cap is exact and tests are simple), and of the common
schemes it spreads retries from many clients the most, which is what matters when several Home
Assistant instances or config entries wait for the same InfluxDB to come back. Decorrelated
jitter would add state (the previous delay) for no benefit here.

A server's Retry-After (429, 503) is a floor: the delay is ``max(jittered, retry_after)``, with
``retry_after`` first limited to the cap so a bogus header cannot park the writer for days.
``parse_retry_after`` reads both forms RFC 9110 allows (delta-seconds and HTTP-date).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import random
import re
from typing import Final

DEFAULT_INITIAL: Final = 1.0
DEFAULT_CAP: Final = 300.0
DEFAULT_MULTIPLIER: Final = 2.0

# Signed to map "-5" to 0 as asked; fractions accepted although the RFC only has digits.
_DELTA_SECONDS = re.compile(r"[+-]?\d+(?:\.\d+)?")
_MAX_EXPONENT: Final = 64  # beyond this the ceiling is the cap anyway; avoids float overflow


def parse_retry_after(
    value: str | None, now: datetime, *, cap: float = DEFAULT_CAP
) -> float | None:
    """Return the seconds a Retry-After header asks us to wait, or None if absent or garbage.

    ``now`` is the current time (aware; a naive value is taken as UTC). Dates in the past and
    negative numbers give 0; results are limited to ``cap``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # asctime form and "-0000" carry no zone; HTTP dates are GMT
            when = when.replace(tzinfo=UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    return min(max(seconds, 0.0), cap)


class Backoff:
    """Exponential backoff with full jitter; one instance per retry loop."""

    def __init__(
        self,
        initial: float = DEFAULT_INITIAL,
        cap: float = DEFAULT_CAP,
        multiplier: float = DEFAULT_MULTIPLIER,
        rand: Callable[[], float] = random.random,
    ) -> None:
        """Configure the policy; ``rand`` returns floats in [0, 1) (inject one in tests)."""
        if initial <= 0 or cap < initial or multiplier < 1:
            raise ValueError("need 0 < initial <= cap and multiplier >= 1")
        self._initial = initial
        self._cap = cap
        self._multiplier = multiplier
        self._rand = rand
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Delays handed out since the last reset (consecutive failures)."""
        return self._attempts

    @property
    def cap(self) -> float:
        """The largest delay ``next_delay`` returns."""
        return self._cap

    def ceiling(self) -> float:
        """Upper bound of the jittered delay for the next attempt."""
        exponent = min(self._attempts, _MAX_EXPONENT)
        return min(self._cap, self._initial * self._multiplier**exponent)

    def next_delay(self, retry_after: float | None = None) -> float:
        """Return how long to wait before the next attempt, and count the attempt."""
        delay = self.ceiling() * self._rand()
        self._attempts += 1
        if retry_after is not None:
            delay = max(delay, min(max(retry_after, 0.0), self._cap))
        return delay

    def reset(self) -> None:
        """Forget the failures: call after a successful write."""
        self._attempts = 0
