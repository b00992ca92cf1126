"""The runtime translation check catches what it is for, and the actions are described."""

from __future__ import annotations

from typing import Any

from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, issue_registry as ir
import pytest
import voluptuous as vol
import yaml

from custom_components.ha_ingestor.const import DOMAIN
from tests.helpers import async_wait_until, closed_port_url, setup_entry, v1_entry

from .translations import INTEGRATION, TranslationCheck


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every text of a translations file, with its dotted key."""
    if isinstance(node, dict):
        return [pair for key, value in node.items() for pair in _strings(value, f"{path}.{key}")]
    return [(path.lstrip("."), node)] if isinstance(node, str) else []


@pytest.mark.parametrize("name", ["strings.json", "translations/en.json"])
def test_strings_pass_hassfest_value_rule(name: str) -> None:
    """hassfest refuses a string that looks like HTML (`<measurement>` did, in backquotes)."""
    texts = _strings(yaml.safe_load((INTEGRATION / name).read_text(encoding="utf-8")))
    assert len(texts) > 100
    refused = []
    for key, text in texts:
        try:
            cv.string_with_no_html(text)
        except vol.Invalid:
            refused.append(key)
    assert not refused


def _drop(check: TranslationCheck, key: str) -> None:
    """Pretend strings.json lacks ``key`` (dotted)."""
    *parents, last = key.split(".")
    node: Any = check.strings
    for part in parents:
        node = node[part]
    del node[last]


async def test_a_missing_flow_string_fails_the_test(
    hass: HomeAssistant, check_translations: TranslationCheck, socket_enabled: None
) -> None:
    _drop(check_translations, "config.error.cannot_connect")
    _drop(check_translations, "config.step.user.menu_options.influxdb_v1")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "influxdb_v1"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": closed_port_url(), "database": "x"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert check_translations.problems == [
        "strings.json lacks config.step.user.menu_options.influxdb_v1",
        "strings.json lacks config.error.cannot_connect",
    ]
    check_translations.problems.clear()  # the point of this test: do not fail it


def test_exceptions_need_their_message_and_placeholders(
    check_translations: TranslationCheck,
) -> None:
    ServiceValidationError(translation_domain=DOMAIN, translation_key="entry_not_found")
    HomeAssistantError(translation_domain=DOMAIN, translation_key="no_such_key")
    assert check_translations.problems == [
        "exceptions.entry_not_found.message uses {entry_id}, which is not provided",
        "strings.json lacks exceptions.no_such_key.message",
    ]
    check_translations.problems.clear()


async def test_issues_and_entities_are_checked(
    hass: HomeAssistant, check_translations: TranslationCheck, socket_enabled: None
) -> None:
    ir.async_create_issue(
        hass, DOMAIN, "x", is_fixable=False, severity=ir.IssueSeverity.ERROR, translation_key="nope"
    )
    _drop(check_translations, "entity.binary_sensor")
    _drop(check_translations, "entity.sensor.pending.state_attributes.spooled")
    await setup_entry(hass, v1_entry(closed_port_url(), "db"))
    assert "strings.json lacks issues.nope.title" in check_translations.problems
    assert any(
        p.startswith("strings.json lacks entity.binary_sensor.")
        for p in check_translations.problems
    )
    await async_wait_until(
        lambda: (
            "strings.json lacks entity.sensor.pending.state_attributes.spooled.name"
            in check_translations.problems
        ),
        "the Pending sensor's attributes written",
    )
    check_translations.problems.clear()
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)


async def test_actions_are_described_and_translated(
    hass: HomeAssistant, check_translations: TranslationCheck, socket_enabled: None
) -> None:
    entry = v1_entry(closed_port_url(), "db")
    await setup_entry(hass, entry)
    described: dict[str, Any] = (
        yaml.safe_load((INTEGRATION / "services.yaml").read_text(encoding="utf-8")) or {}
    )
    registered = set(hass.services.async_services_for_domain(DOMAIN))
    assert registered == set(described)
    for service, spec in described.items():
        check_translations.need(f"services.{service}.name")
        check_translations.need(f"services.{service}.description")
        for field in (spec or {}).get("fields") or {}:
            check_translations.need(f"services.{service}.fields.{field}.name")
            check_translations.need(f"services.{service}.fields.{field}.description")
    await hass.config_entries.async_unload(entry.entry_id)


def test_untranslated_raise_in_the_integration_is_reported(
    check_translations: TranslationCheck,
) -> None:
    # Code compiled as if it were a module of the integration.
    fake_module = str(INTEGRATION / "fake_module.py")
    code = compile("HomeAssistantError('plain text')", fake_module, "exec")
    eval(code, {"HomeAssistantError": HomeAssistantError})
    assert check_translations.problems == [
        "fake_module.py:1 raises HomeAssistantError without a translation_key"
    ]
    check_translations.problems.clear()
