"""Event-bus listeners: filter, encode and queue, all inside an @callback.

This is the only code that runs per event on Home Assistant's loop, so it does a dict lookup
(the filter's cached decision), one cached encode and a deque append; no I/O, no awaits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
import logging
from typing import Any, Final

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback

from .entity_filter import EntityFilter, Verdict
from .schema import CoreCompatEncoder, EventEncoder, StateEncoder, timestamp_us
from .stats import Stats

_LOGGER = logging.getLogger(__name__)

# Lines a capture holds across a reload, the pipeline's last-resort cap on its own queue.
HOLD_LIMIT: Final = 1_000_000

# Why a received state change was not written; the diagnostics download explains each count.
FILTERED_REASONS: dict[str, str] = {
    "excluded_by_filters": "the entity is left out by the include/exclude rules in the options",
    "entity_removed": "the entity was removed (a state change with no new state)",
    "state_not_written": (
        "the core-compatible schema writes no point for this state (unknown, unavailable,"
        " empty, or nothing left to write)"
    ),
}


class Capture:
    """The bus listeners of one entry. Each encoded line goes to the sink, normally the
    pipeline; across a reload the old capture holds lines in memory until the new one takes
    over (`hold` / `hand_over`), so no event fired in between is lost."""

    def __init__(  # noqa: PLR0917 - built once, by the runtime
        self,
        hass: HomeAssistant,
        event_types: Iterable[str],
        entity_filter: EntityFilter,
        encoder: StateEncoder | CoreCompatEncoder,
        event_encoder: EventEncoder,
        stats: Stats,
        sink: Callable[[str], None],
    ) -> None:
        self._hass = hass
        self._event_types = tuple(dict.fromkeys(event_types))
        self._filter = entity_filter
        self._verdicts = entity_filter.verdicts  # its cache, read first: no call per event
        self._encoder = encoder
        self._event_encoder = event_encoder
        self.stats = stats
        self._sink = sink
        self._unsubs: list[Callable[[], None]] = []
        self._logged_errors: set[str] = set()
        self.held: deque[str] = deque()

    @property
    def listening(self) -> bool:
        return bool(self._unsubs)

    @callback
    def start(self) -> None:
        """Subscribe to the chosen event types."""
        for event_type in self._event_types:
            if event_type == EVENT_STATE_CHANGED:
                self._unsubs.append(
                    self._hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_state_changed)
                )
            else:
                self._unsubs.append(self._hass.bus.async_listen(event_type, self._on_event))

    @callback
    def stop(self) -> None:
        """Unsubscribe (idempotent)."""
        while self._unsubs:
            self._unsubs.pop()()

    @callback
    def hold(self) -> None:
        """Keep listening, but keep the lines here: the entry is reloading. Past HOLD_LIMIT
        a line is dropped (``queue_full``), as the pipeline's full queue drops it."""
        held, dropped, limit = self.held, self.stats.dropped, HOLD_LIMIT

        def keep(line: str) -> None:
            if len(held) < limit:
                held.append(line)
            else:
                dropped["queue_full"] += 1

        self._sink = keep

    @callback
    def hand_over(self, sink: Callable[[str], None]) -> None:
        """Stop, and give what was held to the next capture's sink, oldest first.

        Call right after the next capture started, without awaiting in between: then every
        event reached exactly one of the two.
        """
        self.stop()
        while self.held:
            sink(self.held.popleft())

    def _encode_failed(self, what: str, err: Exception) -> None:
        self.stats.dropped["encode_error"] += 1
        if what not in self._logged_errors:  # once per entity or event type, not per event
            self._logged_errors.add(what)
            _LOGGER.warning("Could not encode %s, dropped it: %r", what, err)

    @callback
    def _on_state_changed(self, event: Event[EventStateChangedData]) -> None:
        data = event.data
        entity_id = data["entity_id"]
        verdict = self._verdicts.get(entity_id)
        if verdict is None:
            verdict = self._filter(entity_id)
        new_state = data["new_state"]
        if verdict is not Verdict.INGEST or new_state is None:
            self._not_ingested(verdict, removed=new_state is None)
            return
        self.stats.received += 1
        try:
            line = self._encoder.encode(
                entity_id,
                new_state.state,
                new_state.attributes,
                timestamp_us(event.time_fired_timestamp),
            )
        except Exception as err:
            self._encode_failed(entity_id, err)
            return
        if line is None:
            self._filtered("state_not_written")
            return
        self._sink(line)

    def _not_ingested(self, verdict: Verdict, *, removed: bool) -> None:
        """Count a state change that is not encoded (our own entities are not counted)."""
        if verdict is Verdict.OWN:  # our own diagnostics: not the user's data
            return
        self.stats.received += 1
        self._filtered("entity_removed" if removed else "excluded_by_filters")

    def _filtered(self, reason: str) -> None:
        stats = self.stats
        stats.filtered += 1
        stats.filtered_reasons[reason] += 1

    @callback
    def _on_event(self, event: Event[Mapping[str, Any]]) -> None:
        self.stats.received += 1
        event_type = str(event.event_type)
        try:
            line = self._event_encoder(
                event_type, event.data, timestamp_us(event.time_fired_timestamp)
            )
        except Exception as err:  # one odd event must never stop ingestion
            self._encode_failed(event_type, err)
            return
        self._sink(line)
