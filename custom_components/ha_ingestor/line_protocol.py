"""InfluxDB line protocol encoding, tuned for the hot path.

Escaping follows the line protocol reference as InfluxDB 1.x and 2.x parse it:

* measurement: comma and space are escaped;
* tag keys, tag values and field keys: comma, equals sign and space are escaped;
* string field values: double quote and backslash are escaped; newlines are kept (or, for
  VictoriaMetrics, which ends a line at one even inside quotes, become spaces).

Two things cannot be represented in names (measurement, tag keys/values, field keys), so
`identifier` rewrites them and the README documents it: a line break becomes a space, and a
backslash that InfluxDB would read as an escape (one before ``,``, ``=``, ``"``, space, or at
the end) becomes ``/``. Every other character, emoji included, is written as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import math
import re

# A backslash InfluxDB would read as an escape: before a special char (its parser also
# unescapes \") or at the end.
_BAD_BACKSLASH = re.compile(r'\\(?=[, ="\n\r]|$)')
_NAME_SPECIAL = re.compile(r"[,= \\\n\r]")
_NAME_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})
_MEASUREMENT_SPECIAL = re.compile(r"[, \\\n\r]")
_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})

# InfluxDB 1.x rejects string field values over 64 KiB; 2.x accepts more, but a point that
# large is almost always a mistake (a whole JSON blob in an attribute). Encoded UTF-8 bytes.
MAX_STRING_BYTES = 64 * 1024 - 1


def identifier(name: str) -> str:
    """Return a name as InfluxDB will store it (line breaks and unsafe backslashes rewritten)."""
    if "\\" in name:
        name = _BAD_BACKSLASH.sub("/", name)
    if "\n" in name or "\r" in name:
        name = name.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return name


def escape_name(name: str) -> str:
    """Escape a tag key, tag value or field key."""
    if _NAME_SPECIAL.search(name) is None:
        return name
    return identifier(name).translate(_NAME_ESCAPES)


def escape_measurement(name: str) -> str:
    if _MEASUREMENT_SPECIAL.search(name) is None:
        return name
    return identifier(name).translate(_MEASUREMENT_ESCAPES)


def flatten_line_breaks(value: str) -> str:
    """Line breaks as spaces, for a server whose parser ends the line at one even inside a
    quoted string (VictoriaMetrics: it then drops both halves, and answers 204)."""
    if "\n" in value or "\r" in value:
        return value.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return value


def quote_string(value: str) -> str:
    """A string field value, quoted."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if '"' in value:
        value = value.replace('"', '\\"')
    return f'"{value}"'


def string_fits(value: str) -> bool:
    """True when a string field value is within InfluxDB's size limit."""
    # Cheap check first: a str of n chars encodes to at most 4n bytes.
    return len(value) * 4 <= MAX_STRING_BYTES or len(value.encode("utf-8", "replace")) <= (
        MAX_STRING_BYTES
    )


def format_float(value: float) -> str | None:
    """A float field value; None for NaN and infinities, which InfluxDB cannot store."""
    if not math.isfinite(value):
        return None
    return repr(value)


def series_prefix(measurement: str, tags: Iterable[tuple[str, str]]) -> str:
    """``measurement,tag=value,...`` with tags sorted by key (InfluxDB's canonical order).

    Empty tag values are left out: line protocol has no empty tag.
    """
    parts = [escape_measurement(measurement)]
    for key, value in sorted(tags):
        if key and value:
            parts.append(f"{escape_name(key)}={escape_name(value)}")
    return ",".join(parts)


def encode_fields(fields: Mapping[str, float | int | str | bool]) -> str:
    """``key=value,...``; non-finite floats and empty keys are left out."""
    parts: list[str] = []
    for key, value in fields.items():
        if not key:
            continue
        if isinstance(value, bool):
            encoded: str | None = "true" if value else "false"
        elif isinstance(value, int):
            encoded = f"{value}i"
        elif isinstance(value, float):
            encoded = format_float(value)
        else:
            encoded = quote_string(value)
        if encoded is not None:
            parts.append(f"{escape_name(key)}={encoded}")
    return ",".join(parts)


def encode_point(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, float | int | str | bool],
    time_us: int,
) -> str | None:
    """One line (timestamp in microseconds); None when no field is left to write."""
    encoded = encode_fields(fields)
    if not encoded:
        return None
    return f"{series_prefix(measurement, tags.items())} {encoded} {time_us}"


def _skip_to(text: str, start: int, stops: str) -> int:
    """The index of the first of ``stops`` at or after ``start`` not escaped by a backslash."""
    i, n = start, len(text)
    while i < n and text[i] not in stops:
        i += 2 if text[i] == "\\" else 1
    return min(i, n)


def mask_field_values(line: str) -> str:
    """The line with each field value replaced by its type (``<float>``, ``<string>``, ...).

    For diagnostics: a rejected point's series, field names and types say why InfluxDB
    refused it (a type conflict, a bad name) without what it recorded (a location, a code).
    """
    head_end = _skip_to(line, 0, " ")
    parts: list[str] = []
    i, n = head_end + 1, len(line)
    while i < n:
        equals = _skip_to(line, i, "=")
        key = line[i:equals]
        i = equals + 1
        if i < n and line[i] == '"':
            i = _skip_to(line, i + 1, '"') + 1
            kind = "string"
        else:
            end = _skip_to(line, i, ", ")
            raw = line[i:end]
            i = end
            if raw.lower() in ("t", "f", "true", "false"):
                kind = "boolean"
            else:
                kind = {"i": "integer", "u": "unsigned"}.get(raw[-1:], "float")
        parts.append(f"{key}=<{kind}>")
        if i >= n or line[i] == " ":
            break
        i += 1  # the comma before the next field
    timestamp = line[i:] if i < n else ""
    return f"{line[:head_end]} {','.join(parts)}{timestamp}"
