"""Fuzzed states and attributes, written to real InfluxDB 1.6 and read back equal.

The default schema's type rule is also checked here for real: every example goes into the
same measurement, so a field that changed type would make InfluxDB reject the write.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
import itertools
import json
import math
import os
from typing import Any
import urllib.error
import urllib.request

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.ha_ingestor.line_protocol import identifier
from custom_components.ha_ingestor.schema import (
    TAG_KEYS,
    SchemaOptions,
    SkipCounter,
    StateEncoder,
    state_to_number,
)
from tests.servers import InfluxDB1

# Any Unicode text except lone surrogates (not encodable as UTF-8 by anyone).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
KEYS = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)


class Colour(Enum):
    RED = "red"
    BLUE = 2


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
    st.sampled_from(list(Colour)),
    st.datetimes(timezones=st.just(dt.UTC)),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)

_timestamps = itertools.count(1_600_000_000_000_000)


_ESCAPE = {"%": "%25", "\\": "%5C", "\n": "%0A", "\r": "%0D"}


def expected_name(key: str, numeric: bool) -> str:
    """The README's naming rule, written independently of the encoder."""
    if (
        key in ("value", "state", "time", "outdoor_temperature")
        or (numeric and key in TAG_KEYS)
        or key.startswith(("_", "attr_"))
        or any(ch in key for ch in "\\\n\r")
    ):
        key = "attr_" + "".join(_ESCAPE.get(ch, ch) for ch in key)
    if not numeric:
        return key + "_str"
    stem = key
    while stem.endswith("_num"):
        stem = stem[:-4]
    return key + "_num" if stem.endswith("_str") else key


def expected_field(key: str, value: Any) -> tuple[str, float | str] | None:
    """The README's attribute rule, written independently of the encoder."""
    if isinstance(value, Enum):
        value = value.value
    if value is None:
        return None
    if isinstance(value, (bool, int, float)):
        number = float(value)
        if not math.isfinite(number):
            return None
        return expected_name(key, True), number
    if isinstance(value, dt.datetime):
        text = value.isoformat()
    elif isinstance(value, (list, dict)):
        text = json.dumps(
            value,
            default=lambda v: v.isoformat() if isinstance(v, dt.datetime) else v.value,
            ensure_ascii=False,
        )
    else:
        text = str(value)
    return expected_name(key, False), text


@pytest.fixture(scope="module")
def roundtrip_db(influxdb1: InfluxDB1) -> str:
    influxdb1.create_database("roundtrip")
    return "roundtrip"


def _write(server: InfluxDB1, db: str, line: str) -> None:
    request = urllib.request.Request(
        f"{server.url}/write?db={db}&precision=u", data=line.encode("utf-8"), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 204
    except urllib.error.HTTPError as err:
        raise AssertionError(f"InfluxDB rejected {line!r}: {err.read()!r}") from err


@settings(
    max_examples=int(os.environ.get("ROUNDTRIP_EXAMPLES", "300")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    state=TEXT,
    friendly_name=TEXT,
    unit=TEXT,
    attributes=st.dictionaries(KEYS, VALUES, max_size=6),
)
def test_fuzzed_states_read_back_equal(
    influxdb1: InfluxDB1,
    roundtrip_db: str,
    state: str,
    friendly_name: str,
    unit: str,
    attributes: dict[str, Any],
) -> None:
    attributes = {
        k: v
        for k, v in attributes.items()
        if k not in ("friendly_name", "unit_of_measurement", "device_class")
    }
    attrs = {"friendly_name": friendly_name, "unit_of_measurement": unit, **attributes}
    encoder = StateEncoder(SchemaOptions(), skips=SkipCounter())
    time_us = next(_timestamps)
    line = encoder.encode("sensor.fuzz", state, attrs, time_us)
    _write(influxdb1, roundtrip_db, line)

    rows = influxdb1.rows(
        f"SELECT * FROM ha_states WHERE time = {time_us * 1000} GROUP BY *", roundtrip_db
    )
    assert len(rows) == 1
    row = {k: v for k, v in rows[0].items() if v is not None}

    assert row["state"] == state
    number = state_to_number(state)
    if number is None:
        assert "value" not in row
    else:
        assert row["value"] == number
    assert row["entity_id"] == "sensor.fuzz"
    for tag, text in (("friendly_name", friendly_name), ("unit", unit)):
        # GROUP BY * reports a tag this series lacks as "".
        assert row.get(tag, "") == identifier(text)
    expected: dict[str, float | str] = {}
    for key, value in attributes.items():
        item = expected_field(key, value)
        if item is not None:
            assert identifier(item[0]) not in expected  # no two attributes share a field
            expected[identifier(item[0])] = item[1]
    got = {
        k: v
        for k, v in row.items()
        if k
        not in (
            "time",
            "state",
            "value",
            "entity_id",
            "domain",
            "friendly_name",
            "unit",
            "_measurement",
        )
    }
    # InfluxDB's JSON prints large floats as integers (5.74e16 -> 57417188507463790)
    got = {k: float(v) if isinstance(expected.get(k), float) else v for k, v in got.items()}
    assert got == expected
