"""The ``ha_ingestor.flush`` action: write everything queued now."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
import voluptuous as vol

from .const import ATTR_CONFIG_ENTRY_ID, DOMAIN, SERVICE_FLUSH

if TYPE_CHECKING:
    from .runtime import IngestorConfigEntry

FLUSH_SCHEMA = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})


def loaded_entries(hass: HomeAssistant, entry_id: str | None) -> list[IngestorConfigEntry]:
    """The entry an action names (or every loaded one); a translated error if it cannot act."""
    if entry_id is None:
        entries = [
            entry
            for entry in hass.config_entries.async_entries(DOMAIN)
            if entry.state is ConfigEntryState.LOADED
        ]
        if not entries:  # said, not done silently: an automation's author should know
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="no_entry_loaded"
            )
        return entries
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    return [entry]


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    async def flush(call: ServiceCall) -> None:
        """Every entry at once: one that cannot be written does not hold the others back."""
        entries = loaded_entries(hass, call.data.get(ATTR_CONFIG_ENTRY_ID))
        done = await asyncio.gather(*(entry.runtime_data.pipeline.flush() for entry in entries))
        if failed := [entry.title for entry, ok in zip(entries, done, strict=True) if not ok]:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="flush_incomplete",
                translation_placeholders={"title": ", ".join(failed)},
            )

    hass.services.async_register(DOMAIN, SERVICE_FLUSH, flush, schema=FLUSH_SCHEMA)
