"""The README's Lovelace card is the one scripts/develop prints, for the ids Home Assistant forms
from the default device name (has_entity_name: slug of device name + entity name)."""

from __future__ import annotations

import json
from pathlib import Path
import re
import sys

from homeassistant.util import slugify

from custom_components.ha_ingestor.identity import default_title

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "develop_config"))
import helper  # noqa: E402


def _readme_card() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Diagnostic entities") :]
    match = re.search(r"```yaml\n(type: entities\n.*?)```", section, re.S)
    assert match, "the README's Diagnostic entities section has no card"
    return match[1]


def test_readme_card_is_the_printed_card_for_the_default_title() -> None:
    title = default_title({"url": "http://192.168.1.10:8086", "database": "home_assistant"})
    assert title == "InfluxDB home_assistant (192.168.1.10)"
    assert _readme_card() == helper.card_yaml(helper.default_entity_ids(title))


def test_ids_are_formed_as_home_assistant_forms_them() -> None:
    strings = json.loads((ROOT / "custom_components" / "ha_ingestor" / "strings.json").read_text())[
        "entity"
    ]
    title = "InfluxDB home_assistant (192.168.1.10)"
    ids = helper.default_entity_ids(title)
    for platform, key, label in helper.CARD_ROWS:
        assert strings[platform][key]["name"] == label  # each row reads as its entity's name
        assert ids[key] == f"{platform}.{slugify(f'{title} {strings[platform][key]["name"]}')}"


def test_dev_entry_has_the_integrations_default_title() -> None:
    assert (
        default_title({"url": "http://127.0.0.1:8086", "database": helper.DATABASE})
        == helper.DEV_TITLE
    )
