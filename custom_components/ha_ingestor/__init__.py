"""HA Ingestor: Home Assistant events into InfluxDB, batched, spooled and accounted for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
import contextlib
from dataclasses import dataclass
from datetime import timedelta
import logging
from pathlib import Path
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_URL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
    EVENT_HOMEASSISTANT_STOP,
    Platform,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.typing import ConfigType

from . import services
from .capture import async_listen
from .compat import OPTIONS_FLOW_RELOADS
from .const import (
    CONF_API,
    CONF_ATTRIBUTES,
    CONF_BATCH_SIZE,
    CONF_BUCKET,
    CONF_DATABASE,
    CONF_EVENT_TYPES,
    CONF_EXCLUDE_AREAS,
    CONF_EXCLUDE_DOMAINS,
    CONF_EXCLUDE_ENTITIES,
    CONF_EXCLUDE_GLOBS,
    CONF_EXCLUDE_LABELS,
    CONF_FLUSH_INTERVAL,
    CONF_IGNORE_ATTRIBUTES,
    CONF_INCLUDE_AREAS,
    CONF_INCLUDE_DOMAINS,
    CONF_INCLUDE_ENTITIES,
    CONF_INCLUDE_GLOBS,
    CONF_INCLUDE_LABELS,
    CONF_INCLUDE_OWN,
    CONF_METADATA_TAGS,
    CONF_ORG,
    CONF_OWM_API_KEY,
    CONF_SCHEMA_MODE,
    CONF_SPOOL_SIZE_MB,
    CONF_SPORTS_TEAMS,
    CONF_WEATHER_ENRICHMENT,
    CONF_WEATHER_ENTITY,
    CONF_WEATHER_SOURCE,
    DEFAULT_OPTIONS,
    DOMAIN,
    SELF_METRICS_INTERVAL_SECONDS,
    SPOOL_DIR,
    WEATHER_SOURCE_ENTITY,
    WEATHER_SOURCE_OWM,
)
from .coordinator import StatsCoordinator, self_metrics_line, snapshot
from .enrichment import SportsCoordinator, WeatherCoordinator, sports_store
from .entity_filter import EntityFilter, FilterRules
from .health import HealthReporter
from .pipeline import Pipeline, PipelineConfig
from .registry_cache import RegistryCache
from .schema import CoreCompatEncoder, SchemaOptions, SkipCounter, StateEncoder, make_state_encoder
from .spool import Spool, SpoolError
from .sports import FollowedTeam
from .stats import Stats
from .weather import enrichment_context
from .writer import InfluxWriter, Target

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
MIB = 1024 * 1024


@dataclass(slots=True)
class IngestorData:
    """Runtime objects of one config entry."""

    pipeline: Pipeline
    writer: InfluxWriter
    coordinator: StatsCoordinator
    skips: SkipCounter
    stop_capture: Callable[[], None]
    weather: WeatherCoordinator | None = None
    sports: SportsCoordinator | None = None


type IngestorConfigEntry = ConfigEntry[IngestorData]


def target_from_data(data: Mapping[str, Any]) -> Target:
    return Target(
        api=data[CONF_API],
        url=data[CONF_URL],
        verify_ssl=data.get(CONF_VERIFY_SSL, True),
        database=data.get(CONF_DATABASE, ""),
        username=data.get(CONF_USERNAME) or "",
        password=data.get(CONF_PASSWORD) or "",
        org=data.get(CONF_ORG, ""),
        bucket=data.get(CONF_BUCKET, ""),
        token=data.get(CONF_TOKEN, ""),
    )


def spool_path(hass: HomeAssistant, entry: ConfigEntry) -> Path:
    return Path(hass.config.path(SPOOL_DIR, f"spool_{entry.entry_id}.db"))


def entry_options(entry: ConfigEntry) -> dict[str, Any]:
    return {**DEFAULT_OPTIONS, **entry.options}


def filter_rules(options: Mapping[str, Any]) -> FilterRules:
    def names(key: str) -> frozenset[str]:
        return frozenset(options.get(key) or ())

    return FilterRules(
        include_domains=names(CONF_INCLUDE_DOMAINS),
        include_entities=names(CONF_INCLUDE_ENTITIES),
        include_globs=tuple(options.get(CONF_INCLUDE_GLOBS) or ()),
        include_labels=names(CONF_INCLUDE_LABELS),
        include_areas=names(CONF_INCLUDE_AREAS),
        exclude_domains=names(CONF_EXCLUDE_DOMAINS),
        exclude_entities=names(CONF_EXCLUDE_ENTITIES),
        exclude_globs=tuple(options.get(CONF_EXCLUDE_GLOBS) or ()),
        exclude_labels=names(CONF_EXCLUDE_LABELS),
        exclude_areas=names(CONF_EXCLUDE_AREAS),
    )


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    services.async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: IngestorConfigEntry) -> bool:
    options = entry_options(entry)
    target = target_from_data(entry.data)
    writer = InfluxWriter(async_get_clientsession(hass, verify_ssl=target.verify_ssl), target)
    try:
        spool = await hass.async_add_executor_job(
            Spool, spool_path(hass, entry), int(options[CONF_SPOOL_SIZE_MB] * MIB)
        )
    except SpoolError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="spool_unavailable",
            translation_placeholders={"error": str(err)},
        ) from err

    stats = Stats()
    skips = SkipCounter()
    health = HealthReporter(hass, entry)
    if spool.recovered_from is not None:
        health.spool_recovered(str(spool.recovered_from))
    pipeline = Pipeline(
        writer,
        spool,
        stats,
        PipelineConfig(
            batch_size=int(options[CONF_BATCH_SIZE]),
            flush_interval=float(options[CONF_FLUSH_INTERVAL]),
        ),
        health,
    )
    registry = RegistryCache(hass, frozenset(options[CONF_METADATA_TAGS]))
    entity_filter = EntityFilter(
        filter_rules(options), registry.placement, include_own=bool(options[CONF_INCLUDE_OWN])
    )
    encoder = make_state_encoder(
        SchemaOptions(
            mode=options[CONF_SCHEMA_MODE],
            include_attributes=bool(options[CONF_ATTRIBUTES]),
            ignore_attributes=frozenset(options[CONF_IGNORE_ATTRIBUTES]),
        ),
        registry,
        skips,
    )

    @callback
    def registry_changed(entity_id: str | None) -> None:
        entity_filter.invalidate()
        if entity_id is not None:
            encoder.forget(entity_id)

    registry.add_listener(registry_changed)
    entry.async_on_unload(registry.async_start())

    coordinator = StatsCoordinator(hass, entry, pipeline)
    await coordinator.async_config_entry_first_refresh()
    pipeline.start(lambda coro: entry.async_create_background_task(hass, coro, f"{DOMAIN} writer"))
    stop_capture = async_listen(
        hass, options[CONF_EVENT_TYPES], entity_filter, encoder, pipeline, stats, skips
    )
    entry.runtime_data = IngestorData(pipeline, writer, coordinator, skips, stop_capture)

    @callback
    def submit_point(line: str) -> None:
        """A point of our own (weather, sports): counted like an event, delivered like one."""
        stats.received += 1
        pipeline.submit(line)

    await _async_setup_enrichment(hass, entry, options, encoder, submit_point)

    async def write_self_metrics(_now: Any) -> None:
        line = self_metrics_line(snapshot(pipeline), entry.entry_id, entry.title, time.time())
        if line is not None and stats.connected:
            await writer.write_lines([line])

    entry.async_on_unload(
        async_track_time_interval(
            hass,
            write_self_metrics,
            timedelta(seconds=SELF_METRICS_INTERVAL_SECONDS),
            cancel_on_shutdown=True,
        )
    )

    stop_listener: Callable[[], None] | None = None

    async def on_hass_stop(_event: Event) -> None:
        nonlocal stop_listener
        stop_listener = None  # a one-time listener is gone once it has run
        await _async_shutdown(entry.runtime_data)

    stop_listener = hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, on_hass_stop)

    @callback
    def remove_stop_listener() -> None:
        if stop_listener is not None:
            stop_listener()

    entry.async_on_unload(remove_stop_listener)
    if not OPTIONS_FLOW_RELOADS:  # Home Assistant before 2025.8
        entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_setup_enrichment(
    hass: HomeAssistant,
    entry: IngestorConfigEntry,
    options: Mapping[str, Any],
    encoder: StateEncoder | CoreCompatEncoder,
    submit: Callable[[str], None],
) -> None:
    """Weather and sports coordinators; their first refresh never holds up setup."""
    data = entry.runtime_data
    source = options[CONF_WEATHER_SOURCE]
    if (source == WEATHER_SOURCE_OWM and options.get(CONF_OWM_API_KEY)) or (
        source == WEATHER_SOURCE_ENTITY and options.get(CONF_WEATHER_ENTITY)
    ):
        weather = data.weather = WeatherCoordinator(hass, entry, options, submit)
        mode = options[CONF_WEATHER_ENRICHMENT]

        @callback
        def on_weather() -> None:
            reading = weather.data if weather.last_update_success else None
            if isinstance(encoder, StateEncoder):  # core-compatible points stay as core's
                encoder.set_context(*enrichment_context(reading, mode))

        entry.async_on_unload(weather.async_add_listener(on_weather))
        entry.async_create_background_task(hass, weather.async_refresh(), f"{DOMAIN} weather")
    teams = [FollowedTeam.from_option(team) for team in options[CONF_SPORTS_TEAMS]]
    if teams:
        sports = data.sports = SportsCoordinator(hass, entry, teams, submit)
        await sports.async_load()
        entry.async_create_background_task(hass, sports.async_refresh(), f"{DOMAIN} sports")


async def _async_shutdown(data: IngestorData) -> None:
    """Stop capturing, then flush within the shutdown timeout and spool the rest."""
    data.stop_capture()
    data.stop_capture = _noop
    if data.sports is not None:
        await data.sports.async_save()
    await data.pipeline.async_stop()


def _noop() -> None:
    return None


async def _async_options_updated(hass: HomeAssistant, entry: IngestorConfigEntry) -> None:
    """Options take effect at once: reload the entry (queued data is flushed or spooled)."""
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: IngestorConfigEntry) -> bool:
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await _async_shutdown(entry.runtime_data)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: IngestorConfigEntry) -> None:
    """The entry is gone for good: so is its spool."""
    with contextlib.suppress(OSError):
        await hass.async_add_executor_job(Spool.delete_files, spool_path(hass, entry))
    await sports_store(hass, entry.entry_id).async_remove()
