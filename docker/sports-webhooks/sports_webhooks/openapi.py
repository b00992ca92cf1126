"""The OpenAPI 3.0 document served at ``/openapi.json`` (tests check the service against it)."""

from __future__ import annotations

from typing import Any

from . import __version__
from ._espn import espn
from .validation import (
    DESCRIPTION_MAX,
    EVENTS,
    SECRET_MAX,
    SECRET_MIN,
    TEAM_ID_PATTERN,
    TEAMS_MAX,
    URL_MAX,
    URL_PATTERN,
)

_REF = "#/components/schemas/"
_INT64_MAX = 2**63 - 1


def _json(schema: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + schema}}},
    }


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


_UNAUTHORIZED = _error("Missing or wrong X-API-Key")
_NOT_FOUND = _error("No such subscription")
_ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": _INT64_MAX},
}
_EVENT = {"type": "string", "enum": list(EVENTS)}
_TEAM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["league", "team_id"],
    "properties": {
        "league": {"type": "string", "enum": list(espn.LEAGUES)},
        "team_id": {"type": "string", "pattern": TEAM_ID_PATTERN},
    },
}
_NULL_INT = {"type": "integer", "nullable": True}
_NULL_STR = {"type": "string", "nullable": True}

_COMPETITOR = {
    "type": "object",
    "required": ["team_id", "abbreviation", "name", "score", "winner", "home"],
    "properties": {
        "team_id": {"type": "string"},
        "abbreviation": {"type": "string"},
        "name": {"type": "string"},
        "score": _NULL_INT,
        "winner": {"type": "boolean", "nullable": True},
        "home": {"type": "boolean"},
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "Team": _TEAM,
    "SubscriptionCreate": {
        "type": "object",
        "additionalProperties": False,
        "required": ["url", "events", "teams", "secret"],
        "properties": {
            "url": {"type": "string", "maxLength": URL_MAX, "pattern": URL_PATTERN},
            "events": {"type": "array", "minItems": 1, "items": _EVENT},
            "teams": {
                "type": "array",
                "minItems": 1,
                "maxItems": TEAMS_MAX,
                "items": {"$ref": _REF + "Team"},
            },
            "secret": {
                "type": "string",
                "minLength": SECRET_MIN,
                "maxLength": SECRET_MAX,
                "description": "HMAC key for signatures; stored, never returned.",
            },
            "enabled": {"type": "boolean", "default": True},
            "description": {"type": "string", "maxLength": DESCRIPTION_MAX, "default": ""},
        },
    },
    "Subscription": {
        "type": "object",
        "required": [
            "id",
            "url",
            "events",
            "teams",
            "enabled",
            "description",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": _EVENT},
            "teams": {"type": "array", "items": {"$ref": _REF + "Team"}},
            "enabled": {"type": "boolean"},
            "description": {"type": "string"},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
        },
    },
    "SubscriptionList": {
        "type": "object",
        "required": ["subscriptions"],
        "properties": {
            "subscriptions": {"type": "array", "items": {"$ref": _REF + "Subscription"}}
        },
    },
    "TestDelivery": {
        "type": "object",
        "required": ["delivery_id", "status"],
        "properties": {"delivery_id": {"type": "string"}, "status": {"type": "string"}},
    },
    "Delivery": {
        "type": "object",
        "required": [
            "delivery_id",
            "subscription_id",
            "target",
            "description",
            "event",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "league",
            "game_id",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "delivery_id": {"type": "string"},
            "subscription_id": {"type": "integer"},
            "target": {"type": "string", "description": "scheme://host:port of the receiver"},
            "description": {"type": "string", "description": "the subscription's description"},
            "event": {"type": "string", "enum": [*EVENTS, "test"]},
            "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "attempts": {"type": "integer", "minimum": 0},
            "next_attempt_at": _NULL_STR,
            "last_status_code": _NULL_INT,
            "last_error": _NULL_STR,
            "league": _NULL_STR,
            "game_id": _NULL_STR,
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
        },
    },
    "DeliveryList": {
        "type": "object",
        "required": ["deliveries"],
        "properties": {"deliveries": {"type": "array", "items": {"$ref": _REF + "Delivery"}}},
    },
    "Competitor": _COMPETITOR,
    "Game": {
        "type": "object",
        "required": [
            "id",
            "league",
            "name",
            "short_name",
            "start",
            "state",
            "completed",
            "detail",
            "period",
            "clock",
            "home",
            "away",
            "updated_at",
        ],
        "properties": {
            "id": {"type": "string"},
            "league": {"type": "string"},
            "name": {"type": "string"},
            "short_name": {"type": "string"},
            "start": {"type": "string", "description": "ISO 8601, UTC"},
            "state": {"type": "string", "enum": ["pre", "in", "post"]},
            "completed": {"type": "boolean"},
            "detail": {"type": "string"},
            "period": _NULL_INT,
            "clock": _NULL_STR,
            "home": {"$ref": _REF + "Competitor"},
            "away": {"$ref": _REF + "Competitor"},
            "updated_at": {"type": "string"},
        },
    },
    "GameList": {
        "type": "object",
        "required": ["games"],
        "properties": {"games": {"type": "array", "items": {"$ref": _REF + "Game"}}},
    },
    "PollResult": {
        "type": "object",
        "required": [
            "leagues",
            "games",
            "transitions",
            "deliveries",
            "errors",
            "next_poll_seconds",
        ],
        "properties": {
            "leagues": {"type": "integer"},
            "games": {"type": "integer"},
            "transitions": {"type": "integer"},
            "deliveries": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "string"}},
            "next_poll_seconds": {"type": "number"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "version", "database", "last_poll", "deliveries", "subscriptions"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "error"]},
            "version": {"type": "string"},
            "database": {"type": "string"},
            "last_poll": _NULL_STR,
            "deliveries": {
                "type": "object",
                "description": "Outbox rows by status: pending, delivered, failed",
                "additionalProperties": {"type": "integer"},
            },
            "subscriptions": {"type": "integer"},
        },
    },
}


def _subscription_action(summary: str, ok: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "parameters": [_ID_PARAM],
        "responses": {"200": ok, "401": _UNAUTHORIZED, "404": _NOT_FOUND},
    }


_FORBIDDEN = _error("The read key (SPORTS_WEBHOOKS_READ_KEY) may not do this")
_TOO_MANY = _error("Too many wrong keys from this client, or test deliveries; see Retry-After")


def document() -> dict[str, Any]:
    """Build the document (cheap; the app builds it once)."""
    doc = _document()
    for path in doc["paths"].values():
        for operation in path.values():
            if "401" in operation["responses"]:
                operation["responses"].update({"403": _FORBIDDEN, "429": _TOO_MANY})
    return doc


def _document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "HA Ingestor sports webhooks",
            "version": __version__,
            "description": (
                "Subscriptions to ESPN game events (game_started, score_changed, game_ended), "
                "delivered as signed webhooks. Every /api route needs the X-API-Key header: "
                "the API key, or the read key for GET /api/games and /api/deliveries."
            ),
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
            "schemas": _SCHEMAS,
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/health": {
                "get": {
                    "summary": "Liveness and database check (no authentication)",
                    "security": [],
                    "responses": {
                        "200": _json("Health", "Healthy"),
                        "503": _json("Health", "Database unavailable"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/api/subscriptions": {
                "get": {
                    "summary": "List subscriptions (secrets are never returned)",
                    "responses": {
                        "200": _json("SubscriptionList", "Subscriptions"),
                        "401": _UNAUTHORIZED,
                    },
                },
                "post": {
                    "summary": "Create a subscription",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": _REF + "SubscriptionCreate"}}
                        },
                    },
                    "responses": {
                        "201": _json("Subscription", "Created"),
                        "400": _error("Invalid subscription"),
                        "401": _UNAUTHORIZED,
                        "413": _error("Body too large"),
                        "415": _error("Compressed body (a Content-Encoding other than identity)"),
                    },
                },
            },
            "/api/subscriptions/{id}": {
                "get": _subscription_action(
                    "Get one subscription", _json("Subscription", "The subscription")
                ),
                "delete": {
                    "summary": "Delete a subscription with its pending deliveries and log",
                    "parameters": [_ID_PARAM],
                    "responses": {
                        "204": {"description": "Deleted"},
                        "401": _UNAUTHORIZED,
                        "404": _NOT_FOUND,
                    },
                },
            },
            "/api/subscriptions/{id}/enable": {
                "post": _subscription_action(
                    "Enable a subscription", _json("Subscription", "Enabled")
                )
            },
            "/api/subscriptions/{id}/disable": {
                "post": _subscription_action(
                    "Disable a subscription (its pending deliveries wait)",
                    _json("Subscription", "Disabled"),
                )
            },
            "/api/subscriptions/{id}/test": {
                "post": {
                    "summary": "Queue a signed 'test' delivery to this subscription",
                    "parameters": [_ID_PARAM],
                    "responses": {
                        "202": _json("TestDelivery", "Queued"),
                        "401": _UNAUTHORIZED,
                        "404": _NOT_FOUND,
                        "409": _error("Subscription is disabled"),
                    },
                }
            },
            "/api/deliveries": {
                "get": {
                    "summary": "Deliveries, newest first, with their state and last error",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 1000,
                                "default": 100,
                            },
                        },
                        {
                            "name": "subscription_id",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": _INT64_MAX},
                        },
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["pending", "delivered", "failed"],
                            },
                        },
                    ],
                    "responses": {
                        "200": _json("DeliveryList", "Deliveries"),
                        "400": _error("Invalid query parameter"),
                        "401": _UNAUTHORIZED,
                    },
                }
            },
            "/api/games": {
                "get": {
                    "summary": "Games of followed teams, as last polled, newest first",
                    "responses": {"200": _json("GameList", "Games"), "401": _UNAUTHORIZED},
                }
            },
            "/api/poll": {
                "post": {
                    "summary": "Poll ESPN now and return what was found",
                    "responses": {"200": _json("PollResult", "Poll done"), "401": _UNAUTHORIZED},
                }
            },
        },
    }
