"""HA Ingestor: Home Assistant events into InfluxDB, batched, spooled and accounted for."""

from __future__ import annotations

import contextlib

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.typing import ConfigType
from homeassistant.util.hass_dict import HassKey

from . import history_services, services
from .backfill import history_store
from .compat import OPTIONS_FLOW_RELOADS
from .const import DOMAIN
from .coordinator import sports_store
from .gap_repair import gap_issue_id
from .health import HEALTH_ISSUES, RUNTIME_ISSUES, issue_id
from .migration import async_migrate_entry
from .runtime import (
    IngestorConfigEntry,
    IngestorRuntime,
    async_discard_handover,
    counters_store,
    spool_path,
)
from .spool import Spool

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]
# Entries the update listener is reloading (Home Assistant before 2025.8).
LISTENER_RELOADS: HassKey[set[str]] = HassKey(f"{DOMAIN}_listener_reloads")
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
__all__ = ["async_migrate_entry"]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    services.async_setup_services(hass)
    history_services.async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: IngestorConfigEntry) -> bool:
    """Build the runtime, start it, forward the platforms; a failed step releases it all."""
    runtime = await IngestorRuntime.async_build(hass, entry)
    entry.runtime_data = runtime
    try:
        await runtime.async_start()
        if not OPTIONS_FLOW_RELOADS:  # Home Assistant before 2025.8
            entry.async_on_unload(entry.add_update_listener(_async_options_updated))
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    except BaseException:
        await runtime.async_stop()
        raise
    return True


async def _async_options_updated(hass: HomeAssistant, entry: IngestorConfigEntry) -> None:
    """Options take effect at once: reload the entry (no event is lost across it).

    One reload for changes that come together (the weather step saves its key, then the
    options): a second would find the entry as the first left it, a reload for nothing.
    """
    reloading = hass.data.setdefault(LISTENER_RELOADS, set())
    if entry.entry_id in reloading:
        return  # the reload on its way re-checks when it is done
    reloading.add(entry.entry_id)
    try:
        while entry.state is ConfigEntryState.LOADED and entry.runtime_data.outdated():
            if not await hass.config_entries.async_reload(entry.entry_id):
                break
    finally:
        reloading.discard(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: IngestorConfigEntry) -> bool:
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        runtime = entry.runtime_data
        await runtime.async_stop(hand_over=runtime.may_set_up_again())
        if entry.disabled_by is not None:
            for kind in RUNTIME_ISSUES:
                ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry))
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: IngestorConfigEntry) -> None:
    """The entry is gone for good: so are its spool and stored state."""
    async_discard_handover(hass, entry.entry_id)
    with contextlib.suppress(OSError):
        await hass.async_add_executor_job(Spool.delete_files, spool_path(hass, entry))
    await sports_store(hass, entry.entry_id).async_remove()
    await counters_store(hass, entry.entry_id).async_remove()
    await history_store(hass, entry.entry_id).async_remove()
    ir.async_delete_issue(hass, DOMAIN, gap_issue_id(entry.entry_id))  # nothing left to fill
    for kind in HEALTH_ISSUES:  # about an entry that is gone: nothing left to fix
        ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry))
