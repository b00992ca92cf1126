"""SQLite storage: subscriptions, game state, transitions, the durable outbox and the delivery log.

``Store`` is synchronous and owns one connection; the service only uses it through ``AsyncStore``,
which runs every call on one dedicated thread, so SQLite never blocks the event loop and the
connection is never shared between threads.

Durability: WAL with ``synchronous=NORMAL``. A committed transaction survives a crash of this
process (SIGKILL); after an OS crash or power loss the last commits may be rolled back, never
corrupted. That still loses no delivery: a game transition and its outbox rows commit together
with the new game state, so a rolled-back poll is detected again, and a rolled-back "delivered"
mark only causes a redelivery with the same delivery id, which receivers deduplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import functools
import json
import os
from pathlib import Path
import sqlite3
import time
from typing import Any, Final
import uuid

from yarl import URL

from ._espn import espn
from .validation import NewSubscription

# Each migration is a list of statements run in one transaction together with the version bump.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE subscriptions (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL,
            events TEXT NOT NULL,
            secret TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
            description TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE subscription_teams (
            subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
            league TEXT NOT NULL,
            team_id TEXT NOT NULL,
            PRIMARY KEY (subscription_id, league, team_id)
        )""",
        "CREATE INDEX subscription_teams_team ON subscription_teams(league, team_id)",
        """CREATE TABLE games (
            league TEXT NOT NULL,
            game_id TEXT NOT NULL,
            start TEXT NOT NULL,
            state TEXT NOT NULL,
            data TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (league, game_id)
        )""",
        """CREATE TABLE transitions (
            id INTEGER PRIMARY KEY,
            league TEXT NOT NULL,
            game_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            delivery_id TEXT NOT NULL UNIQUE,
            subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
            transition_id INTEGER REFERENCES transitions(id) ON DELETE SET NULL,
            event TEXT NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            last_status_code INTEGER,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX outbox_due ON outbox(status, next_attempt_at)",
        "CREATE INDEX outbox_subscription ON outbox(subscription_id)",
        """CREATE TABLE delivery_log (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
            attempt INTEGER NOT NULL,
            status_code INTEGER,
            error TEXT,
            duration_ms REAL NOT NULL,
            at TEXT NOT NULL
        )""",
        "CREATE INDEX delivery_log_outbox ON delivery_log(outbox_id)",
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)
GAME_RETENTION: Final = timedelta(days=14)


# (outbox id, attempt number, HTTP status, error or None, duration ms, retry at or None)
AttemptResult = tuple[int, int, int | None, str | None, float, float | None]


def _compact(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


class SchemaError(RuntimeError):
    """The database was written by a newer version of the service."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_from_epoch(value: float) -> str:
    stamp = datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Due:
    """An outbox row ready to send, with what the sender needs from its subscription."""

    outbox_id: int
    delivery_id: str
    subscription_id: int
    url: str
    secret: str
    event: str
    body: str
    attempts: int


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection with our pragmas; autocommit mode, transactions are explicit."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        conn.close()
        raise RuntimeError(f"{path}: cannot enable WAL (journal_mode={mode})")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    # Sorts and temp tables in memory: nothing written outside the database's own folder,
    # which matters with a read-only root filesystem.
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def private_file(path: Path) -> None:
    """Create ``path`` (and tighten an existing one) to 0600: the database holds every
    subscription's signing secret. SQLite gives its -wal and -shm files the database's mode."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if each.stat().st_mode & 0o077:
                each.chmod(0o600)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise SchemaError(
            f"database schema version {found} is newer than this service ({SCHEMA_VERSION})"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


def target(url: str) -> str:
    """Where a subscription delivers, without path or query: an HA webhook id in the path is
    as good as a password, and this is shown to whoever reads the delivery list."""
    try:
        parsed = URL(url)
        return str(parsed.origin()) if parsed.absolute else ""
    except ValueError:  # unusable (its deliveries say so): the list still answers
        return ""


def _subscription(row: sqlite3.Row, teams: Sequence[sqlite3.Row]) -> dict[str, Any]:
    """The public form of a subscription: never the secret."""
    return {
        "id": row["id"],
        "url": row["url"],
        "events": json.loads(row["events"]),
        "teams": [{"league": t["league"], "team_id": t["team_id"]} for t in teams],
        "enabled": bool(row["enabled"]),
        "description": row["description"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


class Store:
    """Synchronous data access; see the module docstring for the threading rule."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        private_file(self.path)
        self.conn = connect(self.path)
        migrate(self.conn)

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --- subscriptions ---------------------------------------------------------------------

    def _teams_of(self, ids: Sequence[int]) -> dict[int, list[sqlite3.Row]]:
        out: dict[int, list[sqlite3.Row]] = {i: [] for i in ids}
        rows = self.conn.execute(
            "SELECT subscription_id, league, team_id FROM subscription_teams "
            "ORDER BY subscription_id, rowid"
        )
        for row in rows:
            if row["subscription_id"] in out:
                out[row["subscription_id"]].append(row)
        return out

    def create_subscription(self, new: NewSubscription) -> dict[str, Any]:
        stamp = now_iso()
        with self.tx() as conn:
            cur = conn.execute(
                "INSERT INTO subscriptions (url, events, secret, enabled, description, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    new.url,
                    json.dumps(list(new.events)),
                    new.secret,
                    int(new.enabled),
                    new.description,
                    stamp,
                    stamp,
                ),
            )
            sub_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT OR IGNORE INTO subscription_teams (subscription_id, league, team_id) "
                "VALUES (?, ?, ?)",
                [(sub_id, league, team_id) for league, team_id in new.teams],
            )
        found = self.get_subscription(sub_id)
        assert found is not None
        return found

    def list_subscriptions(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM subscriptions ORDER BY id").fetchall()
        teams = self._teams_of([r["id"] for r in rows])
        return [_subscription(r, teams[r["id"]]) for r in rows]

    def get_subscription(self, sub_id: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM subscriptions WHERE id = ?", (sub_id,)).fetchone()
        if row is None:
            return None
        teams = self.conn.execute(
            "SELECT league, team_id FROM subscription_teams WHERE subscription_id = ? "
            "ORDER BY rowid",
            (sub_id,),
        ).fetchall()
        return _subscription(row, teams)

    def delete_subscription(self, sub_id: int) -> bool:
        with self.tx() as conn:
            return conn.execute("DELETE FROM subscriptions WHERE id = ?", (sub_id,)).rowcount > 0

    def set_enabled(self, sub_id: int, enabled: bool) -> dict[str, Any] | None:
        with self.tx() as conn:
            conn.execute(
                "UPDATE subscriptions SET enabled = ?, updated_at = ? WHERE id = ?",
                (int(enabled), now_iso(), sub_id),
            )
        return self.get_subscription(sub_id)

    def followed_teams(self) -> dict[str, set[str]]:
        """League key -> team ids that at least one enabled subscription follows."""
        out: dict[str, set[str]] = {}
        for row in self.conn.execute(
            "SELECT DISTINCT t.league, t.team_id FROM subscription_teams t "
            "JOIN subscriptions s ON s.id = t.subscription_id WHERE s.enabled = 1"
        ):
            out.setdefault(row["league"], set()).add(row["team_id"])
        return out

    # --- games and transitions -------------------------------------------------------------

    def load_games(self, league: str, game_ids: Sequence[str]) -> dict[str, espn.Game]:
        """Last stored state of these games (unreadable rows are treated as unseen)."""
        out: dict[str, espn.Game] = {}
        for chunk_start in range(0, len(game_ids), 500):
            chunk = list(game_ids[chunk_start : chunk_start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT game_id, data FROM games WHERE league = ? AND game_id IN ({marks})",
                (league, *chunk),
            ):
                with contextlib.suppress(ValueError):
                    out[row["game_id"]] = espn.Game.from_dict(json.loads(row["data"]))
        return out

    def apply_poll(
        self, league: str, changes: Sequence[tuple[espn.Game, Sequence[espn.Transition]]]
    ) -> tuple[int, int]:
        """Store new game states, their transitions and outbox rows in ONE transaction.

        Returns (transitions, outbox rows). Either all of it is committed or none, so a crash
        never leaves a transition without its deliveries nor a state advanced without them.
        """
        stamp = now_iso()
        due = time.time()
        transitions = deliveries = 0
        with self.tx() as conn:
            # team id -> [(subscription id, events)] for enabled subscriptions in this league
            followers: dict[str, list[tuple[int, frozenset[str]]]] = {}
            for row in conn.execute(
                "SELECT s.id, s.events, t.team_id FROM subscriptions s "
                "JOIN subscription_teams t ON t.subscription_id = s.id "
                "WHERE s.enabled = 1 AND t.league = ?",
                (league,),
            ):
                events = frozenset(json.loads(row["events"]))
                followers.setdefault(row["team_id"], []).append((row["id"], events))
            for game, found in changes:
                conn.execute(
                    "INSERT INTO games (league, game_id, start, state, data, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (league, game_id) DO UPDATE SET "
                    "start = excluded.start, state = excluded.state, data = excluded.data, "
                    "updated_at = excluded.updated_at",
                    (
                        league,
                        game.id,
                        game.start.isoformat(),
                        game.state,
                        json.dumps(game.to_dict()),
                        stamp,
                    ),
                )
                for transition in found:
                    payload = transition.to_dict()
                    cur = conn.execute(
                        "INSERT INTO transitions (league, game_id, kind, data, created_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (league, game.id, transition.kind, json.dumps(payload), stamp),
                    )
                    transitions += 1
                    transition_id = int(cur.lastrowid or 0)
                    targets: dict[int, None] = {}
                    for team_id in (game.home.team_id, game.away.team_id):
                        for sub_id, events in followers.get(team_id, ()):
                            if transition.kind in events:
                                targets[sub_id] = None
                    rows = []
                    for sub_id in targets:
                        delivery_id = str(uuid.uuid4())
                        body = {
                            "delivery_id": delivery_id,
                            "subscription_id": sub_id,
                            "occurred_at": stamp,
                            **payload,
                        }
                        rows.append(
                            (
                                delivery_id,
                                sub_id,
                                transition_id,
                                transition.kind,
                                _compact(body),
                                due,
                                stamp,
                                stamp,
                            )
                        )
                    conn.executemany(
                        "INSERT INTO outbox (delivery_id, subscription_id, transition_id, event, "
                        "body, next_attempt_at, created_at, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        rows,
                    )
                    deliveries += len(rows)
            # Games unchanged for two weeks (long finished, or postponed) leave /api/games.
            # Judged by our own clock, not the game's start, so old test data stays usable.
            cutoff = iso_from_epoch(time.time() - GAME_RETENTION.total_seconds())
            conn.execute("DELETE FROM games WHERE updated_at < ?", (cutoff,))
        return transitions, deliveries

    def list_games(self) -> list[dict[str, Any]]:
        """Stored games that involve a team an enabled subscription follows, newest first."""
        followed = self.followed_teams()
        out: list[dict[str, Any]] = []
        for row in self.conn.execute(
            "SELECT league, data, updated_at FROM games ORDER BY start DESC, league, game_id"
        ):
            teams = followed.get(row["league"])
            if not teams:
                continue
            data = json.loads(row["data"])
            home = data.get("home", {}).get("team_id")
            away = data.get("away", {}).get("team_id")
            if home in teams or away in teams:
                data["updated_at"] = row["updated_at"]
                out.append(data)
        return out

    def prune(self, now: float, days: int) -> dict[str, int]:
        """Forget finished deliveries (with their attempt log) and transitions older than
        ``days``; pending deliveries and what they refer to stay. Keeps the file bounded."""
        cutoff = iso_from_epoch(now - days * 86400)
        with self.tx() as conn:
            outbox = conn.execute(
                "DELETE FROM outbox WHERE status != 'pending' AND updated_at < ?", (cutoff,)
            ).rowcount
            transitions = conn.execute(
                "DELETE FROM transitions WHERE created_at < ? AND id NOT IN "
                "(SELECT transition_id FROM outbox WHERE transition_id IS NOT NULL)",
                (cutoff,),
            ).rowcount
        return {"outbox": outbox, "transitions": transitions}

    def count_transitions(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM transitions").fetchone()[0])

    # --- outbox and delivery log -----------------------------------------------------------

    def enqueue_test(self, sub_id: int) -> str:
        stamp = now_iso()
        delivery_id = str(uuid.uuid4())
        body = {
            "delivery_id": delivery_id,
            "subscription_id": sub_id,
            "occurred_at": stamp,
            "event": "test",
            "message": "Test delivery from sports webhooks",
        }
        with self.tx() as conn:
            conn.execute(
                "INSERT INTO outbox (delivery_id, subscription_id, event, body, next_attempt_at, "
                "created_at, updated_at) VALUES (?, ?, 'test', ?, ?, ?, ?)",
                (
                    delivery_id,
                    sub_id,
                    _compact(body),
                    time.time(),
                    stamp,
                    stamp,
                ),
            )
        return delivery_id

    def due(
        self,
        now: float,
        limit: int,
        per_subscription: int,
        busy: Mapping[int, int],
        claimed: Sequence[int] = (),
    ) -> list[Due]:
        """Pending rows of enabled subscriptions whose time has come, oldest first.

        Fair by construction: at most ``per_subscription`` rows per subscription, minus the
        ``busy`` ones it already has in flight, so a subscription with a large backlog (a dead
        receiver) cannot fill the batch and starve the others. ``claimed`` rows (being sent)
        are left out.
        """
        rows = self.conn.execute(
            "SELECT id, delivery_id, subscription_id, url, secret, event, body, attempts, rn "
            "FROM (SELECT o.id, o.delivery_id, o.subscription_id, s.url, s.secret, o.event, "
            "o.body, o.attempts, o.next_attempt_at, ROW_NUMBER() OVER (PARTITION BY "
            "o.subscription_id ORDER BY o.next_attempt_at, o.id) AS rn "
            "FROM outbox o JOIN subscriptions s ON s.id = o.subscription_id "
            "WHERE o.status = 'pending' AND o.next_attempt_at <= ? AND s.enabled = 1 "
            "AND o.id NOT IN (SELECT value FROM json_each(?))) "
            "WHERE rn <= ? ORDER BY next_attempt_at, id",
            (now, json.dumps(list(claimed)), per_subscription),
        )
        out: list[Due] = []
        for row in rows:
            sub_id = row["subscription_id"]
            if row["rn"] + busy.get(sub_id, 0) > per_subscription:
                continue
            out.append(Due(*tuple(row)[:8]))
            if len(out) >= limit:
                break
        return out

    def next_due_at(self) -> float | None:
        row = self.conn.execute(
            "SELECT min(o.next_attempt_at) FROM outbox o JOIN subscriptions s "
            "ON s.id = o.subscription_id WHERE o.status = 'pending' AND s.enabled = 1"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def record_attempts(self, results: Sequence[AttemptResult]) -> None:
        """Store attempt results: (outbox id, attempt no, status code, error, ms, retry at).

        ``retry at`` None with an error means the row gave up (``failed``); no error means
        ``delivered``. Batched: one transaction for many results.
        """
        stamp = now_iso()
        with self.tx() as conn:
            for outbox_id, attempt, code, error, duration_ms, retry_at in results:
                if error is None:
                    status, next_at = "delivered", 0.0
                elif retry_at is None:
                    status, next_at = "failed", 0.0
                else:
                    status, next_at = "pending", retry_at
                conn.execute(
                    "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, "
                    "last_status_code = ?, last_error = ?, updated_at = ? WHERE id = ?",
                    (status, attempt, next_at, code, error, stamp, outbox_id),
                )
                conn.execute(
                    "INSERT INTO delivery_log (outbox_id, attempt, status_code, error, "
                    "duration_ms, at) SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS "
                    "(SELECT 1 FROM outbox WHERE id = ?)",
                    (outbox_id, attempt, code, error, duration_ms, stamp, outbox_id),
                )

    def list_deliveries(
        self, limit: int, subscription_id: int | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        clauses: list[str] = []
        params: list[object] = []
        if subscription_id is not None:
            clauses.append("o.subscription_id = ?")
            params.append(subscription_id)
        if status is not None:
            clauses.append("o.status = ?")
            params.append(status)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            "SELECT o.*, t.league, t.game_id, s.url, s.description FROM outbox o "
            "JOIN subscriptions s ON s.id = o.subscription_id "
            f"LEFT JOIN transitions t ON t.id = o.transition_id {where} "
            "ORDER BY o.id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [
            {
                "delivery_id": r["delivery_id"],
                "subscription_id": r["subscription_id"],
                "target": target(r["url"]),
                "description": r["description"],
                "event": r["event"],
                "status": r["status"],
                "attempts": r["attempts"],
                "next_attempt_at": (
                    iso_from_epoch(r["next_attempt_at"]) if r["status"] == "pending" else None
                ),
                "last_status_code": r["last_status_code"],
                "last_error": r["last_error"],
                "league": r["league"],
                "game_id": r["game_id"],
                "created_at": r["created_at"],
                "updated_at": r["updated_at"],
            }
            for r in rows
        ]

    def delivery_attempts(self, delivery_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT l.attempt, l.status_code, l.error, l.duration_ms, l.at FROM delivery_log l "
            "JOIN outbox o ON o.id = l.outbox_id WHERE o.delivery_id = ? ORDER BY l.id",
            (delivery_id,),
        ).fetchall()
        return [dict(r) for r in rows]

    def stats(self) -> dict[str, int]:
        counts = dict.fromkeys(("pending", "delivered", "failed"), 0)
        for row in self.conn.execute("SELECT status, count(*) AS n FROM outbox GROUP BY status"):
            counts[row["status"]] = int(row["n"])
        return counts

    def count_subscriptions(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0])


class AsyncStore:
    """Runs Store methods on a single worker thread (the one that owns the connection)."""

    def __init__(self, path: Path | str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._path = path
        self._store: Store | None = None

    async def open(self) -> None:
        self._store = await self._run_raw(Store, self._path)

    async def close(self) -> None:
        if self._store is not None:
            await self._run_raw(self._store.close)
            self._store = None
        self._executor.shutdown(wait=True)

    async def _run_raw[T](self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def run[T](self, fn: Callable[..., T], *args: Any) -> T:
        """``await store.run(Store.method, args...)`` on the SQLite thread."""
        if self._store is None:
            raise RuntimeError("store is not open")
        return await self._run_raw(fn, self._store, *args)
