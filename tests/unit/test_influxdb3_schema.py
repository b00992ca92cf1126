"""Our points never break InfluxDB 3's schema rules (property test, both schema modes).

InfluxDB 3 stores tags and fields as columns of one table: a tag and a field cannot share a
name, a column keeps its type, and a table's tag columns are set by what is written to it. So:
whatever the attributes, registry metadata and event data, every line is accepted by the fake
InfluxDB 3's schema check (tests/fake_influxdb3.py, which follows InfluxDB 3's schema-design
documentation), and tag keys come only from the schema's fixed set, never from data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings, strategies as st

from custom_components.ha_ingestor.const import METADATA_TAG_KEYS
from custom_components.ha_ingestor.schema import (
    CORE_TAG_KEYS,
    TAG_KEYS,
    CoreCompatEncoder,
    SchemaOptions,
    SkipCounter,
    StateEncoder,
    encode_event,
)
from tests.fake_influxdb3 import FakeInfluxDB3, Table, parse_line

# Attribute names that are the trouble: tag names, reserved names, their _str/_num forms.
NAMES = st.one_of(
    st.sampled_from(
        [
            *sorted(TAG_KEYS),
            "value",
            "state",
            "time",
            "_x",
            "area_str",
            "domain_",
            "attr_area",
            "count",
            "model",
        ]
    ),
    st.text(min_size=1, max_size=6),
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(0, 9), max_size=2),
)
ENTITY = st.sampled_from(["sensor.a", "light.b", "group.c", "sensor.d"])
STATE = st.sampled_from(["1.5", "on", "off", "text", "unknown", "", "3"])


class Metadata:
    """Registry metadata that differs per entity (some have an area, some do not)."""

    version = 0

    def __init__(self, tags: Mapping[str, Mapping[str, str]]) -> None:
        self._tags = tags

    def tags(self, entity_id: str) -> Mapping[str, str]:
        return self._tags.get(entity_id, {})


METADATA = st.dictionaries(
    ENTITY,
    st.dictionaries(st.sampled_from(METADATA_TAG_KEYS), st.text(min_size=1, max_size=4)),
)
CHANGES = st.lists(
    st.tuples(ENTITY, STATE, st.dictionaries(NAMES, VALUES, max_size=6)), min_size=1, max_size=25
)
EVENTS = st.lists(
    st.tuples(st.sampled_from(["call_service", "zha_event"]), st.dictionaries(NAMES, VALUES)),
    max_size=8,
)


def accept_all(lines: list[str], types: bool = True) -> list[str]:
    """Run lines through InfluxDB 3's schema check; the reasons for any that it refuses
    (column type changes too, unless `types` is False)."""
    fake = FakeInfluxDB3()
    tables: dict[tuple[str, str], Table] = {}
    refused = []
    for line in lines:
        row = parse_line(line, 1_000, 0)
        reason = fake._check_schema("db", row, tables)
        if reason is not None and (types or "invalid column type" not in reason):
            refused.append(f"{reason}: {line}")
    return refused


def tag_keys(line: str) -> set[str]:
    row = parse_line(line, 1_000, 0)
    return set(row.tags)


@settings(max_examples=100)
@given(CHANGES, METADATA, EVENTS, st.booleans())
def test_default_schema_never_trips_influxdb3(
    changes: list[tuple[str, str, dict[str, Any]]],
    metadata: dict[str, dict[str, str]],
    events: list[tuple[str, dict[str, Any]]],
    weather: bool,
) -> None:
    skips = SkipCounter()
    encoder = StateEncoder(SchemaOptions(), Metadata(metadata), skips)
    if weather:
        encoder.set_context({"weather_condition": "rainy"}, {"outdoor_temperature": 12.5})
    lines = [encoder.encode(e, s, a, i) for i, (e, s, a) in enumerate(changes)]
    lines += [encode_event(t, d, i, skips) for i, (t, d) in enumerate(events)]
    assert accept_all(lines) == []
    for line in lines:
        assert tag_keys(line) <= TAG_KEYS


@settings(max_examples=100)
@given(CHANGES)
def test_core_compatible_schema_never_trips_influxdb3(
    changes: list[tuple[str, str, dict[str, Any]]],
) -> None:
    """Tag/field names never clash. Field types are core's rule, not ours: core writes an
    attribute as a float or a ``_str`` string by its value, so a type can change there on
    any server (the default schema exists for that reason)."""
    encoder = CoreCompatEncoder(SchemaOptions())
    lines = [
        line
        for i, (e, s, a) in enumerate(changes)
        if (line := encoder.encode(e, s, a, i)) is not None
    ]
    assert accept_all(lines, types=False) == []
    for line in lines:
        assert tag_keys(line) == CORE_TAG_KEYS


def test_the_check_itself_refuses_what_influxdb3_refuses() -> None:
    """The property above is only as good as the check: it must refuse both conflicts."""
    assert accept_all(["m,area=x value=1 1", "m area=2 2"])  # tag, then field of that name
    assert accept_all(["m value=1 1", 'm value="x" 2'])  # a column changing type
    assert accept_all(["m,t=x t=1 1"])  # both in one line
    assert accept_all(["m,t=x v=1 1", "m,u=y v=2 2"]) == []  # new tags are added


def test_core_compatible_names_change_only_for_numbers_named_like_tags() -> None:
    """A group's member list stays core's ``entity_id_str``; only a number that core would
    write as a field named ``domain`` or ``entity_id`` gets core's own collision suffix."""
    encoder = CoreCompatEncoder(SchemaOptions())
    line = encoder.encode("group.g", "on", {"entity_id": ["light.a"], "domain": 3}, 1)
    assert line == (
        "group.g,domain=group,entity_id=g "
        'state="on",value=1.0,entity_id_str="[\'light.a\']",domain_=3.0 1'
    )
