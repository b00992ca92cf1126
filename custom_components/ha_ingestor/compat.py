"""Differences between the Home Assistant versions we support (2025.4 to current).

Home Assistant 2025.8 added ``OptionsFlowWithReload`` (the flow reloads the entry itself) and
2026.6 deprecated update listeners on entries whose flows reload them (reauth, reconfigure):
on newer versions the options flow reloads, on older ones an update listener does.

Home Assistant 2026.10 changed what core's ``influxdb`` integration writes (line breaks become
spaces, a ``time`` field becomes ``time_``): the core-compatible schema follows the running
version, so switching from core to us keeps the same points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from awesomeversion import AwesomeVersion
from homeassistant import config_entries
from homeassistant.const import __version__ as HA_VERSION

from .schema import CoreSchema

OPTIONS_FLOW_RELOADS = hasattr(config_entries, "OptionsFlowWithReload")

CORE_SCHEMA: Final[CoreSchema] = (
    "2026.10" if AwesomeVersion(HA_VERSION) >= AwesomeVersion("2026.10.0") else "2025.4"
)

if TYPE_CHECKING:
    OptionsFlowBase = config_entries.OptionsFlow
else:
    OptionsFlowBase = getattr(config_entries, "OptionsFlowWithReload", config_entries.OptionsFlow)
