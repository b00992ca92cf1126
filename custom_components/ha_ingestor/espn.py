"""ESPN public scoreboard parsing and game transition detection, shared by two consumers.

The integration's sports coordinator and the companion sports webhooks service both import this
module, so it is deliberately standalone: standard library only, no Home Assistant imports, no
relative imports (the service's Docker image copies just this file). It does no I/O: callers fetch
the JSON and hand the decoded object in.

Capabilities:

* ``LEAGUES`` maps a short key ("nfl", "mls", "epl", ...) to a :class:`League` (ESPN sport and
  league path segments plus a display name). ``scoreboard_url``, ``teams_url``, ``team_url`` and
  ``schedule_url`` build ESPN site API URLs; ``base`` is overridable so tests can point at a local
  server.
* ``loads`` decodes a response body, raising :class:`EspnError` for anything that is not JSON.
* ``parse_scoreboard`` turns a ``.../scoreboard`` document into :class:`Game` objects;
  ``parse_schedule`` does the same for a team schedule (``.../teams/{id}/schedule``) and
  ``parse_next_events`` for the ``nextEvent`` list of a team document (``.../teams/{id}``).
  ``parse_teams`` reads the league teams list (``sports[0].leagues[0].teams[].team``),
  ``parse_team`` a single team document, ``teams_from_scoreboard`` the teams playing on a
  scoreboard.
* ``detect_transitions`` compares the previous and current state of one game and reports
  ``game_started``, ``score_changed`` and ``game_ended``. ``Game.to_dict`` and ``Game.from_dict``
  let the caller persist the previous state (JSON-safe) so a restart does not repeat a transition.
* ``next_poll_interval`` picks an adaptive polling interval from the games being followed.

Tolerance: ESPN's JSON differs by sport and state and keys come and go, so a malformed event is
skipped, never fatal. Only a document that is not what was asked for at all (not an object, no
``events`` list, ...) raises :class:`EspnError`, a ``ValueError``; nothing else is ever raised for
bad input.

Normalisation (so both consumers agree):

* ``Game.start`` is an aware UTC datetime.
* ``Competitor.score`` is an int, or ``None`` when ESPN gives none (team ``nextEvent`` games) or it
  cannot be read. Scoreboards send strings ("0" before kick-off), schedules send objects
  (``{"value": 2, "displayValue": "2"}``); both are handled.
* ``Competitor.winner`` is only reported for finished games (``state == "post"``); MLS sends
  ``false`` for both sides of a live game, which would be misleading.
* ``Game.period`` is ``None`` before the game; ``Game.clock`` (ESPN's ``displayClock``: "0:48",
  "58'") is only kept while the game is live.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
import json
import math
from typing import Final, Literal, cast

__all__ = [
    "DEFAULT_BASE",
    "EVENT_KINDS",
    "LEAGUES",
    "POLL_IDLE",
    "POLL_LIVE",
    "POLL_SOON",
    "POLL_TODAY",
    "Competitor",
    "EspnError",
    "Game",
    "GameState",
    "League",
    "Team",
    "Transition",
    "TransitionKind",
    "detect_transitions",
    "get_league",
    "loads",
    "next_poll_interval",
    "parse_next_events",
    "parse_schedule",
    "parse_scoreboard",
    "parse_team",
    "parse_teams",
    "schedule_url",
    "scoreboard_url",
    "team_url",
    "teams_from_scoreboard",
    "teams_url",
]

DEFAULT_BASE: Final = "https://site.api.espn.com/apis/site/v2/sports"

GameState = Literal["pre", "in", "post"]
TransitionKind = Literal["game_started", "score_changed", "game_ended"]

#: Every transition kind, in the order they are reported for one poll.
EVENT_KINDS: Final[tuple[TransitionKind, ...]] = ("game_started", "score_changed", "game_ended")

_STATE_ORDER: Final[dict[str, int]] = {"pre": 0, "in": 1, "post": 2}

#: Polling intervals chosen by :func:`next_poll_interval`.
POLL_LIVE: Final = timedelta(seconds=20)
POLL_SOON: Final = timedelta(minutes=1)
POLL_TODAY: Final = timedelta(minutes=5)
POLL_IDLE: Final = timedelta(hours=1)
_SOON: Final = timedelta(minutes=15)
_TODAY: Final = timedelta(hours=24)
_STALE: Final = timedelta(hours=6)


class EspnError(ValueError):
    """The document is not an ESPN response of the expected kind (not just a malformed event)."""


@dataclass(frozen=True, slots=True)
class League:
    """An ESPN league: ``sport``/``league`` are the URL path segments.

    ``scoreboard_query`` and ``teams_query`` are for college leagues, whose scoreboard lists only
    the ranked and featured games unless asked for a division (``groups``: 80 is FBS, 50
    Division I basketball), and whose teams list stops at a short page unless asked for more
    (``limit``). Without them a followed unranked team never had a game.
    """

    key: str
    sport: str
    league: str
    name: str
    scoreboard_query: str = ""
    teams_query: str = ""


# Query strings of the college leagues (see League): the whole division, every team.
_FBS: Final = "groups=80&limit=400"
_DIVISION_I: Final = "groups=50&limit=400"
_ALL_TEAMS: Final = "limit=1000"

LEAGUES: Final[dict[str, League]] = {
    league.key: league
    for league in (
        League("nfl", "football", "nfl", "NFL"),
        League(
            "ncaaf",
            "football",
            "college-football",
            "NCAA Football",
            scoreboard_query=_FBS,
            teams_query=_ALL_TEAMS,
        ),
        League("nba", "basketball", "nba", "NBA"),
        League("wnba", "basketball", "wnba", "WNBA"),
        League(
            "ncaam",
            "basketball",
            "mens-college-basketball",
            "NCAA Men's Basketball",
            scoreboard_query=_DIVISION_I,
            teams_query=_ALL_TEAMS,
        ),
        League(
            "ncaaw",
            "basketball",
            "womens-college-basketball",
            "NCAA Women's Basketball",
            scoreboard_query=_DIVISION_I,
            teams_query=_ALL_TEAMS,
        ),
        League("mlb", "baseball", "mlb", "MLB"),
        League("nhl", "hockey", "nhl", "NHL"),
        League("mls", "soccer", "usa.1", "MLS"),
        League("nwsl", "soccer", "usa.nwsl", "NWSL"),
        League("epl", "soccer", "eng.1", "Premier League"),
        League("laliga", "soccer", "esp.1", "LaLiga"),
        League("bundesliga", "soccer", "ger.1", "Bundesliga"),
        League("seriea", "soccer", "ita.1", "Serie A"),
        League("ligue1", "soccer", "fra.1", "Ligue 1"),
        League("ucl", "soccer", "uefa.champions", "UEFA Champions League"),
    )
}


def get_league(league: League | str) -> League:
    """Return the League for a key (or the League itself); EspnError for an unknown key."""
    if isinstance(league, League):
        return league
    try:
        return LEAGUES[league]
    except KeyError:
        raise EspnError(f"unknown league {league!r}") from None


def _league_base(league: League | str, base: str) -> str:
    found = get_league(league)
    return f"{base.rstrip('/')}/{found.sport}/{found.league}"


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def scoreboard_url(league: League | str, base: str = DEFAULT_BASE) -> str:
    """Today's scoreboard of a league: every game of its division."""
    found = get_league(league)
    return _with_query(f"{_league_base(found, base)}/scoreboard", found.scoreboard_query)


def teams_url(league: League | str, base: str = DEFAULT_BASE) -> str:
    """Every team of a league (for a team picker)."""
    found = get_league(league)
    return _with_query(f"{_league_base(found, base)}/teams", found.teams_query)


def team_url(league: League | str, team_id: str, base: str = DEFAULT_BASE) -> str:
    """One team, with its ``nextEvent``."""
    return f"{_league_base(league, base)}/teams/{team_id}"


def schedule_url(league: League | str, team_id: str, base: str = DEFAULT_BASE) -> str:
    """One team's season schedule."""
    return f"{_league_base(league, base)}/teams/{team_id}/schedule"


@dataclass(frozen=True, slots=True)
class Team:
    """A team as listed by ESPN."""

    id: str
    abbreviation: str
    name: str
    location: str | None = None
    logo: str | None = None


@dataclass(frozen=True, slots=True)
class Competitor:
    """One side of a game."""

    team_id: str
    abbreviation: str
    name: str
    score: int | None
    winner: bool | None
    home: bool

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form (for persisted state and webhook payloads)."""
        return {
            "team_id": self.team_id,
            "abbreviation": self.abbreviation,
            "name": self.name,
            "score": self.score,
            "winner": self.winner,
            "home": self.home,
        }

    @classmethod
    def from_dict(cls, data: object) -> Competitor:
        """Inverse of :meth:`to_dict`; EspnError if the data does not fit."""
        obj = _require_dict(data, "competitor")
        team_id = _text(obj.get("team_id"))
        if team_id is None:
            raise EspnError("competitor without team_id")
        score = obj.get("score")
        winner = obj.get("winner")
        home = obj.get("home")
        if not isinstance(home, bool):
            raise EspnError("competitor without home flag")
        return cls(
            team_id=team_id,
            abbreviation=_str(obj.get("abbreviation")) or "",
            name=_str(obj.get("name")) or "",
            score=score if isinstance(score, int) and not isinstance(score, bool) else None,
            winner=winner if isinstance(winner, bool) else None,
            home=home,
        )


@dataclass(frozen=True, slots=True)
class Game:
    """One game (ESPN "event") at the moment it was fetched."""

    id: str
    league: str
    name: str
    short_name: str
    start: datetime
    state: GameState
    completed: bool
    detail: str
    period: int | None
    clock: str | None
    home: Competitor
    away: Competitor

    @property
    def key(self) -> str:
        """Unique across leagues: ``"{league}:{id}"``."""
        return f"{self.league}:{self.id}"

    @property
    def live(self) -> bool:
        return self.state == "in"

    @property
    def called_off(self) -> bool:
        """Over without a result: postponed, cancelled, suspended (ESPN: ``post``, not
        completed)."""
        return self.state == "post" and not self.completed

    @property
    def scores(self) -> tuple[int | None, int | None]:
        """(home, away)."""
        return (self.home.score, self.away.score)

    def involves(self, team_id: str) -> bool:
        """True when the team plays in this game."""
        return team_id in (self.home.team_id, self.away.team_id)

    def competitor(self, team_id: str) -> Competitor | None:
        """The side the team plays on, if it plays."""
        if self.home.team_id == team_id:
            return self.home
        if self.away.team_id == team_id:
            return self.away
        return None

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form; persist it and feed :meth:`from_dict` after a restart."""
        return {
            "id": self.id,
            "league": self.league,
            "name": self.name,
            "short_name": self.short_name,
            "start": self.start.isoformat(),
            "state": self.state,
            "completed": self.completed,
            "detail": self.detail,
            "period": self.period,
            "clock": self.clock,
            "home": self.home.to_dict(),
            "away": self.away.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: object) -> Game:
        """Inverse of :meth:`to_dict`; EspnError if the data does not fit."""
        obj = _require_dict(data, "game")
        game_id = _text(obj.get("id"))
        league = _str(obj.get("league"))
        start = _parse_time(obj.get("start"))
        state = obj.get("state")
        if game_id is None or league is None or start is None or state not in _STATE_ORDER:
            raise EspnError("stored game lacks id, league, start or state")
        period = obj.get("period")
        return cls(
            id=game_id,
            league=league,
            name=_str(obj.get("name")) or "",
            short_name=_str(obj.get("short_name")) or "",
            start=start,
            state=cast(GameState, state),
            completed=obj.get("completed") is True,
            detail=_str(obj.get("detail")) or "",
            period=period if isinstance(period, int) and not isinstance(period, bool) else None,
            clock=_str(obj.get("clock")),
            home=Competitor.from_dict(obj.get("home")),
            away=Competitor.from_dict(obj.get("away")),
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """Something that happened to a game between two polls."""

    kind: TransitionKind
    game: Game
    old_home_score: int | None
    old_away_score: int | None
    new_home_score: int | None
    new_away_score: int | None

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form (the body of a webhook, the data of an HA event)."""
        return {
            "event": self.kind,
            "game": self.game.to_dict(),
            "old_score": {"home": self.old_home_score, "away": self.old_away_score},
            "new_score": {"home": self.new_home_score, "away": self.new_away_score},
        }


def loads(raw: bytes | str) -> object:
    """Decode a response body; EspnError (not a JSONDecodeError or RecursionError) when invalid."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise EspnError(f"response is not JSON: {err}") from None


# --- JSON helpers: every access is type-checked, so odd input degrades to "missing". ---


def _dict(value: object) -> dict[str, object] | None:
    return cast(dict[str, object], value) if isinstance(value, dict) else None


def _require_dict(value: object, what: str) -> dict[str, object]:
    obj = _dict(value)
    if obj is None:
        raise EspnError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return obj


def _list(value: object) -> list[object]:
    return cast(list[object], value) if isinstance(value, list) else []


def _first_dict(value: object) -> dict[str, object] | None:
    for item in _list(value):
        obj = _dict(item)
        if obj is not None:
            return obj
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _text(value: object) -> str | None:
    """An identifier: ESPN sends strings, but accept integers too; empty means missing."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:  # "", "abc", or more digits than int() accepts
            return None
    return None


def _score(value: object) -> int | None:
    """Scoreboard scores are strings, schedule scores objects with value/displayValue."""
    obj = _dict(value)
    if obj is not None:
        score = _int(obj.get("value"))
        return score if score is not None else _int(obj.get("displayValue"))
    return _int(value)


def _parse_time(value: object) -> datetime | None:
    """ESPN dates look like ``2022-09-11T17:00Z``; naive times are taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _logo(team: Mapping[str, object]) -> str | None:
    logo = _str(team.get("logo"))
    if logo:
        return logo
    first = _first_dict(team.get("logos"))
    return _str(first.get("href")) if first is not None else None


def _team(value: object) -> Team | None:
    team = _dict(value)
    if team is None:
        return None
    team_id = _text(team.get("id"))
    if team_id is None:
        return None
    name = (
        _str(team.get("displayName"))
        or _str(team.get("shortDisplayName"))
        or _str(team.get("name"))
        or ""
    )
    abbreviation = _str(team.get("abbreviation")) or ""
    return Team(
        id=team_id,
        abbreviation=abbreviation,
        name=name or abbreviation or team_id,
        location=_str(team.get("location")),
        logo=_logo(team),
    )


def _competitor(value: object, finished: bool) -> Competitor | None:
    obj = _dict(value)
    if obj is None:
        return None
    side = obj.get("homeAway")
    if side not in ("home", "away"):
        return None
    team = _team(obj.get("team"))
    team_id = team.id if team is not None else _text(obj.get("id"))
    if team_id is None:
        return None
    winner = obj.get("winner")
    return Competitor(
        team_id=team_id,
        abbreviation=team.abbreviation if team is not None else "",
        name=team.name if team is not None else team_id,
        score=_score(obj.get("score")),
        winner=winner if finished and isinstance(winner, bool) else None,
        home=side == "home",
    )


def _event(value: object, league_key: str) -> Game | None:
    """One scoreboard/schedule event, or None when it lacks what a Game needs."""
    event = _dict(value)
    if event is None:
        return None
    competition = _first_dict(event.get("competitions"))
    if competition is None:
        return None
    # Scoreboards carry status on the event and the competition, schedules only on the latter.
    status = _dict(event.get("status")) or _dict(competition.get("status"))
    status_type = _dict(status.get("type")) if status is not None else None
    game_id = _text(event.get("id"))
    start = _parse_time(event.get("date")) or _parse_time(competition.get("date"))
    if status is None or status_type is None or game_id is None or start is None:
        return None
    state = status_type.get("state")
    if not isinstance(state, str) or state not in _STATE_ORDER:
        return None
    called_off = _str(status_type.get("name")) in _CALLED_OFF
    if called_off:  # ESPN may keep a postponed game "pre": it is not about to start
        state = "post"
    finished = state == "post"
    home = away = None
    for item in _list(competition.get("competitors")):
        competitor = _competitor(item, finished)
        if competitor is None:
            continue
        if competitor.home and home is None:
            home = competitor
        elif not competitor.home and away is None:
            away = competitor
    if home is None or away is None:
        return None
    detail = (
        _str(status_type.get("detail"))
        or _str(status_type.get("shortDetail"))
        or _str(status_type.get("description"))
        or ""
    )
    name = _str(event.get("name")) or f"{away.name} at {home.name}"
    return Game(
        id=game_id,
        league=league_key,
        name=name,
        short_name=_str(event.get("shortName")) or f"{away.abbreviation} @ {home.abbreviation}",
        start=start,
        state=cast(GameState, state),
        completed=status_type.get("completed") is True and not called_off,
        detail=detail,
        period=_int(status.get("period")) if state != "pre" else None,
        clock=_str(status.get("displayClock")) if state == "in" else None,
        home=home,
        away=away,
    )


def _events(data: object, key: str, what: str, league_key: str) -> list[Game]:
    doc = _require_dict(data, what)
    events = doc.get(key)
    if not isinstance(events, list):
        raise EspnError(f"{what}: no {key!r} list (got {type(events).__name__})")
    games: list[Game] = []
    for item in cast(list[object], events):
        game = _event(item, league_key)
        if game is not None:
            games.append(game)
    return games


def parse_scoreboard(data: object, league_key: str) -> list[Game]:
    """Games of a ``.../scoreboard`` document, in ESPN's order; malformed events are skipped."""
    return _events(data, "events", "scoreboard", league_key)


def parse_schedule(data: object, league_key: str) -> list[Game]:
    """Games of a team ``.../schedule`` document (status and object scores per competition)."""
    return _events(data, "events", "schedule", league_key)


def parse_next_events(data: object, league_key: str) -> list[Game]:
    """Upcoming games in a team document's ``team.nextEvent`` (empty when there is none)."""
    team = _dict(_require_dict(data, "team document").get("team"))
    if team is None:
        raise EspnError("team document: no 'team' object")
    return [g for g in (_event(e, league_key) for e in _list(team.get("nextEvent"))) if g]


def parse_team(data: object) -> Team:
    """The team of a ``.../teams/{id}`` document."""
    team = _team(_require_dict(data, "team document").get("team"))
    if team is None:
        raise EspnError("team document: no 'team' object with an id")
    return team


def parse_teams(data: object) -> list[Team]:
    """Teams of a league ``.../teams`` document (``sports[].leagues[].teams[].team``)."""
    doc = _require_dict(data, "teams")
    sports = doc.get("sports")
    if not isinstance(sports, list):
        raise EspnError("teams: no 'sports' list")
    found: dict[str, Team] = {}
    for sport in cast(list[object], sports):
        for league in _list((_dict(sport) or {}).get("leagues")):
            for entry in _list((_dict(league) or {}).get("teams")):
                team = _team((_dict(entry) or {}).get("team"))
                if team is not None:
                    found.setdefault(team.id, team)
    return list(found.values())


def teams_from_scoreboard(data: object) -> list[Team]:
    """Distinct teams playing on a scoreboard, in order of first appearance."""
    doc = _require_dict(data, "scoreboard")
    events = doc.get("events")
    if not isinstance(events, list):
        raise EspnError("scoreboard: no 'events' list")
    found: dict[str, Team] = {}
    for event in cast(list[object], events):
        for competition in _list((_dict(event) or {}).get("competitions")):
            for competitor in _list((_dict(competition) or {}).get("competitors")):
                team = _team((_dict(competitor) or {}).get("team"))
                if team is not None:
                    found.setdefault(team.id, team)
    return list(found.values())


# Status names of a game over without a result; ESPN may mark a cancelled one completed.
_CALLED_OFF: Final = frozenset(
    {
        "STATUS_POSTPONED",
        "STATUS_CANCELED",
        "STATUS_CANCELLED",
        "STATUS_SUSPENDED",
        "STATUS_ABANDONED",
    }
)


def _baseline(previous: Game | None) -> Game | None:
    """A game called off and played after all under its id (a postponed game rescheduled, a
    suspended one resumed) starts over: its called-off ``post`` counts as ``pre``, or every
    later poll would look like flapping and its kick-off, scores and end would go unreported."""
    if previous is not None and previous.called_off:
        return replace(previous, state="pre")
    return previous


def went_backwards(previous: Game | None, current: Game) -> bool:
    """ESPN flapping (``in`` -> ``pre``, ``post`` -> ``in``): a poll to ignore, not a new
    baseline, or the next one would report the kick-off or the end again."""
    previous = _baseline(previous)
    return previous is not None and _STATE_ORDER[current.state] < _STATE_ORDER[previous.state]


def detect_transitions(previous: Game | None, current: Game) -> list[Transition]:
    """What happened to one game since the previous poll, oldest first.

    Rules (the caller persists ``current`` after handling the result, so nothing repeats):

    * No previous state: the game is only recorded, nothing is reported, even when it is already
      live or over. Without a baseline we cannot tell a kick-off from a restart of our own
      process, and a repeated ``game_started`` is worse than a missed one.
    * ``pre`` -> ``in``: ``game_started`` (plus ``score_changed`` if points were already scored).
    * Same live game, different score: ``score_changed``. A side whose score is unknown
      (``None``) in either poll is not compared, except that a ``pre`` game counts as 0-0.
    * -> ``post``: ``score_changed`` if the final score differs from the last one seen, then
      ``game_ended``. A game seen ``pre`` and then ``post`` (the whole game fell between two
      polls) reports only ``game_ended``.
    * Nothing is reported for ``post`` -> ``post`` (stat corrections), for a state going
      backwards (ESPN flapping) or for a game called off (postponed, cancelled, suspended).
      A called-off game that is played after all counts as ``pre`` until then.
    """
    previous = _baseline(previous)
    if previous is None or current.called_off:  # no kick-off, score or end to report
        return []
    old_rank = _STATE_ORDER[previous.state]
    new_rank = _STATE_ORDER[current.state]
    if new_rank < old_rank or previous.state == "post":
        return []
    old_home, old_away = previous.scores
    if previous.state == "pre":
        old_home = 0 if old_home is None else old_home
        old_away = 0 if old_away is None else old_away
    new_home, new_away = current.scores

    def make(kind: TransitionKind) -> Transition:
        return Transition(kind, current, old_home, old_away, new_home, new_away)

    out: list[Transition] = []
    if previous.state == "pre" and current.state == "in":
        out.append(make("game_started"))
    if current.state != "pre" and not (previous.state == "pre" and current.state == "post"):
        changed = any(
            old is not None and new is not None and old != new
            for old, new in ((old_home, new_home), (old_away, new_away))
        )
        if changed:
            out.append(make("score_changed"))
    if current.state == "post":
        out.append(make("game_ended"))
    return out


def next_poll_interval(games: Iterable[Game], now: datetime) -> timedelta:
    """How long to wait before the next poll, given the followed games.

    ``POLL_LIVE`` (20 s) while any game is live; ``POLL_SOON`` (1 min) when a game is due within
    15 minutes or is up to 6 hours late to start; ``POLL_TODAY`` (5 min) when one starts within
    24 hours or is later still (probably postponed);
    ``POLL_IDLE`` (1 h) otherwise. ``now`` must be aware.
    """
    interval = POLL_IDLE
    for game in games:
        if game.state == "in":
            return POLL_LIVE
        if game.state != "pre":
            continue
        until = game.start - now
        if -_STALE <= until <= _SOON:
            interval = min(interval, POLL_SOON)
        elif until <= _TODAY:  # includes games stuck in "pre" for hours
            interval = min(interval, POLL_TODAY)
    return interval
