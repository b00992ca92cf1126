"""Days of a simulated home, put into the real recorder's SQLite database.

Through the recorder's event path the test harness records about 300 states/s, far too slow
for 100,000+ states, so the history is inserted in bulk through the recorder's own schema
(`db_schema.States`, `StatesMeta`, `StateAttributes`), attributes encoded the way the
recorder encodes them. Reads then go through the recorder's public history API, unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import json
import logging
import random
from typing import Any

from homeassistant.components.recorder.db_schema import StateAttributes, States, StatesMeta
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance, session_scope
import pytest
from sqlalchemy import insert, select


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_db_url: str, enable_custom_integrations: None
) -> Iterator[None]:
    """For test modules that use the recorder (import this fixture): the plugin requires the
    recorder's database to be chosen before Home Assistant starts. The plugin also logs every
    SQL statement at INFO, which alone makes the recorder ten times slower: quieted here."""
    engine_log = logging.getLogger("sqlalchemy.engine")
    level = engine_log.level
    engine_log.setLevel(logging.WARNING)
    yield
    engine_log.setLevel(level)


@dataclass(frozen=True, slots=True)
class Recorded:
    entity_id: str
    state: str
    attributes: dict[str, Any]
    ts: float  # last_updated


def _entities() -> list[tuple[str, dict[str, Any]]]:
    entities: list[tuple[str, dict[str, Any]]] = []
    for n in range(12):
        entities.append(
            (
                f"sensor.hist_temp_{n}",
                {
                    "unit_of_measurement": "°C",
                    "device_class": "temperature",
                    "state_class": "measurement",
                    "friendly_name": f"Temperature {n}",
                },
            )
        )
    for n in range(10):
        entities.append(
            (
                f"sensor.hist_power_{n}",
                {"unit_of_measurement": "W", "device_class": "power", "friendly_name": f"P {n}"},
            )
        )
    for n in range(8):
        entities.append(
            (
                f"binary_sensor.hist_motion_{n}",
                {"device_class": "motion", "friendly_name": f"M {n}"},
            )
        )
    for n in range(6):
        entities.append(
            (
                f"light.hist_lamp_{n}",
                {"supported_color_modes": ["brightness"], "friendly_name": f"Lamp {n}"},
            )
        )
    for n in range(2):
        entities.append(
            (f"climate.hist_room_{n}", {"hvac_modes": ["heat", "off"], "friendly_name": f"R {n}"})
        )
    entities.append(("sensor.hist_weather_text", {"friendly_name": "Forecast"}))
    return entities


def simulate(start: float, days: float, per_entity: int, seed: int = 13) -> list[Recorded]:
    """A deterministic home: numbers, on/off, attribute-only changes, unavailable now and then.

    Timestamps are whole milliseconds apart per entity (VictoriaMetrics keeps milliseconds)
    with microseconds in them, as Home Assistant's are.
    """
    rng = random.Random(seed)
    span = days * 86_400
    out: list[Recorded] = []
    for entity_id, base in _entities():
        domain = entity_id.partition(".")[0]
        step = span / per_entity
        value = 20.0
        on = False
        for i in range(per_entity):
            ts = round(start + i * step + rng.uniform(0, step * 0.5), 6)
            attrs = dict(base)
            if rng.random() < 0.01:
                state = "unavailable"
            elif domain == "sensor" and "text" in entity_id:
                state = rng.choice(["sunny", "cloudy", "rain, then sun", 'say "hi"'])
            elif domain == "sensor":
                value = round(value + rng.uniform(-0.5, 0.5), 2)
                state = str(value)
            elif domain == "binary_sensor":
                on = not on
                state = "on" if on else "off"
            elif domain == "light":
                # 30 %: brightness changes only (an attribute-only row when it was on)
                on = True if rng.random() < 0.3 else not on
                state = "on" if on else "off"
                if on:
                    attrs["brightness"] = rng.randint(1, 255)
                    attrs["color_mode"] = "brightness"
            else:
                state = rng.choice(["heat", "off"])
                attrs["temperature"] = rng.choice([19.5, 20.0, 21.0])
                attrs["current_temperature"] = round(rng.uniform(17, 23), 1)
            out.append(Recorded(entity_id, state, attrs, ts))
    return out


def _insert(hass: HomeAssistant, rows: list[Recorded]) -> None:
    with session_scope(hass=hass) as session:
        entity_ids = sorted({row.entity_id for row in rows})
        existing = dict(
            session.execute(
                select(StatesMeta.entity_id, StatesMeta.metadata_id).where(
                    StatesMeta.entity_id.in_(entity_ids)
                )
            ).all()
        )
        missing = [{"entity_id": e} for e in entity_ids if e not in existing]
        if missing:
            session.execute(insert(StatesMeta), missing)
        meta = dict(
            session.execute(
                select(StatesMeta.entity_id, StatesMeta.metadata_id).where(
                    StatesMeta.entity_id.in_(entity_ids)
                )
            ).all()
        )
        shared: dict[str, int] = {}
        for row in rows:
            text = json.dumps(row.attributes, separators=(",", ":"), ensure_ascii=False)
            shared.setdefault(text, 0)
        for text in shared:
            result = session.execute(
                insert(StateAttributes).values(
                    shared_attrs=text,
                    hash=StateAttributes.hash_shared_attrs_bytes(text.encode()),
                )
            )
            shared[text] = result.inserted_primary_key[0]
        last: dict[str, str] = {}
        values = []
        for row in sorted(rows, key=lambda r: r.ts):
            text = json.dumps(row.attributes, separators=(",", ":"), ensure_ascii=False)
            changed = last.get(row.entity_id) != row.state
            last[row.entity_id] = row.state
            values.append(
                {
                    "state": row.state,
                    "last_updated_ts": row.ts,
                    # the recorder stores last_changed only when it differs from last_updated
                    "last_changed_ts": None if changed else row.ts - 0.5,
                    "metadata_id": meta[row.entity_id],
                    "attributes_id": shared[text],
                    "origin_idx": 0,
                }
            )
        session.execute(insert(States), values)


async def async_record(hass: HomeAssistant, rows: list[Recorded]) -> None:
    """Put these states into the recorder's database (in the recorder's thread)."""
    await get_instance(hass).async_add_executor_job(_insert, hass, rows)
