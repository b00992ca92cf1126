"""Config flow: pick the InfluxDB version, test the connection, then tune in options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_URL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    AreaSelector,
    AreaSelectorConfig,
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    LabelSelector,
    LabelSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.typing import UNDEFINED, UndefinedType
from homeassistant.helpers.update_coordinator import UpdateFailed
import voluptuous as vol
from yarl import URL

from . import espn
from .compat import OPTIONS_FLOW_RELOADS, OptionsFlowBase
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
    CONF_STATISTICS,
    CONF_VICTORIA_METRICS,
    CONF_WEATHER_ENRICHMENT,
    CONF_WEATHER_ENTITY,
    CONF_WEATHER_SOURCE,
    DEFAULT_OPTIONS,
    DOMAIN,
    ENRICHMENT_MODES,
    ENRICHMENT_OFF,
    EVENT_STATE_CHANGED,
    METADATA_TAG_KEYS,
    REAUTH_OWM_STEP,
    SCHEMA_CORE,
    SCHEMA_DEFAULT,
    WEATHER_SOURCE_ENTITY,
    WEATHER_SOURCE_OWM,
    ApiKind,
)
from .enrichment import OwmAuthError, async_fetch_teams, fetch_owm
from .identity import (
    default_title,
    flow_unique_id,
    reconfigured_title,
    same_target,
)
from .migration import MINOR_VERSION
from .runtime import cleaned, target_from_data
from .sports import FollowedTeam
from .writer import CheckError, InfluxWriter

STEP_V1 = "influxdb_v1"
STEP_V2 = "influxdb_v2"
STEP_V3 = "influxdb_v3"
STEP_VICTORIA_METRICS = "victoria_metrics"

COMMON_EVENT_TYPES = [
    EVENT_STATE_CHANGED,
    "call_service",
    "automation_triggered",
    "script_started",
    "logbook_entry",
    "mobile_app_notification_action",
    "zha_event",
    "deconz_event",
]

_TEXT = TextSelector()
_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_URL = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
_MULTI_TEXT = TextSelector(TextSelectorConfig(multiple=True))


def _secret(key: str, shown: Mapping[str, Any], required: bool) -> vol.Marker:
    """A password field that gives back what the user typed when the form comes back with an error
    (never a stored secret: that stays on the server)."""
    marker = vol.Required if required else vol.Optional
    return marker(key, description={"suggested_value": shown.get(key)})


def _v1_schema(defaults: Mapping[str, Any], typed: Mapping[str, Any]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_URL, default=defaults.get(CONF_URL, "http://localhost:8086")): _URL,
            vol.Required(
                CONF_DATABASE, default=defaults.get(CONF_DATABASE, "home_assistant")
            ): _TEXT,
            vol.Optional(
                CONF_USERNAME, description={"suggested_value": defaults.get(CONF_USERNAME)}
            ): _TEXT,
            _secret(CONF_PASSWORD, typed, required=False): _PASSWORD,
            vol.Required(CONF_VERIFY_SSL, default=defaults.get(CONF_VERIFY_SSL, True)): bool,
        }
    )


def _v2_schema(
    defaults: Mapping[str, Any], typed: Mapping[str, Any], token_required: bool = True
) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_URL, default=defaults.get(CONF_URL, "http://localhost:8086")): _URL,
            vol.Required(CONF_ORG, default=defaults.get(CONF_ORG, "")): _TEXT,
            vol.Required(CONF_BUCKET, default=defaults.get(CONF_BUCKET, "home_assistant")): _TEXT,
            _secret(CONF_TOKEN, typed, required=token_required): _PASSWORD,
            vol.Required(CONF_VERIFY_SSL, default=defaults.get(CONF_VERIFY_SSL, True)): bool,
        }
    )


def _v3_schema(defaults: Mapping[str, Any], typed: Mapping[str, Any]) -> vol.Schema:
    """InfluxDB 3: no organization or bucket, port 8181, and the token is optional (a server
    run without auth takes none)."""
    return vol.Schema(
        {
            vol.Required(CONF_URL, default=defaults.get(CONF_URL, "http://localhost:8181")): _URL,
            vol.Required(
                CONF_DATABASE, default=defaults.get(CONF_DATABASE, "home_assistant")
            ): _TEXT,
            _secret(CONF_TOKEN, typed, required=False): _PASSWORD,
            vol.Required(CONF_VERIFY_SSL, default=defaults.get(CONF_VERIFY_SSL, True)): bool,
        }
    )


def normalize_url(url: str) -> str | None:
    """The URL without a trailing slash, or None when it is not an http(s) URL with a host."""
    try:
        parsed = URL(url.strip())
    except ValueError:
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    return str(parsed).rstrip("/")


class IngestorConfigFlow(ConfigFlow, domain=DOMAIN):
    VERSION = 1
    MINOR_VERSION = MINOR_VERSION

    _tested: tuple[dict[str, Any], set[str]]  # a tested target waiting for the VM note

    async def _async_check(self, data: dict[str, Any]) -> str | None:
        """Real connection test; returns a form error key or None."""
        target = target_from_data(data)
        session = async_get_clientsession(self.hass, verify_ssl=target.verify_ssl)
        try:
            error = await InfluxWriter(session, target).check()
        except Exception:
            return "unknown"
        if error is None:
            return None
        if error is CheckError.NOT_FOUND:
            return "bucket_not_found" if data[CONF_API] == ApiKind.V2 else "database_not_found"
        return error.value

    async def _async_is_victoria_metrics(self, data: Mapping[str, Any]) -> bool:
        target = target_from_data(data)
        session = async_get_clientsession(self.hass, verify_ssl=target.verify_ssl)
        try:
            return bool(await InfluxWriter(session, target).is_victoria_metrics())
        except Exception:
            return False

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(step_id="user", menu_options=[STEP_V1, STEP_V2, STEP_V3])

    async def async_step_influxdb_v1(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        return await self._async_connection_step(STEP_V1, ApiKind.V1, user_input)

    async def async_step_influxdb_v2(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        return await self._async_connection_step(STEP_V2, ApiKind.V2, user_input)

    async def async_step_influxdb_v3(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        return await self._async_connection_step(STEP_V3, ApiKind.V3, user_input)

    async def async_step_victoria_metrics(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The 1.x or 2.x form reached VictoriaMetrics: say that it keeps no string fields."""
        if user_input is None:
            return self.async_show_form(step_id=STEP_VICTORIA_METRICS)
        data, taken = self._tested
        # Asked again: this flow gave up its unique id, and another may have saved meanwhile.
        if any(same_target(data, other.data) for other in self._other_entries()):
            return self.async_abort(reason="already_configured")
        return self._async_save(data, taken)

    def _other_entries(self) -> list[ConfigEntry]:
        """The entries besides the one being reconfigured (all of them when adding)."""
        own = self._get_reconfigure_entry() if self.source == SOURCE_RECONFIGURE else None
        return [
            other
            for other in self._async_current_entries(include_ignore=False)
            if own is None or other.entry_id != own.entry_id
        ]

    def _async_update_and_reload(
        self,
        entry: ConfigEntry,
        *,
        data: Mapping[str, Any],
        title: str | UndefinedType = UNDEFINED,
    ) -> ConfigFlowResult:
        """Save and reload once (the reload hands the capture over: nothing fired meanwhile
        is lost).

        Before Home Assistant 2025.8 our update listener reloads a loaded entry that changed,
        so the flow's own reload would come on top: a second one, for nothing.
        """
        if OPTIONS_FLOW_RELOADS:
            return self.async_update_reload_and_abort(entry, title=title, data=data)
        listening = entry.state is ConfigEntryState.LOADED  # its listener reloads it (eagerly)
        changed = self.hass.config_entries.async_update_entry(entry, title=title, data=data)
        if not (changed and listening):
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_abort(
            reason="reconfigure_successful"
            if self.source == SOURCE_RECONFIGURE
            else "reauth_successful"
        )

    def _async_save(self, data: dict[str, Any], taken: set[str]) -> ConfigFlowResult:
        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            return self._async_update_and_reload(
                entry, title=reconfigured_title(entry, data, taken), data=data
            )
        return self.async_create_entry(
            title=default_title(data, taken), data=data, options=dict(DEFAULT_OPTIONS)
        )

    async def _async_connection_step(
        self, step_id: str, api: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        reconfigure = self.source == SOURCE_RECONFIGURE
        entry = self._get_reconfigure_entry() if reconfigure else None
        defaults: Mapping[str, Any] = user_input or (entry.data if entry else {})
        if user_input is not None:
            data: dict[str, Any] = {**user_input, CONF_API: api}
            if entry is not None:  # keep stored secrets the user did not retype
                for secret in (CONF_PASSWORD, CONF_TOKEN, CONF_OWM_API_KEY):
                    if not data.get(secret) and entry.data.get(secret):
                        data[secret] = entry.data[secret]
            url = normalize_url(data[CONF_URL])
            if url is None:
                errors[CONF_URL] = "invalid_url"
            else:
                data[CONF_URL] = url
                others = self._other_entries()
                if any(same_target(data, other.data) for other in others):
                    return self.async_abort(reason="already_configured")
                if entry is None:
                    # Two add flows for one target: the second is told at once. A flow's unique
                    # id only; the entry gets none (see identity.py).
                    await self.async_set_unique_id(flow_unique_id(data))
                taken = {other.title for other in others}
                if (error := await self._async_check(data)) is not None:
                    errors["base"] = error
                else:
                    if entry is None:
                        await self.async_set_unique_id(None)
                    if api != ApiKind.V3:  # VictoriaMetrics speaks both the 1.x and 2.x APIs
                        data[CONF_VICTORIA_METRICS] = await self._async_is_victoria_metrics(data)
                    if data.get(CONF_VICTORIA_METRICS):
                        self._tested = (data, taken)
                        return await self.async_step_victoria_metrics()
                    return self._async_save(data, taken)
        typed = user_input or {}
        if api == ApiKind.V1:
            schema = _v1_schema(defaults, typed)
        elif api == ApiKind.V3:
            schema = _v3_schema(defaults, typed)
        else:
            schema = _v2_schema(defaults, typed, token_required=entry is None)
        return self.async_show_form(
            step_id="reconfigure" if entry is not None else step_id,
            data_schema=schema,
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The add form with the stored settings; secrets left empty stay as they are."""
        api = self._get_reconfigure_entry().data[CONF_API]
        return await self._async_connection_step("reconfigure", api, user_input)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        entry = self._get_reauth_entry()
        # InfluxDB's credentials first: points wait on them, and the entry has one reauth flow.
        influx_refused = (
            entry.state is ConfigEntryState.LOADED and entry.runtime_data.pipeline.paused_for_auth
        )
        if entry_data.get("reauth") == WEATHER_SOURCE_OWM and not influx_refused:
            return await self.async_step_reauth_owm()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_owm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """OpenWeatherMap rejected the stored API key (kept in the entry data: a secret)."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = await check_owm_key(self.hass, user_input[CONF_OWM_API_KEY])
            if not errors:
                return self._async_update_and_reload(
                    entry, data={**entry.data, CONF_OWM_API_KEY: user_input[CONF_OWM_API_KEY]}
                )
        return self.async_show_form(
            step_id=REAUTH_OWM_STEP,
            data_schema=vol.Schema({vol.Required(CONF_OWM_API_KEY): _PASSWORD}),
            errors=errors,
            description_placeholders={"title": entry.title},
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reauth_entry()
        v1 = entry.data[CONF_API] == ApiKind.V1
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **user_input}
            if (error := await self._async_check(data)) is None:
                return self._async_update_and_reload(entry, data=data)
            errors["base"] = error
        schema = (
            vol.Schema(
                {
                    vol.Optional(
                        CONF_USERNAME,
                        description={"suggested_value": entry.data.get(CONF_USERNAME)},
                    ): _TEXT,
                    vol.Optional(CONF_PASSWORD): _PASSWORD,
                }
            )
            if v1
            else vol.Schema({vol.Required(CONF_TOKEN): _PASSWORD})
        )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders={"title": entry.title},
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> IngestorOptionsFlow:
        return IngestorOptionsFlow()


SECTION_INCLUDE = "include"
SECTION_EXCLUDE = "exclude"
SECTION_DATA = "data"
SECTION_DELIVERY = "delivery"

_FILTER_KEYS = {
    SECTION_INCLUDE: (
        CONF_INCLUDE_DOMAINS,
        CONF_INCLUDE_ENTITIES,
        CONF_INCLUDE_GLOBS,
        CONF_INCLUDE_LABELS,
        CONF_INCLUDE_AREAS,
    ),
    SECTION_EXCLUDE: (
        CONF_EXCLUDE_DOMAINS,
        CONF_EXCLUDE_ENTITIES,
        CONF_EXCLUDE_GLOBS,
        CONF_EXCLUDE_LABELS,
        CONF_EXCLUDE_AREAS,
    ),
}


class IngestorOptionsFlow(OptionsFlowBase):
    """A menu: settings (four collapsible sections), weather, sports. Saving reloads the entry."""

    _teams: list[FollowedTeam]
    _league: str
    _league_teams: list[espn.Team]

    def _filter_section(self, keys: tuple[str, ...], current: Mapping[str, Any]) -> vol.Schema:
        domains, entities, globs, labels, areas = keys
        known_domains = sorted(
            {eid.partition(".")[0] for eid in self.hass.states.async_entity_ids()}
        )
        selectors = {
            domains: SelectSelector(
                SelectSelectorConfig(
                    options=known_domains,
                    multiple=True,
                    custom_value=True,
                    mode=SelectSelectorMode.DROPDOWN,
                )
            ),
            entities: EntitySelector(EntitySelectorConfig(multiple=True)),
            globs: _MULTI_TEXT,
            labels: LabelSelector(LabelSelectorConfig(multiple=True)),
            areas: AreaSelector(AreaSelectorConfig(multiple=True)),
        }
        return vol.Schema(
            {
                vol.Optional(key, default=list(current.get(key) or [])): selector
                for key, selector in selectors.items()
            }
        )

    @property
    def _current(self) -> dict[str, Any]:
        return {**DEFAULT_OPTIONS, **self.config_entry.options}

    def _save(self, changes: Mapping[str, Any]) -> ConfigFlowResult:
        return self.async_create_entry(data={**self._current, **changes})

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(step_id="init", menu_options=["settings", "weather", "sports"])

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        current = self._current
        if user_input is not None:
            options: dict[str, Any] = {}
            for values in user_input.values():
                options.update(values)
            for key, value in options.items():  # a list's added but blank line is no rule
                if isinstance(value, list):
                    options[key] = cleaned(value)
            if not options.get(CONF_EVENT_TYPES):
                errors["base"] = "no_event_types"
            else:
                options[CONF_BATCH_SIZE] = int(options[CONF_BATCH_SIZE])
                options[CONF_SPOOL_SIZE_MB] = int(options[CONF_SPOOL_SIZE_MB])
                options[CONF_FLUSH_INTERVAL] = float(options[CONF_FLUSH_INTERVAL])
                return self._save(options)
            current.update({k: v for values in user_input.values() for k, v in values.items()})

        data_section = vol.Schema(
            {
                vol.Required(CONF_EVENT_TYPES, default=current[CONF_EVENT_TYPES]): SelectSelector(
                    SelectSelectorConfig(
                        options=COMMON_EVENT_TYPES,
                        multiple=True,
                        custom_value=True,  # any other event type can be typed in
                        translation_key=CONF_EVENT_TYPES,
                    )
                ),
                vol.Required(CONF_SCHEMA_MODE, default=current[CONF_SCHEMA_MODE]): SelectSelector(
                    SelectSelectorConfig(
                        options=[SCHEMA_DEFAULT, SCHEMA_CORE], translation_key=CONF_SCHEMA_MODE
                    )
                ),
                vol.Required(CONF_ATTRIBUTES, default=current[CONF_ATTRIBUTES]): BooleanSelector(),
                vol.Optional(
                    CONF_IGNORE_ATTRIBUTES, default=list(current[CONF_IGNORE_ATTRIBUTES])
                ): _MULTI_TEXT,
                vol.Optional(
                    CONF_METADATA_TAGS, default=list(current[CONF_METADATA_TAGS])
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=list(METADATA_TAG_KEYS),
                        multiple=True,
                        translation_key=CONF_METADATA_TAGS,
                    )
                ),
                vol.Required(
                    CONF_INCLUDE_OWN, default=current[CONF_INCLUDE_OWN]
                ): BooleanSelector(),
                vol.Required(CONF_STATISTICS, default=current[CONF_STATISTICS]): BooleanSelector(),
            }
        )
        delivery_section = vol.Schema(
            {
                vol.Required(CONF_BATCH_SIZE, default=current[CONF_BATCH_SIZE]): NumberSelector(
                    NumberSelectorConfig(min=1, max=50_000, step=1, mode=NumberSelectorMode.BOX)
                ),
                vol.Required(
                    CONF_FLUSH_INTERVAL, default=current[CONF_FLUSH_INTERVAL]
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=0.1,
                        max=60,
                        step=0.1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                vol.Required(
                    CONF_SPOOL_SIZE_MB, default=current[CONF_SPOOL_SIZE_MB]
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=1,
                        max=100_000,
                        step=1,
                        unit_of_measurement="MB",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
            }
        )
        schema = vol.Schema(
            {
                vol.Required(SECTION_INCLUDE): section(
                    self._filter_section(_FILTER_KEYS[SECTION_INCLUDE], current),
                    {"collapsed": True},
                ),
                vol.Required(SECTION_EXCLUDE): section(
                    self._filter_section(_FILTER_KEYS[SECTION_EXCLUDE], current),
                    {"collapsed": True},
                ),
                vol.Required(SECTION_DATA): section(data_section, {"collapsed": False}),
                vol.Required(SECTION_DELIVERY): section(delivery_section, {"collapsed": True}),
            }
        )
        return self.async_show_form(step_id="settings", data_schema=schema, errors=errors)

    async def async_step_weather(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Each source has its own form: no API key field for a weather entity."""
        return self.async_show_menu(
            step_id="weather", menu_options=["weather_entity", "weather_owm", "weather_off"]
        )

    async def async_step_weather_off(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """No weather measurement, no enrichment; a stored OpenWeatherMap key is forgotten
        (a secret nothing uses any more)."""
        entry = self.config_entry
        if CONF_OWM_API_KEY in entry.data:
            data = {k: v for k, v in entry.data.items() if k != CONF_OWM_API_KEY}
            self.hass.config_entries.async_update_entry(entry, data=data)
        options = {k: v for k, v in self._current.items() if k != CONF_WEATHER_ENTITY}
        options[CONF_WEATHER_SOURCE] = WEATHER_SOURCE_ENTITY
        options[CONF_WEATHER_ENRICHMENT] = ENRICHMENT_OFF
        return self.async_create_entry(data=options)

    def _enrichment_field(self) -> dict[vol.Marker, Any]:
        return {
            vol.Required(
                CONF_WEATHER_ENRICHMENT, default=self._current[CONF_WEATHER_ENRICHMENT]
            ): SelectSelector(
                SelectSelectorConfig(
                    options=list(ENRICHMENT_MODES),
                    translation_key=CONF_WEATHER_ENRICHMENT,
                )
            )
        }

    async def async_step_weather_entity(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        current = self._current
        if user_input is not None:
            if user_input.get(CONF_WEATHER_ENTITY):
                return self._save({**user_input, CONF_WEATHER_SOURCE: WEATHER_SOURCE_ENTITY})
            errors[CONF_WEATHER_ENTITY] = "weather_entity_required"
        chosen = (user_input or current).get(CONF_WEATHER_ENTITY)
        schema = vol.Schema(
            {
                vol.Optional(
                    CONF_WEATHER_ENTITY, description={"suggested_value": chosen}
                ): EntitySelector(EntitySelectorConfig(domain="weather")),
                **self._enrichment_field(),
            }
        )
        return self.async_show_form(step_id="weather_entity", data_schema=schema, errors=errors)

    async def async_step_weather_owm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The key is a secret: it is kept in the entry data, and an empty field keeps it."""
        errors: dict[str, str] = {}
        stored = self.config_entry.data.get(CONF_OWM_API_KEY)
        if user_input is not None:
            key = user_input.pop(CONF_OWM_API_KEY, None) or stored
            if not key:
                errors[CONF_OWM_API_KEY] = "api_key_required"
            else:
                errors = await check_owm_key(self.hass, key)
            if not errors:
                entry = self.config_entry
                changes = {**user_input, CONF_WEATHER_SOURCE: WEATHER_SOURCE_OWM}
                if key != stored:
                    self.hass.config_entries.async_update_entry(
                        entry, data={**entry.data, CONF_OWM_API_KEY: key}
                    )
                    if OPTIONS_FLOW_RELOADS and {**self._current, **changes} == entry.options:
                        # The flow reloads only for changed options; the weather
                        # coordinator would keep asking with the old key.
                        self.hass.config_entries.async_schedule_reload(entry.entry_id)
                return self._save(changes)
        schema = vol.Schema(
            {
                vol.Optional(CONF_OWM_API_KEY): _PASSWORD,
                **self._enrichment_field(),
            }
        )
        return self.async_show_form(
            step_id="weather_owm_stored" if stored else "weather_owm",
            data_schema=schema,
            errors=errors,
        )

    async def async_step_weather_owm_stored(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The OpenWeatherMap form when a key is stored (its text says how to keep it)."""
        return await self.async_step_weather_owm(user_input)

    async def async_step_sports(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Keep or drop followed teams; pick a league to add teams from."""
        followed = [FollowedTeam.from_option(t) for t in self._current[CONF_SPORTS_TEAMS]]
        if user_input is not None:
            keep = set(user_input.get(CONF_SPORTS_TEAMS, []))
            self._teams = [t for t in followed if t.key in keep]
            if league := user_input.get("league"):
                self._league = league
                return await self.async_step_sports_teams()
            return self._save({CONF_SPORTS_TEAMS: [t.as_option() for t in self._teams]})
        fields: dict[vol.Marker, Any] = {}
        if followed:  # with none, the list would be a heading over nothing
            fields[vol.Optional(CONF_SPORTS_TEAMS, default=[t.key for t in followed])] = (
                SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(value=t.key, label=f"{t.name} ({t.league.upper()})")
                            for t in followed
                        ],
                        multiple=True,
                    )
                )
            )
        schema = vol.Schema(
            {
                **fields,
                vol.Optional("league"): SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(value=key, label=league.name)
                            for key, league in espn.LEAGUES.items()
                        ],
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
            }
        )
        return self.async_show_form(step_id="sports", data_schema=schema)

    async def async_step_sports_teams(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Teams of the chosen league, from ESPN."""
        league = self._league
        if user_input is not None:
            chosen = set(user_input.get("teams", []))
            added = [
                FollowedTeam(league, t.id, t.name, t.abbreviation)
                for t in self._league_teams
                if t.id in chosen
            ]
            teams = {t.key: t for t in [*self._teams, *added]}
            return self._save({CONF_SPORTS_TEAMS: [t.as_option() for t in teams.values()]})
        try:
            self._league_teams = sorted(
                await async_fetch_teams(self.hass, league), key=lambda t: t.name
            )
        except UpdateFailed:
            return self.async_abort(reason="espn_unavailable")
        if not self._league_teams:
            return self.async_abort(reason="no_teams")
        schema = vol.Schema(
            {
                vol.Required("teams"): SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(value=t.id, label=t.name) for t in self._league_teams
                        ],
                        multiple=True,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                )
            }
        )
        return self.async_show_form(
            step_id="sports_teams",
            data_schema=schema,
            description_placeholders={"league": espn.LEAGUES[league].name},
        )


async def check_owm_key(hass: HomeAssistant, api_key: str) -> dict[str, str]:
    """A real request with the key, at the home location; form errors or {}."""
    try:
        await fetch_owm(
            async_get_clientsession(hass), hass.config.latitude, hass.config.longitude, api_key
        )
    except OwmAuthError:
        return {CONF_OWM_API_KEY: "invalid_api_key"}
    except UpdateFailed:
        return {"base": "weather_unavailable"}
    return {}
