"""InfluxDB connectivity as a diagnostic binary sensor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import IngestorEntity
from .runtime import IngestorConfigEntry

PARALLEL_UPDATES = 0

CONNECTIVITY = BinarySensorEntityDescription(
    key="connectivity",
    translation_key="connectivity",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: IngestorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    async_add_entities([ConnectivitySensor(entry, CONNECTIVITY)])


class ConnectivitySensor(IngestorEntity, BinarySensorEntity):
    _unrecorded_attributes = frozenset({"last_error"})

    @property
    def is_on(self) -> bool | None:
        return self.coordinator.data.connected

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """The last write error, only while there is one (healthy: no "Last error: Unknown")."""
        if (error := self.coordinator.data.last_error) is None:
            return None
        return {"last_error": error}
