"""Schema and line protocol rules, without a server."""

from __future__ import annotations

from collections.abc import Callable
import datetime as dt
from decimal import Decimal
from enum import IntEnum, StrEnum
import tracemalloc
from typing import Any

from hypothesis import example, given, strategies as st
import pytest

from custom_components.ha_ingestor.line_protocol import (
    MAX_STRING_BYTES,
    encode_point,
    escape_measurement,
    escape_name,
    identifier,
    mask_field_values,
    quote_string,
    series_prefix,
)
from custom_components.ha_ingestor.schema import (
    ATTRIBUTE_TAGS,
    TAG_KEYS,
    CoreCompatEncoder,
    SchemaOptions,
    SkipCounter,
    StateEncoder,
    encode_event,
    encode_value_field,
    field_name,
    state_to_number,
    timestamp_us,
)
from tests.fake_influxdb2 import field_types


class Mode(StrEnum):
    HEAT = "heat"


class Level(IntEnum):
    HIGH = 3


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a b", "a\\ b"),
        ("a,b=c", "a\\,b\\=c"),
        ("line\nbreak", "line\\ break"),
        ("back\\slash", "back\\slash"),
        ("end\\", "end/"),
        ("a\\,b", "a/\\,b"),
        ("émoji 🌡", "émoji\\ 🌡"),
    ],
)
def test_escape_name(raw: str, escaped: str) -> None:
    assert escape_name(raw) == escaped


def test_escape_measurement_keeps_equals() -> None:
    assert escape_measurement("m=1, x") == "m=1\\,\\ x"


def test_quote_string() -> None:
    assert quote_string('say "hi" \\ bye\n') == '"say \\"hi\\" \\\\ bye\n"'


def test_identifier_is_idempotent() -> None:
    for raw in ("a\\", "x\r\ny", "q\\ z"):
        assert identifier(identifier(raw)) == identifier(raw)


def test_encode_point_drops_non_finite_and_empty() -> None:
    assert encode_point("m", {"t": ""}, {"a": float("nan")}, 1) is None
    line = encode_point(
        "m", {"t": "v", "e": ""}, {"a": 1.5, "b": 2, "c": True, "d": "x", "": 1.0}, 7
    )
    assert line == 'm,t=v a=1.5,b=2i,c=true,d="x" 7'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "flag=1.0"),
        (3, "flag=3.0"),
        (Level.HIGH, "flag=3.0"),
        (Decimal("2.5"), "flag=2.5"),
        (Mode.HEAT, 'flag_str="heat"'),
        ("on", 'flag_str="on"'),
        ([1, "a"], 'flag_str="[1, \\"a\\"]"'),
        ({"k": dt.date(2024, 1, 2)}, 'flag_str="{\\"k\\": \\"2024-01-02\\"}"'),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), 'flag_str="2024-01-02T03:04:05+00:00"'),
    ],
)
def test_attribute_rule(value: Any, expected: str) -> None:
    assert encode_value_field("flag", value, SkipCounter()) == expected


def test_attribute_rule_renames_and_skips() -> None:
    skips = SkipCounter()
    assert encode_value_field("value", 1, skips) == "attr_value=1.0"
    assert encode_value_field("state", "x", skips) == 'attr_state_str="x"'
    assert encode_value_field("_private", 1, skips) == "attr__private=1.0"
    assert encode_value_field("speed_str", 4, skips) == "speed_str_num=4.0"
    assert encode_value_field("speed_str", "fast", skips) == 'speed_str_str="fast"'
    assert encode_value_field("dup", "a", skips) == 'dup_str="a"'  # not the same field
    assert encode_value_field("speed_str_num", 4, skips) == "speed_str_num_num=4.0"
    assert encode_value_field("attr_value", 1, skips) == "attr_attr_value=1.0"
    assert encode_value_field("outdoor_temperature", 1, skips) == "attr_outdoor_temperature=1.0"
    assert encode_value_field("a\nb", 1, skips) == "attr_a%0Ab=1.0"
    assert encode_value_field("x", None, skips) is None
    assert encode_value_field("x", float("inf"), skips) is None
    assert encode_value_field("x", 10**400, skips) is None
    assert encode_value_field("x", "a" * (MAX_STRING_BYTES + 1), skips) is None
    assert skips.reasons == {"non_finite": 1, "number_too_large": 1, "string_too_large": 1}
    # 100 KiB of text is skipped, 60 KiB is written
    assert encode_value_field("x", "é" * 30_000, skips) is not None


SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


@given(st.lists(st.dictionaries(st.sampled_from(["a", "a_str", "value", "b"]), SCALAR), max_size=8))
def test_a_field_name_never_changes_type(attribute_sets: list[dict[str, Any]]) -> None:
    """Across any sequence of attributes, each field name keeps one type."""
    encoder = StateEncoder(SchemaOptions())
    seen: dict[str, str] = {}
    for i, attrs in enumerate(attribute_sets):
        for state in ("1.5", "on", "text"):
            line = encoder.encode("sensor.x", state, attrs, i)
            _, types = field_types(line)
            for name, kind in types.items():
                assert seen.setdefault(name, kind) == kind


def test_state_encoder_caches_until_attributes_change() -> None:
    encoder = StateEncoder(SchemaOptions(ignore_attributes=frozenset({"icon"})))
    attrs = {"unit_of_measurement": "W", "friendly_name": "Plug", "icon": "mdi:x", "level": 2}
    assert encoder.encode("sensor.p", "12", attrs, 5) == (
        "ha_states,domain=sensor,entity_id=sensor.p,friendly_name=Plug,unit=W "
        'state="12",value=12.0,level=2.0 5'
    )
    assert encoder.encode("sensor.p", "unavailable", attrs, 6) == (
        'ha_states,domain=sensor,entity_id=sensor.p,friendly_name=Plug,unit=W state="unavailable",level=2.0 6'
    )
    changed = {**attrs, "level": 3}
    assert encoder.encode("sensor.p", "12", changed, 7).endswith("level=3.0 7")


def test_context_tags_and_fields() -> None:
    encoder = StateEncoder(SchemaOptions(include_attributes=False))
    encoder.set_context({"weather_condition": "rainy"}, {"outdoor_temperature": 4.5})
    line = encoder.encode("light.l", "on", {"brightness": 5}, 1)
    assert line == (
        "ha_states,domain=light,entity_id=light.l,weather_condition=rainy "
        'state="on",value=1.0,outdoor_temperature=4.5 1'
    )


def test_state_to_number() -> None:
    assert state_to_number("on") == 1.0
    assert state_to_number("not_home") == 0.0
    assert state_to_number("-3.25") == -3.25
    assert state_to_number("nan") is None
    assert state_to_number("inf") is None
    assert state_to_number("heat") is None


def test_timestamp_matches_datetime_rounding() -> None:
    for ts in (1700000000.123456, 1700000000.9999996, 0.5e-6, 1732700000.000001):
        expected = dt.datetime.fromtimestamp(ts, dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        assert timestamp_us(ts) == expected // dt.timedelta(microseconds=1)


def test_core_compat_encoder() -> None:
    encoder = CoreCompatEncoder(SchemaOptions())
    line = encoder.encode(
        "sensor.power", "12.5", {"unit_of_measurement": "W", "friendly_name": "P", "v": "30 W"}, 9
    )
    assert (
        line
        == 'W,domain=sensor,entity_id=power value=12.5,friendly_name_str="P",v_str="30 W",v=30.0 9'
    )
    assert encoder.encode("sensor.power", "unavailable", {}, 9) is None
    line = encoder.encode("binary_sensor.door", "on", {"value": 2}, 10)
    assert (
        line
        == 'binary_sensor.door,domain=binary_sensor,entity_id=door state="on",value=1.0,value_=2.0 10'
    )


def test_core_compat_unit_that_would_make_the_line_a_comment() -> None:
    """InfluxDB drops a line starting with "#" (after blanks) as a comment, with a 204."""
    skips = SkipCounter()
    encoder = CoreCompatEncoder(SchemaOptions(), skips)
    line = encoder.encode("sensor.pm", "7", {"unit_of_measurement": "#/0.1L"}, 9)
    # the entity id is the measurement, and the unit a field, as core writes a unit it does
    # not use as the measurement (its digits as a number too)
    assert line == (
        "sensor.pm,domain=sensor,entity_id=pm"
        ' value=7.0,unit_of_measurement_str="#/0.1L",unit_of_measurement=0.1 9'
    )
    line = encoder.encode("sensor.t", "8", {"unit_of_measurement": "\t#"}, 9)
    assert line == 'sensor.t,domain=sensor,entity_id=t value=8.0,unit_of_measurement_str="\t#" 9'
    assert skips.reasons == {"unit_starts_with_hash": 2}
    # "#" later in the unit is no comment: the unit stays the measurement
    line = encoder.encode("sensor.n", "1", {"unit_of_measurement": "n#"}, 9)
    assert line == "n#,domain=sensor,entity_id=n value=1.0 9"


def test_core_compat_line_breaks_and_time_follow_the_core_revision() -> None:
    attributes = {
        "unit_of_measurement": "k\nW",
        "note": "a\r\nb\u2028c\n",
        "time": "12:30",
        "time_": 1,
    }
    old = CoreCompatEncoder(SchemaOptions(core_schema="2025.4")).encode(
        "sensor.x", "4", attributes, 9
    )
    # as influxdb-python writes it: a line break as backslash-n; "time" stays "time"
    assert old == (
        'k\\nW,domain=sensor,entity_id=x value=4.0,note_str="a\r\\nb\u2028c\\n",'
        'time_str="12:30",time=1230.0,time_=1.0 9'
    )
    new = CoreCompatEncoder(SchemaOptions(core_schema="2026.10")).encode(
        "sensor.x", "4", attributes, 9
    )
    # 2026.10: every line break (str.splitlines) is a space; "time" moves past "time_"
    assert new == (
        'k\\ W,domain=sensor,entity_id=x value=4.0,note_str="a b c",'
        'time_str="12:30",time_=1.0,time__=1230.0 9'
    )
    state = CoreCompatEncoder(SchemaOptions()).encode("sensor.y", "one\ntwo", {}, 9)
    assert state == 'sensor.y,domain=sensor,entity_id=y state="one two" 9'


def test_event_encoding() -> None:
    skips = SkipCounter()
    line = encode_event(
        "call_service",
        {
            "domain": "light",
            "service": "turn_on",
            "service_data": {"entity_id": ["light.a"]},
            "count": 2,
        },
        3,
        skips,
    )
    assert line == (
        'ha_events,event_type=call_service count=1.0,domain_str="light",service_str="turn_on",'
        'service_data_str="{\\"entity_id\\": [\\"light.a\\"]}",attr_count=2.0 3'
    )
    line = encode_event(
        "automation_triggered", {"entity_id": "automation.x", "name": "X"}, 4, skips
    )
    assert line.startswith(
        "ha_events,domain=automation,entity_id=automation.x,event_type=automation_triggered "
    )


# Attribute names built from the pieces the type rule treats specially, plus any text.
_PIECES = st.sampled_from(
    [
        "_str",
        "_num",
        "attr_",
        "_",
        "value",
        "state",
        "time",
        "outdoor_temperature",
        "%",
        "\\",
        "\n",
        "\r",
        "\r\n",
        " ",
        ",",
        "=",
        "/",
        "x",
        "dup",
        "str",
    ]
)
NAMES = st.one_of(
    st.lists(_PIECES, min_size=1, max_size=5).map("".join),
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12),
)


@given(st.dictionaries(NAMES, st.one_of(st.floats(-1e9, 1e9), st.text(max_size=3)), max_size=8))
def test_no_two_attributes_share_a_field(attributes: dict[str, float | str]) -> None:
    """Every (attribute, kind) gets its own field, distinct from ours (state, value, the
    weather context), as InfluxDB stores the names."""
    attributes = {k: v for k, v in attributes.items() if k not in ATTRIBUTE_TAGS}
    encoder = StateEncoder(SchemaOptions(), skips=SkipCounter())
    encoder.set_context({}, {"outdoor_temperature": 21.5})
    line = encoder.encode("sensor.x", "5", attributes, 1)
    ours = ["state", "value", "outdoor_temperature"]
    # Each kind of every name, as InfluxDB stores it (an attribute may change type over time).
    stored = ours + [
        identifier(field_name(key, numeric)) for key in attributes for numeric in (True, False)
    ]
    assert len(set(stored)) == len(stored)
    assert not {field_name(key, True) for key in attributes} & TAG_KEYS  # InfluxDB 3
    for key, value in attributes.items():  # and the encoder writes each where the rule says
        assert f",{escape_name(field_name(key, isinstance(value, float)))}=" in line


def _assert_like_uncached(
    make: Callable[[SkipCounter], StateEncoder | CoreCompatEncoder],
    changes: list[tuple[str, str, dict[str, Any], bool]],
) -> None:
    """Change after change, a caching encoder writes what a new one per change writes (the
    reference caches nothing) and counts the same skips. `reuse` passes this entity's last
    attributes object again, as Home Assistant does when only the state changed."""
    cached = make(SkipCounter())
    fresh_skips = SkipCounter()
    last: dict[str, dict[str, Any]] = {}
    for i, (entity_id, state, attrs, reuse) in enumerate(changes):
        attributes = last.get(entity_id, attrs) if reuse else attrs
        last[entity_id] = attributes
        expected = make(fresh_skips).encode(entity_id, state, attributes, i)
        assert cached.encode(entity_id, state, attributes, i) == expected
        assert cached.skips.reasons == fresh_skips.reasons


STATE_KEYS = st.sampled_from(
    ["a", "a_str", "value", "b", "icon", "friendly_name", "unit_of_measurement"]
)
STATE_VALUES = st.one_of(
    SCALAR,
    st.sampled_from(
        [0.0, -0.0, 1, 1.0, True, "1", ("a", "b"), ["a", "b"], "x" * (MAX_STRING_BYTES + 1)]
    ),
    st.lists(st.text(max_size=2), max_size=2),
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["sensor.a", "light.b", "light.c"]),
            st.sampled_from(["12.5", "on", "text", "unknown"]),
            st.dictionaries(STATE_KEYS, STATE_VALUES, max_size=5),
            st.booleans(),  # the same attributes object as this entity's last change
        ),
        max_size=12,
    )
)
@example(
    [
        ("sensor.a", "on", {"friendly_name": False}, False),
        ("sensor.a", "on", {"friendly_name": 0}, False),
    ]
)
@example([("sensor.a", "on", {"a": 0.0}, False), ("sensor.a", "on", {"a": -0.0}, False)])
@example([("sensor.a", "on", {"a": [1]}, False), ("sensor.a", "on", {"a": [True]}, False)])
def test_state_encoder_cache_changes_nothing(
    changes: list[tuple[str, str, dict[str, Any], bool]],
) -> None:
    """The default encoder, whose caches span changes and entities, writes what a new encoder
    per change writes, and counts the same skips. The examples are equal dicts that encode
    differently (False and 0, 0.0 and -0.0, [1] and [True]), passed as new objects."""
    options = SchemaOptions(ignore_attributes=frozenset({"icon"}))
    _assert_like_uncached(lambda skips: StateEncoder(options, skips=skips), changes)


def test_state_encoder_keeps_no_long_values_it_has_seen() -> None:
    """An attribute with a long, ever-changing text (a forecast, a raw payload) does not pile
    up in the caches: what stays is about the entity's current line, not every value seen."""
    encoder = StateEncoder(SchemaOptions())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            encoder.encode("sensor.forecast", "ok", {"text": f"{i:05d}" + "x" * 20_000}, i)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 500_000  # one value and its field are ~40 kB; every value kept would be ~40 MB


CORE_KEYS = st.sampled_from(
    ["value", "value_", "state", "state_", "time", "time_", "domain", "unit_of_measurement", "a"]
)
CORE_VALUES = st.one_of(
    SCALAR,
    st.sampled_from(["12", "1,234.5", "3 W", "nan", "inf", "x" * (MAX_STRING_BYTES + 1), "a\nb"]),
    st.sampled_from([0.0, -0.0, 1, True, [1], [True]]),
)
CORE_STATES = st.sampled_from(
    ["12.5", "nan", "on", "off", "text", "unknown", "", "line\nbreak", "y" * (MAX_STRING_BYTES + 1)]
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["sensor.a", "light.b"]),
            CORE_STATES,
            st.dictionaries(CORE_KEYS, CORE_VALUES, max_size=5),
            st.booleans(),  # the same attributes object as this entity's last change
        ),
        max_size=12,
    ),
    st.sampled_from(["2025.4", "2026.10"]),
)
@example([("sensor.a", "on", {"a": 0.0}, False), ("sensor.a", "on", {"a": -0.0}, False)], "2026.10")
@example(
    [("sensor.a", "on", {"a": [1]}, False), ("sensor.a", "on", {"a": [True]}, False)], "2026.10"
)
def test_core_compat_cache_changes_nothing(
    changes: list[tuple[str, str, dict[str, Any], bool]], core_schema: str
) -> None:
    """The cached core-compatible encoder writes what an encoder that caches nothing (a new
    one per change) writes, and counts the same skips, change after change."""
    options = SchemaOptions(core_schema=core_schema)  # type: ignore[arg-type]
    _assert_like_uncached(lambda skips: CoreCompatEncoder(options, skips), changes)


def test_flat_strings_write_line_breaks_as_spaces_and_only_in_strings() -> None:
    """For VictoriaMetrics (SchemaOptions.flat_strings): no raw line break in a line."""
    attributes = {"notes": "one\ntwo\r\nthree\rfour", "friendly_name": "A\nB"}
    flat = StateEncoder(SchemaOptions(flat_strings=True))
    line = flat.encode("sensor.x", "up\ndown", attributes, 1)
    assert "\n" not in line and "\r" not in line
    assert 'notes_str="one two three four"' in line and 'state="up down"' in line
    assert "friendly_name=A\\ B" in line  # a tag: a space, escaped, as always
    kept = StateEncoder(SchemaOptions()).encode("sensor.x", "up\ndown", attributes, 1)
    assert 'notes_str="one\ntwo\r\nthree\rfour"' in kept  # InfluxDB stores them as they are
    event = encode_event("note", {"message": "a\nb"}, 1, SkipCounter(), flat=True)
    assert 'message_str="a b"' in event


def test_a_signalling_nan_is_skipped_not_an_encode_error() -> None:
    skips = SkipCounter()
    assert encode_value_field("x", Decimal("sNaN"), skips) is None
    assert skips.reasons == {"non_finite": 1}


_ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@given(
    measurement=_ANY_TEXT.filter(bool),
    tags=st.dictionaries(_ANY_TEXT.filter(bool), _ANY_TEXT.filter(bool), max_size=3),
    fields=st.dictionaries(
        _ANY_TEXT.filter(bool),
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(2**63), 2**63 - 1),
            st.booleans(),
            _ANY_TEXT,
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_a_masked_line_keeps_its_series_field_names_and_types_not_its_values(
    measurement: str,
    tags: dict[str, str],
    fields: dict[str, float | int | str | bool],
) -> None:
    """What diagnostics show of a rejected point (mask_field_values), for any names and
    strings the encoder writes (quotes, commas, spaces, equals signs, line breaks)."""
    line = encode_point(measurement, tags, fields, 1_700_000_000_000_000)
    assert line is not None
    kinds = {bool: "boolean", int: "integer", float: "float", str: "string"}
    masked_fields = ",".join(f"{escape_name(k)}=<{kinds[type(v)]}>" for k, v in fields.items())
    expected = f"{series_prefix(measurement, tags.items())} {masked_fields} 1700000000000000"
    assert mask_field_values(line) == expected


def test_a_masked_line_names_each_kind() -> None:
    line = (
        "ha_states,entity_id=device_tracker.phone latitude=52.37,count=3i,big=7u,on=t,"
        'note="a \\"b\\", c=d" 1700000000000000'
    )
    assert mask_field_values(line) == (
        "ha_states,entity_id=device_tracker.phone latitude=<float>,count=<integer>,"
        "big=<unsigned>,on=<boolean>,note=<string> 1700000000000000"
    )
