"""Request validation. The rules here and the JSON schemas in openapi.py say the same thing."""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any, Final, cast

from ._espn import espn

EVENTS: Final = tuple(espn.EVENT_KINDS)
# Hosts and ports as RFC 3986 spells them (IPv6 in brackets, port 0-65535), so that every URL
# the pattern admits is one the HTTP client can parse: the API refuses nothing its schema allows.
_DEC_OCTET: Final = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_H16: Final = r"[0-9A-Fa-f]{1,4}"
_LS32: Final = rf"({_H16}:{_H16}|{_DEC_OCTET}(\.{_DEC_OCTET}){{3}})"
_IPV6: Final = "|".join(
    (
        rf"({_H16}:){{6}}{_LS32}",
        rf"::({_H16}:){{5}}{_LS32}",
        rf"({_H16})?::({_H16}:){{4}}{_LS32}",
        rf"(({_H16}:){{0,1}}{_H16})?::({_H16}:){{3}}{_LS32}",
        rf"(({_H16}:){{0,2}}{_H16})?::({_H16}:){{2}}{_LS32}",
        rf"(({_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
        rf"(({_H16}:){{0,4}}{_H16})?::{_LS32}",
        rf"(({_H16}:){{0,5}}{_H16})?::{_H16}",
        rf"(({_H16}:){{0,6}}{_H16})?::",
    )
)
_PORT: Final = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
URL_PATTERN: Final = rf"^https?://([A-Za-z0-9.-]+|\[({_IPV6})\])(:{_PORT})?([/?#][!-~]*)?$"
TEAM_ID_PATTERN: Final = r"^[A-Za-z0-9._-]{1,32}$"
URL_MAX: Final = 2048
SECRET_MIN: Final = 16
SECRET_MAX: Final = 256
DESCRIPTION_MAX: Final = 200
TEAMS_MAX: Final = 50
_URL = re.compile(URL_PATTERN)
_TEAM_ID = re.compile(TEAM_ID_PATTERN)
_FIELDS: Final = frozenset({"url", "events", "teams", "secret", "enabled", "description"})


class ValidationError(ValueError):
    """Invalid input; the message is safe to return to the client."""


@dataclass(frozen=True, slots=True)
class NewSubscription:
    url: str
    events: tuple[str, ...]
    teams: tuple[tuple[str, str], ...]
    secret: str
    enabled: bool
    description: str


def _utf8(value: str, name: str) -> None:
    """JSON can spell a lone surrogate (``"\\ud800"``), which no UTF-8 text holds: SQLite could
    not store it (UnicodeEncodeError, a 500). Refused as invalid input instead."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValidationError(f"'{name}' must be valid Unicode text (no lone surrogates)") from None


def subscription(data: object) -> NewSubscription:
    """Validate a ``POST /api/subscriptions`` body."""
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object")
    body = cast(dict[str, Any], data)
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}")
    for name in ("url", "events", "teams", "secret"):
        if name not in body:
            raise ValidationError(f"'{name}' is required")

    url = body["url"]
    if not isinstance(url, str) or len(url) > URL_MAX or not _URL.fullmatch(url):
        raise ValidationError(f"'url' must be an http:// or https:// URL (at most {URL_MAX} chars)")

    events = body["events"]
    if not isinstance(events, list) or not events:
        raise ValidationError(f"'events' must be a non-empty list of: {', '.join(EVENTS)}")
    for event in events:
        if event not in EVENTS:
            raise ValidationError(f"unknown event {event!r}; known events: {', '.join(EVENTS)}")

    teams = body["teams"]
    if not isinstance(teams, list) or not 1 <= len(teams) <= TEAMS_MAX:
        raise ValidationError(f"'teams' must be a list of 1 to {TEAMS_MAX} {{league, team_id}}")
    parsed_teams: list[tuple[str, str]] = []
    for team in teams:
        if not isinstance(team, dict) or set(team) != {"league", "team_id"}:
            raise ValidationError("each team must be an object with exactly 'league' and 'team_id'")
        league, team_id = team["league"], team["team_id"]
        if not isinstance(league, str) or league not in espn.LEAGUES:
            raise ValidationError(
                f"unknown league {league!r}; known leagues: {', '.join(espn.LEAGUES)}"
            )
        if not isinstance(team_id, str) or not _TEAM_ID.fullmatch(team_id):
            raise ValidationError("'team_id' must be 1-32 letters, digits, '.', '_' or '-'")
        if (league, team_id) not in parsed_teams:
            parsed_teams.append((league, team_id))

    secret = body["secret"]
    if not isinstance(secret, str) or not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise ValidationError(
            f"'secret' must be a string of {SECRET_MIN} to {SECRET_MAX} characters"
        )
    _utf8(secret, "secret")

    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValidationError("'enabled' must be true or false")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > DESCRIPTION_MAX:
        raise ValidationError(f"'description' must be a string of at most {DESCRIPTION_MAX} chars")
    _utf8(description, "description")

    return NewSubscription(
        url=url,
        events=tuple(dict.fromkeys(events)),
        teams=tuple(parsed_teams),
        secret=secret,
        enabled=enabled,
        description=description,
    )
