"""The runtime of one config entry: the one owner of everything the entry runs.

``IngestorRuntime.async_build`` opens the spool and restores the counters; ``async_start``
starts the pipeline, capture, coordinators and timers, each registering how it is released;
``async_stop`` releases whatever was started, in reverse, also when a later setup step raised.

Across a reload (any: options, reauth, reconfigure, the Reload button) the old capture keeps
listening and holds its lines in memory until the new runtime has subscribed, then hands them
over, so the events fired while the entry reloads are not lost. The counters travel with them.
An unload cannot tell a reload's from any other, so every unload hands over unless it disables
the entry or Home Assistant is stopping; a hand-over no setup takes ends by itself (see
``_async_end_unclaimed``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import inspect
import logging
from pathlib import Path
import time
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    CONF_PASSWORD,
    CONF_TOKEN,
    CONF_URL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import CoreState, HassJob, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .capture import Capture
from .compat import CORE_SCHEMA
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
    SELF_METRICS_INTERVAL_SECONDS,
    SPOOL_DIR,
    WEATHER_SOURCE_ENTITY,
    WEATHER_SOURCE_OWM,
    ApiKind,
)
from .coordinator import (
    SportsCoordinator,
    StatsCoordinator,
    WeatherCoordinator,
    self_metrics_line,
    snapshot,
)
from .entity_filter import EntityFilter, FilterRules, Verdict
from .health import HealthReporter
from .history_runtime import HistoryRuntime
from .pipeline import Pipeline, PipelineConfig
from .registry_cache import RegistryCache
from .schema import (
    SchemaOptions,
    SkipCounter,
    StateEncoder,
    event_encoder,
    make_state_encoder,
)
from .spool import Spool, SpoolError
from .sports import FollowedTeam
from .stats import Stats
from .weather import enrichment_context
from .writer import InfluxWriter, Target

_LOGGER = logging.getLogger(__name__)

MIB: Final = 1024 * 1024
COUNTERS_STORE_VERSION: Final = 1

type IngestorConfigEntry = ConfigEntry[IngestorRuntime]
type Release = Callable[[], Awaitable[None] | None]


@dataclass(slots=True)
class Handover:
    """What a reloading entry's old runtime leaves its successor."""

    capture: Capture  # still listening, holding its lines
    stats: Stats
    spooled: int = 0  # what the old pipeline left in the spool when it stopped


HANDOVERS: HassKey[dict[str, Handover]] = HassKey(f"{DOMAIN}_handovers")
PROBE_TIMEOUT: Final = 5.0  # seconds the setup waits to learn whether it is VictoriaMetrics
# How long a capture nobody took goes on holding while the entry's setup lock stays taken:
# six times the longest our setup waits before it takes it (PROBE_TIMEOUT), three times the
# 10 s after which Home Assistant calls a setup slow.
HANDOVER_HOLD: Final = timedelta(seconds=30)
# Home Assistant states in which no setup follows an unload.
STOPPING: Final = frozenset({CoreState.stopping, CoreState.final_write, CoreState.stopped})


@callback
def _keep_polling() -> None:
    """A listener that keeps a coordinator polling (see _async_start_enrichment)."""


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


def counters_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, COUNTERS_STORE_VERSION, f"{DOMAIN}.counters_{entry_id}")


def entry_options(entry: ConfigEntry) -> dict[str, Any]:
    return {**DEFAULT_OPTIONS, **entry.options}


def cleaned(values: Iterable[Any]) -> list[Any]:
    """Texts stripped; blanks and repeats dropped (an empty include pattern would match
    nothing and so leave everything out). The options form saves lists so; filter_rules
    reads them so too, for entries saved before."""
    kept = (v.strip() if isinstance(v, str) else v for v in values)
    return list(dict.fromkeys(v for v in kept if v != ""))


def filter_rules(options: Mapping[str, Any]) -> FilterRules:
    def names(key: str) -> frozenset[str]:
        return frozenset(patterns(key))

    def patterns(key: str) -> tuple[str, ...]:
        return tuple(cleaned(options.get(key) or ()))

    return FilterRules(
        include_domains=names(CONF_INCLUDE_DOMAINS),
        include_entities=names(CONF_INCLUDE_ENTITIES),
        include_globs=patterns(CONF_INCLUDE_GLOBS),
        include_labels=names(CONF_INCLUDE_LABELS),
        include_areas=names(CONF_INCLUDE_AREAS),
        exclude_domains=names(CONF_EXCLUDE_DOMAINS),
        exclude_entities=names(CONF_EXCLUDE_ENTITIES),
        exclude_globs=patterns(CONF_EXCLUDE_GLOBS),
        exclude_labels=names(CONF_EXCLUDE_LABELS),
        exclude_areas=names(CONF_EXCLUDE_AREAS),
    )


@callback
def async_discard_handover(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is gone for good: stop what its last runtime left listening."""
    if (handover := hass.data.get(HANDOVERS, {}).pop(entry_id, None)) is not None:
        handover.capture.stop()


async def _async_end_handover(
    hass: HomeAssistant,
    entry: ConfigEntry,
    handover: Handover,
    store: Store[dict[str, Any]],
    spool: Spool | None,
    *,
    reason: str = "setup_failed",
) -> None:
    """No setup takes the held capture (it failed, or none follows): stop it and keep what it
    held in the spool, or count it as dropped for ``reason`` when there is no spool; save the
    counters as they then stand."""
    capture = handover.capture
    capture.stop()
    held = list(capture.held)
    capture.held.clear()
    stats = handover.stats
    pending = handover.spooled
    if spool is not None:
        if spool.recovered_from is not None:  # damaged since the old pipeline closed it
            stats.dropped["spool_unreadable"] += max(0, pending - spool.pending_points)
            HealthReporter(hass, entry).spool_recovered(str(spool.recovered_from))
        try:
            if held and (full := await hass.async_add_executor_job(spool.append, held)):
                stats.dropped["spool_full"] += full  # the oldest, to make room
            held = []
            pending = spool.pending_points
        except SpoolError as err:
            _LOGGER.error("Could not spool %d held points (%s): %s", len(held), reason, err)
    if held:  # nowhere to put them: counted, not silently lost
        stats.dropped[reason] += len(held)
    await store.async_save(stats.as_stored(pending))


async def _async_end_unclaimed(
    hass: HomeAssistant, entry: ConfigEntry, handover: Handover, store: Store[dict[str, Any]]
) -> None:
    """End the hand-over of an unload that no setup took up.

    Home Assistant reloads an entry (in every version we support) by unloading and setting
    it up again before it releases the entry's setup lock, and our setup takes the hand-over
    early. So once the lock is free, a hand-over still here has no taker (an unload on its
    own, a setup that failed before ours ran): the capture stops, and what it held goes to
    the spool. Should the lock stay taken, the capture stops after HANDOVER_HOLD anyway.
    """

    def unclaimed() -> bool:
        return hass.data.get(HANDOVERS, {}).get(entry.entry_id) is handover

    @callback
    def stop_capturing(_now: datetime) -> None:
        if unclaimed():
            handover.capture.stop()

    cancel = async_call_later(hass, HANDOVER_HOLD, stop_capturing)
    try:
        async with entry.setup_lock:
            if not unclaimed():
                return  # taken by the setup that followed, or discarded with the entry
            del hass.data[HANDOVERS][entry.entry_id]
            handover.capture.stop()
            spool: Spool | None = None
            if handover.capture.held:  # else the spool stays as the old pipeline left it
                try:
                    spool = await _async_open_spool(hass, entry, entry_options(entry))
                except ConfigEntryNotReady as err:
                    _LOGGER.error("Could not open the spool of %s: %s", entry.title, err)
            try:
                await _async_end_handover(hass, entry, handover, store, spool, reason="spool_error")
            finally:
                if spool is not None:
                    await hass.async_add_executor_job(spool.close)
    finally:
        cancel()


async def _async_learn_victoria_metrics(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Whether a 1.x or 2.x entry writes to VictoriaMetrics, for entries made before the config
    flow kept it: asked once it answers (during setup, before anything is encoded)."""
    data = entry.data
    if data[CONF_API] == ApiKind.V3 or CONF_VICTORIA_METRICS in data:
        return
    target = target_from_data(data)
    session = async_get_clientsession(hass, verify_ssl=target.verify_ssl)
    found = await InfluxWriter(session, target, timeout=PROBE_TIMEOUT).is_victoria_metrics()
    if found is not None:  # None: no answer; asked again at the next setup
        hass.config_entries.async_update_entry(entry, data={**data, CONF_VICTORIA_METRICS: found})


async def _async_open_spool(
    hass: HomeAssistant, entry: ConfigEntry, options: Mapping[str, Any]
) -> Spool:
    try:
        return await hass.async_add_executor_job(
            Spool, spool_path(hass, entry), int(options[CONF_SPOOL_SIZE_MB] * MIB)
        )
    except SpoolError as err:
        # A full disk or a wrong permission can be put right: Home Assistant retries the setup.
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="spool_unavailable",
            translation_placeholders={"error": str(err)},
        ) from err


class IngestorRuntime:
    """Capture, pipeline, spool and coordinators of one entry, started and stopped together."""

    def __init__(  # noqa: PLR0917 - called by async_build only
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        options: dict[str, Any],
        spool: Spool,
        stats: Stats,
        store: Store[dict[str, Any]],
        handover: Handover | None,
    ) -> None:
        self._hass = hass
        self._entry = entry
        self.options = options
        # What the entry said when this was built: an unload after it changed is a reload.
        self._built = (dict(entry.options), dict(entry.data))
        self.stats = stats
        self._store = store
        self._handover = handover
        # Capture handed over, and still listening (not stopped after HANDOVER_HOLD): nothing
        # was missed, nothing for the gap repair to look for.
        self._continuous = handover is not None and handover.capture.listening
        self._releases: list[Release] = []
        self._stopped = False
        self.skips = SkipCounter()
        target = target_from_data(entry.data)
        self.writer = InfluxWriter(
            async_get_clientsession(hass, verify_ssl=target.verify_ssl), target
        )
        self.health = HealthReporter(hass, entry)
        self.pipeline = Pipeline(
            self.writer,
            spool,
            stats,
            PipelineConfig(
                batch_size=int(options[CONF_BATCH_SIZE]),
                flush_interval=float(options[CONF_FLUSH_INTERVAL]),
            ),
            self.health,
        )
        self.registry = RegistryCache(hass, frozenset(options[CONF_METADATA_TAGS]))
        self.entity_filter = EntityFilter(
            filter_rules(options),
            self.registry.placement,
            include_own=bool(options[CONF_INCLUDE_OWN]),
        )
        schema = SchemaOptions(
            mode=options[CONF_SCHEMA_MODE],
            include_attributes=bool(options[CONF_ATTRIBUTES]),
            ignore_attributes=frozenset(options[CONF_IGNORE_ATTRIBUTES]),
            core_schema=CORE_SCHEMA,
            flat_strings=bool(entry.data.get(CONF_VICTORIA_METRICS)),
        )
        self.encoder = make_state_encoder(schema, self.registry, self.skips)
        self.history = HistoryRuntime(
            hass,
            entry,
            writer=self.writer,
            pipeline=self.pipeline,
            batch_size=int(options[CONF_BATCH_SIZE]),
            flush_interval=float(options[CONF_FLUSH_INTERVAL]),
            encoder_factory=lambda: make_state_encoder(schema, self.registry, self.skips),
            wanted=lambda entity_id: self.entity_filter(entity_id) is Verdict.INGEST,
            statistics=bool(options[CONF_STATISTICS]),
        )
        self.capture = Capture(
            hass,
            options[CONF_EVENT_TYPES],
            self.entity_filter,
            self.encoder,
            event_encoder(schema, self.skips),
            stats,
            self.pipeline.submit,
        )
        self.coordinator = StatsCoordinator(hass, entry, self.pipeline)
        self.weather: WeatherCoordinator | None = None
        self.sports: SportsCoordinator | None = None
        source = options[CONF_WEATHER_SOURCE]
        if (source == WEATHER_SOURCE_OWM and entry.data.get(CONF_OWM_API_KEY)) or (
            source == WEATHER_SOURCE_ENTITY and options.get(CONF_WEATHER_ENTITY)
        ):
            self.weather = WeatherCoordinator(hass, entry, options, self.submit_own_point)
        teams = [FollowedTeam.from_option(team) for team in options[CONF_SPORTS_TEAMS]]
        if teams:
            self.sports = SportsCoordinator(hass, entry, teams, self.submit_own_point)

    @classmethod
    async def async_build(cls, hass: HomeAssistant, entry: ConfigEntry) -> IngestorRuntime:
        """Open the spool and restore the counters (or take them over from a reload)."""
        options = entry_options(entry)
        await _async_learn_victoria_metrics(hass, entry)
        handover = hass.data.get(HANDOVERS, {}).pop(entry.entry_id, None)
        store = counters_store(hass, entry.entry_id)
        try:
            spool = await _async_open_spool(hass, entry, options)
        except BaseException:
            if handover is not None:
                await _async_end_handover(hass, entry, handover, store, None)
            raise
        try:
            if handover is not None:
                stats = handover.stats
            else:
                stats = Stats.restore(
                    await store.async_load(),
                    spool.pending_points,
                    spool_damaged=spool.recovered_from is not None,
                )
            return cls(hass, entry, options, spool, stats, store, handover)
        except BaseException:
            if handover is not None:
                await _async_end_handover(hass, entry, handover, store, spool)
            await hass.async_add_executor_job(spool.close)
            raise

    # ------------------------------------------------------------------ start

    async def async_start(self) -> None:
        """Start everything; on an exception the caller calls async_stop."""
        hass, entry = self._hass, self._entry
        if self.pipeline.spool.recovered_from is not None:
            self.health.spool_recovered(str(self.pipeline.spool.recovered_from))
        self.registry.add_listener(self._registry_changed)
        self._releases.append(self.registry.async_start())
        self._releases.append(self.coordinator.async_shutdown)
        await self.coordinator.async_config_entry_first_refresh()
        self.pipeline.start(
            lambda coro: entry.async_create_background_task(hass, coro, f"{DOMAIN} pipeline")
        )
        self._start_capture()
        await self._async_start_enrichment()
        self._releases.append(self.history.async_stop)
        await self.history.async_start(continuous=self._continuous)
        self._releases.append(
            async_track_time_interval(
                hass,
                self._async_write_self_metrics,
                timedelta(seconds=SELF_METRICS_INTERVAL_SECONDS),
                cancel_on_shutdown=True,
            )
        )
        self._releases.append(self.coordinator.async_add_listener(self._counters_shown))
        self._listen_for_hass_stop()

    @callback
    def _start_capture(self) -> None:
        """Subscribe, then take over what a reloading predecessor held (no await between)."""
        self.capture.start()
        if self._handover is not None:
            self._handover.capture.hand_over(self.pipeline.submit)
            self._handover = None

    async def _async_start_enrichment(self) -> None:
        """Weather and sports; their first refresh never holds up setup."""
        hass, entry = self._hass, self._entry
        if (weather := self.weather) is not None:
            self._releases.append(weather.async_shutdown)
            self._releases.append(weather.async_add_listener(self._weather_changed))
            entry.async_create_background_task(hass, weather.async_refresh(), f"{DOMAIN} weather")
        if (sports := self.sports) is not None:
            self._releases.append(sports.async_shutdown)
            await sports.async_load()
            self._releases.append(sports.async_save)
            # A coordinator polls only while something listens, and the events and points
            # come from each poll: they go on with every team sensor disabled.
            self._releases.append(sports.async_add_listener(_keep_polling))
            entry.async_create_background_task(hass, sports.async_refresh(), f"{DOMAIN} sports")

    def _listen_for_hass_stop(self) -> None:
        """Stop as one of Home Assistant's shutdown jobs: those run before it cancels the
        background tasks (the pipeline's among them) and fires homeassistant_stop, so the
        queue is still written or spooled, and the counters saved."""
        pending = True

        async def on_hass_stop() -> None:
            nonlocal pending
            pending = False  # Home Assistant is running its jobs: not ours to remove now
            await self.async_stop()

        remove = self._hass.async_add_shutdown_job(HassJob(on_hass_stop, f"{DOMAIN} stop"))

        @callback
        def release() -> None:
            if pending:
                remove()

        self._releases.append(release)

    # ------------------------------------------------------------------ running

    @callback
    def submit_own_point(self, line: str) -> None:
        """A point of our own (weather, sports): counted like an event, delivered like one.

        Not once the pipeline stopped (a refresh that was on its way when the entry unloaded):
        its queue is no longer written or spooled, so the point would be counted, then lost.
        """
        if self.pipeline.stopping:
            return
        self.stats.received += 1
        self.pipeline.submit(line)

    @callback
    def _registry_changed(self, entity_id: str | None) -> None:
        self.entity_filter.invalidate()
        if entity_id is not None:
            self.encoder.forget(entity_id)

    @callback
    def _weather_changed(self) -> None:
        weather = self.weather
        assert weather is not None
        reading = weather.data if weather.last_update_success else None
        if isinstance(self.encoder, StateEncoder):  # core-compatible points stay as core's
            self.encoder.set_context(
                *enrichment_context(reading, self.options[CONF_WEATHER_ENRICHMENT])
            )

    async def _async_write_self_metrics(self, _now: Any) -> None:
        line = self_metrics_line(
            snapshot(self.pipeline), self._entry.entry_id, self._entry.title, time.time()
        )
        if line is not None and self.stats.connected:
            await self.writer.write_lines([line])

    @callback
    def _counters_shown(self) -> None:
        """The sensors show new counters: saved now, so a crash never takes a
        total_increasing sensor below what it showed (Home Assistant reads that as a meter
        reset). At most once per statistics refresh, never per event."""
        self._store.async_delay_save(self._stored_counters, 0)

    def _stored_counters(self) -> dict[str, Any]:
        return self.stats.as_stored(self.pipeline.pending)

    async def _async_save_counters(self) -> None:
        await self._store.async_save(self._stored_counters())

    # ------------------------------------------------------------------ stop

    def outdated(self) -> bool:
        """Whether the entry changed since this runtime was built from it."""
        entry = self._entry
        return (dict(entry.options), dict(entry.data)) != self._built

    def may_set_up_again(self) -> bool:
        """Whether a setup may follow an unload now, so it hands the capture over.

        Home Assistant does not say: a reload of any kind (options, reauth, the Reload
        button, the reload_config_entry action) is an unload then a setup, with the entry
        unchanged or not. Only these have none: disabling (disabled_by is set before the
        unload) and Home Assistant stopping. Removal discards the hand-over
        (async_discard_handover); any other unload's ends by itself (_async_end_unclaimed).
        """
        return self._entry.disabled_by is None and self._hass.state not in STOPPING

    async def async_stop(self, *, hand_over: bool = False) -> None:
        """Release everything started, newest first; flush or spool what is queued.

        With ``hand_over`` the capture keeps listening and holding lines for the next runtime
        of this entry (the reload that may follow), until _async_end_unclaimed ends that.
        """
        if self._stopped:
            return
        self._stopped = True
        handover: Handover | None = None
        if hand_over and self.capture.listening:
            self.capture.hold()
            handover = Handover(self.capture, self.stats)
            self._hass.data.setdefault(HANDOVERS, {})[self._entry.entry_id] = handover
        else:
            self.capture.stop()
        if self._handover is not None:  # setup failed before capture started
            self._handover.capture.hand_over(self.pipeline.submit)
            self._handover = None
        errors: list[BaseException] = []
        while self._releases:
            release = self._releases.pop()
            try:
                result = release()
                if inspect.isawaitable(result):
                    await result
            except Exception as err:  # release the rest, then report
                errors.append(err)
        try:
            await self.pipeline.async_stop()
            self.health.stopped()
            if handover is not None:
                handover.spooled = self.pipeline.pending
            await self._async_save_counters()
        finally:
            if handover is not None:  # after the spool closed: it may open it again
                self._hass.async_create_task(
                    _async_end_unclaimed(self._hass, self._entry, handover, self._store),
                    f"{DOMAIN} end hand-over",
                )
        for error in errors:
            _LOGGER.error("Error while stopping %s: %r", self._entry.title, error)
