"""Followed teams' games as points, sensor states and automation event data.

Pure logic over the shared ESPN module (no Home Assistant imports).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from .espn import Game, Transition
from .line_protocol import encode_point

SPORTS_MEASUREMENT: Final = "sports"
TeamState = Literal["scheduled", "live", "final", "no_game"]
TEAM_STATES: Final[tuple[TeamState, ...]] = ("scheduled", "live", "final", "no_game")
_TEAM_STATES: Final[dict[str, TeamState]] = {"pre": "scheduled", "in": "live", "post": "final"}


@dataclass(frozen=True, slots=True)
class FollowedTeam:
    league: str
    team_id: str
    name: str
    abbreviation: str

    @property
    def key(self) -> str:
        return f"{self.league}:{self.team_id}"

    def as_option(self) -> dict[str, str]:
        return {
            "league": self.league,
            "team_id": self.team_id,
            "name": self.name,
            "abbreviation": self.abbreviation,
        }

    @classmethod
    def from_option(cls, data: dict[str, str]) -> FollowedTeam:
        return cls(data["league"], data["team_id"], data["name"], data.get("abbreviation", ""))


def sports_line(game: Game, time_us: int) -> str | None:
    """The ``sports`` point for a game: teams and state as tags, scores as fields."""
    fields: dict[str, float | int | str | bool] = {"name": game.name, "detail": game.detail}
    for key, value in (
        ("home_score", game.home.score),
        ("away_score", game.away.score),
        ("period", game.period),
    ):
        if value is not None:
            fields[key] = float(value)
    tags = {
        "league": game.league,
        "game_id": game.id,
        "home": game.home.abbreviation,
        "away": game.away.abbreviation,
        "state": game.state,
    }
    return encode_point(SPORTS_MEASUREMENT, tags, fields, time_us)


def game_for_team(games: Iterable[Game], team_id: str) -> Game | None:
    """The game that matters now: a live one, else the next scheduled, else the last final."""
    mine = [g for g in games if g.involves(team_id)]
    live = [g for g in mine if g.state == "in"]
    if live:
        return live[0]
    upcoming = sorted((g for g in mine if g.state == "pre"), key=lambda g: g.start)
    if upcoming:
        return upcoming[0]
    finished = sorted((g for g in mine if g.state == "post"), key=lambda g: g.start)
    return finished[-1] if finished else None


def team_state(game: Game | None) -> TeamState:
    """A game called off (postponed, cancelled) is no game, not a final: its detail says why."""
    if game is None or game.called_off:
        return "no_game"
    return _TEAM_STATES[game.state]


def team_attributes(game: Game | None, team_id: str) -> dict[str, Any]:
    """Sensor attributes: the team's score first, then the opponent's."""
    if game is None:
        return {}
    us = game.competitor(team_id)
    them = game.away if us is game.home else game.home
    assert us is not None
    return {
        "game_id": game.id,
        "league": game.league,
        "opponent": them.name,
        "home": us.home,
        "score": us.score,
        "opponent_score": them.score,
        "start_time": game.start.isoformat(),
        "period": game.period,
        "clock": game.clock,
        "detail": game.detail,
    }


def event_data(transition: Transition, team: FollowedTeam) -> dict[str, Any]:
    """Data of the ``ha_ingestor_sports_event`` event: flat, for automation triggers."""
    game = transition.game
    return {
        "type": transition.kind,
        "league": game.league,
        "game_id": game.id,
        "team_id": team.team_id,
        "team": team.name,
        "home_team": game.home.name,
        "away_team": game.away.name,
        "home_abbreviation": game.home.abbreviation,
        "away_abbreviation": game.away.abbreviation,
        "home_score": transition.new_home_score,
        "away_score": transition.new_away_score,
        "previous_home_score": transition.old_home_score,
        "previous_away_score": transition.old_away_score,
        "detail": game.detail,
    }


def changed(previous: Game | None, current: Game) -> bool:
    """Worth a new point: first sight, or state, score, period or clock moved."""
    return previous is None or (
        previous.state,
        previous.scores,
        previous.period,
        previous.clock,
        previous.detail,
    ) != (current.state, current.scores, current.period, current.clock, current.detail)
