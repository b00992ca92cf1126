"""Sports webhooks API: auth, validation, subscription lifecycle, test deliveries."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import wait_until

from .helpers import API_KEY, SECRET, Receiver, Service

VALID: dict[str, Any] = {
    "url": "http://127.0.0.1:9/hook",
    "events": ["game_started", "game_ended"],
    "teams": [{"league": "nfl", "team_id": "1"}],
    "secret": SECRET,
}


def test_health_and_openapi_need_no_key(service: Service) -> None:
    status, health = service.request("GET", "/health", key=None)
    assert status == 200
    assert health["status"] == "ok"
    assert health["database"] == "ok"
    assert health["deliveries"] == {"pending": 0, "delivered": 0, "failed": 0}
    status, doc = service.request("GET", "/openapi.json", key=None)
    assert status == 200
    assert doc["openapi"].startswith("3.")
    assert {"/api/subscriptions", "/api/deliveries", "/api/games", "/health"} <= set(doc["paths"])


ROUTES = [
    ("GET", "/api/subscriptions"),
    ("POST", "/api/subscriptions"),
    ("GET", "/api/subscriptions/1"),
    ("DELETE", "/api/subscriptions/1"),
    ("POST", "/api/subscriptions/1/enable"),
    ("POST", "/api/subscriptions/1/disable"),
    ("POST", "/api/subscriptions/1/test"),
    ("GET", "/api/deliveries"),
    ("GET", "/api/games"),
    ("POST", "/api/poll"),
]


def test_api_key_required(service: Service) -> None:
    for method, path in ROUTES:
        body = VALID if method == "POST" else None
        for key in (None, "", "wrong", API_KEY + "x", API_KEY[:-1], API_KEY.upper()):
            status, error = service.request(method, path, body, key=key)
            assert status == 401, (method, path, key)
            assert error == {"error": "missing or wrong X-API-Key header"}
    # Nothing was created by the rejected requests.
    assert service.request("GET", "/api/subscriptions") == (200, {"subscriptions": []})


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"url": "ftp://example.org/x"}, "'url' must be an http:// or https:// URL"),
    ({"url": "javascript:alert(1)"}, "'url' must be"),
    ({"url": "http://"}, "'url' must be"),
    ({"url": "http://a b/"}, "'url' must be"),
    ({"url": 7}, "'url' must be"),
    ({"events": []}, "'events' must be a non-empty list"),
    ({"events": ["touchdown"]}, "unknown event 'touchdown'"),
    ({"events": "game_ended"}, "'events' must be"),
    ({"teams": []}, "'teams' must be a list of 1 to 50"),
    ({"teams": [{"league": "curling", "team_id": "1"}]}, "unknown league 'curling'"),
    ({"teams": [{"league": "nfl", "team_id": "a/b"}]}, "'team_id' must be"),
    ({"teams": [{"league": "nfl"}]}, "exactly 'league' and 'team_id'"),
    ({"secret": "short"}, "'secret' must be a string of 16 to 256 characters"),
    ({"secret": None}, "'secret' must be"),
    ({"enabled": "yes"}, "'enabled' must be true or false"),
    ({"description": "x" * 201}, "'description' must be"),
    ({"id": 5}, "unknown field(s): id"),
]


def test_validation_errors(service: Service) -> None:
    for change, message in INVALID:
        status, error = service.request("POST", "/api/subscriptions", {**VALID, **change})
        assert status == 400, change
        assert message in error["error"]
    assert service.request("GET", "/api/subscriptions") == (200, {"subscriptions": []})


def test_missing_fields_and_bad_json(service: Service) -> None:
    for name in ("url", "events", "teams", "secret"):
        body = {k: v for k, v in VALID.items() if k != name}
        assert service.request("POST", "/api/subscriptions", body) == (
            400,
            {"error": f"'{name}' is required"},
        )
    assert service.request("POST", "/api/subscriptions", raw=b"{not json") == (
        400,
        {"error": "body must be valid JSON"},
    )
    assert service.request("POST", "/api/subscriptions", raw=b"[1]")[0] == 400
    status, error = service.request("POST", "/api/subscriptions", raw=b"x" * 70_000)
    assert status == 413
    assert "error" in error


def test_subscription_lifecycle(service: Service) -> None:
    created = service.subscribe(
        "https://hooks.example.org/espn?x=1",
        [("nfl", "1"), ("nfl", "1"), ("mls", "183")],
        description="kitchen display",
    )
    assert "secret" not in created
    sub_id = created["id"]
    assert created["teams"] == [
        {"league": "nfl", "team_id": "1"},
        {"league": "mls", "team_id": "183"},
    ]
    assert created["enabled"] is True
    assert created["description"] == "kitchen display"

    status, listed = service.request("GET", "/api/subscriptions")
    assert status == 200
    assert listed["subscriptions"] == [created]
    assert SECRET not in str(listed)

    assert service.request("GET", f"/api/subscriptions/{sub_id}") == (200, created)
    status, disabled = service.request("POST", f"/api/subscriptions/{sub_id}/disable")
    assert (status, disabled["enabled"]) == (200, False)
    assert service.request("POST", f"/api/subscriptions/{sub_id}/test") == (
        409,
        {"error": "subscription is disabled; enable it first"},
    )
    status, enabled = service.request("POST", f"/api/subscriptions/{sub_id}/enable")
    assert (status, enabled["enabled"]) == (200, True)

    assert service.request("DELETE", f"/api/subscriptions/{sub_id}") == (204, None)
    for method, path in (
        ("GET", f"/api/subscriptions/{sub_id}"),
        ("DELETE", f"/api/subscriptions/{sub_id}"),
        ("POST", f"/api/subscriptions/{sub_id}/enable"),
        ("POST", f"/api/subscriptions/{sub_id}/test"),
        ("GET", "/api/subscriptions/abc"),
        ("GET", "/api/subscriptions/99999999999999999999999"),
        ("GET", "/api/nothing-here"),
    ):
        status, error = service.request(method, path)
        assert status == 404, (method, path)
        assert "error" in error
    status, error = service.request("PUT", "/api/subscriptions")
    assert status == 405
    assert "error" in error


def test_deliveries_query_validation(service: Service) -> None:
    for query in ("limit=0", "limit=1001", "limit=x", "subscription_id=-1", "status=lost"):
        status, error = service.request("GET", f"/api/deliveries?{query}")
        assert status == 400, query
        assert "error" in error
    assert service.request("GET", "/api/deliveries?limit=5&status=failed") == (
        200,
        {"deliveries": []},
    )


def test_test_delivery_is_signed(service: Service, receiver: Receiver) -> None:
    sub = service.subscribe(receiver.url + "/ok/test", [("nfl", "1")])
    status, queued = service.request("POST", f"/api/subscriptions/{sub['id']}/test")
    assert status == 202
    (got,) = wait_until(lambda: receiver.deliveries("/ok/test"), "test delivery")
    assert got.signature_ok
    assert got.delivery_id == queued["delivery_id"]
    assert got.event == "test"
    assert got.body["event"] == "test"
    assert got.body["delivery_id"] == queued["delivery_id"]
    assert got.body["subscription_id"] == sub["id"]

    def delivered() -> list[dict[str, Any]]:
        return service.deliveries(status="delivered")

    (row,) = wait_until(delivered, "delivery marked delivered")
    assert row["delivery_id"] == queued["delivery_id"]
    assert (row["attempts"], row["last_status_code"], row["last_error"]) == (1, 200, None)
    assert (row["event"], row["league"], row["game_id"]) == ("test", None, None)


def test_hostile_input_is_a_clear_4xx(service: Service) -> None:
    """Input that used to crash a handler (500): numbers past Python's 4300-digit int() limit
    (ValueError) and a lone surrogate, which JSON can spell but UTF-8 and so SQLite cannot
    hold (UnicodeEncodeError). Each is a 4xx with a clear JSON error; nothing is stored."""
    huge = "9" * 5000
    for method, path in (
        ("GET", f"/api/subscriptions/{huge}"),
        ("DELETE", f"/api/subscriptions/{huge}"),
        ("POST", f"/api/subscriptions/{huge}/enable"),
        ("POST", f"/api/subscriptions/{huge}/test"),
        ("GET", f"/api/subscriptions/{'0' * 4999}1"),  # == 1, but no id is spelt like that
    ):
        assert service.request(method, path) == (404, {"error": "no such subscription"}), path
    for name, high in (("limit", 1000), ("subscription_id", 2**63 - 1)):
        assert service.request("GET", f"/api/deliveries?{name}={huge}") == (
            400,
            {"error": f"'{name}' must be an integer from 1 to {high}"},
        )
    for name in ("description", "secret"):
        value = '"\\ud800' + "x" * 20 + '"'  # JSON escape: the body itself is plain ASCII
        fields = [f'"{k}": {json.dumps(v)}' for k, v in VALID.items() if k != name]
        raw = ("{" + ", ".join([*fields, f'"{name}": {value}']) + "}").encode()
        assert service.request("POST", "/api/subscriptions", raw=raw) == (
            400,
            {"error": f"'{name}' must be valid Unicode text (no lone surrogates)"},
        )
    assert service.request("GET", "/api/subscriptions") == (200, {"subscriptions": []})
    # The largest values still work.
    assert service.request("GET", "/api/deliveries?limit=1000") == (200, {"deliveries": []})
    assert service.request("GET", f"/api/subscriptions/{2**63 - 1}")[0] == 404
    assert "Traceback" not in service.log.read_text()
