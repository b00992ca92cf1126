"""A reproducible mix of state changes of many kinds, for end-to-end comparisons."""

from __future__ import annotations

from collections.abc import Iterator
import random
from typing import Any

TEXT_STATES = ("heat", "cool", "idle, waiting", 'say "hi"', "café ☕", "back\\slash")


def state_changes(
    count: int, entities_per_kind: int = 40, seed: int = 7
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(entity_id, state, attributes) tuples; consecutive changes of an entity always differ."""
    rng = random.Random(seed)
    kinds = ("temp", "power", "door", "mode", "light", "climate")
    for n in range(count):
        kind = kinds[n % len(kinds)]
        i = (n // len(kinds)) % entities_per_kind
        step = n // (len(kinds) * entities_per_kind)
        if kind == "temp":
            state = "unavailable" if rng.random() < 0.02 else f"{20 + rng.random() * 5:.2f}"
            yield (
                f"sensor.temp_{i}",
                state,
                {
                    "unit_of_measurement": "°C",
                    "device_class": "temperature",
                    "state_class": "measurement",
                    "friendly_name": f"Temp {i}, room",
                },
            )
        elif kind == "power":
            yield (
                f"sensor.power_{i}",
                str(step * 3 + rng.randint(0, 2)),
                {
                    "unit_of_measurement": "W",
                    "friendly_name": f"Power {i}",
                    "voltage": 230 + rng.randint(-3, 3),
                },
            )
        elif kind == "door":
            yield (
                f"binary_sensor.door_{i}",
                "on" if step % 2 else "off",
                {"device_class": "door", "friendly_name": f"Door {i}"},
            )
        elif kind == "mode":
            yield (
                f"sensor.mode_{i}",
                TEXT_STATES[step % len(TEXT_STATES)],
                {"options": list(TEXT_STATES[:3]), "since": {"step": step}},
            )
        elif kind == "light":
            on = step % 2 == 0
            yield (
                f"light.l_{i}",
                "on" if on else "off",
                {
                    "brightness": rng.randint(1, 255) if on else None,
                    "friendly_name": f"Light 💡 {i}",
                },
            )
        else:
            yield (
                f"climate.c_{i}",
                "heat" if step % 2 else "off",
                {
                    "temperature": 19.5 + step % 3,
                    "hvac_modes": ["heat", "off"],
                    "current_temperature": None,
                },
            )
