"""Differences between the Home Assistant versions we support (2025.4 to current).

Home Assistant 2025.8 added ``OptionsFlowWithReload`` (the flow reloads the entry itself) and
2026.6 deprecated update listeners on entries whose flows reload them (reauth, reconfigure):
on newer versions the options flow reloads, on older ones an update listener does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant import config_entries

OPTIONS_FLOW_RELOADS = hasattr(config_entries, "OptionsFlowWithReload")

if TYPE_CHECKING:
    OptionsFlowBase = config_entries.OptionsFlow
else:
    OptionsFlowBase = getattr(config_entries, "OptionsFlowWithReload", config_entries.OptionsFlow)
