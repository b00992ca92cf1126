"""Event-bus listeners: filter, encode and queue, all inside an @callback.

This is the only code that runs per event on Home Assistant's loop, so it does a dict lookup
(the filter's cached decision), one cached encode and a deque append; no I/O, no awaits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
import logging
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback

from .entity_filter import EntityFilter
from .pipeline import Pipeline
from .schema import CoreCompatEncoder, SkipCounter, StateEncoder, encode_event, timestamp_us
from .stats import Stats

_LOGGER = logging.getLogger(__name__)


@callback
def async_listen(  # noqa: PLR0917 - internal helper, called once
    hass: HomeAssistant,
    event_types: Iterable[str],
    entity_filter: EntityFilter,
    encoder: StateEncoder | CoreCompatEncoder,
    pipeline: Pipeline,
    stats: Stats,
    skips: SkipCounter,
) -> Callable[[], None]:
    """Subscribe to the chosen event types; returns a callable that unsubscribes all."""
    submit = pipeline.submit
    encode = encoder.encode
    filtered_reasons = stats.filtered_reasons
    logged_errors: set[str] = set()

    def encode_failed(what: str, err: Exception) -> None:
        stats.dropped["encode_error"] += 1
        if what not in logged_errors:  # once per entity or event type, not per event
            logged_errors.add(what)
            _LOGGER.warning("Could not encode %s, dropped it: %r", what, err)

    @callback
    def on_state_changed(event: Event[EventStateChangedData]) -> None:
        stats.received += 1
        new_state = event.data["new_state"]
        if new_state is None:  # the entity was removed
            stats.filtered += 1
            filtered_reasons["removed"] += 1
            return
        entity_id = new_state.entity_id
        if not entity_filter(entity_id):
            stats.filtered += 1
            filtered_reasons["filter"] += 1
            return
        try:
            line = encode(
                entity_id,
                new_state.state,
                new_state.attributes,
                timestamp_us(event.time_fired_timestamp),
            )
        except Exception as err:
            encode_failed(entity_id, err)
            return
        if line is None:
            stats.filtered += 1
            filtered_reasons["state_not_written"] += 1
            return
        submit(line)

    @callback
    def on_event(event: Event[Mapping[str, Any]]) -> None:
        stats.received += 1
        event_type = str(event.event_type)
        try:
            line = encode_event(
                event_type, event.data, timestamp_us(event.time_fired_timestamp), skips
            )
        except Exception as err:  # one odd event must never stop ingestion
            encode_failed(event_type, err)
            return
        submit(line)

    unsubs: list[Callable[[], None]] = []
    for event_type in dict.fromkeys(event_types):
        if event_type == EVENT_STATE_CHANGED:
            unsubs.append(hass.bus.async_listen(EVENT_STATE_CHANGED, on_state_changed))
        else:
            unsubs.append(hass.bus.async_listen(event_type, on_event))

    @callback
    def unsubscribe() -> None:
        for unsub in unsubs:
            unsub()

    return unsubscribe
