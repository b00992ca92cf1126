"""Weather and sports point logic on the captured OpenWeatherMap and ESPN responses."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.ha_ingestor import espn
from custom_components.ha_ingestor.const import WEATHER_SOURCE_OWM
from custom_components.ha_ingestor.sports import (
    FollowedTeam,
    changed,
    event_data,
    game_for_team,
    sports_line,
    team_attributes,
    team_state,
)
from custom_components.ha_ingestor.weather import (
    WeatherError,
    WeatherReading,
    enrichment_context,
    from_weather_entity,
    owm_condition,
    parse_owm,
    weather_line,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


def test_owm_metric() -> None:
    reading = parse_owm(load("owm/weather_metric_belo_horizonte.json"))
    assert reading == WeatherReading(
        source=WEATHER_SOURCE_OWM,
        condition="sunny",
        temperature=28.42,
        apparent_temperature=27.63,
        humidity=34.0,
        pressure=1018.0,
        wind_speed=3.09,
        wind_bearing=100.0,
        cloud_coverage=0.0,
        observed_at=1699465286.0,
    )


def test_owm_localised_description_does_not_matter() -> None:
    reading = parse_owm(load("owm/weather_metric_pt_br_melbourne.json"))
    assert reading.condition == "partlycloudy"  # id 802, description "nuvens dispersas"
    assert reading.temperature == 19.41


def test_owm_standard_units_are_converted_from_kelvin() -> None:
    reading = parse_owm(load("owm/weather_standard_zocca_docs_example.json"), units="standard")
    assert reading.temperature == 25.33
    assert reading.condition == "rainy"


def test_owm_error_body() -> None:
    with pytest.raises(WeatherError, match="401"):
        parse_owm(load("owm/error_401_invalid_api_key.json"))
    with pytest.raises(WeatherError):
        parse_owm({"cod": "404", "message": "city not found"})
    with pytest.raises(WeatherError):
        parse_owm([])
    with pytest.raises(WeatherError):
        parse_owm({"main": {"humidity": 3}})


@pytest.mark.parametrize(
    ("weather_id", "day", "condition"),
    [
        (800, True, "sunny"),
        (800, False, "clear-night"),
        (211, True, "lightning-rainy"),
        (502, True, "pouring"),
        (601, True, "snowy"),
        (741, True, "fog"),
        (804, True, "cloudy"),
    ],
)
def test_owm_conditions(weather_id: int, day: bool, condition: str) -> None:
    assert owm_condition(weather_id, day) == condition


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
        lambda c: (
            st.lists(c)
            | st.dictionaries(
                st.sampled_from(["main", "temp", "wind", "weather", "cod", "id", "dt"]), c
            )
        ),
    )
)
def test_owm_fuzz_only_weather_errors(data: object) -> None:
    with contextlib.suppress(WeatherError):
        parse_owm(data)


def test_weather_entity_in_the_users_units_is_stored_in_ours() -> None:
    """A weather entity reports in the units its user picked; points are °C, hPa and m/s
    whatever the source, so one query reads every source."""
    imperial = from_weather_entity(
        "weather.home",
        "sunny",
        {
            "temperature": 50,
            "apparent_temperature": 32,
            "temperature_unit": "°F",
            "pressure": 29.92,
            "pressure_unit": "inHg",
            "wind_speed": 10,
            "wind_speed_unit": "mph",
            "humidity": 40,
        },
    )
    assert imperial.numbers() == {
        "temperature": 10.0,
        "apparent_temperature": 0.0,
        "humidity": 40.0,
        "pressure": 1013.21,
        "wind_speed": 4.47,
    }
    metric = from_weather_entity(
        "weather.home",
        "sunny",
        {
            "temperature": 283.15,
            "temperature_unit": "K",
            "pressure": 101.3,
            "pressure_unit": "kPa",
            "wind_speed": 36,
            "wind_speed_unit": "km/h",
        },
    )
    assert (metric.temperature, metric.pressure, metric.wind_speed) == (10.0, 1013.0, 10.0)
    # A unit not known here, or a scale rather than a speed: left out, never mislabelled.
    odd = from_weather_entity(
        "weather.home",
        "windy",
        {
            "temperature": 3,
            "temperature_unit": "°Ré",
            "wind_speed": 5,
            "wind_speed_unit": "Beaufort",
        },
    )
    assert odd.numbers() == {}
    # No unit attributes (an entity that has none): taken as already in our units.
    bare = from_weather_entity("weather.home", "rainy", {"temperature": 7.5, "pressure": 1000})
    assert (bare.temperature, bare.pressure) == (7.5, 1000.0)


def test_weather_entity_and_point() -> None:
    reading = from_weather_entity(
        "weather.home", "rainy", {"temperature": 7.5, "humidity": 90, "wind_speed": "bad"}
    )
    assert reading.numbers() == {"temperature": 7.5, "humidity": 90.0}
    assert weather_line(reading, 5) == (
        "weather,condition=rainy,source=weather.home temperature=7.5,humidity=90.0 5"
    )
    with pytest.raises(WeatherError):
        from_weather_entity("weather.home", "unavailable", {})
    assert enrichment_context(reading, "off") == ({}, {})
    assert enrichment_context(reading, "tag") == ({"weather_condition": "rainy"}, {})
    assert enrichment_context(reading, "tag_fields") == (
        {"weather_condition": "rainy"},
        {"outdoor_temperature": 7.5},
    )
    assert enrichment_context(None, "tag_fields") == ({}, {})


NFL = "espn/nfl_scoreboard_2022-09-11_pre_in_post.json"


def nfl_games() -> list[espn.Game]:
    return espn.parse_scoreboard(load(NFL), "nfl")


def test_game_for_team_and_state() -> None:
    games = nfl_games()
    kc = game_for_team(games, "12")
    assert kc is not None and kc.short_name == "KC @ ARI"
    assert team_state(kc) == "scheduled"
    atl = game_for_team(games, "1")
    assert team_state(atl) == "live"
    attrs = team_attributes(atl, "1")
    assert (attrs["score"], attrs["opponent_score"], attrs["opponent"]) == (
        26,
        24,
        "New Orleans Saints",
    )
    assert attrs["home"] is True
    assert team_state(game_for_team(games, "15")) == "final"
    assert team_state(game_for_team(games, "999")) == "no_game"
    assert team_attributes(None, "1") == {}


@pytest.mark.parametrize(
    ("name", "completed"),
    [("STATUS_POSTPONED", False), ("STATUS_SUSPENDED", False), ("STATUS_CANCELED", True)],
)
def test_a_game_called_off_is_no_final_and_reports_no_end(name: str, completed: bool) -> None:
    """ESPN ends a postponed, suspended or cancelled game "post" (not completed, or completed
    for some cancellations): it showed as final and fired game_ended with the score at the
    stop, for a game not played to a result."""
    data = load(NFL)
    atl_event = next(
        e
        for e in data["events"]
        if any(c["team"]["id"] == "1" for c in e["competitions"][0]["competitors"])
    )
    for status in (atl_event["status"], atl_event["competitions"][0]["status"]):
        status["type"].update(state="post", completed=completed, name=name, detail="Postponed")
    live = game_for_team(nfl_games(), "1")
    stopped = game_for_team(espn.parse_scoreboard(data, "nfl"), "1")
    assert live is not None and stopped is not None and stopped.called_off
    assert espn.detect_transitions(live, stopped) == []
    assert team_state(stopped) == "no_game"
    assert team_attributes(stopped, "1")["detail"] == "Postponed"
    final = game_for_team(nfl_games(), "15")
    assert final is not None and not final.called_off and team_state(final) == "final"


def test_sports_line_and_event() -> None:
    atl = game_for_team(nfl_games(), "1")
    assert atl is not None
    line = sports_line(atl, 7)
    assert line is not None
    assert line.startswith("sports,away=NO,game_id=401437650,home=ATL,league=nfl,state=in ")
    assert "home_score=26.0" in line and "away_score=24.0" in line
    transition = espn.Transition("score_changed", atl, 20, 24, 26, 24)
    data = event_data(transition, FollowedTeam("nfl", "1", "Atlanta Falcons", "ATL"))
    assert data["type"] == "score_changed"
    assert (data["home_score"], data["previous_home_score"], data["team"]) == (
        26,
        20,
        "Atlanta Falcons",
    )
    json.dumps(data)  # plain JSON for automations


def test_changed() -> None:
    atl = game_for_team(nfl_games(), "1")
    assert atl is not None
    assert changed(None, atl)
    assert not changed(atl, atl)
    assert changed(atl, dataclasses.replace(atl, clock="0:01"))


def test_followed_team_options_round_trip() -> None:
    team = FollowedTeam("mls", "183", "Columbus Crew", "CLB")
    assert FollowedTeam.from_option(team.as_option()) == team
    assert team.key == "mls:183"


def test_a_postponed_game_played_after_all_reports_its_kick_off_and_end() -> None:
    """ESPN keeps a postponed (or suspended) game's id when it is played later: its
    called-off 'post' made every later poll look like flapping, so the kick-off, the scores
    and the end went unreported."""
    live = game_for_team(nfl_games(), "1")
    assert live is not None and live.live
    pre = dataclasses.replace(live, state="pre", completed=False)
    polls = [
        pre,
        dataclasses.replace(live, state="post", completed=False),  # postponed
        pre,  # rescheduled
        live,
        dataclasses.replace(live, state="post", completed=True),
    ]
    previous: espn.Game | None = None
    reported: list[list[str]] = []
    for game in polls:  # as the sports coordinator handles each poll
        if espn.went_backwards(previous, game):
            reported.append(["ignored"])
            continue
        reported.append([t.kind for t in espn.detect_transitions(previous, game)])
        previous = game
    assert reported == [[], [], [], ["game_started"], ["game_ended"]]


def test_a_game_postponed_before_its_start_is_called_off() -> None:
    """ESPN can mark a game postponed while it is still "pre": it showed as scheduled and
    was polled every minute for six hours past its start."""
    data = load(NFL)
    kc_event = next(
        e
        for e in data["events"]
        if any(c["team"]["id"] == "12" for c in e["competitions"][0]["competitors"])
    )
    for status in (kc_event["status"], kc_event["competitions"][0]["status"]):
        status["type"].update(state="pre", completed=False, name="STATUS_POSTPONED")
    game = game_for_team(espn.parse_scoreboard(data, "nfl"), "12")
    assert game is not None and game.called_off
    assert team_state(game) == "no_game"
    late = game.start + timedelta(hours=1)
    assert espn.next_poll_interval([game], late) != espn.POLL_SOON
