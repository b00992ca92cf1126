"""Shared pieces of the benchmarks: the event sequence, a real Home Assistant, switches.

Home Assistant runs in-process without pytest: a ``HomeAssistant`` object on a temp config
dir with the registries loaded (what bootstrap does before setting up integrations), our
integration loaded from this repository's ``custom_components`` and HA core's ``influxdb``
integration from the installed package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
import datetime as dt
import gc
import json
import logging
from pathlib import Path
import random
import sys
import time
from types import MappingProxyType
from typing import Any
import urllib.parse
import urllib.request

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from homeassistant import bootstrap, config_entries, loader  # noqa: E402
from homeassistant.const import EVENT_STATE_CHANGED  # noqa: E402
from homeassistant.core import Event, HomeAssistant, callback  # noqa: E402
from homeassistant.helpers import aiohttp_client  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from homeassistant.util.async_ import _SHUTDOWN_RUN_CALLBACK_THREADSAFE  # noqa: E402

from custom_components.ha_ingestor.const import (  # noqa: E402
    CONF_API,
    CONF_BUCKET,
    CONF_DATABASE,
    CONF_ORG,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from custom_components.ha_ingestor.writer import Outcome  # noqa: E402

Change = tuple[str, str, dict[str, Any]]
YIELD_EVERY = 50  # async_set calls between two event-loop yields while firing

# ---------------------------------------------------------------------------- the sequence


@dataclass(slots=True)
class _Entity:
    entity_id: str
    kind: str
    attributes: dict[str, Any]
    value: float = 0.0
    step: int = 0


_TEXT_STATES = ("idle", "washing", "rinsing", "spinning", "done, waiting")
_HVAC = ("heat", "off", "auto", "cool")
_COLOR_MODES = ("brightness", "color_temp", "hs")


def _entities(count: int, rnd: random.Random) -> list[_Entity]:
    """A home: numeric sensors (units, device classes), binary sensors, text states, ..."""
    kinds = (
        ["temperature"] * 8
        + ["humidity"] * 5
        + ["power"] * 6
        + ["energy"] * 4
        + ["binary"] * 9
        + ["text"] * 3
        + ["light"] * 4
        + ["climate"] * 1
    )
    out: list[_Entity] = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        lq = float(rnd.randint(40, 255))
        if kind in ("temperature", "humidity", "power", "energy"):
            unit, dclass, base = {
                "temperature": ("°C", "temperature", 21.0),
                "humidity": ("%", "humidity", 50.0),
                "power": ("W", "power", 120.0),
                "energy": ("kWh", "energy", 1000.0),
            }[kind]
            attrs: dict[str, Any] = {
                "state_class": "total_increasing" if kind == "energy" else "measurement",
                "unit_of_measurement": unit,
                "device_class": dclass,
                "friendly_name": f"Room {i} {kind.title()}",
                "linkquality": lq,
            }
            out.append(_Entity(f"sensor.room_{i}_{kind}", kind, attrs, base + rnd.random()))
        elif kind == "binary":
            dclass = ("motion", "door", "window")[i % 3]
            attrs = {"device_class": dclass, "friendly_name": f"Hall {i} {dclass}"}
            attrs["linkquality"] = lq
            out.append(_Entity(f"binary_sensor.hall_{i}_{dclass}", kind, attrs))
        elif kind == "text":
            attrs = {
                "friendly_name": f'Washer "{i}" status',
                "icon": "mdi:washing-machine",
                "options": _TEXT_STATES,
                "linkquality": lq,
            }
            out.append(_Entity(f"sensor.washer_{i}_status", kind, attrs))
        elif kind == "light":
            attrs = {
                "supported_color_modes": ("brightness", "color_temp", "hs"),
                "color_mode": "brightness",
                "brightness": 128,
                "friendly_name": f"Lamp {i}",
                "supported_features": 40,
                "linkquality": lq,
            }
            out.append(_Entity(f"light.lamp_{i}", kind, attrs))
        else:
            attrs = {
                "hvac_modes": _HVAC,
                "min_temp": 7.0,
                "max_temp": 35.0,
                "current_temperature": 20.5,
                "temperature": 21.0,
                "preset_mode": None,
                "friendly_name": f"Thermostat {i}",
                "last_seen": dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC),
                "linkquality": lq,
            }
            out.append(_Entity(f"climate.thermostat_{i}", kind, attrs))
    return out


def _next_state(ent: _Entity, rnd: random.Random) -> tuple[str, dict[str, Any]]:
    """The entity's next state; always different from its previous one, so HA fires."""
    ent.step += 1
    kind = ent.kind
    if kind == "energy":
        ent.value += 0.001 + rnd.random() / 100
        return f"{ent.value:.3f}", ent.attributes
    if kind in ("temperature", "humidity", "power"):
        delta = (rnd.randint(1, 9) / 10) * (1 if rnd.random() < 0.5 else -1)
        ent.value = round(ent.value + delta, 1)
        return f"{ent.value:.1f}", ent.attributes
    if kind == "binary":
        return ("on" if ent.step % 2 else "off"), ent.attributes
    if kind == "text":
        return _TEXT_STATES[ent.step % len(_TEXT_STATES)], ent.attributes
    if kind == "light":
        # Lights change attributes (new dict, so the encoders rebuild their cache).
        on = ent.step % 2 == 1
        attrs = dict(ent.attributes)
        attrs["brightness"] = rnd.randint(1, 255) if on else None
        attrs["color_mode"] = _COLOR_MODES[ent.step % 3] if on else None
        ent.attributes = attrs
        return ("on" if on else "off"), attrs
    return _HVAC[ent.step % len(_HVAC)], ent.attributes


def iter_changes(n: int, entities: int = 400, seed: int = 7) -> Iterator[Change]:
    """A reproducible mixed sequence of n state changes over `entities` entities.

    Entities are picked in a shuffled round-robin, so consecutive changes of one entity are
    `entities` events apart (distinct timestamps per series, also at millisecond precision).
    """
    rnd = random.Random(seed)
    ents = _entities(entities, rnd)
    order = list(range(entities))
    produced = 0
    while produced < n:
        rnd.shuffle(order)
        # keep the last entity of a round away from the start of the next one
        for idx in order:
            if produced >= n:
                return
            ent = ents[idx]
            state, attrs = _next_state(ent, rnd)
            yield ent.entity_id, state, attrs
            produced += 1


@dataclass(slots=True)
class Sequence:
    """A precomputed sequence in chunks of YIELD_EVERY changes.

    Changes are (entity_id, state, index into `attributes`): only atomic values, so the
    garbage collector stops tracking them after one collection, and the GC time measured is
    Home Assistant's and the integrations', not that of the benchmark's own data.
    """

    chunks: list[list[tuple[str, str, int]]]
    attributes: list[dict[str, Any]]

    def __len__(self) -> int:
        return sum(map(len, self.chunks))

    def changes(self) -> Iterator[Change]:
        attributes = self.attributes
        for chunk in self.chunks:
            for entity_id, state, index in chunk:
                yield entity_id, state, attributes[index]


def make_sequence(n: int, entities: int = 400, seed: int = 7) -> Sequence:
    """Precomputed, so generation and slicing are not timed."""
    attributes: list[dict[str, Any]] = []
    index: dict[int, int] = {}
    flat: list[tuple[str, str, int]] = []
    for entity_id, state, attrs in iter_changes(n, entities, seed):
        i = index.get(id(attrs))
        if i is None:
            i = index[id(attrs)] = len(attributes)
            attributes.append(attrs)
        flat.append((entity_id, state, i))
    chunks = [flat[i : i + YIELD_EVERY] for i in range(0, len(flat), YIELD_EVERY)]
    del flat, index
    gc.collect()
    return Sequence(chunks, attributes)


def ha_attribute_objects(seq: Sequence) -> list[Change]:
    """The sequence as HA's state machine stores it: unchanged attributes keep their object."""
    from homeassistant.util.read_only_dict import ReadOnlyDict

    last: dict[str, Any] = {}
    out: list[Change] = []
    for entity_id, state, attrs in seq.changes():
        prev = last.get(entity_id)
        if prev is None or prev != attrs:
            prev = last[entity_id] = ReadOnlyDict(attrs)
        out.append((entity_id, state, prev))
    return out


async def fire(hass: HomeAssistant, seq: Sequence) -> float:
    """async_set every change, yielding to the loop between chunks; seconds taken."""
    async_set = hass.states.async_set
    attributes = seq.attributes
    sleep = asyncio.sleep
    start = time.perf_counter()
    for chunk in seq.chunks:
        for entity_id, state, index in chunk:
            async_set(entity_id, state, attributes[index])
        await sleep(0)
    return time.perf_counter() - start


async def fire_changes(hass: HomeAssistant, changes: Iterator[Change]) -> float:
    """Like fire, for a generated (not precomputed) sequence."""
    async_set = hass.states.async_set
    start = time.perf_counter()
    for i, (entity_id, state, attrs) in enumerate(changes, 1):
        async_set(entity_id, state, attrs)
        if i % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    return time.perf_counter() - start


async def fire_steadily(
    hass: HomeAssistant,
    seq: Sequence,
    rate: float,
    until: Callable[[], bool] | None = None,
) -> int:
    """async_set the sequence at `rate` changes per second, a chunk per tick, to its end or
    until `until()` is true; returns how many changes were set."""
    loop = asyncio.get_running_loop()
    tick = YIELD_EVERY / rate
    start = loop.time()
    async_set = hass.states.async_set
    attributes = seq.attributes
    fired = 0
    for k, chunk in enumerate(seq.chunks):
        delay = start + k * tick - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if until is not None and until():
            break
        for entity_id, state, index in chunk:
            async_set(entity_id, state, attributes[index])
        fired += len(chunk)
    return fired


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (nan for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


async def reset_states(hass: HomeAssistant, seq: Sequence) -> None:
    """Remove the sequence's entities, so replaying it fires every change again."""
    seen = {entity_id for chunk in seq.chunks for entity_id, _, _ in chunk}
    for entity_id in seen:
        hass.states.async_remove(entity_id)
    await asyncio.sleep(0)


# ---------------------------------------------------------------------------- Home Assistant


def _plain_resolver(hass: HomeAssistant) -> Any:
    return aiohttp.ThreadedResolver()


# HA's shared aiohttp session resolves host names through zeroconf (mDNS), which needs the
# network and http integrations. The benchmarks only use 127.0.0.1 URLs, which aiohttp never
# resolves, so a plain resolver keeps those (and zeroconf's threads) out of the measurements.
aiohttp_client._async_make_resolver = _plain_resolver


async def start_hass(config_dir: Path) -> HomeAssistant:
    hass = HomeAssistant(str(config_dir))
    hass.config.skip_pip = True
    loader.async_setup(hass)
    hass.config_entries = config_entries.ConfigEntries(hass, {})
    await bootstrap.async_load_base_functionality(hass)
    await hass.async_start()
    return hass


async def stop_hass(hass: HomeAssistant) -> None:
    await hass.async_stop()
    # Another Home Assistant may run on this loop next (--smoke runs everything in-process).
    with contextlib.suppress(AttributeError):
        delattr(hass.loop, _SHUTDOWN_RUN_CALLBACK_THREADSAFE)


def _state_jobs(hass: HomeAssistant) -> list[Any]:
    return list(hass.bus._listeners.get(EVENT_STATE_CHANGED, []))


class ListenerSwitch:
    """Detach and re-attach the state_changed listeners an integration registered.

    Lets one process compare integrations on the same Home Assistant: only the one being
    measured is on the bus. Uses the bus's internal listener list (benchmark only).
    """

    def __init__(self, hass: HomeAssistant, jobs: list[Any]) -> None:
        self._hass = hass
        self._jobs = jobs
        self.on_bus = True

    @classmethod
    def diff(cls, hass: HomeAssistant, before: list[Any]) -> ListenerSwitch:
        ids = {id(j) for j in before}
        return cls(hass, [j for j in _state_jobs(hass) if id(j) not in ids])

    def off(self) -> None:
        if self.on_bus:
            jobs = self._hass.bus._listeners[EVENT_STATE_CHANGED]
            for job in self._jobs:
                jobs.remove(job)
            self.on_bus = False

    def on(self) -> None:
        if not self.on_bus:
            self._hass.bus._listeners[EVENT_STATE_CHANGED].extend(self._jobs)
            self.on_bus = True


def noop_listener(hass: HomeAssistant) -> ListenerSwitch:
    @callback
    def noop(event: Event) -> None:
        return None

    before = _state_jobs(hass)
    hass.bus.async_listen(EVENT_STATE_CHANGED, noop)
    return ListenerSwitch.diff(hass, before)


class AckRecorder:
    """Wraps our writer: counts acknowledged points, optionally latency per line."""

    def __init__(self, writer: Any, latencies: bool = False) -> None:
        self._orig = writer.write_lines
        self.points = 0
        self.requests = 0
        self.round_trips: list[float] = []  # seconds from sending a request to its answer
        self.last_ack = 0.0
        self.latencies: list[float] | None = [] if latencies else None
        # Which acknowledged lines have their latency taken (a backfill's old states do not).
        self.live: Callable[[str], bool] = lambda line: line.startswith("ha_states")
        writer.write_lines = self.write_lines

    async def write_lines(self, lines: list[str]) -> Any:
        result = await self._orig(lines)
        self.requests += 1
        self.round_trips.append(result.latency)
        if result.outcome is Outcome.OK:
            now = time.time()
            self.last_ack = time.perf_counter()
            self.points += len(lines)
            if self.latencies is not None:
                add = self.latencies.append
                live = self.live
                for line in lines:
                    if live(line):
                        add(now - int(line.rpartition(" ")[2]) / 1e6)
        return result


@dataclass
class Ingestor:
    entry: config_entries.ConfigEntry
    switch: ListenerSwitch
    acks: AckRecorder

    @property
    def pipeline(self) -> Any:
        return self.entry.runtime_data.pipeline

    @property
    def stats(self) -> Any:
        return self.entry.runtime_data.pipeline.stats

    @property
    def accounted(self) -> int:
        """Points written, dropped or dead-lettered so far."""
        stats = self.stats
        return int(stats.written + stats.dropped_total + stats.dead_lettered)

    async def wait_written(self, expected: int, limit_s: float) -> bool:
        """Until `expected` points are accounted for (written, dropped or dead-lettered).

        True when all of them were written.
        """
        deadline = time.monotonic() + limit_s
        stats = self.stats
        while self.accounted < expected:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.005)
        return stats.written >= expected


async def add_ingestor(
    hass: HomeAssistant,
    target: dict[str, str],
    latencies: bool = False,
    **options: Any,
) -> Ingestor:
    """Set up an ha_ingestor config entry (default options unless given)."""
    if target["api"] == "v1":
        data = {CONF_API: "v1", "url": target["url"], CONF_DATABASE: target["database"]}
    else:
        data = {
            CONF_API: "v2",
            "url": target["url"],
            CONF_ORG: "bench",
            CONF_BUCKET: "bench",
            "token": "bench",
        }
    data["verify_ssl"] = True
    entry = config_entries.ConfigEntry(
        domain=DOMAIN,
        title="benchmark",
        data=data,
        options={**DEFAULT_OPTIONS, **options},
        source="user",
        version=1,
        minor_version=1,
        unique_id=f"{target['url']}|{target.get('database', '')}",
        discovery_keys=MappingProxyType({}),
        subentries_data=None,
    )
    before = _state_jobs(hass)
    await hass.config_entries.async_add(entry)
    await hass.async_block_till_done()
    if entry.state is not config_entries.ConfigEntryState.LOADED:
        raise RuntimeError(f"ha_ingestor entry did not load: {entry.state} {entry.reason}")
    switch = ListenerSwitch.diff(hass, before)
    return Ingestor(entry, switch, AckRecorder(entry.runtime_data.writer, latencies))


class _DropCounter(logging.Handler):
    """Counts what core's influxdb logs as dropped ("Catching up, dropped %d old events")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "dropped" in str(record.msg) and record.args:
            self.dropped += int(record.args[0])  # type: ignore[index]


@dataclass
class CoreInflux:
    """HA core's influxdb integration, instrumented (write wrapper, drop counter)."""

    thread: Any
    switch: ListenerSwitch
    drops: _DropCounter
    synchronous: bool  # v1 writes return after the server answered; v2 writes are queued
    points: int = 0
    requests: int = 0
    converted: int = 0
    failed: int = 0
    last_ack: float = 0.0
    latencies: list[float] | None = None

    async def wait_drained(self, hass: HomeAssistant, limit_s: float) -> bool:
        """Until core's queue is empty and every converted point was written (or failed)."""
        deadline = time.monotonic() + limit_s
        queue = self.thread.queue
        while True:
            await asyncio.sleep(0.01)
            if queue.empty() and self.points + self.failed >= self.converted:
                # the thread may still hold a partial batch (1 s batch timeout)
                await asyncio.sleep(1.2)
                if queue.empty() and self.points + self.failed >= self.converted:
                    return True
            if time.monotonic() > deadline:
                return False


async def setup_core_influx(
    hass: HomeAssistant, target: dict[str, str], latencies: bool = False
) -> CoreInflux:
    url = urllib.parse.urlsplit(target["url"])
    conf: dict[str, Any] = {"host": url.hostname, "port": url.port}
    if target["api"] == "v1":
        conf["database"] = target["database"]
    else:
        conf.update(api_version="2", ssl=False, token="bench", organization="bench", bucket="bench")
    drops = _DropCounter()
    logging.getLogger("homeassistant.components.influxdb").addHandler(drops)
    before = _state_jobs(hass)
    if not await async_setup_component(hass, "influxdb", {"influxdb": conf}):
        raise RuntimeError("core influxdb did not set up")
    await hass.async_block_till_done()
    thread = hass.data["influxdb"]
    core = CoreInflux(
        thread,
        ListenerSwitch.diff(hass, before),
        drops,
        synchronous=target["api"] == "v1",
        latencies=[] if latencies else None,
    )
    to_json = thread.event_to_json

    def counting_to_json(event: Event) -> Any:
        out = to_json(event)
        if out is not None:
            core.converted += 1
        return out

    thread.event_to_json = counting_to_json
    client = thread.influx
    orig_write = client.write

    def write(points: Any) -> None:
        try:
            orig_write(points)
        except Exception:
            core.failed += len(points)
            raise
        core.points += len(points)
        core.requests += 1
        core.last_ack = time.perf_counter()
        if core.latencies is not None:
            now = time.time()
            core.latencies.extend(now - p["time"].timestamp() for p in points)

    client.write = write
    return core


# ---------------------------------------------------------------------------- measuring


@dataclass
class GcTimer:
    """Time the cyclic garbage collector spends (all generations) while enabled."""

    seconds: float = 0.0
    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    _start: float = 0.0
    active: bool = False

    def __enter__(self) -> GcTimer:
        self.active = True
        gc.callbacks.append(self._cb)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._cb)
        self.active = False

    def _cb(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections[info["generation"]] += 1


def proc_status() -> dict[str, int]:
    """VmRSS / VmHWM (kB) of this process."""
    out: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return False
    return True


# ---------------------------------------------------------------------------- servers


def _http_json(url: str, data: bytes | None = None, timeout: float = 60) -> Any:
    with urllib.request.urlopen(url, data=data, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def count_influx1(url: str, database: str, field_name: str = "linkquality") -> int:
    """Points with `field_name` across all measurements of a database (InfluxDB 1.x)."""
    q = urllib.parse.urlencode({"q": f'SELECT count("{field_name}") FROM /.*/', "db": database})
    result = _http_json(f"{url}/query", q.encode())
    total = 0
    for res in result.get("results", []):
        if "error" in res:
            raise RuntimeError(res["error"])
        for series in res.get("series", []):
            total += sum(int(v[1] or 0) for v in series["values"])
    return total


def count_victoria(url: str, field_name: str = "linkquality") -> int:
    """Samples of every `<measurement>_<field>` series (VictoriaMetrics)."""
    try:
        with urllib.request.urlopen(f"{url}/internal/force_flush", timeout=30) as r:
            r.read()
    except OSError:
        pass
    query = f'sum(count_over_time({{__name__=~".+_{field_name}"}}[2h]))'
    result = _http_json(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    values = result["data"]["result"]
    return int(float(values[0]["value"][1])) if values else 0


def count_points(target: dict[str, str]) -> int:
    if target["api"] == "v1":
        return count_influx1(target["url"], target["database"])
    return count_victoria(target["url"])


def wait_count(
    target: dict[str, str], expected: int, settle: float = 3.0, timeout: float = 60.0
) -> tuple[int, float]:
    """Poll the server until it holds `expected` points, or the count stops growing.

    Returns (count, perf_counter time the final count was first seen).
    """
    deadline = time.monotonic() + timeout
    last, since = -1, time.perf_counter()
    while True:
        count = count_points(target)
        now = time.perf_counter()
        if count != last:
            last, since = count, now
        if count >= expected or now - since > settle or time.monotonic() > deadline:
            return count, since
        time.sleep(0.25)


def silence_logs() -> None:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    for name in ("homeassistant", "custom_components", "aiohttp", "urllib3", "influxdb_client"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # core's "dropped old events" warning is counted, not printed
    core_log = logging.getLogger("homeassistant.components.influxdb")
    core_log.setLevel(logging.WARNING)
    core_log.propagate = False


def now_callable() -> Callable[[], float]:
    return time.perf_counter
