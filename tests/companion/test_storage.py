"""SQLite: pragmas, migrations, online backup while running, verified restore; config; signing."""

from __future__ import annotations

from collections.abc import Callable
import hashlib
import hmac
import json
from pathlib import Path
import sqlite3

import pytest
from sports_webhooks import config, db, delivery  # on sys.path via helpers (conftest)

from tests.helpers import wait_until

from .helpers import SECRET, FakeEspn, Receiver, Service


def test_pragmas_and_migrations(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    store = db.Store(path)
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"subscriptions", "subscription_teams", "games", "transitions", "outbox"} <= tables
    assert "delivery_log" in tables
    store.close()
    # Re-opening runs no migration again; a newer schema is refused with a clear error.
    with sqlite3.connect(path) as raw:
        assert db.migrate(db.connect(path)) == db.SCHEMA_VERSION
        raw.execute(f"PRAGMA user_version={db.SCHEMA_VERSION + 1}")
    with pytest.raises(db.SchemaError, match="newer than this service"):
        db.Store(path)


def test_foreign_keys_cascade(tmp_path: Path) -> None:
    store = db.Store(tmp_path / "fk.db")
    from sports_webhooks.validation import subscription

    new = subscription(
        {
            "url": "http://127.0.0.1:1/x",
            "events": ["game_ended"],
            "teams": [{"league": "nfl", "team_id": "1"}],
            "secret": SECRET,
        }
    )
    sub = store.create_subscription(new)
    delivery_id = store.enqueue_test(sub["id"])
    assert store.list_deliveries(10)[0]["delivery_id"] == delivery_id
    with pytest.raises(sqlite3.IntegrityError):
        store.enqueue_test(sub["id"] + 100)
    assert store.delete_subscription(sub["id"])
    assert store.list_deliveries(10) == []
    assert store.conn.execute("SELECT count(*) FROM subscription_teams").fetchone()[0] == 0
    store.close()


def test_backup_while_running_and_verified_restore(
    make_service: Callable[..., Service], receiver: Receiver, tmp_path: Path
) -> None:
    service = make_service().start()
    subs = [service.subscribe(f"{receiver.url}/ok/b{n}", [("nfl", str(n + 1))]) for n in range(5)]
    for sub in subs:
        service.request("POST", f"/api/subscriptions/{sub['id']}/test")
    wait_until(lambda: len(service.deliveries(status="delivered")) == 5, "5 test deliveries")

    backup_file = tmp_path / "backups" / "webhooks-1.db"
    done = service.cli("backup", str(backup_file))  # the service is still running
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts["subscriptions"] == 5
    assert counts["outbox"] == 5
    assert counts["delivery_log"] == 5
    assert counts["user_version"] == db.SCHEMA_VERSION
    with sqlite3.connect(backup_file) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert not backup_file.with_name(backup_file.name + "-wal").exists()
    again = service.cli("backup", str(backup_file))
    assert again.returncode == 2
    assert "exists" in again.stderr

    # Changes after the backup are undone by the restore.
    service.request("DELETE", f"/api/subscriptions/{subs[0]['id']}")
    service.subscribe(receiver.url + "/ok/late", [("mls", "183")])
    service.stop()

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    refused = service.cli("restore", str(broken))
    assert refused.returncode == 2
    assert "not a usable SQLite database" in refused.stderr or "integrity" in refused.stderr

    restored = service.cli("restore", str(backup_file))
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["subscriptions"] == 5

    service.start()
    status, listed = service.request("GET", "/api/subscriptions")
    assert status == 200
    assert [s["id"] for s in listed["subscriptions"]] == [s["id"] for s in subs]
    assert len(service.deliveries(status="delivered")) == 5
    # The restored secrets still sign correctly.
    _, queued = service.request("POST", f"/api/subscriptions/{subs[0]['id']}/test")
    got = wait_until(
        lambda: [r for r in receiver.deliveries() if r.delivery_id == queued["delivery_id"]],
        "delivery after restore",
    )
    assert got[0].signature_ok


def test_poll_loop_polls_only_subscribed_leagues(
    make_service: Callable[..., Service], receiver: Receiver, fake_espn: FakeEspn
) -> None:
    service = make_service(SPORTS_WEBHOOKS_POLL="1").start()
    wait_until(lambda: service.request("GET", "/health", key=None)[1]["last_poll"], "first poll")
    assert fake_espn.requests == []  # nobody subscribed: ESPN is not called at all
    service.subscribe(receiver.url + "/ok/x", [("mls", "183")])  # wakes the poller
    wait_until(lambda: "mls" in fake_espn.requests, "poll of the subscribed league")
    assert set(fake_espn.requests) == {"mls"}
    health = service.request("GET", "/health", key=None)[1]
    assert health["status"] == "ok"


def test_settings_from_env() -> None:
    env = {"SPORTS_WEBHOOKS_API_KEY": "k" * 16}
    settings = config.load_settings(env)
    assert (settings.host, settings.port, settings.max_attempts) == ("127.0.0.1", 8080, 8)
    assert settings.db_path == Path("data/webhooks.db")
    for bad, message in (
        ({}, "SPORTS_WEBHOOKS_API_KEY is required"),
        ({**env, "SPORTS_WEBHOOKS_PORT": "http"}, "SPORTS_WEBHOOKS_PORT must be an integer"),
        ({**env, "SPORTS_WEBHOOKS_PORT": "70000"}, "between 0 and 65535"),
        ({**env, "SPORTS_WEBHOOKS_POLL": "maybe"}, "SPORTS_WEBHOOKS_POLL must be true or false"),
        ({**env, "SPORTS_WEBHOOKS_RETRY_BASE": "x"}, "must be a number"),
        ({**env, "ESPN_BASE_URL": "file:///etc"}, "ESPN_BASE_URL must be an http(s) URL"),
    ):
        with pytest.raises(
            config.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")
        ):
            config.load_settings(bad)


def test_missing_api_key_exits_with_message(make_service: Callable[..., Service]) -> None:
    service = make_service(SPORTS_WEBHOOKS_API_KEY="")
    result = service.cli()
    assert result.returncode == 2
    assert "SPORTS_WEBHOOKS_API_KEY is required" in result.stderr
    # Schema creation needs no key (e.g. an init container) and is idempotent.
    for _ in range(2):
        assert service.cli("migrate").returncode == 0
    with sqlite3.connect(service.db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION


def test_signature_and_backoff() -> None:
    body = b'{"event":"test"}'
    expected = hmac.new(b"s" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert delivery.sign("s" * 16, "1700000000", body) == "sha256=" + expected
    delays = [delivery.backoff(n, 10, 3600) for n in range(1, 12)]
    assert 8 <= delays[0] <= 12
    assert 16 <= delays[1] <= 24
    assert all(d <= 3600 * 1.2 for d in delays)
    assert delivery.backoff(1000, 10, 3600) <= 3600 * 1.2


def _store_with_subscription(path: Path) -> tuple[db.Store, dict[str, object]]:
    from sports_webhooks.validation import subscription

    store = db.Store(path)
    new = subscription(
        {
            "url": "http://127.0.0.1:1/x",
            "events": ["game_started", "score_changed", "game_ended"],
            "teams": [{"league": "nfl", "team_id": "10"}],
            "secret": SECRET,
        }
    )
    return store, store.create_subscription(new)


def _ten_game(state: str, home: int, away: int) -> object:
    from sports_webhooks._espn import espn

    from .helpers import NFL, fixture, set_score

    doc = fixture(NFL)
    set_score(doc, "401437640", home, away, state=state)
    return next(g for g in espn.parse_scoreboard(doc, "nfl") if g.id == "401437640")


def test_transition_and_outbox_commit_together(tmp_path: Path) -> None:
    from sports_webhooks._espn import espn

    store, _ = _store_with_subscription(tmp_path / "atomic.db")
    before, after = _ten_game("pre", 0, 0), _ten_game("in", 0, 7)
    assert store.apply_poll("nfl", [(before, [])]) == (0, 0)
    found = espn.detect_transitions(before, after)
    assert [t.kind for t in found] == ["game_started", "score_changed"]
    # Make the outbox insert fail: nothing of the poll may be committed.
    store.conn.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        store.apply_poll("nfl", [(after, found)])
    assert store.load_games("nfl", [after.id])[after.id] == before
    assert store.count_transitions() == 0
    store.conn.execute("DROP TRIGGER boom")
    assert store.apply_poll("nfl", [(after, found)]) == (2, 2)
    assert store.load_games("nfl", [after.id])[after.id] == after
    store.close()


def test_stale_games_are_pruned(tmp_path: Path) -> None:
    store, _ = _store_with_subscription(tmp_path / "prune.db")
    game = _ten_game("pre", 0, 0)
    store.apply_poll("nfl", [(game, [])])
    assert [g["id"] for g in store.list_games()] == [game.id]
    store.conn.execute("UPDATE games SET updated_at = '2000-01-01T00:00:00.000Z'")
    store.apply_poll("nfl", [])
    assert store.list_games() == []
    store.close()
