"""Runtime check that what a flow shows has an English text: the strings HA's frontend would
look up for a flow result (title, fields, sections, menu options, errors, abort reason) and for
the select options of its selectors, loaded through HA's own translation loader."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations
import voluptuous as vol

from custom_components.ha_ingestor.const import DOMAIN

PREFIX = f"component.{DOMAIN}"


def _fields(schema: vol.Schema) -> list[tuple[str | None, str, Any]]:
    """(section, field, selector) for every field, sections opened."""
    found: list[tuple[str | None, str, Any]] = []
    for marker, value in schema.schema.items():
        key = str(marker.schema if isinstance(marker, vol.Marker) else marker)
        inner = getattr(value, "schema", None)
        if inner is not None and hasattr(value, "options") and isinstance(inner, vol.Schema):
            found.extend((key, field, sel) for _, field, sel in _fields(inner))
        else:
            found.append((None, key, value))
    return found


async def assert_translated(hass: HomeAssistant, result: Mapping[str, Any], flow: str) -> None:
    """`flow` is "config" or "options"; fails listing every missing text."""
    texts = await async_get_translations(hass, "en", flow, [DOMAIN])
    selectors = await async_get_translations(hass, "en", "selector", [DOMAIN])
    base = f"{PREFIX}.{flow}"
    missing: list[str] = []

    def need(key: str) -> None:
        if not texts.get(key) and not selectors.get(key):
            missing.append(key)

    kind = result["type"]
    if kind is FlowResultType.ABORT:
        need(f"{base}.abort.{result['reason']}")
    elif kind is FlowResultType.MENU:
        step = f"{base}.step.{result['step_id']}"
        need(f"{step}.title")
        options = result["menu_options"]
        for option in options if isinstance(options, list) else options.keys():
            need(f"{step}.menu_options.{option}")
    elif kind is FlowResultType.FORM:
        step = f"{base}.step.{result['step_id']}"
        need(f"{step}.title")
        for section, field, selector in _fields(result["data_schema"]):
            where = f"{step}.sections.{section}" if section else step
            if section:
                need(f"{where}.name")
            need(f"{where}.data.{field}")
            config = getattr(selector, "config", {})
            if (translation_key := config.get("translation_key")) is not None:
                for option in config.get("options", []):
                    value = option["value"] if isinstance(option, Mapping) else option
                    need(f"{PREFIX}.selector.{translation_key}.options.{value}")
        for error in (result.get("errors") or {}).values():
            need(f"{base}.error.{error}")
    assert not missing, f"untranslated: {missing}"
