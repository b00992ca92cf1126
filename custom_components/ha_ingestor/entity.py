"""Base entity: one service device per config entry, fed by the statistics coordinator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import EntityCategory
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_API, CONF_VICTORIA_METRICS, DOMAIN, ApiKind
from .coordinator import StatsCoordinator
from .runtime import IngestorConfigEntry


def target_model(data: Mapping[str, Any]) -> str:
    """What the entry writes to, as its device's model."""
    api = data[CONF_API]
    if api == ApiKind.V3:
        return "InfluxDB 3"
    if data.get(CONF_VICTORIA_METRICS):
        return "VictoriaMetrics"
    return "InfluxDB 1.x" if api == ApiKind.V1 else "InfluxDB 2.x"


def device_info(entry: IngestorConfigEntry) -> DeviceInfo:
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        name=entry.title,
        manufacturer="HA Ingestor",
        model=target_model(entry.data),
        entry_type=DeviceEntryType.SERVICE,
    )


class IngestorEntity(CoordinatorEntity[StatsCoordinator]):
    _attr_has_entity_name = True
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, entry: IngestorConfigEntry, description: EntityDescription) -> None:
        super().__init__(entry.runtime_data.coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = device_info(entry)
