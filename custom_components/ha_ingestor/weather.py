"""Weather readings from OpenWeatherMap or a Home Assistant weather entity, as points.

Pure logic, no Home Assistant imports. Every reading is in one set of units, whatever its
source, so a query never has to know where a point came from: temperatures in °C, pressure in
hPa, wind speed in m/s (OpenWeatherMap's ``units=metric``). OpenWeatherMap's current-weather
document (``/data/2.5/weather``) is read in those units (a reading in Kelvin, ``standard``
units, is converted); a Home Assistant weather entity reports in the units its user chose
(``temperature_unit``, ``pressure_unit``, ``wind_speed_unit``), which are converted, and a
value in a unit not known here is left out rather than stored under the wrong one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
import math
from typing import Any, Final, Literal

from .const import ENRICHMENT_OFF, ENRICHMENT_TAG, WEATHER_SOURCE_OWM
from .line_protocol import encode_point

OWM_BASE: Final = "https://api.openweathermap.org"
WEATHER_MEASUREMENT: Final = "weather"

# OpenWeatherMap condition groups (weather[0].id // 100, plus exact ids) -> HA conditions.
_OWM_GROUPS: Final = {2: "lightning-rainy", 3: "rainy", 5: "rainy", 6: "snowy", 7: "fog"}
_OWM_IDS: Final = {
    511: "snowy-rainy",
    611: "snowy-rainy",
    612: "snowy-rainy",
    613: "snowy-rainy",
    615: "snowy-rainy",
    616: "snowy-rainy",
    502: "pouring",
    503: "pouring",
    504: "pouring",
    522: "pouring",
    771: "windy",
    781: "exceptional",
    801: "partlycloudy",
    802: "partlycloudy",
    803: "cloudy",
    804: "cloudy",
}

EnrichmentMode = Literal["off", "tag", "tag_fields"]

# The units a Home Assistant weather entity may report in (homeassistant.const
# UnitOfTemperature / UnitOfPressure / UnitOfSpeed), as (scale, offset) to ours:
# ours = value * scale + offset.
_TEMPERATURE: Final = {"°C": (1.0, 0.0), "°F": (5 / 9, -32 * 5 / 9), "K": (1.0, -273.15)}
_PRESSURE: Final = {
    "hPa": (1.0, 0.0),
    "mbar": (1.0, 0.0),
    "Pa": (0.01, 0.0),
    "kPa": (10.0, 0.0),
    "cbar": (10.0, 0.0),
    "bar": (1000.0, 0.0),
    "mmHg": (1.333223874, 0.0),
    "inHg": (33.86389, 0.0),
    "psi": (68.94757, 0.0),
}
_WIND_SPEED: Final = {
    "m/s": (1.0, 0.0),
    "km/h": (1 / 3.6, 0.0),
    "mph": (0.44704, 0.0),
    "kn": (1852 / 3600, 0.0),
    "ft/s": (0.3048, 0.0),
    "Beaufort": None,  # a scale, not a speed: left out
}


class WeatherError(ValueError):
    """The document is not a usable weather reading."""


@dataclass(frozen=True, slots=True)
class WeatherReading:
    source: str
    condition: str | None
    temperature: float | None = None
    apparent_temperature: float | None = None
    humidity: float | None = None
    pressure: float | None = None
    wind_speed: float | None = None
    wind_bearing: float | None = None
    cloud_coverage: float | None = None
    observed_at: float | None = None  # unix seconds, when the source says

    def numbers(self) -> dict[str, float]:
        return {
            f.name: value
            for f in fields(self)
            if f.name not in ("source", "condition", "observed_at")
            and isinstance(value := getattr(self, f.name), float)
        }


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def owm_url(latitude: float, longitude: float, api_key: str, base: str = OWM_BASE) -> str:
    return (
        f"{base}/data/2.5/weather?lat={latitude:.4f}&lon={longitude:.4f}"
        f"&units=metric&appid={api_key}"
    )


def owm_condition(weather_id: int, is_day: bool) -> str:
    if weather_id == 800:
        return "sunny" if is_day else "clear-night"
    return _OWM_IDS.get(weather_id) or _OWM_GROUPS.get(weather_id // 100, "exceptional")


def parse_owm(data: object, units: Literal["metric", "standard"] = "metric") -> WeatherReading:
    """An OpenWeatherMap current-weather document; WeatherError when it is not one."""
    if not isinstance(data, Mapping):
        raise WeatherError("not a JSON object")
    if str(data.get("cod", "200")) != "200":
        raise WeatherError(f"OpenWeatherMap error {data.get('cod')}: {data.get('message')}")
    main = data.get("main")
    if not isinstance(main, Mapping):
        raise WeatherError("no 'main' section")
    wind = _section(data, "wind")
    clouds = _section(data, "clouds")
    unit = "K" if units == "standard" else "°C"

    def celsius(value: object) -> float | None:
        return _converted(value, unit, _TEMPERATURE, "°C")

    condition = None
    weather = data.get("weather")
    if isinstance(weather, list) and weather and isinstance(weather[0], Mapping):
        weather_id = _number(weather[0].get("id"))
        if weather_id is not None:
            icon = str(weather[0].get("icon", ""))
            condition = owm_condition(int(weather_id), not icon.endswith("n"))
    temperature = celsius(main.get("temp"))
    if temperature is None:
        raise WeatherError("no temperature")
    return WeatherReading(
        source=WEATHER_SOURCE_OWM,
        condition=condition,
        temperature=temperature,
        apparent_temperature=celsius(main.get("feels_like")),
        humidity=_number(main.get("humidity")),
        pressure=_number(main.get("pressure")),
        wind_speed=_number(wind.get("speed")),
        wind_bearing=_number(wind.get("deg")),
        cloud_coverage=_number(clouds.get("all")),
        observed_at=_number(data.get("dt")),
    )


def _converted(
    value: object, unit: object, units: Mapping[str, tuple[float, float] | None], ours: str
) -> float | None:
    """`value` in our unit; None when it is not a number or its unit is not known here.

    No unit attribute: the entity predates them or is a template without one; its numbers
    are taken to be in our units, as they were before units were converted.
    """
    number = _number(value)
    if number is None:
        return None
    factor = units.get(str(unit if unit is not None else ours))
    if factor is None:
        return None
    scale, offset = factor
    return round(number * scale + offset, 2)


def from_weather_entity(
    entity_id: str, state: str, attributes: Mapping[str, Any], updated_at: float | None = None
) -> WeatherReading:
    """A Home Assistant weather entity's state (its condition) and attributes, in our units.

    `updated_at` (the state's last update) becomes the point's time, so polling an unchanged
    entity rewrites the same point instead of adding one.
    """
    if state in ("unavailable", "unknown", ""):
        raise WeatherError(f"{entity_id} is {state or 'empty'}")
    temperature_unit = attributes.get("temperature_unit")
    return WeatherReading(
        source=entity_id,
        condition=state,
        temperature=_converted(attributes.get("temperature"), temperature_unit, _TEMPERATURE, "°C"),
        apparent_temperature=_converted(
            attributes.get("apparent_temperature"), temperature_unit, _TEMPERATURE, "°C"
        ),
        humidity=_number(attributes.get("humidity")),
        pressure=_converted(
            attributes.get("pressure"), attributes.get("pressure_unit"), _PRESSURE, "hPa"
        ),
        wind_speed=_converted(
            attributes.get("wind_speed"), attributes.get("wind_speed_unit"), _WIND_SPEED, "m/s"
        ),
        wind_bearing=_number(attributes.get("wind_bearing")),
        cloud_coverage=_number(attributes.get("cloud_coverage")),
        observed_at=updated_at,
    )


def weather_line(reading: WeatherReading, time_us: int) -> str | None:
    """The ``weather`` point: tags source and condition, numeric fields."""
    tags = {"source": reading.source, "condition": reading.condition or ""}
    return encode_point(WEATHER_MEASUREMENT, tags, reading.numbers(), time_us)


def enrichment_context(
    reading: WeatherReading | None, mode: EnrichmentMode
) -> tuple[dict[str, str], dict[str, float | str]]:
    """Tags and fields added to every state point, by the enrichment mode."""
    if reading is None or mode == ENRICHMENT_OFF:
        return {}, {}
    tags = {"weather_condition": reading.condition or ""}
    if mode == ENRICHMENT_TAG or reading.temperature is None:
        return tags, {}
    return tags, {"outdoor_temperature": reading.temperature}
