"""The shared ESPN module against real captured responses, transition rules and fuzzed input."""

from __future__ import annotations

from collections import Counter
import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
import functools
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.ha_ingestor import espn
from custom_components.ha_ingestor.espn import (
    Competitor,
    EspnError,
    Game,
    Team,
    detect_transitions,
    next_poll_interval,
    parse_scoreboard,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_DIRS = (ROOT / "tests" / "fixtures" / "espn",)
NFL = "nfl_scoreboard_2022-09-11_pre_in_post.json"
MLB = "mlb_scoreboard_2022-09-17_pre_in_post.json"
NHL = "nhl_scoreboard_2022-09-25_pre_in_post.json"
MLS = "soccer_usa1_scoreboard_2022-09-17_pre_in_post.json"
SCHEDULE = "soccer_usa1_team_183_schedule_2026.json"
TEAM = "soccer_usa1_team_183.json"


@functools.cache
def _raw(name: str) -> bytes:
    for folder in FIXTURE_DIRS:
        if (folder / name).exists():
            return (folder / name).read_bytes()
    raise FileNotFoundError(name)


def load(name: str) -> Any:
    """A fresh decoded copy (tests may mutate it)."""
    return json.loads(_raw(name))


def by_id(games: list[Game]) -> dict[str, Game]:
    return {g.id: g for g in games}


# --- leagues and URLs -------------------------------------------------------------------------


def test_leagues_cover_required_keys() -> None:
    for key in ("nfl", "ncaaf", "nba", "wnba", "mlb", "nhl", "mls", "epl"):
        assert espn.LEAGUES[key].key == key
    assert (espn.LEAGUES["mls"].sport, espn.LEAGUES["mls"].league) == ("soccer", "usa.1")
    assert (espn.LEAGUES["epl"].sport, espn.LEAGUES["epl"].league) == ("soccer", "eng.1")
    assert espn.LEAGUES["ncaaf"].league == "college-football"


def test_urls() -> None:
    base = "https://site.api.espn.com/apis/site/v2/sports"
    assert espn.scoreboard_url("nfl") == f"{base}/football/nfl/scoreboard"
    assert espn.teams_url(espn.LEAGUES["mls"]) == f"{base}/soccer/usa.1/teams"
    assert espn.team_url("mls", "183", base="http://127.0.0.1:9/x/") == (
        "http://127.0.0.1:9/x/soccer/usa.1/teams/183"
    )
    assert (
        espn.schedule_url("nhl", "16", base="http://h") == "http://h/hockey/nhl/teams/16/schedule"
    )
    with pytest.raises(EspnError, match="unknown league"):
        espn.scoreboard_url("curling")


@pytest.mark.parametrize(
    ("key", "scoreboard", "teams"),
    [
        ("ncaaf", "football/college-football/scoreboard?groups=80&limit=400", "limit=1000"),
        (
            "ncaam",
            "basketball/mens-college-basketball/scoreboard?groups=50&limit=400",
            "limit=1000",
        ),
        (
            "ncaaw",
            "basketball/womens-college-basketball/scoreboard?groups=50&limit=400",
            "limit=1000",
        ),
    ],
)
def test_college_leagues_ask_for_the_whole_division(key: str, scoreboard: str, teams: str) -> None:
    """Without a division ESPN's college scoreboard lists only ranked and featured games, and
    its teams list a short page: an unranked followed team never had a game."""
    base = "http://h"
    assert espn.scoreboard_url(key, base=base) == f"{base}/{scoreboard}"
    assert espn.teams_url(key, base=base).endswith(f"/teams?{teams}")
    assert "?" not in espn.scoreboard_url("nfl") + espn.teams_url("nfl")


# --- scoreboards ------------------------------------------------------------------------------


def test_nfl_scoreboard() -> None:
    games = parse_scoreboard(load(NFL), "nfl")
    assert len(games) == 16
    assert Counter(g.state for g in games) == {"in": 8, "post": 2, "pre": 6}
    games_by_id = by_id(games)

    saints = games_by_id["401437650"]
    assert saints.league == "nfl"
    assert saints.key == "nfl:401437650"
    assert saints.name == "New Orleans Saints at Atlanta Falcons"
    assert saints.short_name == "NO @ ATL"
    assert saints.start == datetime(2022, 9, 11, 17, 0, tzinfo=UTC)
    assert saints.start.tzinfo is UTC
    assert (saints.state, saints.completed, saints.live) == ("in", False, True)
    assert (saints.period, saints.clock, saints.detail) == (4, "0:48", "0:48 - 4th Quarter")
    assert saints.home == Competitor("1", "ATL", "Atlanta Falcons", 26, None, True)
    assert saints.away.abbreviation == "NO"
    assert (saints.away.score, saints.away.home) == (24, False)
    assert saints.involves("1")
    assert not saints.involves("2")
    assert saints.competitor("1") is saints.home
    assert saints.competitor("99") is None

    miami = games_by_id["401437630"]
    assert (miami.state, miami.completed, miami.detail, miami.clock) == (
        "post",
        True,
        "Final",
        None,
    )
    assert (miami.home.abbreviation, miami.home.score, miami.home.winner) == ("MIA", 20, True)
    assert (miami.away.abbreviation, miami.away.score, miami.away.winner) == ("NE", 7, False)

    rams = games_by_id["401437654"]
    assert rams.start == datetime(2022, 9, 9, 0, 20, tzinfo=UTC)
    assert rams.scores == (10, 31)
    assert rams.away.winner is True

    seahawks = games_by_id["401437655"]
    assert (seahawks.state, seahawks.period, seahawks.clock) == ("pre", None, None)
    assert seahawks.detail == "Mon, September 12th at 8:15 PM EDT"
    assert seahawks.scores == (0, 0)


def test_mlb_scoreboard_doubleheaders() -> None:
    games = parse_scoreboard(load(MLB), "mlb")
    assert len(games) == 17
    assert Counter(g.state for g in games) == {"post": 3, "in": 3, "pre": 11}
    # MIN@CLE and CIN@STL each appear twice, as two different games.
    for short_name in ("MIN @ CLE", "CIN @ STL"):
        pair = [g for g in games if g.short_name == short_name]
        assert sorted(g.state for g in pair) == ["post", "pre"]
        assert len({g.id for g in pair}) == 2
    cle = [g for g in games if g.involves("5")]
    assert [g.id for g in cle] == ["401423263", "401356377"]
    assert cle[0].scores == (5, 1)
    assert cle[0].home.winner is True
    live = {g.id: g.detail for g in games if g.live}
    assert live == {"401356370": "Top 9th", "401356376": "Bottom 5th", "401356374": "Bottom 6th"}
    assert by_id(games)["401356374"].scores == (0, 8)
    assert by_id(games)["401356370"].period == 9


def test_nhl_scoreboard_overtime() -> None:
    games = parse_scoreboard(load(NHL), "nhl")
    assert len(games) == 10
    assert Counter(g.state for g in games) == {"post": 3, "in": 5, "pre": 2}
    finals = [g for g in games if g.state == "post"]
    assert {g.detail for g in finals} == {"Final/OT"}
    assert {g.period for g in finals} == {4}
    buf = by_id(games)["401461454"]
    assert (buf.home.abbreviation, buf.scores, buf.away.winner) == ("WSH", (3, 4), True)
    ana = by_id(games)["401461456"]
    assert (ana.period, ana.clock, ana.detail) == (3, "9:03", "9:03 - 3rd Period")
    # Split squads: PIT (16) plays twice.
    assert len([g for g in games if g.involves("16")]) == 2


def test_mls_scoreboard_minute_clocks() -> None:
    games = parse_scoreboard(load(MLS), "mls")
    assert len(games) == 11
    assert Counter(g.state for g in games) == {"post": 2, "in": 4, "pre": 5}
    assert [g.clock for g in games if g.live] == ["58'", "57'", "45'", "13'"]
    assert all(g.clock is None for g in games if not g.live)
    nyc = by_id(games)["623597"]
    assert (nyc.detail, nyc.scores, nyc.home.winner, nyc.away.winner) == ("FT", (2, 0), True, False)
    draw = by_id(games)["623599"]
    assert (draw.scores, draw.home.winner, draw.away.winner) == ((0, 0), False, False)
    # MLS says winner=false for both sides of live games: not reported before the end.
    assert all(g.home.winner is None and g.away.winner is None for g in games if g.live)
    assert by_id(games)["623600"].scores == (3, 0)


def test_schedule_object_scores() -> None:
    games = espn.parse_schedule(load(SCHEDULE), "mls")
    assert [g.id for g in games] == ["761499", "761486", "761472", "761461", "761451"]
    assert all(g.state == "post" and g.completed and g.involves("183") for g in games)
    tor = games[0]
    assert tor.start == datetime(2026, 3, 21, 17, 0, tzinfo=UTC)
    assert (tor.home.abbreviation, tor.scores, tor.home.winner, tor.detail) == (
        "TOR",
        (2, 1),
        True,
        "FT",
    )
    assert games[3].scores == (2, 2)
    assert games[4].short_name == "CLB @ POR"


def test_team_document() -> None:
    data = load(TEAM)
    team = espn.parse_team(data)
    assert team == Team(
        "183",
        "CLB",
        "Columbus Crew",
        "Columbus Crew",
        "https://a.espncdn.com/i/teamlogos/soccer/500/183.png",
    )
    (nxt,) = espn.parse_next_events(data, "mls")
    assert (nxt.id, nxt.state, nxt.short_name) == ("761521", "pre", "CLB @ ATL")
    assert nxt.start == datetime(2026, 4, 4, 23, 30, tzinfo=UTC)
    assert nxt.scores == (None, None)
    assert nxt.away.team_id == "183"


def test_teams_from_scoreboard() -> None:
    teams = espn.teams_from_scoreboard(load(NFL))
    assert len(teams) == 32
    assert teams[0] == Team(
        "1",
        "ATL",
        "Atlanta Falcons",
        "Atlanta",
        "https://a.espncdn.com/i/teamlogos/nfl/500/scoreboard/atl.png",
    )
    # Doubleheaders and split squads are listed once.
    assert len(espn.teams_from_scoreboard(load(MLB))) == 30
    assert len(espn.teams_from_scoreboard(load(NHL))) == 15  # PIT, CBJ, CGY, VAN, COL twice


def test_parse_teams_documented_shape() -> None:
    # No capture of the league teams endpoint exists; this follows its documented shape.
    data = {
        "sports": [
            {
                "id": "20",
                "leagues": [
                    {
                        "abbreviation": "NFL",
                        "teams": [
                            {
                                "team": {
                                    "id": "22",
                                    "abbreviation": "ARI",
                                    "displayName": "Arizona Cardinals",
                                    "location": "Arizona",
                                    "logos": [{"href": "https://x/ari.png"}],
                                }
                            },
                            {
                                "team": {
                                    "id": "1",
                                    "abbreviation": "ATL",
                                    "displayName": "Atlanta Falcons",
                                }
                            },
                            {"team": {"abbreviation": "NOID"}},
                            "junk",
                            {"team": {"id": "22", "abbreviation": "DUP"}},
                        ],
                    }
                ],
            }
        ]
    }
    assert espn.parse_teams(data) == [
        Team("22", "ARI", "Arizona Cardinals", "Arizona", "https://x/ari.png"),
        Team("1", "ATL", "Atlanta Falcons", None, None),
    ]
    assert espn.parse_teams({"sports": []}) == []
    with pytest.raises(EspnError):
        espn.parse_teams({"teams": []})


# --- tolerance --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc", [None, [], "x", 3, {}, {"events": None}, {"events": {}}, {"code": 400, "message": "bad"}]
)
def test_not_a_scoreboard_raises(doc: object) -> None:
    with pytest.raises(EspnError):
        parse_scoreboard(doc, "nfl")
    with pytest.raises(EspnError):
        espn.teams_from_scoreboard(doc)


def test_empty_scoreboard() -> None:
    assert parse_scoreboard({"events": []}, "nfl") == []


def test_malformed_events_are_skipped() -> None:
    data = load(NFL)
    events = data["events"]
    del events[0]["id"]
    events[1]["date"] = "not a date"  # falls back to the competition's date
    events[1]["competitions"][0]["date"] = 20220911
    events[2]["status"]["type"]["state"] = "halftime?"
    events[3]["competitions"] = []
    events[4]["competitions"][0]["competitors"].pop()
    del events[5]["competitions"][0]["competitors"][0]["homeAway"]
    events.append("garbage")
    events.append(None)
    games = parse_scoreboard(data, "nfl")
    assert len(games) == 10
    assert "401437650" not in by_id(games)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("26", 26),
        (" 3 ", 3),
        ("0", 0),
        ("", None),
        ("abc", None),
        (None, None),
        (True, None),
        (7, 7),
        (7.0, 7),
        (7.5, None),
        (float("nan"), None),
        ({"value": 2.0, "displayValue": "2"}, 2),
        ({"displayValue": "4"}, 4),
        ({"$ref": "x"}, None),
        ("9" * 5000, None),
    ],
)
def test_score_forms(raw: object, expected: int | None) -> None:
    data = load(NFL)
    data["events"] = data["events"][:1]
    data["events"][0]["competitions"][0]["competitors"][0]["score"] = raw
    (game,) = parse_scoreboard(data, "nfl")
    assert game.home.score == expected


def test_missing_score_and_team_details() -> None:
    data = load(MLS)
    event = data["events"][0]
    home = event["competitions"][0]["competitors"][0]
    del home["score"]
    home["team"] = {"id": 17606}
    del event["name"], event["shortName"], event["status"]
    (game, *_) = parse_scoreboard(data, "mls")
    # Status falls back to the competition's copy.
    assert game.state == "post"
    assert game.home == Competitor("17606", "", "17606", None, True, True)
    assert game.name == "New York Red Bulls at 17606"
    assert game.short_name == "NY @ "


def test_naive_and_offset_dates() -> None:
    data = load(NFL)
    data["events"] = data["events"][:2]
    data["events"][0]["date"] = "2022-09-11T17:00"
    data["events"][1]["date"] = "2022-09-11T13:00-04:00"
    a, b = parse_scoreboard(data, "nfl")
    assert a.start == b.start == datetime(2022, 9, 11, 17, 0, tzinfo=UTC)


def test_loads() -> None:
    assert espn.loads(b'{"events": []}') == {"events": []}
    for bad in (b"", b"{", b"\xff\xfe\x00", "[" * 100_000):
        with pytest.raises(EspnError):
            espn.loads(bad)


def test_game_round_trip() -> None:
    for name, league in ((NFL, "nfl"), (MLB, "mlb"), (NHL, "nhl"), (MLS, "mls")):
        for game in parse_scoreboard(load(name), league):
            stored = json.loads(json.dumps(game.to_dict()))
            assert Game.from_dict(stored) == game
    for bad in (None, {}, {"id": "1", "league": "nfl", "start": "x", "state": "in"}):
        with pytest.raises(EspnError):
            Game.from_dict(bad)
    good = parse_scoreboard(load(NFL), "nfl")[0].to_dict()
    good["home"] = {"team_id": "1"}
    with pytest.raises(EspnError, match="home flag"):
        Game.from_dict(good)
    good["home"] = {"home": True}
    with pytest.raises(EspnError, match="team_id"):
        Game.from_dict(good)


# --- transitions ------------------------------------------------------------------------------


def _game(state: str, home: int | None, away: int | None, **kw: Any) -> Game:
    return Game(
        id="1",
        league="nfl",
        name="A at B",
        short_name="A @ B",
        start=datetime(2022, 9, 11, 17, tzinfo=UTC),
        state=state,  # type: ignore[arg-type]
        completed=state == "post",
        detail="",
        period=None,
        clock=None,
        home=Competitor("10", "B", "B", home, None, True),
        away=Competitor("20", "A", "A", away, None, False),
        **kw,
    )


def kinds(previous: Game | None, current: Game) -> list[str]:
    return [t.kind for t in detect_transitions(previous, current)]


def test_first_sighting_reports_nothing() -> None:
    for state in ("pre", "in", "post"):
        assert kinds(None, _game(state, 3, 1)) == []


def test_full_game_sequence() -> None:
    polls = [
        _game("pre", 0, 0),
        _game("pre", 0, 0),
        _game("in", 0, 0),
        _game("in", 0, 0),
        _game("in", 7, 0),
        _game("in", 7, 3),
        _game("in", 7, 3),
        _game("post", 7, 3),
        _game("post", 7, 3),
    ]
    seen: list[str] = []
    previous: Game | None = None
    for poll in polls:
        seen += kinds(previous, poll)
        previous = poll
    assert seen == ["game_started", "score_changed", "score_changed", "game_ended"]


def test_transition_payload() -> None:
    (started, scored) = detect_transitions(_game("pre", None, None), _game("in", 0, 6))
    assert started.kind == "game_started"
    assert scored.kind == "score_changed"
    assert (scored.old_home_score, scored.old_away_score) == (0, 0)
    assert (scored.new_home_score, scored.new_away_score) == (0, 6)
    body = scored.to_dict()
    assert body["event"] == "score_changed"
    assert body["old_score"] == {"home": 0, "away": 0}
    assert body["new_score"] == {"home": 0, "away": 6}
    assert json.loads(json.dumps(body))["game"]["id"] == "1"


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (("in", 7, 3), ("post", 10, 3), ["score_changed", "game_ended"]),
        (("pre", 0, 0), ("post", 21, 3), ["game_ended"]),
        (("in", 7, 3), ("in", 7, None), []),
        (("in", None, 3), ("in", 7, 3), []),
        (("in", 7, 3), ("in", 6, 3), ["score_changed"]),
        (("post", 7, 3), ("post", 8, 3), []),
        (("post", 7, 3), ("in", 7, 3), []),
        (("in", 7, 3), ("pre", 0, 0), []),
        (("pre", 0, 0), ("pre", 1, 0), []),
    ],
)
def test_transition_rules(
    previous: tuple[str, int | None, int | None],
    current: tuple[str, int | None, int | None],
    expected: list[str],
) -> None:
    assert kinds(_game(*previous), _game(*current)) == expected


def test_restart_with_persisted_state_does_not_repeat() -> None:
    before = _game("in", 7, 0)
    stored = json.dumps(before.to_dict())
    after = _game("in", 7, 0)
    assert kinds(Game.from_dict(json.loads(stored)), after) == []


def test_fixture_transitions() -> None:
    """Kick-off and an NFL score move on real data: pre (TEN) -> in with a touchdown."""
    data = load(NFL)
    before = by_id(parse_scoreboard(data, "nfl"))["401437640"]
    event = next(e for e in data["events"] if e["id"] == "401437640")
    event["status"]["type"].update(state="in", detail="10:00 - 1st Quarter")
    event["competitions"][0]["competitors"][1]["score"] = "7"
    after = by_id(parse_scoreboard(data, "nfl"))["401437640"]
    transitions = detect_transitions(before, after)
    assert [t.kind for t in transitions] == ["game_started", "score_changed"]
    assert transitions[1].new_away_score == 7
    assert transitions[1].game.away.abbreviation == "NYG"


# --- polling interval -------------------------------------------------------------------------


def test_poll_interval_policy() -> None:
    now = datetime(2022, 9, 11, 20, 0, tzinfo=UTC)
    nfl = parse_scoreboard(load(NFL), "nfl")
    assert next_poll_interval(nfl, now) == espn.POLL_LIVE == timedelta(seconds=20)
    pre = [g for g in nfl if g.state == "pre"]
    # 4:25 pm ET games start 20:25 UTC: within the soon window at 20:10, "today" at 19:00.
    assert next_poll_interval(pre, now + timedelta(minutes=10)) == espn.POLL_SOON
    assert next_poll_interval(pre, now - timedelta(hours=1)) == espn.POLL_TODAY
    assert next_poll_interval(pre, now - timedelta(days=3)) == espn.POLL_IDLE
    # A "pre" game one hour late still polls fast; one stuck for a day is probably postponed.
    assert next_poll_interval(pre, now + timedelta(hours=1)) == espn.POLL_SOON
    assert next_poll_interval(pre, now + timedelta(days=3)) == espn.POLL_TODAY
    done = [g for g in nfl if g.state == "post"]
    assert next_poll_interval(done, now) == espn.POLL_IDLE
    assert next_poll_interval([], now) == timedelta(hours=1)


# --- fuzzing ----------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
# Keys the parser looks at, so random documents reach deep code paths.
KEYS = st.sampled_from(
    [
        "events",
        "competitions",
        "competitors",
        "status",
        "type",
        "state",
        "team",
        "id",
        "date",
        "score",
        "homeAway",
        "value",
        "period",
        "displayClock",
        "logos",
        "sports",
        "leagues",
        "teams",
        "nextEvent",
    ]
)
SHAPED = st.recursive(
    JSON | st.sampled_from(["pre", "in", "post", "home", "away", "2022-09-11T17:00Z", "7"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=40,
)

PARSERS = (
    lambda d: parse_scoreboard(d, "nfl"),
    lambda d: espn.parse_schedule(d, "mls"),
    lambda d: espn.parse_next_events(d, "mls"),
    espn.parse_team,
    espn.parse_teams,
    espn.teams_from_scoreboard,
    Game.from_dict,
)


def _only_espn_errors(data: object) -> None:
    for parse in PARSERS:
        try:
            result = parse(data)
        except EspnError:
            continue
        if isinstance(result, list):
            for item in result:
                if isinstance(item, Game):
                    assert item.start.tzinfo is UTC
                    assert item.state in ("pre", "in", "post")
                    detect_transitions(item, item)
                    next_poll_interval([item], datetime(2022, 1, 1, tzinfo=UTC))


@settings(max_examples=300)
@given(st.one_of(JSON, SHAPED))
def test_fuzz_random_documents(data: object) -> None:
    _only_espn_errors(data)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@functools.cache
def _small_docs() -> tuple[tuple[Any, list[tuple[Any, ...]]], ...]:
    docs = []
    for name in (NFL, MLB, NHL, MLS, SCHEDULE):
        data = load(name)
        data["events"] = data["events"][:2]
        for event in data["events"]:  # keep the parts the parser reads, so mutations hit them
            for competition in event.get("competitions", []):
                for key in ("leaders", "broadcasts", "geoBroadcasts", "venue", "odds", "notes"):
                    competition.pop(key, None)
                for competitor in competition.get("competitors", []):
                    for key in ("statistics", "leaders", "linescores", "records"):
                        competitor.pop(key, None)
                    competitor.get("team", {}).pop("links", None)
        docs.append((data, _paths(data)))
    team = load(TEAM)
    docs.append((team, _paths(team)))
    return tuple(docs)


@settings(max_examples=300)
@given(st.data())
def test_fuzz_mutated_fixtures(data: st.DataObject) -> None:
    doc, paths = data.draw(st.sampled_from(_small_docs()))
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 5))):
        path = data.draw(st.sampled_from(paths))
        replacement = data.draw(JSON)
        if not path:
            doc = replacement
            break
        parent = doc
        try:
            for step in path[:-1]:
                parent = parent[step]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = replacement
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    _only_espn_errors(doc)


@settings(max_examples=200)
@given(st.sampled_from([NFL, MLS, SCHEDULE, TEAM]), st.floats(0, 1))
def test_fuzz_truncated_bodies(name: str, fraction: float) -> None:
    raw = _raw(name)
    cut = raw[: int(len(raw) * fraction)]
    try:
        data = espn.loads(cut)
    except EspnError:
        return
    _only_espn_errors(data)


def test_game_replace_keeps_frozen_semantics() -> None:
    game = _game("in", 1, 0)
    assert replace(game, state="post") != game
    with pytest.raises(AttributeError):
        game.state = "post"  # type: ignore[misc]


def test_competitor_fallbacks() -> None:
    data = load(NFL)
    data["events"] = data["events"][:3]
    first, second, third = (e["competitions"][0]["competitors"] for e in data["events"])
    # No team object: the competitor's own id is used.
    del first[0]["team"]
    # A junk entry and a nameless one before the real competitors are skipped.
    second.insert(0, "junk")
    second.insert(0, {"homeAway": "home", "id": True})
    # Boolean ids are not ids: the game has no away side left and is skipped.
    third[1]["team"]["id"] = True
    third[1]["id"] = False
    games = parse_scoreboard(data, "nfl")
    assert [g.id for g in games] == ["401437650", "401437647"]
    assert games[0].home == Competitor("1", "", "1", 26, None, True)
    assert games[0].competitor(games[0].away.team_id) is games[0].away
    assert games[1].home.abbreviation == "CHI"
