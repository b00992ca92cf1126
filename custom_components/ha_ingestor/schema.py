"""Turn Home Assistant states and events into line protocol: the point schema.

Pure logic (no Home Assistant imports) so it is fast to test and to fuzz. Two modes:

* ``default``: one ``ha_states`` measurement; metadata as tags; type-stable fields.
* ``core``: what Home Assistant core's ``influxdb`` integration writes with its default
  settings (measurement by unit, ``value``/``state`` fields, ``<attr>_str`` attributes), so
  a user can switch without breaking dashboards. Core changed its rules in 2026.10, so the
  caller says which revision to match (``CoreSchema``).

The type rule of the default mode: a field name never changes type (so InfluxDB never answers
"field type conflict") and two attributes never share a field (`field_name`):

* numbers (int, float, Decimal) and booleans -> float field named after the attribute;
  a name ending in ``_str`` (or ``_str_num``, ``_str_num_num``, ...) gets ``_num`` appended;
* everything else -> string field ``<name>_str``: strings as is, enums by value, dates in
  ISO 8601, lists and dicts as JSON;
* names that would clash with our own fields or that InfluxDB cannot store as they are
  (``value``, ``state``, ``time``, ``outdoor_temperature``; starting with ``_`` or ``attr_``;
  with a line break or a backslash) become ``attr_<name>``, with ``%``, line breaks and
  backslashes percent-encoded; ``None``, NaN and infinities are not written; strings over
  64 KiB are skipped and counted;
* a number field never takes the name of a tag (``TAG_KEYS``): it gets ``attr_`` too
  (``_``  appended in the core mode), because InfluxDB 3 refuses a tag and a field of the
  same name in one table. Tag keys come from this fixed set only, never from attribute names.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import datetime as dt
from decimal import Decimal
from enum import Enum
import functools
import json
import math
import numbers
import re
from typing import Any, Final, Literal, Protocol

from .const import METADATA_TAG_KEYS
from .line_protocol import (
    escape_name,
    flatten_line_breaks,
    format_float,
    quote_string,
    series_prefix,
    string_fits,
)

STATE_MEASUREMENT: Final = "ha_states"
EVENT_MEASUREMENT: Final = "ha_events"

SchemaMode = Literal["default", "core"]
# Revisions of core's influxdb schema: "2025.4" up to HA 2026.9; "2026.10" from HA 2026.10 on,
# where line breaks in names and strings become spaces and a field named ``time`` becomes ``time_``.
CoreSchema = Literal["2025.4", "2026.10"]

# Attributes promoted to tags in the default mode (attribute -> tag key).
ATTRIBUTE_TAGS: Final = {
    "friendly_name": "friendly_name",
    "device_class": "device_class",
    "unit_of_measurement": "unit",
}
# Our own fields of state points (weather enrichment adds outdoor_temperature) and events.
CONTEXT_FIELDS: Final = frozenset({"outdoor_temperature"})
_RESERVED_FIELDS: Final = frozenset({"value", "state", "time"}) | CONTEXT_FIELDS
_EVENT_RESERVED_FIELDS: Final = frozenset({"value", "state", "time", "count"})
# Every tag key a state or event point can carry, in either mode (weather enrichment adds
# weather_condition). No field is ever named like one of them.
TAG_KEYS: Final = frozenset(
    {"entity_id", "domain", "event_type", "weather_condition"}
    | set(ATTRIBUTE_TAGS.values())
    | set(METADATA_TAG_KEYS)
)
CORE_TAG_KEYS: Final = frozenset({"domain", "entity_id"})
_FIELD_NAME_END: Final = re.compile(r"(?<!\\)=")


def _field_name(encoded: str) -> str:
    """The (escaped) name of an encoded ``name=value`` field."""
    match = _FIELD_NAME_END.search(encoded)
    return encoded[: match.start()] if match else encoded


# Same coercion as Home Assistant's state_as_number, so both modes agree on what is numeric.
_ONE_STATES: Final = frozenset({"on", "locked", "above_horizon", "open", "home"})
_ZERO_STATES: Final = frozenset(
    {"off", "unlocked", "unknown", "below_horizon", "closed", "not_home"}
)
_CORE_SKIPPED_STATES: Final = frozenset({"unknown", "unavailable", ""})
# Core's attribute rule: a string with digits and at most one dot also gets a float field.
_CORE_DIGIT_TAIL: Final = re.compile(r"^[^\.]*\d+\.?\d+[^\.]*$")
_CORE_DECIMAL: Final = re.compile(r"[^\d.]+")
_CORE_TIME_FIELD: Final = "time"
# How core's v1 client (influxdb-python) writes names and string values on the wire; InfluxDB
# then reads both sides' bytes the same way (a line break is stored as backslash-n).
_CORE_NAME_ESCAPES: Final = str.maketrans(
    {"\\": "\\\\", " ": "\\ ", ",": "\\,", "=": "\\=", "\n": "\\n"}
)
# What InfluxDB skips at the start of a line before it looks for a comment's "#" (a space is
# escaped in a name, so it never leads).
_LINE_LEADING_BLANKS: Final = " \t\0"
_CORE_STRING_ESCAPES: Final = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})


class EntityMetadata(Protocol):
    """Where registry metadata comes from (the registry cache implements it)."""

    @property
    def version(self) -> int:
        """Changes whenever any metadata changes, so encoders rebuild their caches."""

    def tags(self, entity_id: str) -> Mapping[str, str]:
        """Registry tags for an entity (area, device, labels, platform, ...)."""


class NoMetadata:
    """Metadata source for tests and benchmarks without registries."""

    version = 0

    def tags(self, entity_id: str) -> Mapping[str, str]:
        return {}


class SkipSink(Protocol):
    def add(self, reason: str) -> None: ...


@dataclass(slots=True)
class SkipCounter:
    """Why attributes or points were not written, for diagnostics."""

    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, reason: str) -> None:
        self.reasons[reason] += 1


def timestamp_us(timestamp: float) -> int:
    """Unix seconds to integer microseconds, rounding as datetime.fromtimestamp does."""
    whole = int(timestamp)  # truncated, as math.modf; the subtraction below is exact
    return whole * 1_000_000 + round((timestamp - whole) * 1e6)


def state_to_number(state: str) -> float | None:
    """A state as a float: numeric strings, and on/off-like states as 1/0."""
    if state in _ONE_STATES:
        return 1.0
    if state in _ZERO_STATES:
        return 0.0
    try:
        number = float(state)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _json_default(value: object) -> object:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(map(str, value))
    return str(value)


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        try:
            return json.dumps(value, default=_json_default, ensure_ascii=False)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


_ESCAPED_PREFIX: Final = "attr_"
_PERCENT: Final = str.maketrans({"%": "%25", "\\": "%5C", "\n": "%0A", "\r": "%0D"})
_NUMERIC_AFTER_STR: Final = re.compile(r"_str(?:_num)*$")


def _base_name(key: str, reserved: frozenset[str]) -> str:
    """The attribute key, escaped where it could clash; injective, never ends in a clash."""
    if (
        key in reserved
        or key.startswith(("_", _ESCAPED_PREFIX))
        or "\\" in key
        or "\n" in key
        or "\r" in key
    ):
        return _ESCAPED_PREFIX + key.translate(_PERCENT)
    return key


@functools.lru_cache(maxsize=8192)
def field_name(key: str, numeric: bool, reserved: frozenset[str] = _RESERVED_FIELDS) -> str:
    """The field an attribute is written to: one per (key, kind), never shared.

    String fields end in ``_str``; numeric ones never do (a trailing ``_str(_num)*`` gets one
    more ``_num``), and unescaped names neither start with ``attr_`` nor hold characters
    InfluxDB rewrites, so distinct attributes give distinct fields.
    """
    if not numeric:
        return f"{_base_name(key, reserved)}_str"
    base = _base_name(key, reserved | TAG_KEYS)  # InfluxDB 3: no field named like a tag
    if _NUMERIC_AFTER_STR.search(base):
        return f"{base}_num"
    return base


def encode_value_field(
    key: str,
    value: Any,
    skips: SkipSink,
    reserved: frozenset[str] = _RESERVED_FIELDS,
    *,
    flat: bool = False,
) -> str | None:
    """One ``key=value`` by the default type rule, or None when not written."""
    if value is None or not key:
        return None
    if isinstance(value, Enum) and not isinstance(value, (str, int)):
        value = value.value
    if isinstance(value, bool):
        value = 1.0 if value else 0.0
    if isinstance(value, (int, float, Decimal, numbers.Real)):
        try:
            number = float(value)
        except OverflowError:
            skips.add("number_too_large")
            return None
        except ValueError:  # Decimal("sNaN"): a signalling NaN refuses float()
            skips.add("non_finite")
            return None
        encoded = format_float(number)
        if encoded is None:
            skips.add("non_finite")
            return None
        return f"{escape_name(field_name(key, True, reserved))}={encoded}"
    text = _as_text(value)
    if not string_fits(text):
        skips.add("string_too_large")
        return None
    if flat:
        text = flatten_line_breaks(text)
    return f"{escape_name(field_name(key, False, reserved))}={quote_string(text)}"


@dataclass(frozen=True, slots=True)
class SchemaOptions:
    mode: SchemaMode = "default"
    include_attributes: bool = True
    ignore_attributes: frozenset[str] = frozenset()
    core_schema: CoreSchema = "2026.10"
    # Line breaks in string fields as spaces (VictoriaMetrics stores no strings, but a raw
    # line break in one made it drop the whole point: value and number fields too).
    flat_strings: bool = False


@dataclass(frozen=True, slots=True)
class _CorePart:
    """Encoded fields of the core-compatible schema, and what encoding them skipped."""

    fields: Mapping[str, float | str]  # of a state part: its fields (they rename attributes)
    encoded: str
    skipped: tuple[str, ...]
    names: tuple[str, ...] = ()  # of a state part: its field names, the attribute cache key


@dataclass(slots=True)
class _CoreEntityCache:
    attributes: Mapping[str, Any]
    prefix: str
    unit_is_measurement: bool  # else the unit is written as a field, as core does
    skipped: tuple[str, ...]
    by_state_fields: dict[tuple[str, ...], _CorePart]  # state field names -> attribute part


# An attribute's encoded field: (its value, _snapshot of it, the field, the field's name).
type _Field = tuple[Any, Any, str, str]


@dataclass(slots=True)
class _EntityCache:
    attributes: Mapping[str, Any]
    version: int
    prefix: str  # measurement and tags
    fields: str  # ",k=v,..." or ""
    tag_values: tuple[Any, ...]  # _snapshot of each ATTRIBUTE_TAGS attribute
    encoded: dict[str, _Field]  # by attribute
    skipped: tuple[str, ...]  # what building it skipped: counted on each change it encodes
    # What a line is made of around its state field: prefix and fields with the context.
    head: str  # prefix + context tags + " "
    tail: str  # fields + context fields + " "


# Distinct states whose encoded state/value fields are kept (on/off, modes, recurring values).
_STATE_FIELD_CACHE_SIZE: Final = 4096
# Distinct (attribute, value) pairs whose encoded fields are kept, across entities; only
# short fields, which are the ones that recur, so the memo stays within a few MB.
_FIELD_CACHE_SIZE: Final = 4096
_FIELD_CACHE_MAX_CHARS: Final = 256


_UNCACHEABLE: Final = object()


class _Noted(list[str]):
    """The skip reasons met while building a cache entry."""

    def add(self, reason: str) -> None:
        self.append(reason)


def _snapshot(value: Any) -> Any:
    """An immutable copy of `value` whose equality implies an identical encoding.

    Lets a rebuild reuse what was encoded for an attribute that did not change (a light's
    brightness changes, its name and color modes do not). `_UNCACHEABLE` for other types.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return (kind, value)
    if kind is float:
        # 0.0 == -0.0, but they encode differently
        return (kind, value) if value else _UNCACHEABLE
    if (kind is list or kind is tuple) and all(type(v) is str for v in value):
        return (kind, tuple(value))
    return _UNCACHEABLE


class StateEncoder:
    """Encodes state_changed events in the default schema.

    The series prefix and attribute fields are cached per entity and rebuilt only when the
    attributes object or the metadata change (Home Assistant reuses the attributes object
    when only the state changed), so the common case is an identity check and a string
    join. A rebuild reuses the prefix and each field whose value did not change, and takes a
    changed value's field from any entity's earlier encoding of an equal value; the
    state/value fields of recent distinct states are cached too. What a build skipped is
    counted again on each change it encodes, as if uncached.
    """

    def __init__(
        self,
        options: SchemaOptions,
        metadata: EntityMetadata | None = None,
        skips: SkipCounter | None = None,
    ) -> None:
        self._options = options
        self._metadata: EntityMetadata = metadata or NoMetadata()
        self.skips = skips or SkipCounter()
        self._cache: dict[str, _EntityCache] = {}
        self._state_fields: dict[str, str] = {}
        self._fields: dict[tuple[str, Any], tuple[str, str]] = {}
        self._context_tags = ""
        self._context_fields = ""

    def set_context(self, tags: Mapping[str, str], fields: Mapping[str, float | str]) -> None:
        """Tags and fields added to every state point (weather enrichment)."""
        self._context_tags = "".join(
            f",{escape_name(k)}={escape_name(v)}" for k, v in sorted(tags.items()) if v
        )
        parts = [
            encoded
            for k, v in fields.items()
            if (encoded := encode_value_field(k, v, self.skips, frozenset())) is not None
        ]
        self._context_fields = "".join(f",{p}" for p in parts)
        for entry in self._cache.values():
            entry.head, entry.tail = self._frame(entry.prefix, entry.fields)

    def _frame(self, prefix: str, fields: str) -> tuple[str, str]:
        """A line's head and tail around its state field, with the weather context."""
        return f"{prefix}{self._context_tags} ", f"{fields}{self._context_fields} "

    def forget(self, entity_id: str) -> None:
        self._cache.pop(entity_id, None)

    def _build(
        self, entity_id: str, attributes: Mapping[str, Any], old: _EntityCache | None
    ) -> _EntityCache:
        version = self._metadata.version
        tag_values = tuple([_snapshot(attributes.get(a)) for a in ATTRIBUTE_TAGS])
        if (
            old is not None
            and old.version == version
            and _UNCACHEABLE not in tag_values
            and old.tag_values == tag_values
        ):
            prefix = old.prefix
        else:
            domain = entity_id.partition(".")[0]
            tags: dict[str, str] = {"entity_id": entity_id, "domain": domain}
            for attribute, tag in ATTRIBUTE_TAGS.items():
                value = attributes.get(attribute)
                if value is not None and value != "":
                    tags[tag] = str(value)
            tags.update(self._metadata.tags(entity_id))
            prefix = series_prefix(STATE_MEASUREMENT, tags.items())
        previous = old.encoded if old is not None else {}
        encoded_now: dict[str, _Field] = {}
        parts: list[str] = []
        names = {"state", "value"}
        noted = _Noted()
        if self._options.include_attributes:
            ignore = self._options.ignore_attributes
            for key, value in attributes.items():
                if key in ATTRIBUTE_TAGS or key in ignore:
                    continue
                hit = previous.get(key)
                # Only cacheable values are kept; of those, all but lists are immutable, so
                # the same object encodes the same (a light's tuple of colour modes).
                if hit is not None and hit[0] is value and type(value) is not list:
                    snap = hit[1]
                else:
                    snap = _snapshot(value)
                    if hit is not None and (snap is _UNCACHEABLE or hit[1] != snap):
                        hit = None
                if hit is not None:
                    encoded, name = hit[2], hit[3]
                else:
                    field = self._field(key, value, snap, noted)
                    if field is None:
                        continue
                    encoded, name = field
                # Two attributes can map to one field ("area" and "attr_area"): a line may
                # name a field once, so the first one wins.
                if name in names:
                    noted.add("duplicate_field")
                    continue
                names.add(name)
                parts.append(encoded)
                if snap is not _UNCACHEABLE:
                    encoded_now[key] = (value, snap, encoded, name)
        fields = f",{','.join(parts)}" if parts else ""
        entry = _EntityCache(
            attributes,
            version,
            prefix,
            fields,
            tag_values,
            encoded_now,
            tuple(noted),
            *self._frame(prefix, fields),
        )
        self._cache[entity_id] = entry
        return entry

    def _field(self, key: str, value: Any, snap: Any, noted: _Noted) -> tuple[str, str] | None:
        """An attribute's field and its name, from any entity's earlier encoding of an
        equal value (brightness levels, colour modes and link qualities recur)."""
        cacheable = snap is not _UNCACHEABLE
        if cacheable and (field := self._fields.get((key, snap))) is not None:
            return field
        fresh = encode_value_field(key, value, noted, flat=self._options.flat_strings)
        if fresh is None:  # a skip is not kept: each build meets it again and notes it
            return None
        field = (fresh, _field_name(fresh))
        if cacheable and len(fresh) <= _FIELD_CACHE_MAX_CHARS:
            if len(self._fields) >= _FIELD_CACHE_SIZE:
                self._fields.clear()
            self._fields[(key, snap)] = field
        return field

    def _state_field(self, state: str) -> str:
        """``state="..."`` plus ``,value=...`` when the state is numeric or on/off-like."""
        number = state_to_number(state)
        if not string_fits(state):  # A state is at most 255 characters in HA; guard anyway.
            self.skips.add("string_too_large")
            return 'state=""' if number is None else f'state="",value={number!r}'
        text = flatten_line_breaks(state) if self._options.flat_strings else state
        field = f"state={quote_string(text)}"
        if number is not None:
            field = f"{field},value={number!r}"
        cache = self._state_fields
        if len(cache) >= _STATE_FIELD_CACHE_SIZE:
            cache.clear()
        cache[state] = field
        return field

    def encode(
        self, entity_id: str, state: str, attributes: Mapping[str, Any], time_us: int
    ) -> str:
        entry = self._cache.get(entity_id)
        # Not `==`: equal dicts can encode differently (False and 0, 0.0 and -0.0), and
        # Home Assistant passes a new object only when its `==` found the attributes changed.
        if (
            entry is None
            or entry.attributes is not attributes
            or entry.version != self._metadata.version
        ):
            entry = self._build(entity_id, attributes, entry)
        if entry.skipped:
            for reason in entry.skipped:
                self.skips.add(reason)
        state_field = self._state_fields.get(state)
        if state_field is None:
            state_field = self._state_field(state)
        return f"{entry.head}{state_field}{entry.tail}{time_us}"


class CoreCompatEncoder:
    """Encodes state_changed events the way HA core's influxdb integration does by default.

    Core's defaults: measurement is the unit of measurement, else the entity id; tags
    ``domain`` and ``entity_id`` (the object id); numeric states as ``value``, others as
    ``state`` (plus ``value`` when on/off-like); every attribute as a float field when
    ``float()`` accepts it, else ``<name>_str``. Unknown and unavailable states are not
    written. Unlike core, values that would be rejected are skipped one by one instead of
    failing the write.

    Names and strings are escaped as core's v1 client does it, so InfluxDB stores the same
    bytes (a line break as backslash-n). Core 2026.10+ first replaces line breaks (anything
    ``str.splitlines`` splits on) with spaces in the measurement, the state and string
    attributes, and renames a ``time`` field (which InfluxDB drops) to ``time_``.
    """

    def __init__(self, options: SchemaOptions, skips: SkipCounter | None = None) -> None:
        self._ignore = options.ignore_attributes
        self._include_attributes = options.include_attributes
        self._single_line = options.core_schema != "2025.4"
        self.skips = skips or SkipCounter()
        self._cache: dict[str, _CoreEntityCache] = {}
        self._states: dict[str, _CorePart] = {}

    def _core_text(self, value: str) -> str:
        """A string as core hands it to its client."""
        if self._single_line and not value.isprintable():  # every line break is unprintable
            return " ".join(value.splitlines())
        return value

    def forget(self, entity_id: str) -> None:
        self._cache.pop(entity_id, None)

    def encode(
        self, entity_id: str, state: str, attributes: Mapping[str, Any], time_us: int
    ) -> str | None:
        """As core would write it. The series and the attribute fields are cached per entity
        (rebuilt when the attributes object changes, as in the default schema), the state
        fields per distinct state; what a build skipped is counted again on each use."""
        if state in _CORE_SKIPPED_STATES:
            return None
        head = self._states.get(state)
        if head is None:
            head = self._state_part(state)
        entry = self._cache.get(entity_id)
        if entry is None or entry.attributes is not attributes:  # not `==`, as above
            entry = self._cache[entity_id] = self._series(entity_id, attributes)
        tail = entry.by_state_fields.get(head.names)
        if tail is None:
            tail = self._attribute_part(attributes, head.fields, entry.unit_is_measurement)
            entry.by_state_fields[head.names] = tail
        for reason in (*head.skipped, *entry.skipped, *tail.skipped):
            self.skips.add(reason)
        if not tail.encoded:
            return f"{entry.prefix} {head.encoded} {time_us}" if head.encoded else None
        if not head.encoded:
            return f"{entry.prefix} {tail.encoded} {time_us}"
        return f"{entry.prefix} {head.encoded},{tail.encoded} {time_us}"

    def _state_part(self, state: str) -> _CorePart:
        fields: dict[str, float | str] = {}
        try:
            value = float(state)
            if math.isfinite(value):
                fields["value"] = value
        except ValueError:
            fields["state"] = self._core_text(state)
            number = state_to_number(state)
            if number is not None:
                fields["value"] = number
        part = self._encode_fields(fields, fields, [])
        if len(self._states) >= _STATE_FIELD_CACHE_SIZE:
            self._states.clear()
        self._states[state] = part
        return part

    def _series(self, entity_id: str, attributes: Mapping[str, Any]) -> _CoreEntityCache:
        """The entity's measurement and tags. Unlike core, a unit that would start the line
        with ``#`` is not the measurement: InfluxDB reads such a line as a comment and drops
        it without an error (ESPHome's particle counters use ``#/0.1L``), so the entity id
        is, as for an entity without a unit, and the unit is written as a field."""
        unit = attributes.get("unit_of_measurement")
        skipped: tuple[str, ...] = ()
        measurement = entity_id
        unit_is_measurement = False
        if unit not in (None, ""):
            as_unit = self._core_text(unit) if isinstance(unit, str) else str(unit)
            if as_unit.lstrip(_LINE_LEADING_BLANKS).startswith("#"):
                skipped = ("unit_starts_with_hash",)
            else:
                measurement, unit_is_measurement = as_unit, True
        domain, _, object_id = entity_id.partition(".")
        prefix = (
            f"{measurement.translate(_CORE_NAME_ESCAPES)},"
            f"domain={domain.translate(_CORE_NAME_ESCAPES)},"
            f"entity_id={object_id.translate(_CORE_NAME_ESCAPES)}"
        )
        return _CoreEntityCache(attributes, prefix, unit_is_measurement, skipped, {})

    def _attribute_part(
        self,
        attributes: Mapping[str, Any],
        state_fields: Mapping[str, float | str],
        unit_is_measurement: bool,
    ) -> _CorePart:
        """The attribute fields; their names depend on which state fields are present."""
        fields = dict(state_fields)
        skipped: list[str] = []
        if self._include_attributes:
            for key, attr in attributes.items():
                if (key == "unit_of_measurement" and unit_is_measurement) or key in self._ignore:
                    continue
                name = f"{key}_" if key in fields else key
                self._core_attribute(fields, name, attr, skipped)
        if self._single_line and _CORE_TIME_FIELD in fields:
            renamed = f"{_CORE_TIME_FIELD}_"
            while renamed in fields:
                renamed += "_"
            fields[renamed] = fields.pop(_CORE_TIME_FIELD)
        for key in state_fields:
            del fields[key]
        return self._encode_fields(fields, {}, skipped)

    @staticmethod
    def _encode_fields(
        fields: Mapping[str, float | str], state_fields: dict[str, float | str], skipped: list[str]
    ) -> _CorePart:
        parts: list[str] = []
        for key, val in fields.items():
            if isinstance(val, float):
                encoded = format_float(val)
                if encoded is None:
                    continue
            elif string_fits(val):
                encoded = f'"{val.translate(_CORE_STRING_ESCAPES)}"'
            else:
                skipped.append("string_too_large")
                continue
            parts.append(f"{key.translate(_CORE_NAME_ESCAPES)}={encoded}")
        return _CorePart(state_fields, ",".join(parts), tuple(skipped), tuple(state_fields))

    def _core_attribute(
        self, fields: dict[str, float | str], key: str, attr: Any, skipped: list[str]
    ) -> None:
        # Unlike core, a number never takes a tag's name (InfluxDB 3 refuses a field and a tag
        # of one name): an attribute "domain" of 5 is written as "domain_".
        number_key = key
        while number_key in CORE_TAG_KEYS or (number_key != key and number_key in fields):
            number_key += "_"
        try:
            fields[number_key] = float(attr)
        except (ValueError, TypeError, OverflowError):
            text = self._core_text(str(attr))
            fields[f"{key}_str"] = text
            if _CORE_DIGIT_TAIL.match(text):
                try:
                    fields[number_key] = float(_CORE_DECIMAL.sub("", text))
                except ValueError:
                    skipped.append("unparsable_number")
        number = fields.get(number_key)
        if isinstance(number, float) and not math.isfinite(number):
            del fields[number_key]
            skipped.append("non_finite")


def encode_event(
    event_type: str,
    data: Mapping[str, Any],
    time_us: int,
    skips: SkipCounter,
    *,
    flat: bool = False,
) -> str:
    """Any other event type: measurement ``ha_events``, tag ``event_type``, data as fields.

    ``count=1`` is always present so that ``sum("count")`` counts events.
    """
    tags = {"event_type": event_type}
    entity_id = data.get("entity_id")
    if isinstance(entity_id, str) and entity_id:
        tags["entity_id"] = entity_id
        tags["domain"] = entity_id.partition(".")[0]
    parts = ["count=1.0"]
    names = {"count"}
    for key, value in data.items():
        if key == "entity_id" and "entity_id" in tags:
            continue
        encoded = encode_value_field(str(key), value, skips, _EVENT_RESERVED_FIELDS, flat=flat)
        if encoded is not None:
            if (name := _field_name(encoded)) in names:
                skips.add("duplicate_field")
                continue
            names.add(name)
            parts.append(encoded)
    return f"{series_prefix(EVENT_MEASUREMENT, tags.items())} {','.join(parts)} {time_us}"


# (event type, event data, time in microseconds) -> line; see encode_event.
type EventEncoder = Callable[[str, Mapping[str, Any], int], str]


def event_encoder(options: SchemaOptions, skips: SkipCounter) -> EventEncoder:
    """encode_event with what the entry's schema options decide (the target's strings)."""
    return functools.partial(encode_event, skips=skips, flat=options.flat_strings)


def make_state_encoder(
    options: SchemaOptions, metadata: EntityMetadata | None, skips: SkipCounter
) -> StateEncoder | CoreCompatEncoder:
    if options.mode == "core":
        return CoreCompatEncoder(options, skips)
    return StateEncoder(options, metadata, skips)
