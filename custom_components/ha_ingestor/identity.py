"""What names a config entry: the target it writes to, and a title people can read.

No config-entry unique id: HA's guidance rejects URLs as unique ids, so a duplicate is found by
comparing the target in the entries' data (URL + database, or URL + organization + bucket).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_URL
from yarl import URL

from .const import CONF_API, CONF_BUCKET, CONF_DATABASE, CONF_ORG


def target_keys(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The data that names one place to write to; two entries never share all of it."""
    if data.get(CONF_BUCKET):
        return (CONF_URL, CONF_ORG, CONF_BUCKET)
    return (CONF_URL, CONF_DATABASE)


def _target(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The target as compared: scheme and host of the URL in any case (yarl lowers them), the
    rest exactly: InfluxDB's databases, organizations and buckets are case-sensitive, so
    "Home" and "home" are two places."""
    values = []
    for key in target_keys(data):
        value = str(data.get(key, ""))
        if key == CONF_URL:
            value = str(URL(value)).rstrip("/")
        values.append(value)
    return (str(data.get(CONF_API)), *values)


def same_target(data: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    return _target(other) == _target(data)


def flow_unique_id(data: Mapping[str, Any]) -> str:
    """For a flow while it runs (a second add flow for the target aborts), never an entry's."""
    return "|".join(_target(data))


def title_candidates(data: Mapping[str, Any]) -> list[str]:
    """Default titles, shortest first: "InfluxDB home (192.168.1.10)", then with the port, then
    with the organization, so that two entries on one host read differently."""
    url = URL(data[CONF_URL])
    host = url.host or data[CONF_URL]
    name = data.get(CONF_BUCKET) or data.get(CONF_DATABASE) or ""
    with_port = f"{host}:{url.port}" if url.port else host
    titles = [f"InfluxDB {name} ({host})", f"InfluxDB {name} ({with_port})"]
    if org := data.get(CONF_ORG):
        titles.append(f"InfluxDB {org}/{name} ({with_port})")
    return list(dict.fromkeys(titles))


def default_title(data: Mapping[str, Any], taken: Collection[str] = ()) -> str:
    """The first candidate no other entry uses; a number only as the very last resort."""
    candidates = title_candidates(data)
    for title in candidates:
        if title not in taken:
            return title
    number = 2
    while f"{candidates[-1]} {number}" in taken:
        number += 1
    return f"{candidates[-1]} {number}"


def reconfigured_title(entry: ConfigEntry, data: Mapping[str, Any], taken: Collection[str]) -> str:
    """The title stays (and with it the device name) unless it was a default title that no
    longer names the target, e.g. after a move to another host."""
    if entry.title not in title_candidates(entry.data) or entry.title in title_candidates(data):
        return entry.title
    return default_title(data, taken)
