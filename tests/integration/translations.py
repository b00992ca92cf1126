"""A runtime check that everything the integration shows a user during a test is translated.

Instead of reading the source for keys, it watches what actually happens: every flow result
(form errors, abort reasons, steps, fields, menu options, selector options), every exception
the integration constructs, every repair issue and every entity it registers. Each key must
exist in strings.json and its placeholders must be provided; so must the name of every attribute
an entity of ours writes, and its value where strings.json lists the values. The conftest's autouse fixture
fails the test that produced a missing one. (The idea is HA core's ``check_translations``.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import contextlib
import json
from pathlib import Path
import string
import sys
from typing import Any
from unittest.mock import patch

from homeassistant import data_entry_flow
from homeassistant.components.repairs import RepairsFlowManager
from homeassistant.config_entries import ConfigEntriesFlowManager, OptionsFlowManager
from homeassistant.data_entry_flow import FlowHandler, FlowManager, FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.selector import SelectSelector
import voluptuous as vol

from custom_components.ha_ingestor.const import DOMAIN

INTEGRATION = Path(__file__).resolve().parents[2] / "custom_components" / DOMAIN
_HA = str(Path(sys.modules["homeassistant"].__file__ or "").parent)


class TranslationCheck:
    """Collects what a test made the integration show, and what strings.json lacks of it."""

    def __init__(self) -> None:
        self.strings: dict[str, Any] = json.loads(
            (INTEGRATION / "strings.json").read_text(encoding="utf-8")
        )
        self.problems: list[str] = []

    def _text(self, key: str) -> Any:
        node: Any = self.strings
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def need(self, key: str, placeholders: Mapping[str, Any] | None = None) -> None:
        """``key`` (dotted, in strings.json) must be a string whose placeholders are given."""
        text = self._text(key)
        if not isinstance(text, str):
            self._add(f"strings.json lacks {key}")
            return
        for _, name, _, _ in string.Formatter().parse(text):
            if name and name not in (placeholders or {}):
                self._add(f"{key} uses {{{name}}}, which is not provided")

    def _add(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    # ------------------------------------------------------------------ flows

    def flow_result(
        self, manager: FlowManager, flow: FlowHandler, result: Mapping[str, Any]
    ) -> None:
        if result["type"] in (FlowResultType.CREATE_ENTRY, FlowResultType.SHOW_PROGRESS_DONE):
            # Nothing to show (and a finished repair flow's issue may be gone already).
            return
        found = self._flow_prefix(manager, flow)
        if found is None:
            return
        prefix, shared = found
        placeholders = {**shared, **(result.get("description_placeholders") or {})}
        kind = result["type"]
        if kind is FlowResultType.ABORT:
            self.need(f"{prefix}.abort.{result['reason']}", placeholders)
        elif kind is FlowResultType.FORM:
            step = f"{prefix}.step.{result['step_id']}"
            self.need(f"{step}.title", placeholders)
            for error in (result.get("errors") or {}).values():
                self.need(f"{prefix}.error.{error}", placeholders)
            if self._text(f"{step}.description") is not None:
                self.need(f"{step}.description", placeholders)
            if (schema := result.get("data_schema")) is not None:
                self._fields(step, schema)
        elif kind is FlowResultType.SHOW_PROGRESS:
            self.need(f"{prefix}.progress.{result['progress_action']}", placeholders)
        elif kind is FlowResultType.MENU:
            self.need(f"{prefix}.step.{result['step_id']}.title", placeholders)
            options = result["menu_options"]
            if not isinstance(options, Mapping):  # a mapping brings its own labels
                for option in options:
                    self.need(f"{prefix}.step.{result['step_id']}.menu_options.{option}")

    def _flow_prefix(
        self, manager: FlowManager, flow: FlowHandler
    ) -> tuple[str, Mapping[str, str]] | None:
        """Where the flow's strings are, and placeholders every step gets (a repair flow's
        dialog also fills in its issue's placeholders)."""
        if isinstance(manager, ConfigEntriesFlowManager) and flow.handler == DOMAIN:
            return "config", {}
        if isinstance(manager, OptionsFlowManager):
            entry = manager.hass.config_entries.async_get_entry(str(flow.handler))
            return ("options", {}) if entry is not None and entry.domain == DOMAIN else None
        if isinstance(manager, RepairsFlowManager) and flow.handler == DOMAIN:
            issue_id = getattr(flow, "issue_id", None)
            issue = ir.async_get(manager.hass).async_get_issue(DOMAIN, str(issue_id))
            if issue is None:
                self._add(f"a repair flow runs for issue {issue_id}, which does not exist")
                return None
            return f"issues.{issue.translation_key}.fix_flow", issue.translation_placeholders or {}
        return None

    def _fields(self, step: str, schema: vol.Schema) -> None:
        """Every field of a form has a label; a section its name and its fields' labels."""
        for marker, value in schema.schema.items():
            name = str(marker.schema if isinstance(marker, vol.Marker) else marker)
            if isinstance(value, data_entry_flow.section):
                self.need(f"{step}.sections.{name}.name")
                for inner, inner_value in value.schema.schema.items():
                    self.need(f"{step}.sections.{name}.data.{inner}")
                    self._selector(inner_value)
            else:
                self.need(f"{step}.data.{name}")
                self._selector(value)

    def _selector(self, value: Any) -> None:
        if not isinstance(value, SelectSelector):
            return
        key = value.config.get("translation_key")
        if key is None:
            return
        for option in value.config["options"]:
            option_value = option["value"] if isinstance(option, Mapping) else option
            self.need(f"selector.{key}.options.{option_value}")

    # ------------------------------------------------------------------ the rest

    def exception(self, err: HomeAssistantError) -> None:
        if err.translation_domain == DOMAIN and err.translation_key is not None:
            self.need(f"exceptions.{err.translation_key}.message", err.translation_placeholders)
        elif err.translation_key is None and (where := _our_caller()) is not None:
            self._add(f"{where} raises {type(err).__name__} without a translation_key")

    def issue(self, entry: ir.IssueEntry) -> None:
        if entry.domain != DOMAIN or entry.translation_key is None:
            return
        self.need(f"issues.{entry.translation_key}.title", entry.translation_placeholders)
        if not entry.is_fixable:  # a fixable one describes itself in its repair flow
            self.need(f"issues.{entry.translation_key}.description", entry.translation_placeholders)

    def entity(self, entry: er.RegistryEntry) -> None:
        if entry.platform != DOMAIN:
            return
        if entry.translation_key is None:
            if entry.original_name is not None:
                self._add(f"{entry.entity_id} has a name but no translation_key")
            return
        base = f"entity.{entry.domain}.{entry.translation_key}"
        if self._text(f"{base}.name") is None:
            self._add(f"strings.json lacks {base}.name")
        for option in (entry.capabilities or {}).get("options") or ():
            self.need(f"{base}.state.{option}")

    def entity_state(self, entity: Entity) -> None:
        """The attributes of a state one of our entities wrote: names, and listed values."""
        platform = entity.platform
        if platform is None or platform.platform_name != DOMAIN or not entity.translation_key:
            return
        base = f"entity.{platform.domain}.{entity.translation_key}.state_attributes"
        for name, value in (entity.extra_state_attributes or {}).items():
            self.need(f"{base}.{name}.name")
            states = self._text(f"{base}.{name}.state")
            if isinstance(states, dict) and str(value) not in states:
                self._add(f"strings.json lacks {base}.{name}.state.{value}")


def _our_caller() -> str | None:
    """file:line in the integration that constructs the exception being initialised, if any."""
    # 0: here, 1: TranslationCheck.exception, 2: the __init__ wrapper, 3: who called it
    frame = sys._getframe(3)
    while (
        frame is not None
        and frame.f_code.co_name == "__init__"
        and frame.f_code.co_filename.startswith(_HA)
    ):
        frame = frame.f_back  # an HA subclass's __init__ (UpdateFailed...) calling ours
    if frame is None or not frame.f_code.co_filename.startswith(str(INTEGRATION)):
        return None
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"


@contextlib.contextmanager
def watching(check: TranslationCheck) -> Iterator[None]:
    """Feed ``check`` with every flow result, exception, issue and entity while inside."""
    handle_step = FlowManager._async_handle_step
    init_error = HomeAssistantError.__init__
    create_issue = ir.IssueRegistry.async_get_or_create
    create_entity = er.EntityRegistry.async_get_or_create
    write_state = Entity._async_write_ha_state

    async def _handle_step(self: FlowManager, flow: FlowHandler, *args: Any) -> Any:
        result = await handle_step(self, flow, *args)
        check.flow_result(self, flow, result)
        return result

    def _init_error(self: HomeAssistantError, *args: Any, **kwargs: Any) -> None:
        init_error(self, *args, **kwargs)
        check.exception(self)

    def _create_issue(self: ir.IssueRegistry, *args: Any, **kwargs: Any) -> ir.IssueEntry:
        entry = create_issue(self, *args, **kwargs)
        check.issue(entry)
        return entry

    def _create_entity(self: er.EntityRegistry, *args: Any, **kwargs: Any) -> er.RegistryEntry:
        entry = create_entity(self, *args, **kwargs)
        check.entity(entry)
        return entry

    def _write_state(self: Entity) -> None:
        write_state(self)
        check.entity_state(self)

    with (
        patch.object(FlowManager, "_async_handle_step", _handle_step),
        patch.object(Entity, "_async_write_ha_state", _write_state),
        patch.object(HomeAssistantError, "__init__", _init_error),
        patch.object(ir.IssueRegistry, "async_get_or_create", _create_issue),
        patch.object(er.EntityRegistry, "async_get_or_create", _create_entity),
    ):
        yield
