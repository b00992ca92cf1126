"""The ``ha_ingestor.backfill`` and ``ha_ingestor.cancel_backfill`` actions.

Everything a user can get wrong is checked before a job starts, each with a translated
`ServiceValidationError`: the recorder not loaded, end before start, a window the recorder
no longer holds, an unknown entity, nothing selected, a backfill already running.
"""

from __future__ import annotations

from datetime import datetime
import importlib
import time
from typing import TYPE_CHECKING, Any

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, entity_registry as er, service
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .backfill_plan import BackfillJob
from .const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_END,
    ATTR_START,
    DOMAIN,
    SERVICE_BACKFILL,
    SERVICE_CANCEL_BACKFILL,
)
from .history import async_unrecorded, oldest_kept, recorder_loaded
from .services import loaded_entries

if TYPE_CHECKING:
    from .runtime import IngestorConfigEntry

BACKFILL_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_START): cv.datetime,
        vol.Optional(ATTR_END): cv.datetime,
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        **cv.ENTITY_SERVICE_FIELDS,
    }
)
TARGET_KEYS = ("device_id", "area_id", "floor_id", "label_id")
CANCEL_SCHEMA = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})


def _selected_entities(hass: HomeAssistant, call: ServiceCall) -> tuple[set[str], set[str]]:
    """(explicitly named, reached through devices/areas/floors/labels) entity ids."""
    # Newer Home Assistant moved this to helpers.target; 2026.10 has no old one in service.
    try:
        target: Any = importlib.import_module("homeassistant.helpers.target")
    except ImportError:
        selected = service.async_extract_referenced_entity_ids(hass, call)
    else:
        selection = getattr(target, "TargetSelection", None) or target.TargetSelectorData
        selected = target.async_extract_referenced_entity_ids(hass, selection(call.data))
    return set(selected.referenced), set(selected.indirectly_referenced)


def _has_target(call: ServiceCall) -> bool:
    return any(call.data.get(key) for key in (ATTR_ENTITY_ID, *TARGET_KEYS))


async def _job_for(
    hass: HomeAssistant, entry: IngestorConfigEntry, call: ServiceCall, start: float, end: float
) -> BackfillJob:
    runtime = entry.runtime_data.history
    if runtime.backfiller.running:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="backfill_running",
            translation_placeholders={"title": entry.title},
        )
    if _has_target(call):
        named, indirect = _selected_entities(hass, call)
        registry = er.async_get(hass)
        unknown = [
            entity_id
            for entity_id in named
            if hass.states.get(entity_id) is None and registry.async_get(entity_id) is None
        ]
        if unknown and (unknown := await async_unrecorded(hass, unknown)):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_entity",
                translation_placeholders={"entity_ids": ", ".join(sorted(unknown))},
            )
        entity_ids = named | indirect
    else:  # the entry's own filters, over every entity Home Assistant knows
        known = set(hass.states.async_entity_ids()) | set(er.async_get(hass).entities)
        entity_ids = {entity_id for entity_id in known if runtime.wanted(entity_id)}
    if not entity_ids:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_entities")
    return BackfillJob(start=start, end=end, entity_ids=sorted(entity_ids))


def _timestamp(value: datetime) -> float:
    """Unix seconds; a date near year 1 or 9999 can leave the range once the time zone is
    applied (OverflowError), which is the user's input, not a crash."""
    try:
        return dt_util.as_utc(value).timestamp()
    except (OverflowError, ValueError) as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="backfill_date_out_of_range",
            translation_placeholders={"date": value.isoformat(sep=" ")},
        ) from err


def _window(call: ServiceCall, hass: HomeAssistant) -> tuple[float, float]:
    start = _timestamp(call.data[ATTR_START])
    now = time.time()
    end_value: datetime | None = call.data.get(ATTR_END)
    end = min(now, _timestamp(end_value)) if end_value else now
    if end <= start:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="backfill_end_before_start"
        )
    oldest = oldest_kept(hass)
    if end <= oldest:
        oldest_text = dt_util.as_local(dt_util.utc_from_timestamp(oldest)).isoformat(
            sep=" ", timespec="minutes"
        )
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="backfill_window_purged",
            translation_placeholders={"oldest": oldest_text},
        )
    return start, end


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    async def backfill(call: ServiceCall) -> None:
        if not recorder_loaded(hass):
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="recorder_not_loaded"
            )
        start, end = _window(call, hass)
        entries = loaded_entries(hass, call.data.get(ATTR_CONFIG_ENTRY_ID))
        jobs = [(entry, await _job_for(hass, entry, call, start, end)) for entry in entries]
        for entry, job in jobs:
            await entry.runtime_data.history.backfiller.async_start(job)

    async def cancel_backfill(call: ServiceCall) -> None:
        for entry in loaded_entries(hass, call.data.get(ATTR_CONFIG_ENTRY_ID)):
            await entry.runtime_data.history.backfiller.async_cancel()

    hass.services.async_register(DOMAIN, SERVICE_BACKFILL, backfill, schema=BACKFILL_SCHEMA)
    hass.services.async_register(
        DOMAIN, SERVICE_CANCEL_BACKFILL, cancel_backfill, schema=CANCEL_SCHEMA
    )
