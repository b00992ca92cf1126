"""Registry metadata (area, device, labels, platform ...) for tags and filters.

Looked up once per entity and kept until a registry says something changed, so the event
path never touches a registry. Entity registry updates invalidate one entity; device, area and
label registry updates invalidate everything (they can affect many entities).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    label_registry as lr,
)

from .const import DOMAIN
from .entity_filter import EntityPlacement

_NO_PLACEMENT = EntityPlacement()


@dataclass(frozen=True, slots=True)
class _Meta:
    tags: Mapping[str, str]
    placement: EntityPlacement


class RegistryCache:
    """Implements schema.EntityMetadata and the filter's placement lookup."""

    def __init__(self, hass: HomeAssistant, tag_keys: frozenset[str]) -> None:
        self._hass = hass
        self._tag_keys = tag_keys
        self._cache: dict[str, _Meta] = {}
        self._version = 0
        self._listeners: list[Callable[[str | None], None]] = []

    @property
    def version(self) -> int:
        return self._version

    def tags(self, entity_id: str) -> Mapping[str, str]:
        return self._get(entity_id).tags

    def placement(self, entity_id: str) -> EntityPlacement:
        return self._get(entity_id).placement

    def add_listener(self, listener: Callable[[str | None], None]) -> None:
        """Called with an entity id (one entity changed) or None (anything may have)."""
        self._listeners.append(listener)

    def _get(self, entity_id: str) -> _Meta:
        meta = self._cache.get(entity_id)
        if meta is None:
            meta = self._cache[entity_id] = self._lookup(entity_id)
        return meta

    def _lookup(self, entity_id: str) -> _Meta:
        entry = er.async_get(self._hass).async_get(entity_id)
        if entry is None:
            return _Meta({}, _NO_PLACEMENT)
        device = dr.async_get(self._hass).async_get(entry.device_id) if entry.device_id else None
        area_id = entry.area_id or (device.area_id if device else None)
        values: dict[str, str | None] = {"platform": entry.platform}
        if area_id and (area := ar.async_get(self._hass).async_get_area(area_id)):
            values["area"] = area.name
        if device is not None:
            values["device"] = device.name_by_user or device.name
            values["manufacturer"] = device.manufacturer
            values["model"] = device.model
        if entry.labels:
            labels = lr.async_get(self._hass)
            names = sorted(
                label.name
                for label_id in entry.labels
                if (label := labels.async_get_label(label_id))
            )
            values["labels"] = ",".join(names)
        if entry.entity_category is not None:
            values["entity_category"] = entry.entity_category.value
        tags = {k: v for k, v in values.items() if v and k in self._tag_keys}
        placement = EntityPlacement(
            area_id=area_id,
            label_ids=frozenset(entry.labels),
            own=entry.platform == DOMAIN,
        )
        return _Meta(tags, placement)

    @callback
    def async_start(self) -> Callable[[], None]:
        """Listen for registry changes; returns the unsubscribe callable."""
        bus = self._hass.bus
        unsubs = [
            bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, self._entity_updated),
            bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, self._all_updated),
            bus.async_listen(ar.EVENT_AREA_REGISTRY_UPDATED, self._all_updated),
            bus.async_listen(lr.EVENT_LABEL_REGISTRY_UPDATED, self._all_updated),
        ]

        @callback
        def unsubscribe() -> None:
            for unsub in unsubs:
                unsub()

        return unsubscribe

    @callback
    def _entity_updated(self, event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        data = event.data
        changed = [data["entity_id"]]
        if data["action"] == "update" and (old := data.get("old_entity_id")):
            changed.append(old)
        for entity_id in changed:
            self._cache.pop(entity_id, None)
            for listener in self._listeners:
                listener(entity_id)

    @callback
    def _all_updated(self, event: Event[Any]) -> None:
        self._cache.clear()
        self._version += 1
        for listener in self._listeners:
            listener(None)
