"""Config-entry migrations: entries made by older versions brought to the current shape.

1.1 -> 1.2: no unique id built from the URL (duplicates are found by comparing entry data); the
OpenWeatherMap key, a secret, moves from the options into the entry data; the old default title
"<database> @ <host>" becomes the readable one, "InfluxDB <database> (<host>)".
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from yarl import URL

from .const import CONF_BUCKET, CONF_DATABASE, CONF_OWM_API_KEY, DOMAIN
from .identity import default_title

_LOGGER = logging.getLogger(__name__)

MINOR_VERSION = 2


def _old_default_title(data: dict[str, Any]) -> str:
    host = URL(data[CONF_URL]).host or data[CONF_URL]
    return f"{data.get(CONF_BUCKET) or data.get(CONF_DATABASE)} @ {host}"


async def async_migrate_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    if entry.version > 1:  # made by a newer HA Ingestor: leave it alone
        return False
    if entry.minor_version < 2:
        data = dict(entry.data)
        options = dict(entry.options)
        if (key := options.pop(CONF_OWM_API_KEY, None)) is not None:
            data[CONF_OWM_API_KEY] = key
        title = entry.title
        if title == _old_default_title(data):
            taken = {
                other.title
                for other in hass.config_entries.async_entries(DOMAIN)
                if other.entry_id != entry.entry_id
            }
            title = default_title(data, taken)
        hass.config_entries.async_update_entry(
            entry,
            data=data,
            options=options,
            title=title,
            unique_id=None,
            minor_version=2,
        )
        _LOGGER.debug("Migrated %s to version 1.2", entry.title)
    return True
