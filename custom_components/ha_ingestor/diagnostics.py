"""Config-entry diagnostics download: settings (secrets redacted), counters, dead letters."""

from __future__ import annotations

from dataclasses import asdict
import re
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .capture import FILTERED_REASONS
from .const import CONF_OWM_API_KEY
from .coordinator import snapshot
from .line_protocol import mask_field_values
from .runtime import IngestorConfigEntry
from .spool import DeadLetter, SpoolError

TO_REDACT = {CONF_PASSWORD, CONF_TOKEN, CONF_USERNAME, CONF_OWM_API_KEY}
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
# InfluxDB 1.x also takes credentials in the query string (?u=...&p=...).
_QUERY_SECRET = re.compile(r"(?<=[?&])(u|p|username|password|token)=[^&#\s]*", re.IGNORECASE)


def _redact_urls(data: dict[str, Any]) -> dict[str, Any]:
    """A URL such as http://user:pass@host:8086 keeps its host, never the credentials."""

    def redact(value: str) -> str:
        return _QUERY_SECRET.sub(rf"\1={REDACTED}", _USERINFO.sub(f"{REDACTED}@", value))

    return {key: redact(value) if isinstance(value, str) else value for key, value in data.items()}


def _shown(letter: DeadLetter) -> dict[str, Any]:
    """A rejected point without its values (a location, a code): its series, field names and
    types, and InfluxDB's reason, are what tell why it was refused."""
    masked = mask_field_values(letter.line)
    return {**asdict(letter), "line": masked, "reason": letter.reason.replace(letter.line, masked)}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: IngestorConfigEntry
) -> dict[str, Any]:
    settings = {
        "title": entry.title,
        "state": entry.state.value,
        "data": _redact_urls(async_redact_data(dict(entry.data), TO_REDACT)),
        "options": _redact_urls(async_redact_data(dict(entry.options), TO_REDACT)),
    }
    if entry.state is not ConfigEntryState.LOADED:  # failed or retrying: when it helps most
        return {"entry": settings}
    data = entry.runtime_data
    pipeline = data.pipeline
    spool = pipeline.spool
    try:
        dead_letters = await hass.async_add_executor_job(spool.dead_letters, 20)
    except SpoolError as err:
        dead_letters, settings["spool_error"] = [], str(err)
    return {
        "entry": settings,
        "counters": asdict(snapshot(pipeline)),
        "filtered_reasons": {
            reason: {"count": count, "meaning": FILTERED_REASONS.get(reason, reason)}
            for reason, count in pipeline.stats.filtered_reasons.items()
        },
        "skipped_values": dict(data.skips.reasons),
        "spool": {
            "path": str(spool.path),
            "pending_points": spool.pending_points,
            "pending_batches": spool.pending_batches,
            "size_bytes": spool.size_bytes,
            "max_bytes": spool.max_bytes,
            "dropped_points": spool.dropped_points,
            "unreadable_points": spool.unreadable_points,
            "recovered_from": None if spool.recovered_from is None else str(spool.recovered_from),
        },
        "dead_letters": {
            "count": spool.dead_letter_count,
            "newest": [_shown(letter) for letter in dead_letters],
        },
    }
