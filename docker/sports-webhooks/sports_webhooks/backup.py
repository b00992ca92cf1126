"""Online backup and restore of webhooks.db with SQLite's backup API (never a bare file copy).

``backup`` may run while the service is running: the backup API copies a consistent snapshot
even with a live WAL. ``restore`` is for a stopped service: it checks the backup first, then
copies it page by page into the live database file through SQLite (so the WAL and shared-memory
files stay consistent), and finally migrates it to the current schema.
"""

from __future__ import annotations

from pathlib import Path
import sqlite3

from .db import SCHEMA_VERSION, connect, migrate, private_file


class BackupError(RuntimeError):
    """The backup is missing, corrupt or from a newer schema."""


def verify(path: Path) -> dict[str, int]:
    """Open a database read-only, run an integrity check; return its version and row counts."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise BackupError(f"{path}: {err}") from err
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise BackupError(f"{path}: integrity check failed: {result}")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise BackupError(f"{path}: schema {version} is newer than this service")
        counts = {"user_version": version}
        for table in ("subscriptions", "outbox", "delivery_log", "games", "transitions"):
            try:
                counts[table] = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            except sqlite3.OperationalError:
                counts[table] = 0
        return counts
    except sqlite3.DatabaseError as err:
        raise BackupError(f"{path}: not a usable SQLite database: {err}") from err
    finally:
        conn.close()


def backup(db_path: Path, dest: Path) -> dict[str, int]:
    """Snapshot the (possibly live) database into ``dest`` and verify the copy."""
    if not db_path.is_file():
        raise BackupError(f"{db_path}: no database to back up")
    if dest.exists():
        raise BackupError(f"{dest} exists; choose a new file name")
    dest.parent.mkdir(parents=True, exist_ok=True)
    private_file(dest)  # a copy of every signing secret, on a volume two services share
    source = connect(db_path)
    try:
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
            # A backup is one self-contained file: no WAL to carry around.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()
    return verify(dest)


def restore(src: Path, db_path: Path) -> dict[str, int]:
    """Replace the database content with a verified backup (stop the service first)."""
    verify(src)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    private_file(db_path)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = connect(db_path)
        try:
            source.backup(target)
            migrate(target)
            target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            target.close()
    finally:
        source.close()
    return verify(db_path)
