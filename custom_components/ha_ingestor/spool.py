"""Durable on-disk spool of line-protocol batches (SQLite; stdlib only, no Home Assistant).

The spool keeps batches that could not be written to InfluxDB (or that the in-memory queue
spilled) until they are replayed, oldest first. It is synchronous and blocking: the integration
calls every method from an executor thread, never on the event loop. A lock makes the object
safe to share between executor threads, one call at a time.

API
---
``Spool(path, max_bytes, *, synchronous="FULL")``
    Open or create the file. A file that is not a database, fails ``PRAGMA quick_check`` or was
    written by a newer schema is moved aside as ``<name>.corrupt-<UTC time>`` and a fresh spool
    is started (logged; ``recovered_from`` tells the caller, e.g. for a repair issue). The same
    happens if an operation later hits SQLITE_CORRUPT: that call raises ``SpoolError``, the
    pending points are counted in ``unreadable_points`` and the next call works.
``append(lines) -> int``
    Store one batch in one transaction. Returns the number of *points* dropped to stay within
    ``max_bytes`` (oldest batches go first). A batch that alone exceeds ``max_bytes`` is refused
    and its own points are returned as dropped; older batches are then kept.
``oldest() -> SpoolBatch | None``
    The next batch to replay. A row that cannot be decoded is deleted, logged and counted in
    ``unreadable_points`` instead of blocking the replay forever.
``remove(batch_id) -> bool`` / ``replace(batch_id, lines) -> bool``
    After a full / partial write. ``replace`` keeps the batch's place in the order. Both return
    False (and do nothing) when the batch is gone, e.g. dropped while it was being written.
``add_dead_letters([(line, reason), ...])``, ``dead_letters(limit) -> list[DeadLetter]``
    (newest first), ``clear_dead_letters() -> int``. Only the newest ``MAX_DEAD_LETTERS`` rows,
    and ``MAX_DEAD_LETTER_BYTES`` of their text, are kept (the newest row in any case).
Counters (cheap, kept in memory): ``pending_points``, ``pending_batches``, ``size_bytes``,
``dead_letter_count``; lifetime counters persisted in the file: ``dropped_points``,
``unreadable_points``.
``close()``; ``Spool.delete_files(path)`` when the entry is removed.
Database errors (disk full, I/O) are raised as ``SpoolError``; nothing is half-applied.

Durability
----------
WAL journal with ``synchronous=FULL`` by default. WAL with NORMAL already survives a crash or
SIGKILL of the process (a commit is in the WAL file, i.e. in the OS page cache, when COMMIT
returns), but after a power cut or kernel panic it may lose the most recent commits, because the
WAL is only fsynced at checkpoints. A batch in the spool is the only copy of data that InfluxDB
has not accepted, and Home Assistant often runs on boards that lose power, so every commit is
fsynced. The cost is one fsync per batch (hundreds to thousands of points), not per point;
``benchmarks/spool_bench.py`` measures both modes. In either mode the file stays consistent
(never corrupt) after a crash or power cut; they differ only in whether the newest commits survive
a power cut.

Size bound
----------
``size_bytes`` is the sum of the stored (zlib-compressed) payloads and is what ``max_bytes``
bounds. Opening never drops: a spool reopened with a lower ``max_bytes`` (the user lowered the
spool size) keeps what it holds, and the bound applies on the next append. The file itself is a
little larger (page slack, indexes, dead letters, the WAL, whose size after checkpoints is capped
by ``journal_size_limit``); freed pages are reused, and when the spool drains empty the file is
shrunk (incremental vacuum) and the WAL truncated.

Schema changes go in ``_MIGRATIONS``; ``PRAGMA user_version`` records how many were applied.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
import json
import logging
import os
from pathlib import Path
import sqlite3
import threading
import time
from typing import Final, Literal
import zlib

_LOGGER = logging.getLogger(__name__)

# Each migration is a list of statements run in one transaction; user_version = number applied.
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        # AUTOINCREMENT: ids are never reused, so a stale id held by the replay task can never
        # remove or rewrite a newer batch that took its place.
        """CREATE TABLE batches (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created REAL NOT NULL,
            points INTEGER NOT NULL,
            nbytes INTEGER NOT NULL,
            fmt INTEGER NOT NULL,
            data BLOB NOT NULL
        )""",
        """CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created REAL NOT NULL,
            reason TEXT NOT NULL,
            line TEXT NOT NULL
        )""",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    ),
)
SCHEMA_VERSION: Final = len(_MIGRATIONS)

# Payload formats. Line protocol keeps newlines inside string field values, so a batch is only
# newline-joined when that is reversible; otherwise it is stored as a JSON array.
_FMT_NEWLINES: Final = 1
_FMT_JSON: Final = 2
_COMPRESS_LEVEL: Final = 1  # level 1: most of the size win for a fraction of the CPU

_META_DROPPED: Final = "dropped_points"
_META_UNREADABLE: Final = "unreadable_points"
MAX_DEAD_LETTERS: Final = 10_000  # newest rejected points kept for diagnostics
# ... and at most this much text: an entity with a 60 kB attribute that is rejected at every
# update would otherwise fill 600 MB with the same point (the spool size does not bound these).
MAX_DEAD_LETTER_BYTES: Final = 16 * 1024 * 1024
_LETTER_BYTES: Final = "length(CAST(line AS BLOB)) + length(CAST(reason AS BLOB))"

# SQLite result codes that mean "this file is damaged", as opposed to busy, locked or I/O.
_CORRUPT_CODES: Final = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_SIDE_FILES: Final = ("-wal", "-shm", "-journal")
_ALL_ENDS: Final = ("", *_SIDE_FILES)

Synchronous = Literal["FULL", "NORMAL"]


class SpoolError(Exception):
    """The spool could not complete an operation (disk full, I/O error, closed)."""


class _DamagedError(Exception):
    """The file cannot be used as a spool and should be moved aside."""


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """One stored batch: its id (replay order) and its line-protocol lines."""

    batch_id: int
    lines: list[str]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A point InfluxDB rejected, kept for diagnostics."""

    line: str
    reason: str
    created: float  # Unix time


def _as_sent(text: str) -> str:
    """Text as the writer sent it: a lone surrogate, which SQLite's text cannot hold (it
    raised, in the batch task), as a question mark."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _encode(lines: Sequence[str]) -> tuple[int, bytes]:
    text = "\n".join(lines)
    if text.count("\n") == len(lines) - 1:
        fmt = _FMT_NEWLINES
    else:
        fmt, text = _FMT_JSON, json.dumps(list(lines), ensure_ascii=False)
    return fmt, zlib.compress(text.encode("utf-8", "surrogatepass"), _COMPRESS_LEVEL)


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A batch compressed for storage, ready for :meth:`Spool.append_encoded`."""

    points: int
    fmt: int
    data: bytes


def encode_batch(lines: Sequence[str]) -> EncodedBatch:
    """Compress a batch. Pure CPU and no spool state: callable on any thread, so a caller whose
    thread is busy can do this part itself and hand the executor only the insert."""
    _check_lines(lines)
    fmt, data = _encode(lines)
    return EncodedBatch(len(lines), fmt, data)


def _decode(fmt: int, data: bytes, points: int) -> list[str]:
    text = zlib.decompress(data).decode("utf-8", "surrogatepass")
    if fmt == _FMT_NEWLINES:
        lines = text.split("\n")
    elif fmt == _FMT_JSON:
        lines = json.loads(text)
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise ValueError("payload is not a list of strings")
    else:
        raise ValueError(f"unknown payload format {fmt}")
    if len(lines) != points:
        raise ValueError(f"payload has {len(lines)} lines, row says {points}")
    return lines


def _check_lines(lines: Sequence[str]) -> None:
    # A str is a Sequence[str] too; storing its characters as lines would be silent corruption.
    if isinstance(lines, str):
        raise TypeError("lines must be a sequence of strings, not a string")


class Spool:
    """A bounded, durable FIFO of line-protocol batches plus a bounded dead-letter table."""

    def __init__(
        self,
        path: Path,
        max_bytes: int,
        *,
        synchronous: Synchronous = "FULL",
    ) -> None:
        """Open or create the spool at ``path``; a damaged file is moved aside."""
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self._path = Path(path)
        self._max_bytes = max_bytes
        self._synchronous: Synchronous = synchronous
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._recovered_from: Path | None = None
        # In-memory mirrors of the stored state, updated only after a commit succeeded.
        self._points = 0
        self._batches = 0
        self._size = 0
        self._dead = 0
        self._dead_bytes = 0
        self._last_id = 0  # the newest batch id handed out, new files continue after it
        self._meta: dict[str, int] = {}
        # Lifetime counters to carry into a fresh file, while the connection is lost to damage
        # and not yet re-established (the move aside or the new file failed); None otherwise.
        self._carry: dict[str, int] | None = None
        # Where a move aside that was cut short (its side files went, the database did not)
        # puts the rest; None otherwise.
        self._moving: Path | None = None

        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._reconnect(None)

    # ----------------------------------------------------------------- opening and recovery

    def _open(self) -> sqlite3.Connection:
        try:
            # 0600: the spool holds everything HA recorded, attributes included. SQLite gives
            # its -wal and -shm files the database file's mode.
            os.close(os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600))
            if self._path.stat().st_mode & 0o077:
                self._path.chmod(0o600)
        except OSError as err:
            raise SpoolError(f"cannot open spool {self._path}: {err}") from err
        try:
            conn = sqlite3.connect(
                self._path, timeout=10.0, check_same_thread=False, autocommit=True
            )
        except sqlite3.Error as err:
            raise SpoolError(f"cannot open spool {self._path}: {err}") from err
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        try:
            # Read-only checks first: a file that is moved aside must be kept as it was found.
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise _DamagedError("quick_check: " + "; ".join(map(str, problems[:5])))
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise _DamagedError(f"schema version {version} is newer than {SCHEMA_VERSION}")
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                # Only possible before the first table exists; lets a drained spool shrink.
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise SpoolError(f"cannot enable WAL on {self._path} (mode {mode})")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA journal_size_limit=4194304")
            self._migrate(conn, version)
            self._load(conn)
        except sqlite3.Error as err:
            if getattr(err, "sqlite_errorcode", None) in _CORRUPT_CODES:
                raise _DamagedError(str(err)) from err
            raise SpoolError(f"cannot open spool {self._path}: {err}") from err

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            for step in _MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if version:
            _LOGGER.info("Spool %s migrated from v%d to v%d", self._path, version, SCHEMA_VERSION)

    def _load(self, conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(points), 0), coalesce(sum(nbytes), 0) FROM batches"
        ).fetchone()
        self._batches, self._points, self._size = int(row[0]), int(row[1]), int(row[2])
        row = conn.execute(
            f"SELECT count(*), coalesce(sum({_LETTER_BYTES}), 0) FROM dead_letters"
        ).fetchone()
        self._dead, self._dead_bytes = int(row[0]), int(row[1])
        self._meta = {str(k): int(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        self._last_id = int(
            conn.execute(
                "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'batches'"
            ).fetchone()[0]
        )

    def _reconnect(self, carry: dict[str, int] | None) -> sqlite3.Connection:
        """Open the file, moving it aside first if it is damaged; write ``carry`` into it."""
        if self._moving is not None:
            # Its WAL is aside already: opened now, the database would lack the batches only
            # the WAL held, and they would vanish uncounted. The rest follows it instead.
            return self._start_over("moving it aside was cut short")
        try:
            return self._connect(carry)
        except _DamagedError as err:
            return self._start_over(err)

    def _connect(self, carry: dict[str, int] | None) -> sqlite3.Connection:
        """Open the file; a new one after a start-over (``carry`` set) gets the lifetime
        counters and continues the batch ids, so the id of a batch the replay is still writing
        from the old file never names a new batch (its removal would delete one unwritten)."""
        last_id = self._last_id
        conn = self._open()  # loads the mirrors from the file
        if carry is not None and (carry or last_id > self._last_id):
            try:
                with self._transaction(conn):
                    conn.executemany(
                        "INSERT INTO meta(key, value) VALUES(?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        carry.items(),
                    )
                    if last_id > self._last_id:
                        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'batches'")
                        conn.execute(
                            "INSERT INTO sqlite_sequence(name, seq) VALUES('batches', ?)",
                            (last_id,),
                        )
            except sqlite3.Error as err:
                conn.close()
                self._meta, self._last_id = carry, max(last_id, self._last_id)
                if getattr(err, "sqlite_errorcode", None) in _CORRUPT_CODES:
                    raise _DamagedError(str(err)) from err  # moved aside by the next call
                raise SpoolError(f"spool {self._path}: {err}") from err
            self._meta, self._last_id = carry, max(last_id, self._last_id)
        self._conn = conn
        self._carry = None
        return conn

    def _start_over(self, reason: object) -> sqlite3.Connection:
        """Move the damaged file aside and continue with an empty spool in its place.

        Runs at open and when an operation hits SQLITE_CORRUPT. The batches that were pending
        are counted in ``unreadable_points`` once the file is moved; the lifetime counters carry
        over. When the move or the new file fails (a full disk, say), the next call tries
        again, instead of the spool staying closed until Home Assistant restarts.
        """
        self._carry = dict(self._meta)
        if self._conn is not None:
            with suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        self._recovered_from = self._move_aside()
        lost = self._points
        carry = self._carry
        if lost:
            carry[_META_UNREADABLE] = carry.get(_META_UNREADABLE, 0) + lost
        self._meta = carry
        self._points = self._batches = self._size = self._dead = self._dead_bytes = 0
        _LOGGER.warning(
            "Spool %s is damaged (%s); moved it to %s and started an empty spool "
            "(%d pending points lost)",
            self._path,
            reason,
            self._recovered_from,
            lost,
        )
        try:
            return self._connect(carry)
        except _DamagedError as err:
            raise SpoolError(f"cannot create spool {self._path}: {err}") from err

    def _move_aside(self) -> Path:
        try:
            target = self._moving
            if target is None:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
                target = self._path.with_name(f"{self._path.name}.corrupt-{stamp}")
                n = 1
                # Free for the side files too: an orphaned WAL there would be overwritten.
                while any(target.with_name(target.name + end).exists() for end in _ALL_ENDS):
                    n += 1
                    target = self._path.with_name(f"{self._path.name}.corrupt-{stamp}-{n}")
            # Side files go first: a WAL left next to a fresh database would be replayed into it.
            for suffix in _SIDE_FILES:
                side = self._path.with_name(self._path.name + suffix)
                if side.exists():
                    side.replace(target.with_name(target.name + suffix))
                    self._moving = target  # the rest goes there too, even after a failure
            if self._moving is None or self._path.exists():  # gone since: nothing to wait for
                self._path.replace(target)
        except OSError as err:
            raise SpoolError(f"cannot move damaged spool {self._path} aside: {err}") from err
        self._moving = None
        return target

    # ----------------------------------------------------------------- plumbing

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock, with an open connection; turn database errors into SpoolError.

        SQLITE_CORRUPT mid-operation also starts over, so a damaged file costs its pending
        points once instead of failing every call until Home Assistant restarts.
        """
        with self._lock:
            conn = self._conn
            if conn is None:
                if self._carry is None:
                    raise SpoolError("spool is closed")
                conn = self._reconnect(self._carry)
            try:
                yield conn
            except sqlite3.Error as err:
                if getattr(err, "sqlite_errorcode", None) not in _CORRUPT_CODES:
                    raise SpoolError(f"spool {self._path}: {err}") from err
                lost = self._points
                self._start_over(err)
                raise SpoolError(
                    f"spool {self._path} was damaged ({err}); moved aside, "
                    f"{lost} pending points lost, continuing with an empty spool"
                ) from err

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        """One write transaction; rolled back on any error (including a failed COMMIT)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _bump(conn: sqlite3.Connection, key: str, delta: int) -> None:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            (key, delta),
        )

    def _drop_oldest(self, conn: sqlite3.Connection, excess: int) -> tuple[int, int, int]:
        """Delete the fewest oldest batches freeing ``excess`` bytes; (batches, points, bytes)."""
        batches = points = freed = 0
        last_id: int | None = None
        cur = conn.execute("SELECT id, points, nbytes FROM batches ORDER BY id")
        try:
            for batch_id, batch_points, nbytes in cur:
                batches += 1
                points += batch_points
                freed += nbytes
                last_id = batch_id
                if freed >= excess:
                    break
        finally:
            cur.close()
        if last_id is not None:
            conn.execute("DELETE FROM batches WHERE id <= ?", (last_id,))
            self._bump(conn, _META_DROPPED, points)
        return batches, points, freed

    def _shrink_if_empty(self, conn: sqlite3.Connection) -> None:
        """Give the disk space back once an outage has been fully replayed."""
        if self._batches != 0:
            return
        try:
            conn.execute("PRAGMA incremental_vacuum").fetchall()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as err:  # housekeeping only: the removal is already committed
            _LOGGER.debug("Spool %s: could not shrink the file: %s", self._path, err)

    # ----------------------------------------------------------------- batches

    def append(self, lines: Sequence[str]) -> int:
        """Store ``lines`` as one batch, durably; return the number of points dropped."""
        _check_lines(lines)
        if not lines:
            return 0
        return self.append_encoded(encode_batch(lines))

    def append_encoded(self, batch: EncodedBatch) -> int:
        """Store a batch from :func:`encode_batch`; return the number of points dropped."""
        if not batch.points:
            return 0
        points, fmt, data = batch.points, batch.fmt, batch.data
        nbytes = len(data)
        with self._locked() as conn:
            if nbytes > self._max_bytes:
                with self._transaction(conn):
                    self._bump(conn, _META_DROPPED, points)
                self._meta[_META_DROPPED] = self._meta.get(_META_DROPPED, 0) + points
                _LOGGER.warning(
                    "Spool %s: a batch of %d points (%d bytes compressed) is larger than the "
                    "whole spool (%d bytes); dropped it",
                    self._path,
                    points,
                    nbytes,
                    self._max_bytes,
                )
                return points
            dropped = (0, 0, 0)
            with self._transaction(conn):
                excess = self._size + nbytes - self._max_bytes
                if excess > 0:
                    dropped = self._drop_oldest(conn, excess)
                row_id = conn.execute(
                    "INSERT INTO batches(created, points, nbytes, fmt, data) VALUES(?, ?, ?, ?, ?)",
                    (time.time(), points, nbytes, fmt, data),
                ).lastrowid
            self._last_id = max(self._last_id, row_id or 0)
            self._batches += 1 - dropped[0]
            self._points += points - dropped[1]
            self._size += nbytes - dropped[2]
            if dropped[1]:
                self._meta[_META_DROPPED] = self._meta.get(_META_DROPPED, 0) + dropped[1]
            return dropped[1]

    def oldest(self) -> SpoolBatch | None:
        """Return the oldest batch (next to replay), or None when the spool is empty."""
        with self._locked() as conn:
            while True:
                row = conn.execute(
                    "SELECT id, points, nbytes, fmt, data FROM batches ORDER BY id LIMIT 1"
                ).fetchone()
                if row is None:
                    return None
                batch_id, points, nbytes, fmt, data = row
                try:
                    lines = _decode(fmt, data, points)
                except (zlib.error, UnicodeDecodeError, ValueError) as err:
                    self._discard_unreadable(conn, batch_id, points, nbytes, err)
                    continue
                return SpoolBatch(batch_id, lines)

    def _discard_unreadable(
        self, conn: sqlite3.Connection, batch_id: int, points: int, nbytes: int, err: Exception
    ) -> None:
        with self._transaction(conn):
            conn.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
            self._bump(conn, _META_UNREADABLE, points)
        self._batches -= 1
        self._points -= points
        self._size -= nbytes
        self._meta[_META_UNREADABLE] = self._meta.get(_META_UNREADABLE, 0) + points
        _LOGGER.error(
            "Spool %s: batch %d (%d points) is unreadable (%s); discarded it",
            self._path,
            batch_id,
            points,
            err,
        )

    def remove(self, batch_id: int) -> bool:
        """Delete a batch after it was written; False if it was no longer there."""
        with self._locked() as conn:
            with self._transaction(conn):
                row = conn.execute(
                    "DELETE FROM batches WHERE id = ? RETURNING points, nbytes", (batch_id,)
                ).fetchone()
            if row is None:
                return False
            self._batches -= 1
            self._points -= row[0]
            self._size -= row[1]
            self._shrink_if_empty(conn)
            return True

    def replace(self, batch_id: int, lines: Sequence[str]) -> bool:
        """Keep only ``lines`` of a batch (after a partial write), in the same place in order.

        Meant to shrink a batch; the size bound is not re-applied here. Returns False if the
        batch was no longer there. An empty ``lines`` removes the batch.
        """
        _check_lines(lines)
        if not lines:
            return self.remove(batch_id)
        fmt, data = _encode(lines)
        with self._locked() as conn:
            with self._transaction(conn):
                old = conn.execute(
                    "SELECT points, nbytes FROM batches WHERE id = ?", (batch_id,)
                ).fetchone()
                if old is None:
                    return False
                conn.execute(
                    "UPDATE batches SET points = ?, nbytes = ?, fmt = ?, data = ? WHERE id = ?",
                    (len(lines), len(data), fmt, data, batch_id),
                )
            self._points += len(lines) - old[0]
            self._size += len(data) - old[1]
            return True

    # ----------------------------------------------------------------- dead letters

    def add_dead_letters(self, items: Sequence[tuple[str, str]]) -> None:
        """Keep rejected points as (line, reason); the oldest go beyond the bounds."""
        if not items:
            return
        now = time.time()
        rows = [(now, _as_sent(reason), _as_sent(line)) for line, reason in items]
        added = sum(len(reason.encode()) + len(line.encode()) for _, reason, line in rows)
        with self._locked() as conn:
            with self._transaction(conn):
                conn.executemany(
                    "INSERT INTO dead_letters(created, reason, line) VALUES(?, ?, ?)", rows
                )
                count, size = self._evict_dead_letters(
                    conn, self._dead + len(rows), self._dead_bytes + added
                )
            self._dead, self._dead_bytes = count, size

    @staticmethod
    def _evict_dead_letters(conn: sqlite3.Connection, count: int, size: int) -> tuple[int, int]:
        """Delete the oldest dead letters until both bounds hold; the new count and size."""
        if count <= MAX_DEAD_LETTERS and size <= MAX_DEAD_LETTER_BYTES:
            return count, size
        last = None
        cursor = conn.execute(f"SELECT id, {_LETTER_BYTES} FROM dead_letters ORDER BY id")
        for row_id, nbytes in cursor:
            if count == 1 or (count <= MAX_DEAD_LETTERS and size <= MAX_DEAD_LETTER_BYTES):
                break
            last, count, size = row_id, count - 1, size - nbytes
        cursor.close()
        if last is not None:
            conn.execute("DELETE FROM dead_letters WHERE id <= ?", (last,))
        return count, size

    def dead_letters(self, limit: int = 20) -> list[DeadLetter]:
        """Return up to ``limit`` dead letters, newest first."""
        with self._locked() as conn:
            rows = conn.execute(
                "SELECT line, reason, created FROM dead_letters ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [DeadLetter(r[0], r[1], r[2]) for r in rows]

    def clear_dead_letters(self) -> int:
        """Delete every stored dead letter; return how many there were."""
        with self._locked() as conn:
            with self._transaction(conn):
                count = conn.execute("DELETE FROM dead_letters").rowcount
            self._dead = self._dead_bytes = 0
            return count

    # ----------------------------------------------------------------- counters

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def max_bytes(self) -> int:
        """Bound on ``size_bytes``."""
        return self._max_bytes

    @property
    def pending_points(self) -> int:
        """Points stored in batches waiting for replay."""
        return self._points

    @property
    def pending_batches(self) -> int:
        """Batches waiting for replay."""
        return self._batches

    @property
    def size_bytes(self) -> int:
        """Compressed payload bytes stored; what ``max_bytes`` bounds."""
        return self._size

    @property
    def dead_letter_count(self) -> int:
        """Dead letters currently stored."""
        return self._dead

    @property
    def dropped_points(self) -> int:
        """Points dropped because the spool was full, over the life of this file."""
        return self._meta.get(_META_DROPPED, 0)

    @property
    def unreadable_points(self) -> int:
        """Points discarded because their stored batch could not be decoded (file lifetime)."""
        return self._meta.get(_META_UNREADABLE, 0)

    @property
    def recovered_from(self) -> Path | None:
        """Where a damaged file was moved when this spool was opened, if that happened."""
        return self._recovered_from

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close the database (idempotent). The last close checkpoints and removes the WAL."""
        with self._lock:
            self._carry = None
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None

    @staticmethod
    def delete_files(path: Path) -> None:
        """Delete a (closed) spool: the database, its WAL/SHM files and moved-aside copies."""
        path = Path(path)
        for suffix in _ALL_ENDS:
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        if path.parent.is_dir():
            prefix = f"{path.name}.corrupt-"
            for leftover in path.parent.iterdir():
                if leftover.name.startswith(prefix) and leftover.is_file():
                    leftover.unlink(missing_ok=True)
