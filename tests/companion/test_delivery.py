"""Poller -> outbox -> signed deliveries, against a fake ESPN and a real receiver process-free."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
import sqlite3
from typing import Any

from tests.helpers import wait_until

from .helpers import NFL, FakeEspn, Receiver, Service, fixture, set_score

# NFL fixture: 401437640 NYG @ TEN (pre, 0-0; TEN id 10, NYG id 19),
# 401437650 NO @ ATL (in, 26-24; ATL id 1, NO id 18).
TEN_GAME, ATL_GAME = "401437640", "401437650"


def _transitions(service: Service) -> list[tuple[str, str]]:
    with sqlite3.connect(service.db) as conn:
        return conn.execute("SELECT game_id, kind FROM transitions ORDER BY id").fetchall()


def test_transitions_become_signed_deliveries(
    service: Service, receiver: Receiver, fake_espn: FakeEspn
) -> None:
    all_events = service.subscribe(receiver.url + "/ok/all", [("nfl", "10"), ("nfl", "1")])
    ended_only = service.subscribe(
        receiver.url + "/ok/ended", [("nfl", "19")], events=["game_ended"]
    )
    other_league = service.subscribe(receiver.url + "/ok/mls", [("mls", "183")])

    # First poll: a baseline, nothing is delivered even though ATL's game is already live.
    first = service.poll()
    assert (first["leagues"], first["transitions"], first["deliveries"]) == (2, 0, 0)
    assert first["errors"] == []
    assert first["next_poll_seconds"] == 20  # a followed game is live
    status, games = service.request("GET", "/api/games")
    assert status == 200
    assert {g["id"] for g in games["games"]} == {TEN_GAME, ATL_GAME}

    # Kick-off with a touchdown for NYG, and a field goal in Atlanta.
    doc = fixture(NFL)
    set_score(doc, TEN_GAME, 0, 7, state="in")
    set_score(doc, ATL_GAME, 29, 24)
    fake_espn.set("nfl", doc)
    second = service.poll()
    assert (second["transitions"], second["deliveries"]) == (3, 3)
    wait_until(lambda: len(receiver.deliveries()) >= 3, "3 deliveries")
    got = receiver.deliveries("/ok/all")
    assert sorted((r.body["game"]["id"], r.event) for r in got) == [
        (TEN_GAME, "game_started"),
        (TEN_GAME, "score_changed"),
        (ATL_GAME, "score_changed"),
    ]
    for r in got:
        assert r.signature_ok
        assert r.body["event"] == r.event
        assert r.body["delivery_id"] == r.delivery_id
        assert r.body["subscription_id"] == all_events["id"]
    atl = next(r for r in got if r.body["game"]["id"] == ATL_GAME)
    assert atl.body["old_score"] == {"home": 26, "away": 24}
    assert atl.body["new_score"] == {"home": 29, "away": 24}

    # Same data again: nothing new.
    assert service.poll()["transitions"] == 0

    # Final whistle in Tennessee: both the all-events and the ended-only subscriber hear it.
    set_score(doc, TEN_GAME, 3, 7, state="post")
    fake_espn.set("nfl", doc)
    third = service.poll()
    assert (third["transitions"], third["deliveries"]) == (2, 3)
    wait_until(lambda: len(receiver.deliveries()) >= 6, "6 deliveries")
    ended = receiver.deliveries("/ok/ended")
    assert [(r.event, r.body["new_score"]) for r in ended] == [
        ("game_ended", {"home": 3, "away": 7})
    ]
    assert Counter(r.event for r in receiver.deliveries("/ok/all")) == {
        "game_started": 1,
        "score_changed": 3,
        "game_ended": 1,
    }
    assert receiver.deliveries("/ok/mls") == []
    assert other_league["id"] != ended_only["id"]
    wait_until(lambda: len(service.deliveries(status="delivered")) == 6, "all marked delivered")
    assert {d["league"] for d in service.deliveries()} == {"nfl"}


def test_retries_then_delivered_or_failed(
    make_service: Callable[..., Service], receiver: Receiver
) -> None:
    service = make_service(SPORTS_WEBHOOKS_MAX_ATTEMPTS="3").start()
    flaky = service.subscribe(receiver.url + "/flaky/2/x", [("nfl", "1")])
    broken = service.subscribe(receiver.url + "/fail/x", [("nfl", "1")])
    _, ok = service.request("POST", f"/api/subscriptions/{flaky['id']}/test")
    _, bad = service.request("POST", f"/api/subscriptions/{broken['id']}/test")

    def settled() -> list[dict[str, Any]]:
        rows = service.deliveries()
        return rows if all(r["status"] != "pending" for r in rows) else []

    rows = {r["delivery_id"]: r for r in wait_until(settled, "both deliveries settled")}
    assert (rows[ok["delivery_id"]]["status"], rows[ok["delivery_id"]]["attempts"]) == (
        "delivered",
        3,
    )
    failed = rows[bad["delivery_id"]]
    assert (failed["status"], failed["attempts"], failed["last_status_code"]) == ("failed", 3, 500)
    assert failed["last_error"] == "HTTP 500"
    assert failed["next_attempt_at"] is None
    # Every attempt reached the receiver with the same delivery id and a valid signature.
    attempts = [
        r for r in receiver.deliveries(ok_only=False) if r.delivery_id == bad["delivery_id"]
    ]
    assert len(attempts) == 3
    assert all(r.signature_ok for r in attempts)
    with sqlite3.connect(service.db) as conn:
        log = conn.execute(
            "SELECT l.attempt, l.status_code, l.error FROM delivery_log l JOIN outbox o "
            "ON o.id = l.outbox_id WHERE o.delivery_id = ? ORDER BY l.id",
            (bad["delivery_id"],),
        ).fetchall()
    assert log == [(1, 500, "HTTP 500"), (2, 500, "HTTP 500"), (3, 500, "HTTP 500")]
    # Failed stays failed: no more attempts.
    assert service.request("GET", "/health", key=None)[1]["deliveries"] == {
        "pending": 0,
        "delivered": 1,
        "failed": 1,
    }


def test_slow_subscriber_does_not_delay_others(service: Service, receiver: Receiver) -> None:
    slow = service.subscribe(receiver.url + "/hold/slow", [("nfl", "1")])
    fast = service.subscribe(receiver.url + "/ok/fast", [("nfl", "1")])
    # A backlog far larger than one dispatch batch (concurrency 32): it must not starve others.
    for _ in range(150):
        service.request("POST", f"/api/subscriptions/{slow['id']}/test")
    for _ in range(3):
        service.request("POST", f"/api/subscriptions/{fast['id']}/test")
    wait_until(
        lambda: len(receiver.deliveries("/ok/fast")) == 3, "fast deliveries while slow hangs"
    )
    held = [r for r in receiver.deliveries("/hold/slow", ok_only=False) if r.answered == 0]
    assert len(held) == 4  # per-subscription concurrency limit
    receiver.release()
    wait_until(lambda: len(receiver.deliveries("/hold/slow")) == 150, "slow backlog after release")


def test_sigkill_during_delivery_then_restart(
    make_service: Callable[..., Service], receiver: Receiver, fake_espn: FakeEspn
) -> None:
    service = make_service().start()
    service.subscribe(receiver.url + "/hold/crash", [("nfl", "10")])
    service.poll()  # baseline
    doc = fixture(NFL)
    set_score(doc, TEN_GAME, 0, 0, state="in")
    fake_espn.set("nfl", doc)
    assert service.poll()["deliveries"] == 1
    (in_flight,) = wait_until(lambda: receiver.deliveries("/hold/crash", ok_only=False), "request")
    assert in_flight.answered == 0  # the receiver is still holding it

    service.kill()  # crash while the request is in flight
    receiver.release()
    assert _transitions(service) == [(TEN_GAME, "game_started")]

    service.start()
    redelivered = wait_until(
        lambda: [r for r in receiver.deliveries("/hold/crash") if r.attempt >= 2],
        "redelivery after restart",
    )
    assert {r.delivery_id for r in redelivered} == {in_flight.delivery_id}
    assert all(r.signature_ok and r.event == "game_started" for r in redelivered)
    wait_until(lambda: service.deliveries(status="delivered"), "marked delivered")
    # Polling the same state after the restart repeats nothing.
    assert service.poll()["transitions"] == 0
    assert _transitions(service) == [(TEN_GAME, "game_started")]
    (row,) = service.deliveries()
    assert row["delivery_id"] == in_flight.delivery_id


def test_thousand_subscriptions_burst(
    make_service: Callable[..., Service], receiver: Receiver, fake_espn: FakeEspn
) -> None:
    service = make_service(SPORTS_WEBHOOKS_CONCURRENCY="64").start()
    doc = fixture(NFL)
    live = [e for e in doc["events"] if e["status"]["type"]["state"] == "in"]
    assert len(live) == 8
    home_teams = [
        next(
            c["team"]["id"] for c in e["competitions"][0]["competitors"] if c["homeAway"] == "home"
        )
        for e in live
    ]
    for n in range(1000):
        service.subscribe(
            f"{receiver.url}/ok/sub{n}",
            [("nfl", home_teams[n % 8]), ("nfl", home_teams[(n + 1) % 8])],
        )
    service.poll()  # baseline
    for e in live:  # every live game scores at once
        set_score(doc, e["id"], 50, 50)
    fake_espn.set("nfl", doc)
    result = service.poll()
    assert (result["transitions"], result["deliveries"]) == (8, 2000)
    wait_until(lambda: len(receiver.deliveries()) >= 2000, "2000 deliveries", timeout=120)
    got = receiver.deliveries()
    assert len({r.delivery_id for r in got}) == 2000
    assert all(r.signature_ok for r in got)
    per_sub = Counter(r.path for r in got)
    assert set(per_sub.values()) == {2}
    assert len(per_sub) == 1000

    def outbox() -> dict[str, int]:
        counts: dict[str, int] = service.request("GET", "/health", key=None)[1]["deliveries"]
        return counts if counts["delivered"] == 2000 else {}

    assert wait_until(outbox, "all 2000 marked delivered") == {
        "pending": 0,
        "delivered": 2000,
        "failed": 0,
    }
