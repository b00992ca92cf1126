"""Constants: config keys, option keys and defaults."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

DOMAIN: Final = "ha_ingestor"


class ApiKind(StrEnum):
    """The write API of an entry (stored under CONF_API)."""

    V1 = "v1"  # InfluxDB 1.x: /write
    V2 = "v2"  # InfluxDB 2.x: /api/v2/write; VictoriaMetrics too
    V3 = "v3"  # InfluxDB 3 Core/Enterprise: /api/v3/write_lp


# Config entry data
CONF_API: Final = "api"  # an ApiKind value
CONF_DATABASE: Final = "database"
CONF_ORG: Final = "organization"
CONF_BUCKET: Final = "bucket"
# Entry data of a 1.x or 2.x entry: whether the server is VictoriaMetrics (asked by the flow).
CONF_VICTORIA_METRICS: Final = "victoria_metrics"

# Options: filters
CONF_INCLUDE_DOMAINS: Final = "include_domains"
CONF_INCLUDE_ENTITIES: Final = "include_entities"
CONF_INCLUDE_GLOBS: Final = "include_entity_globs"
CONF_INCLUDE_LABELS: Final = "include_labels"
CONF_INCLUDE_AREAS: Final = "include_areas"
CONF_EXCLUDE_DOMAINS: Final = "exclude_domains"
CONF_EXCLUDE_ENTITIES: Final = "exclude_entities"
CONF_EXCLUDE_GLOBS: Final = "exclude_entity_globs"
CONF_EXCLUDE_LABELS: Final = "exclude_labels"
CONF_EXCLUDE_AREAS: Final = "exclude_areas"
CONF_INCLUDE_OWN: Final = "include_own_entities"
# Options: data
CONF_EVENT_TYPES: Final = "event_types"
CONF_SCHEMA_MODE: Final = "schema_mode"
CONF_ATTRIBUTES: Final = "include_attributes"
CONF_IGNORE_ATTRIBUTES: Final = "ignore_attributes"
CONF_METADATA_TAGS: Final = "metadata_tags"
# Options: delivery
CONF_BATCH_SIZE: Final = "batch_size"
CONF_FLUSH_INTERVAL: Final = "flush_interval"
CONF_SPOOL_SIZE_MB: Final = "spool_size_mb"
# Options: enrichment
CONF_WEATHER_SOURCE: Final = "weather_source"  # "entity" | "openweathermap"
CONF_WEATHER_ENTITY: Final = "weather_entity"
CONF_OWM_API_KEY: Final = "owm_api_key"
CONF_WEATHER_ENRICHMENT: Final = "weather_enrichment"  # one of ENRICHMENT_MODES
CONF_SPORTS_TEAMS: Final = "sports_teams"
# Options: history
CONF_STATISTICS: Final = "long_term_statistics"
WEATHER_SOURCE_ENTITY: Final = "entity"
WEATHER_SOURCE_OWM: Final = "openweathermap"
# The reauth step for a rejected OpenWeatherMap key; InfluxDB's reauth aborts it (health.py).
REAUTH_OWM_STEP: Final = "reauth_owm"
# What weather adds to state points: nothing, a weather_condition tag, or the tag and the
# outdoor_temperature field.
ENRICHMENT_OFF: Final = "off"
ENRICHMENT_TAG: Final = "tag"
ENRICHMENT_TAG_FIELDS: Final = "tag_fields"
ENRICHMENT_MODES: Final = (ENRICHMENT_OFF, ENRICHMENT_TAG, ENRICHMENT_TAG_FIELDS)
EVENT_SPORTS: Final = "ha_ingestor_sports_event"

SCHEMA_DEFAULT: Final = "default"
SCHEMA_CORE: Final = "core"
EVENT_STATE_CHANGED: Final = "state_changed"

METADATA_TAG_KEYS: Final = (
    "area",
    "device",
    "manufacturer",
    "model",
    "platform",
    "labels",
    "entity_category",
)

DEFAULT_BATCH_SIZE: Final = 1000
DEFAULT_FLUSH_INTERVAL: Final = 1.0
DEFAULT_SPOOL_SIZE_MB: Final = 100
# access_token: cameras and media players put a live token in their attributes (HA's recorder
# leaves it out too); with it anyone reading InfluxDB could watch the camera.
DEFAULT_IGNORE_ATTRIBUTES: Final = (
    "entity_picture",
    "icon",
    "supported_features",
    "attribution",
    "access_token",
)

DEFAULT_OPTIONS: Final[dict[str, object]] = {
    CONF_EVENT_TYPES: [EVENT_STATE_CHANGED],
    CONF_SCHEMA_MODE: SCHEMA_DEFAULT,
    CONF_ATTRIBUTES: True,
    CONF_IGNORE_ATTRIBUTES: list(DEFAULT_IGNORE_ATTRIBUTES),
    CONF_METADATA_TAGS: list(METADATA_TAG_KEYS),
    CONF_BATCH_SIZE: DEFAULT_BATCH_SIZE,
    CONF_FLUSH_INTERVAL: DEFAULT_FLUSH_INTERVAL,
    CONF_SPOOL_SIZE_MB: DEFAULT_SPOOL_SIZE_MB,
    CONF_INCLUDE_OWN: False,
    CONF_WEATHER_SOURCE: WEATHER_SOURCE_ENTITY,
    CONF_WEATHER_ENRICHMENT: ENRICHMENT_OFF,
    CONF_SPORTS_TEAMS: [],
    CONF_STATISTICS: False,
}

# How often the diagnostic entities refresh (each writes a state only when its value changed: at
# most one recorder row per entity per interval) and the self-metrics point is written.
STATS_INTERVAL_SECONDS: Final = 30
SELF_METRICS_INTERVAL_SECONDS: Final = 30
SELF_METRICS_MEASUREMENT: Final = "ha_ingestor"
SPOOL_DIR: Final = "ha_ingestor"

SERVICE_FLUSH: Final = "flush"
SERVICE_BACKFILL: Final = "backfill"
SERVICE_CANCEL_BACKFILL: Final = "cancel_backfill"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
ATTR_START: Final = "start"
ATTR_END: Final = "end"
