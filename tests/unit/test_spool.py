"""The durable spool (no Home Assistant): order, bounds, reopen, recovery, crash safety.

Only the API the integration calls is used (plus the connection, to fake a full disk or a
corrupt read); what is stored is read from the file itself (``tests.helpers.spooled``), as the
next start of Home Assistant would find it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
import logging
import os
from pathlib import Path
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from hypothesis import event, given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
import pytest

from custom_components.ha_ingestor import spool as spool_module
from custom_components.ha_ingestor.spool import (
    MAX_DEAD_LETTERS,
    SCHEMA_VERSION,
    Spool,
    SpoolError,
    _decode,
    _encode,
)
from tests.helpers import CorruptOnce, corrupt_error, spooled
from tests.unit.spool_child import expected_lines, seq_of

BIG = 1 << 40


def make_lines(tag: str, count: int) -> list[str]:
    return [
        f"sensor,entity_id=s.{tag} value={i}.5 {1_700_000_000_000_000_000 + i}"
        for i in range(count)
    ]


def noise_lines(rng: random.Random, count: int) -> list[str]:
    """Incompressible lines, so sizes are predictable-ish and bounds bite quickly."""
    return [f'm f="{rng.randbytes(24).hex()}"' for _ in range(count)]


def stored_size(lines: list[str]) -> int:
    return len(_encode(lines)[1])


def on_disk(path: Path) -> list[list[str]]:
    return [batch.lines for batch in spooled(path)]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "entry.db"


@pytest.fixture
def spool(path: Path) -> Iterator[Spool]:
    with closing(Spool(path, BIG)) as opened:
        yield opened


def drain(spool: Spool) -> list[list[str]]:
    out = []
    while (batch := spool.oldest()) is not None:
        out.append(batch.lines)
        assert spool.remove(batch.batch_id)
    return out


# ---------------------------------------------------------------- order and replace


def test_fifo_order_and_counters(spool: Spool, path: Path) -> None:
    batches = [make_lines(str(n), n + 1) for n in range(10)]
    for lines in batches:
        assert spool.append(lines) == 0
    assert spool.pending_batches == 10
    assert spool.pending_points == sum(len(b) for b in batches)
    assert spool.size_bytes == sum(stored_size(b) for b in batches)
    stored = spooled(path)
    assert [b.lines for b in stored] == batches
    assert [b.batch_id for b in stored] == sorted({b.batch_id for b in stored})
    assert drain(spool) == batches
    assert (spool.pending_points, spool.pending_batches, spool.size_bytes) == (0, 0, 0)
    assert spool.oldest() is None


def test_replace_keeps_position_and_updates_counters(spool: Spool, path: Path) -> None:
    for n in range(3):
        spool.append(make_lines(str(n), 100))
    first = spool.oldest()
    assert first is not None
    middle = spooled(path)[1]
    assert spool.replace(middle.batch_id, middle.lines[90:])
    assert spool.replace(first.batch_id, first.lines[40:])
    assert spool.pending_points == 60 + 10 + 100
    assert spool.size_bytes == sum(map(stored_size, on_disk(path)))
    assert drain(spool) == [
        make_lines("0", 100)[40:],
        make_lines("1", 100)[90:],
        make_lines("2", 100),
    ]


def test_replace_with_nothing_removes(spool: Spool) -> None:
    spool.append(make_lines("a", 5))
    batch = spool.oldest()
    assert batch is not None
    assert spool.replace(batch.batch_id, [])
    assert spool.pending_batches == 0
    assert spool.oldest() is None


def test_stale_ids_are_harmless(spool: Spool) -> None:
    spool.append(make_lines("a", 5))
    batch = spool.oldest()
    assert batch is not None
    assert spool.remove(batch.batch_id)
    spool.append(make_lines("b", 5))
    # Ids are never reused: the stale id cannot touch the newer batch.
    assert not spool.remove(batch.batch_id)
    assert not spool.replace(batch.batch_id, ["x"])
    assert spool.pending_points == 5
    assert drain(spool) == [make_lines("b", 5)]


def test_empty_append_stores_nothing(spool: Spool) -> None:
    assert spool.append([]) == 0
    assert spool.pending_batches == 0


def test_a_string_is_not_a_batch(spool: Spool) -> None:
    with pytest.raises(TypeError):
        spool.append("m v=1")
    with pytest.raises(TypeError):
        spool.replace(1, "m v=1")


@pytest.mark.parametrize(
    "lines",
    [
        ['m s="two\nlines" 1', "m v=1 2"],  # line protocol keeps newlines in string fields
        ["", ""],
        [""],
        ["\n"],
        ['m s="ünïcødé 🌡️\\"q\\"" 1', "m,t=a\\ b v=1"],
        ['m s="\r\n" 1', 'm s="\x00" 2'],
        ['m s="\ud800" 1'],  # a lone surrogate survives too
    ],
)
def test_exact_round_trip(spool: Spool, path: Path, lines: list[str]) -> None:
    spool.append(lines)
    spool.close()
    with closing(Spool(path, BIG)) as reopened:
        batch = reopened.oldest()
        assert batch is not None
        assert batch.lines == lines


# ---------------------------------------------------------------- size bound


def test_bound_drops_oldest_with_exact_point_counts(path: Path) -> None:
    rng = random.Random(1)
    batches = [noise_lines(rng, n) for n in (10, 20, 30, 25)]
    sizes = [stored_size(b) for b in batches]
    # Room for the last three exactly: the fourth append must drop only the first batch.
    with closing(Spool(path, sum(sizes[1:]))) as spool:
        assert [spool.append(b) for b in batches[:3]] == [0, 0, 0]
        assert spool.append(batches[3]) == 10
        assert spool.size_bytes == sum(sizes[1:]) == spool.max_bytes
        assert spool.pending_points == 75
        assert spool.dropped_points == 10
        # A big batch pushes out as many old batches as it needs, counted in points.
        big = noise_lines(rng, 60)
        assert sizes[3] + stored_size(big) > spool.max_bytes >= stored_size(big)
        assert spool.append(big) == 20 + 30 + 25
        assert on_disk(path) == [big]
        assert spool.dropped_points == 10 + 75


def test_batch_larger_than_the_spool_is_refused(path: Path) -> None:
    rng = random.Random(2)
    small = noise_lines(rng, 5)
    with closing(Spool(path, stored_size(small) * 3)) as spool:
        spool.append(small)
        assert spool.append(noise_lines(rng, 200)) == 200
        assert on_disk(path) == [small]
        assert spool.dropped_points == 200


def test_lowered_bound_applies_on_the_next_append(path: Path) -> None:
    """The user lowered the spool size: the entry reopens the spool with the new bound."""
    rng = random.Random(3)
    batches = [noise_lines(rng, 10) for _ in range(5)]
    with closing(Spool(path, BIG)) as spool:
        for batch in batches:
            spool.append(batch)
    newest = noise_lines(rng, 10)
    limit = stored_size(batches[-1]) + stored_size(newest) + 1
    with closing(Spool(path, limit)) as spool:
        assert spool.max_bytes == limit
        assert spool.pending_points == 50  # reopening never drops
        assert spool.size_bytes == sum(map(stored_size, batches)) > limit
        assert spool.append(newest) == 40  # the oldest four make room
        assert on_disk(path) == [batches[-1], newest]
        assert spool.size_bytes == stored_size(batches[-1]) + stored_size(newest) <= limit
        assert spool.dropped_points == 40
    with pytest.raises(ValueError, match="positive"):
        Spool(path, 0)


def test_bound_holds_under_random_load(path: Path) -> None:
    rng = random.Random(4)
    limit = 20_000
    appended = dropped = removed = 0
    with closing(Spool(path, limit)) as spool:
        for _ in range(300):
            lines = noise_lines(rng, rng.randint(1, 60))
            appended += len(lines)
            dropped += spool.append(lines)
            assert spool.size_bytes <= limit
            if rng.random() < 0.3 and (batch := spool.oldest()) is not None:
                removed += len(batch.lines)
                spool.remove(batch.batch_id)
        assert appended == dropped + removed + spool.pending_points
        assert spool.dropped_points == dropped


# ---------------------------------------------------------------- persistence


def test_reopen_keeps_everything(path: Path) -> None:
    batches = [make_lines(str(n), 7 * n + 1) for n in range(20)]
    letters = [(f"bad {i}", "type conflict") for i in range(MAX_DEAD_LETTERS + 2)]
    with closing(Spool(path, BIG)) as spool:
        for lines in batches:
            spool.append(lines)
        first = spool.oldest()
        assert first is not None
        spool.replace(first.batch_id, ["kept"])
        spool.add_dead_letters(letters)
        ids = [b.batch_id for b in spooled(path)]
        counters = (spool.pending_points, spool.pending_batches, spool.size_bytes)
    with closing(Spool(path, BIG)) as spool:
        assert [b.batch_id for b in spooled(path)] == ids
        assert (spool.pending_points, spool.pending_batches, spool.size_bytes) == counters
        assert spool.dead_letter_count == MAX_DEAD_LETTERS  # the bound counts across opens
        spool.add_dead_letters([("one more", "r")])
        assert spool.dead_letter_count == MAX_DEAD_LETTERS
        newest = [(d.line, d.reason) for d in spool.dead_letters(MAX_DEAD_LETTERS)]
        assert newest == [("one more", "r"), *letters[:2:-1]]
        assert drain(spool) == [["kept"], *batches[1:]]
        # New batches continue after the old ids.
        spool.append(["m v=1"])
        batch = spool.oldest()
        assert batch is not None
        assert batch.batch_id > max(ids)


def test_database_is_wal_with_expected_schema(spool: Spool, path: Path) -> None:
    spool.append(["m v=1"])
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    finally:
        conn.close()


def test_drained_spool_gives_disk_space_back(path: Path) -> None:
    rng = random.Random(5)
    with closing(Spool(path, BIG, synchronous="NORMAL")) as spool:
        for _ in range(50):
            spool.append(noise_lines(rng, 200))
        full = path.stat().st_size + path.with_name(path.name + "-wal").stat().st_size
        drain(spool)
        empty = path.stat().st_size + path.with_name(path.name + "-wal").stat().st_size
    assert empty < full / 10


def test_migration_runs_once_and_keeps_data(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with closing(Spool(path, BIG)) as spool:
        spool.append(make_lines("a", 3))
    step = ("ALTER TABLE batches ADD COLUMN origin TEXT",)
    monkeypatch.setattr(spool_module, "_MIGRATIONS", (*spool_module._MIGRATIONS, step))
    monkeypatch.setattr(spool_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    for _ in range(2):  # the second open must not run the step again
        with closing(Spool(path, BIG)) as spool:
            assert spool.recovered_from is None
            assert spool.pending_batches == 1
            batch = spool.oldest()
            assert batch is not None
            assert batch.lines == make_lines("a", 3)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        columns = [row[1] for row in conn.execute("PRAGMA table_info(batches)")]
        assert "origin" in columns
    finally:
        conn.close()


def test_closed_spool_raises(path: Path) -> None:
    spool = Spool(path, BIG)
    spool.append(["m v=1"])
    wal = path.with_name(path.name + "-wal")
    assert wal.exists()
    spool.close()
    spool.close()  # idempotent
    assert not wal.exists()  # the last close checkpointed: all of it is in the file itself
    with pytest.raises(SpoolError, match="closed"):
        spool.append(["m v=2"])
    with pytest.raises(SpoolError, match="closed"):
        spool.oldest()
    with pytest.raises(SpoolError, match="closed"):
        spool.remove(1)
    assert on_disk(path) == [["m v=1"]]


def test_failed_write_changes_nothing(path: Path) -> None:
    rng = random.Random(6)
    with closing(Spool(path, BIG)) as spool:
        spool.append(make_lines("a", 10))
        before = (spool.pending_points, spool.pending_batches, spool.size_bytes)
        # Simulate a full disk: cap the file at its current page count.
        assert spool._conn is not None
        pages = spool._conn.execute("PRAGMA page_count").fetchone()[0]
        spool._conn.execute(f"PRAGMA max_page_count={pages}")
        with pytest.raises(SpoolError, match="full"):
            spool.append(noise_lines(rng, 2000))
        assert (spool.pending_points, spool.pending_batches, spool.size_bytes) == before
        assert on_disk(path) == [make_lines("a", 10)]
        spool._conn.execute(f"PRAGMA max_page_count={pages * 1000}")
        spool.append(["m v=2"])
        assert spool.pending_points == 11


def test_concurrent_callers_are_serialised(spool: Spool, path: Path) -> None:
    def worker(tag: int) -> None:
        for n in range(20):
            spool.append(make_lines(f"{tag}-{n}", 10))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert spool.pending_points == 800
    stored = on_disk(path)
    assert len(stored) == 80
    for tag in range(4):  # each thread's batches stay in its own order
        mine = [b for b in stored if b[0].startswith(f"sensor,entity_id=s.{tag}-")]
        assert mine == [make_lines(f"{tag}-{n}", 10) for n in range(20)]


# ---------------------------------------------------------------- dead letters


def test_dead_letters_bounded_newest_first(spool: Spool) -> None:
    bound = MAX_DEAD_LETTERS
    spool.add_dead_letters([(f"line {i}", f"reason {i}") for i in range(bound - 2)])
    spool.add_dead_letters([(f"line {i}", f"reason {i}") for i in range(bound - 2, bound + 3)])
    spool.add_dead_letters([])
    assert spool.dead_letter_count == bound
    letters = spool.dead_letters(limit=bound + 10)
    # The three oldest went; the rest are newest first.
    assert [d.line for d in letters] == [f"line {i}" for i in range(bound + 2, 2, -1)]
    assert letters[0].reason == f"reason {bound + 2}"
    assert len(spool.dead_letters()) == 20  # the diagnostics' default
    assert [d.line for d in spool.dead_letters(limit=2)] == [
        f"line {bound + 2}",
        f"line {bound + 1}",
    ]
    # A burst bigger than the bound keeps the newest of the burst.
    spool.add_dead_letters([(f"burst {i}", "r") for i in range(bound + 7)])
    assert [d.line for d in spool.dead_letters(limit=bound + 10)] == [
        f"burst {i}" for i in range(bound + 6, 6, -1)
    ]
    assert spool.dead_letter_count == bound
    assert spool.clear_dead_letters() == bound
    assert spool.dead_letter_count == 0
    assert spool.dead_letters() == []


def test_dead_letters_bounded_by_size_across_opens(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large point rejected at every update once filled the disk with copies of itself: the
    count bound alone let 10,000 of them stay."""
    monkeypatch.setattr(spool_module, "MAX_DEAD_LETTER_BYTES", 1_000)
    big = [(f'm,e=é{i} f="{"x" * 290}"', "conflict") for i in range(5)]  # 310 bytes each
    with closing(Spool(path, BIG)) as spool:
        spool.add_dead_letters(big[:2])
        spool.add_dead_letters(big[2:4])  # 1,240 bytes: the oldest goes
        assert [d.line for d in spool.dead_letters(10)] == [line for line, _ in big[3:0:-1]]
    with closing(Spool(path, BIG)) as spool:  # the size is counted from the file
        spool.add_dead_letters(big[4:])
        assert [d.line for d in spool.dead_letters(10)] == [line for line, _ in big[4:1:-1]]
        assert spool.dead_letter_count == 3
        huge = 'm f="' + "y" * 5_000 + '"'
        spool.add_dead_letters([(huge, "too big")])  # over the bound alone: it is kept
        assert [(d.line, d.reason) for d in spool.dead_letters(10)] == [(huge, "too big")]
        spool.add_dead_letters([("m v=1", "r")])
        assert [d.line for d in spool.dead_letters(10)] == ["m v=1"]


# ---------------------------------------------------------------- damaged files


def fill(path: Path, batches: int = 30) -> None:
    rng = random.Random(7)
    with closing(Spool(path, BIG)) as spool:
        for _ in range(batches):
            spool.append(noise_lines(rng, 100))


def overwrite_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    for offset in range(2 * page, len(data) - page, page):
        data[offset : offset + 64] = b"\xa5" * 64
    path.write_bytes(bytes(data))


def set_user_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"PRAGMA user_version={version}")
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(b"not a database at all" * 500), id="garbage"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:6000]), id="truncated"),
        pytest.param(overwrite_middle, id="mangled-pages"),
        pytest.param(lambda p: set_user_version(p, SCHEMA_VERSION + 1), id="newer-schema"),
    ],
)
def test_damaged_file_is_moved_aside(
    path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], object]
) -> None:
    fill(path)
    damage(path)
    damaged_bytes = path.read_bytes()
    with caplog.at_level(logging.WARNING), closing(Spool(path, BIG)) as spool:
        moved = spool.recovered_from
        assert moved is not None
        assert moved.name.startswith("entry.db.corrupt-")
        assert moved.read_bytes() == damaged_bytes  # kept for inspection
        assert spool.pending_points == 0
        spool.append(["m v=1"])
        assert on_disk(path) == [["m v=1"]]
    assert "moved it to" in caplog.text
    with closing(Spool(path, BIG)) as spool:  # the fresh file is healthy from now on
        assert spool.recovered_from is None
        assert spool.pending_points == 1


def test_corruption_found_later_starts_over_once(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(8)
    batches = [noise_lines(rng, 10) for _ in range(3)]
    with closing(Spool(path, stored_size(batches[1]) + stored_size(batches[2]))) as spool:
        for lines in batches:
            spool.append(lines)  # the third drops the first: dropped 10
        assert spool.dropped_points == 10
        spool._conn = CorruptOnce(spool._conn)  # type: ignore[arg-type,assignment]
        with caplog.at_level(logging.WARNING), pytest.raises(SpoolError, match="20 pending"):
            spool.oldest()
        assert "moved it to" in caplog.text
        moved = spool.recovered_from
        assert moved is not None
        assert moved.exists()
        assert (spool.pending_points, spool.pending_batches, spool.size_bytes) == (0, 0, 0)
        assert spool.unreadable_points == 20
        assert spool.dropped_points == 10  # lifetime counters carry over
        spool.append(["m v=1"])
        assert on_disk(path) == [["m v=1"]]
    with closing(Spool(path, BIG)) as spool:
        assert spool.recovered_from is None
        assert (spool.unreadable_points, spool.dropped_points, spool.pending_points) == (20, 10, 1)
    # The moved-aside copy still holds the batches, for whoever wants to look.
    assert on_disk(moved) == batches[1:]


def fails_once(real: Callable[[], object], error: str) -> Callable[[], object]:
    calls = 0

    def first_call_fails() -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise SpoolError(error)
        return real()

    return first_call_fails


def test_a_failed_move_aside_is_retried_by_the_next_call(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moving the damaged file aside can fail (a full disk): the spool once stayed closed
    until Home Assistant restarted."""
    with closing(Spool(path, BIG)) as spool:
        spool.append(make_lines("a", 20))
        spool._conn = CorruptOnce(spool._conn)  # type: ignore[arg-type,assignment]
        monkeypatch.setattr(spool, "_move_aside", fails_once(spool._move_aside, "disk full"))
        with pytest.raises(SpoolError, match="disk full"):
            spool.oldest()
        assert (spool.pending_points, spool.unreadable_points) == (20, 0)  # still in the file
        set_user_version(path, SCHEMA_VERSION + 1)  # damaged for real: the reopen finds it so
        spool.append(["m v=1"])
        assert spool.recovered_from is not None
        assert on_disk(spool.recovered_from) == [make_lines("a", 20)]
        assert (spool.pending_points, spool.unreadable_points) == (1, 20)
        assert on_disk(path) == [["m v=1"]]
    with closing(Spool(path, BIG)) as spool:
        assert (spool.unreadable_points, spool.pending_points) == (20, 1)


def test_a_failed_new_file_is_retried_by_the_next_call(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The damaged file was moved but the new one cannot be created yet: the loss is counted
    at once, and the next call creates the file with the lifetime counters."""
    with closing(Spool(path, BIG)) as spool:
        spool.append(make_lines("a", 20))
        spool._conn = CorruptOnce(spool._conn)  # type: ignore[arg-type,assignment]
        monkeypatch.setattr(spool, "_open", fails_once(spool._open, "disk full"))
        with pytest.raises(SpoolError, match="disk full"):
            spool.oldest()
        assert (spool.pending_points, spool.unreadable_points) == (0, 20)
        spool.append(["m v=1"])
        assert on_disk(path) == [["m v=1"]]
    with closing(Spool(path, BIG)) as spool:
        assert (spool.unreadable_points, spool.pending_points) == (20, 1)


def test_a_move_aside_cut_short_is_finished_not_reopened(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The WAL went aside, the database did not (a full disk, whose checkpoint at close also
    failed): the next call reopened the database without its WAL, so the batches only the
    WAL held vanished, neither pending nor counted as unreadable."""
    with closing(Spool(path, BIG)) as spool:
        spool.append(make_lines("a", 20))
        assert spool._conn is not None
        # As on a full disk: closing the connection cannot checkpoint, the WAL stays.
        spool._conn.setconfig(sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, True)
        spool._conn = CorruptOnce(spool._conn)  # type: ignore[arg-type,assignment]
        real_replace = Path.replace
        failures = [OSError(28, "No space left on device")]

        def replace(self: Path, target: Path) -> Path:
            if self == path and failures:
                raise failures.pop()
            return real_replace(self, target)

        monkeypatch.setattr(Path, "replace", replace)
        with pytest.raises(SpoolError, match="No space left"):
            spool.oldest()
        assert not path.with_name(path.name + "-wal").exists()  # the WAL went first
        spool.append(["m v=1"])
        moved = spool.recovered_from
        assert moved is not None
        assert on_disk(moved) == [make_lines("a", 20)]  # the copy is whole, WAL and all
        assert (spool.pending_points, spool.unreadable_points) == (1, 20)
        assert on_disk(path) == [["m v=1"]]


def test_a_spool_closed_after_a_failed_start_over_stays_closed(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(path, BIG)
    spool._conn = CorruptOnce(spool._conn)  # type: ignore[arg-type,assignment]
    monkeypatch.setattr(spool, "_open", fails_once(spool._open, "disk full"))
    with pytest.raises(SpoolError, match="disk full"):
        spool.oldest()
    spool.close()
    with pytest.raises(SpoolError, match="closed"):
        spool.append(["m v=1"])
    assert not path.exists()  # nothing was reopened


def test_batch_ids_continue_in_the_file_that_replaces_a_damaged_one(path: Path) -> None:
    """The replay may still hold a batch of the damaged file when the new one starts: with ids
    from 1 again, its removal deleted the new file's first batch, never written."""
    with closing(Spool(path, BIG)) as spool:
        for n in range(3):
            spool.append(make_lines(str(n), 5))
        held = spool.oldest()  # being written to InfluxDB
        assert held is not None
        spool._conn = CorruptOnce(spool._conn)  # type: ignore[arg-type,assignment]
        with pytest.raises(SpoolError, match="15 pending"):
            spool.oldest()
        spool.append(make_lines("new", 5))
        assert not spool.remove(held.batch_id)  # written, but its file is gone: nothing to do
        assert on_disk(path) == [make_lines("new", 5)]
        assert [b.batch_id for b in spooled(path)] == [4]
    with closing(Spool(path, BIG)) as spool:  # and so on after a restart
        spool.append(make_lines("later", 1))
        assert [b.batch_id for b in spooled(path)] == [4, 5]


class MetaUnwritable:
    """A connection whose writes of the lifetime counters fail as SQLITE_CORRUPT: a new file
    that passes quick_check but is damaged where they go."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if "INTO meta" in sql:
            raise corrupt_error()
        return self._conn.executemany(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def test_a_new_file_damaged_where_the_counters_go_is_moved_aside_too(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing the carried counters into the new file hit SQLITE_CORRUPT: it was a plain error,
    so every later call reopened the same file and failed the same way, for good."""
    with closing(Spool(path, BIG)) as spool:
        spool.append(make_lines("a", 20))
        spool._conn = CorruptOnce(spool._conn)  # type: ignore[arg-type,assignment]
        real_open = spool._open
        damaged: list[int] = []  # the inode of the new file that is damaged

        def open_spool() -> sqlite3.Connection:
            conn = real_open()
            inode = path.stat().st_ino
            if not damaged or damaged[0] == inode:
                damaged[:] = [inode]
                return MetaUnwritable(conn)  # type: ignore[return-value]
            return conn

        monkeypatch.setattr(spool, "_open", open_spool)
        with pytest.raises(SpoolError):
            spool.oldest()  # the first file moved aside, the new one found damaged
        spool.append(["m v=1"])  # the new file is moved aside too, a third one works
        assert on_disk(path) == [["m v=1"]]
        assert spool.unreadable_points == 20
    with closing(Spool(path, BIG)) as spool:
        assert (spool.unreadable_points, spool.pending_points) == (20, 1)


def test_a_folder_that_cannot_be_read_is_a_spool_error(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Looking for a free name to move a damaged file to can fail too (a permission): it
    escaped as a bare OSError, which the callers do not expect of the spool."""
    with closing(Spool(path, BIG)) as spool:
        spool._conn = CorruptOnce(spool._conn)  # type: ignore[arg-type,assignment]
        real_exists = Path.exists

        def exists(self: Path, **kwargs: Any) -> bool:
            if ".corrupt-" in self.name:
                raise PermissionError(13, "Permission denied", str(self))
            return real_exists(self, **kwargs)

        monkeypatch.setattr(Path, "exists", exists)
        with pytest.raises(SpoolError, match="cannot move damaged spool"):
            spool.oldest()
        monkeypatch.undo()
        spool.append(["m v=1"])  # the next call moves it and goes on
        assert on_disk(path) == [["m v=1"]]


def test_a_moved_file_never_takes_the_name_of_an_orphaned_side_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WAL left under a moved-aside name (a move cut short, then a restart) was overwritten
    by the next move in the same second: only the database's name was checked."""
    monkeypatch.setattr(spool_module.time, "strftime", lambda *_args: "20261208T000000Z")
    orphan = path.with_name(f"{path.name}.corrupt-20261208T000000Z-wal")
    with closing(Spool(path, BIG)) as spool:
        spool.append(make_lines("a", 5))
        orphan.write_bytes(b"the WAL of an earlier damaged file")
        spool._conn = CorruptOnce(spool._conn)  # type: ignore[arg-type,assignment]
        with pytest.raises(SpoolError, match="5 pending"):
            spool.oldest()
        assert spool.recovered_from == path.with_name(f"{path.name}.corrupt-20261208T000000Z-2")
    assert orphan.read_bytes() == b"the WAL of an earlier damaged file"


def test_unreadable_batch_is_discarded_not_blocking(spool: Spool, path: Path) -> None:
    for n in range(3):
        spool.append(make_lines(str(n), 10))
    conn = sqlite3.connect(path)
    try:
        conn.execute("UPDATE batches SET data = x'00112233' WHERE id = 2")
        conn.commit()
    finally:
        conn.close()
    assert spool.pending_points == 30  # not known to be unreadable until it is read
    assert drain(spool) == [make_lines("0", 10), make_lines("2", 10)]
    assert spool.unreadable_points == 10
    assert (spool.pending_points, spool.pending_batches, spool.size_bytes) == (0, 0, 0)
    assert on_disk(path) == []


def test_delete_files(path: Path) -> None:
    fill(path, batches=2)
    path.write_bytes(b"junk" * 1000)
    with closing(Spool(path, BIG)) as spool:
        spool.append(["m v=1"])
        assert path.with_name(path.name + "-wal").exists()
    other = path.with_name("other-entry.db")
    other.write_bytes(b"x")
    Spool.delete_files(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["other-entry.db"]
    Spool.delete_files(path)  # nothing left: no error
    Spool.delete_files(path.parent / "missing-dir" / "x.db")


# ---------------------------------------------------------------- SIGKILL (issue 3, fault f)

CHILD = Path(__file__).with_name("spool_child.py")


def apply_op(model: list[list[str]], op: list[str]) -> None:
    """Apply one op reported by spool_child.py to the model list of batches."""
    kind, seq = op[0], int(op[1])
    if kind == "A":
        model.append(expected_lines(seq, int(op[2])))
    else:
        assert model, op
        assert seq_of(model[0][-1]) == seq, op
        if kind == "R":
            model.pop(0)
        else:
            model[0] = model[0][int(op[2]) :]


def test_sigkill_mid_stream_loses_no_committed_batch(tmp_path: Path) -> None:
    # Random moments each run; SPOOL_CRASH_SEED=<seed from a failure> replays a run's choices.
    seed = int(os.environ.get("SPOOL_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    path = tmp_path / "crash.db"
    model: list[list[str]] = []
    next_seq = 0
    in_flight_kills = in_flight_committed = 0
    for round_no in range(8):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(path), str(seed + round_no), str(next_seq)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        out: list[str] = []
        target, done = rng.randint(0, 40), 0
        while done < target and (line := child.stdout.readline()):
            out.append(line)
            done += line.startswith("!")
        time.sleep(rng.uniform(0, 0.02))  # a random moment, not an assertion
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL, f"seed {seed}: child died by itself"
        out.extend(rest.splitlines(keepends=True))

        pending: list[str] | None = None
        for line in out:
            if not line.endswith("\n") or line == "S\n":
                continue
            mark, *op = line.split()
            if mark == "?":
                pending = op
            else:
                assert op == pending, f"seed {seed}: {line!r}"
                apply_op(model, op)
                pending = None
            if op[0] == "A":
                next_seq = int(op[1]) + 1

        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            conn.close()
        with closing(Spool(path, BIG)) as spool:  # what the next start finds
            assert spool.recovered_from is None
            stored = spooled(path)
            actual = [b.lines for b in stored]
            assert [b.batch_id for b in stored] == sorted({b.batch_id for b in stored})
            assert spool.pending_points == sum(map(len, actual))
            oldest = spool.oldest()
            assert (oldest.lines if oldest else None) == (actual[0] if actual else None)
        if pending is not None:
            in_flight_kills += 1
            if actual != model:
                # The op in flight when the kill came may have committed; then it is whole.
                apply_op(model, pending)
                in_flight_committed += 1
        assert actual == model, f"seed {seed}, round {round_no}"
    print(
        f"seed {seed}: 8 kills, {in_flight_kills} with an operation in flight, "
        f"{in_flight_committed} of those had committed"
    )


# ---------------------------------------------------------------- model-based (hypothesis)

LINE = st.text(st.characters(codec="utf-8"), max_size=40)
LINES = st.lists(LINE, min_size=1, max_size=25)


@given(st.lists(LINE, max_size=50))
def test_encoding_round_trips(lines: list[str]) -> None:
    if lines:
        fmt, data = _encode(lines)
        assert _decode(fmt, data, len(lines)) == lines


MODEL_LETTERS = 12  # dead-letter bounds the model lowers, so that both bite
MODEL_LETTER_BYTES = 600
BIG_LETTER = st.builds(
    lambda char, n: char * n, st.sampled_from(["x", "\u00e9", "\U0001f600"]), st.integers(0, 300)
)


def letter_bytes(letter: tuple[str, str]) -> int:
    return len(letter[0].encode()) + len(letter[1].encode())


def stored_letters(path: Path) -> list[tuple[str, str]]:
    """The dead letters a spool file holds, newest first (read with a connection of our own)."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT line, reason FROM dead_letters ORDER BY id DESC").fetchall()


@settings(max_examples=60, stateful_step_count=40, deadline=None)
class SpoolModel(RuleBasedStateMachine):
    """A plain list of batches next to the spool, through appends, removals, reopens, damage
    found mid-operation and start-overs whose move aside or new file fails once.

    ``broken`` is a start-over that failed: "move" (the file is still in place, healthy unless
    ``damaged``) or "open" (moved aside, no new file yet). The next call that reaches the file
    tries again; ``_next_call`` says beforehand what it will do.
    """

    def __init__(self) -> None:
        super().__init__()
        # Lowered for the model (they are Final for the code), restored in teardown.
        self.bounds = {
            "MAX_DEAD_LETTERS": MODEL_LETTERS,
            "MAX_DEAD_LETTER_BYTES": MODEL_LETTER_BYTES,
        }
        self._swap_bounds()
        self.dir = Path(tempfile.mkdtemp(prefix="spool-model-"))
        self.path = self.dir / "model.db"
        self.limit = 1500
        self.spool = Spool(self.path, self.limit, synchronous="NORMAL")
        self.model: list[tuple[int, list[str]]] = []  # (batch id, lines), oldest first
        self.letters: list[tuple[str, str]] = []  # oldest first
        self.stale_ids: list[int] = []  # ids the spool handed out that name no batch now
        self.last_id = 0  # the newest batch id handed out; the next is one more
        # Every point appended is dropped (full), unreadable (its file went aside), in the
        # file, or removed after it was written: appended == the sum of the other four.
        self.appended = self.dropped = self.unreadable = self.written = 0
        self.broken: str | None = None
        self.damaged = False
        self.recovered: Path | None = None  # the last file moved aside
        self.moved_to_check: list[tuple[int, list[str]]] | None = None
        self.moves = 0  # files moved aside

    def teardown(self) -> None:
        self.spool.close()
        self._swap_bounds()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _swap_bounds(self) -> None:
        for name, value in self.bounds.items():
            self.bounds[name] = getattr(spool_module, name)
            setattr(spool_module, name, value)

    # ------------------------------------------------------------ model transitions

    def _moved_aside(self) -> None:
        """The file went aside: its batches count as unreadable, their ids are stale, and the
        new file has no dead letters. Checked against the spool after the call."""
        self.unreadable += sum(len(lines) for _, lines in self.model)
        self.stale_ids += [batch_id for batch_id, _ in self.model]
        self.moved_to_check = self.model
        self.model, self.letters = [], []
        self.moves += 1

    def _check_moved(self) -> None:
        if self.moved_to_check is None:
            return
        moved = self.spool.recovered_from
        assert moved is not None
        assert moved != self.recovered
        assert moved.name.startswith("model.db.corrupt-")
        assert [(b.batch_id, b.lines) for b in spooled(moved)] == self.moved_to_check
        self.recovered, self.moved_to_check = moved, None

    def _next_call(self) -> None:
        """A call that reaches the file is about to be made: a failed start-over is retried.
        A file still in place and healthy (the corruption was found once, not in the file)
        is reopened with everything in it; a damaged one is moved aside now."""
        if self.broken is None:
            return
        event(f"a call retries the start-over ({self.broken}{', damaged' if self.damaged else ''})")
        if self.damaged:
            self._moved_aside()
        self.broken, self.damaged = None, False

    def _take_front(self, room: int) -> int:
        """Drop model batches from the front until the rest fits in ``room``; return points."""
        points = 0
        while self._size() > room:
            batch_id, lines = self.model.pop(0)
            self.stale_ids.append(batch_id)
            points += len(lines)
        return points

    def _size(self) -> int:
        return sum(stored_size(lines) for _, lines in self.model)

    def _ids(self, data: st.DataObject) -> int:
        """A batch id the replay could hold: a pending one, a stale one, or one never used."""
        ids = [batch_id for batch_id, _ in self.model] + self.stale_ids
        return data.draw(st.sampled_from(ids) if ids else st.just(self.last_id + 1))

    # ------------------------------------------------------------ batches

    @rule(lines=LINES)
    def append(self, lines: list[str]) -> None:
        self._next_call()
        size = stored_size(lines)
        expected = len(lines) if size > self.limit else self._take_front(self.limit - size)
        assert self.spool.append(lines) == expected
        self.appended += len(lines)
        self.dropped += expected
        if size <= self.limit:  # stored, within the bound (a lowered one too)
            newest = spooled(self.path)[-1]
            assert newest.batch_id == self.last_id + 1  # never an id handed out before
            self.last_id = newest.batch_id
            self.model.append((newest.batch_id, lines))
            assert self.spool.size_bytes <= self.limit

    @rule()
    def oldest(self) -> None:
        self._next_call()
        oldest = self.spool.oldest()
        assert (oldest.batch_id, oldest.lines) == self.model[0] if oldest else not self.model

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        batch_id = self._ids(data)
        self._next_call()  # may move the batch aside: then its id is stale
        index = next((i for i, (b, _) in enumerate(self.model) if b == batch_id), None)
        assert self.spool.remove(batch_id) == (index is not None)
        if index is not None:
            self.written += len(self.model.pop(index)[1])
            self.stale_ids.append(batch_id)

    @rule(data=st.data(), lines=LINES)
    def replace(self, data: st.DataObject, lines: list[str]) -> None:
        batch_id = self._ids(data)
        self._next_call()
        index = next((i for i, (b, _) in enumerate(self.model) if b == batch_id), None)
        if index is None:  # stale: refused, nothing changes
            assert not self.spool.replace(batch_id, lines)
            return
        old = self.model[index][1]
        keep = data.draw(st.lists(st.booleans(), min_size=len(old), max_size=len(old)))
        rest = [line for line, kept in zip(old, keep, strict=True) if kept]
        assert self.spool.replace(batch_id, rest)
        self.written += len(old) - len(rest)
        if rest:
            self.model[index] = (batch_id, rest)
        else:
            self.model.pop(index)
            self.stale_ids.append(batch_id)

    # ------------------------------------------------------------ dead letters

    def _add_letters(self, items: list[tuple[str, str]]) -> None:
        if not items:  # returns before it reaches the file
            self.spool.add_dead_letters(items)
            return
        self._next_call()
        self.spool.add_dead_letters(items)
        self.letters.extend(items)
        while len(self.letters) > 1 and (
            len(self.letters) > MODEL_LETTERS
            or sum(map(letter_bytes, self.letters)) > MODEL_LETTER_BYTES
        ):
            self.letters.pop(0)

    @rule(items=st.lists(st.tuples(LINE, LINE), max_size=8))
    def dead_letters(self, items: list[tuple[str, str]]) -> None:
        self._add_letters(items)

    @rule(
        items=st.lists(st.tuples(BIG_LETTER, st.sampled_from(["r", "type conflict"])), max_size=4)
    )
    def big_dead_letters(self, items: list[tuple[str, str]]) -> None:
        """Sizes that make the byte bound bite (a lone one over it is kept)."""
        self._add_letters(items)

    @rule()
    def clear_dead_letters(self) -> None:
        self._next_call()
        assert self.spool.clear_dead_letters() == len(self.letters)
        self.letters = []

    # ------------------------------------------------------------ damage and start-over

    @precondition(lambda self: self.broken is None)
    @rule(
        data=st.data(),
        op=st.sampled_from(
            [
                "oldest",
                "remove",
                "replace",
                "append",
                "add_dead_letters",
                "dead_letters",
                "clear_dead_letters",
            ]
        ),
        fails=st.sampled_from([None, "_move_aside", "_open"]),
    )
    def corruption_found(self, data: st.DataObject, op: str, fails: str | None) -> None:
        """An operation hits SQLITE_CORRUPT: the file goes aside, the call raises, and its
        pending points count as unreadable. The move aside or the new file may fail once (a
        full disk): then the next call tries again."""
        lines = data.draw(LINES)
        if op == "append":  # only an append that drops reads the batches: make it one
            rng = random.Random(data.draw(st.integers(0, 2**32), label="noise seed"))
            lines = noise_lines(rng, 1)
            while stored_size(lines) <= self.limit - self._size():
                lines += noise_lines(rng, 1)
            if not self.model or stored_size(lines) > self.limit:
                op = "oldest"
        batch_id = self._ids(data)
        calls: dict[str, Callable[[], object]] = {
            "oldest": self.spool.oldest,
            "remove": lambda: self.spool.remove(batch_id),
            "replace": lambda: self.spool.replace(batch_id, lines),
            "append": lambda: self.spool.append(lines),
            # More than the bound holds: evicting reads the table.
            "add_dead_letters": lambda: self.spool.add_dead_letters(
                [("m v=1", "r")] * (MODEL_LETTERS + 1)
            ),
            "dead_letters": self.spool.dead_letters,
            "clear_dead_letters": self.spool.clear_dead_letters,
        }
        table = "dead_letters" if "dead_letters" in op else "batches"
        wrapper = CorruptOnce(self.spool._conn, table)  # type: ignore[arg-type]
        self.spool._conn = wrapper  # type: ignore[assignment]
        if fails is not None:
            setattr(self.spool, fails, fails_once(getattr(self.spool, fails), "disk full"))
        lost = self.spool.pending_points
        try:
            with pytest.raises(SpoolError) as raised:
                calls[op]()
        finally:
            vars(self.spool).pop(fails or "", None)
        assert not wrapper.armed
        event(f"corruption found by {op}, {fails or 'nothing'} fails")
        if fails == "_move_aside":  # nothing moved: the file and its batches are still there
            assert "disk full" in str(raised.value)
            assert self.spool.recovered_from == self.recovered
            self.broken = "move"
            if data.draw(st.booleans(), label="and the file is damaged on disk"):
                set_user_version(self.path, SCHEMA_VERSION + 1)  # the retry finds it so
                self.damaged = True
            return
        self._moved_aside()
        self._check_moved()
        if fails == "_open":  # moved, the loss is counted; the new file comes with the next call
            assert "disk full" in str(raised.value)
            assert not self.path.exists()
            self.broken = "open"
        else:
            assert f"{lost} pending points lost" in str(raised.value)

    @precondition(lambda self: self.broken is not None)
    @rule()
    def retry_fails_again(self) -> None:
        """The disk is still full when the next call retries: it raises, nothing changes."""
        method = "_move_aside" if self.damaged else "_open"
        event(f"the retry fails again ({method})")
        setattr(self.spool, method, fails_once(getattr(self.spool, method), "still full"))
        try:
            with pytest.raises(SpoolError, match="still full"):
                self.spool.oldest()
        finally:
            vars(self.spool).pop(method)
        assert self.spool.recovered_from == self.recovered

    @rule(limit=st.sampled_from([600, 1500, 4000]))
    def reopen(self, limit: int) -> None:
        """A restart, or the user changed the spool size; a lower bound applies on the next
        append (opening never drops)."""
        if self.broken is not None:
            event(f"reopened after a failed start-over ({self.broken})")
        self.spool.close()
        self.spool = Spool(self.path, limit, synchronous="NORMAL")
        self.limit = limit
        if self.broken is not None and (self.damaged or self.broken == "open"):
            # A new object starts a new file's life: the damaged file is moved aside unread
            # (its pending points unknown), or the start-over's counters went with the close.
            # Either way no replay holds an old id.
            if self.damaged:
                self._moved_aside()
                self._check_moved()
            else:
                assert self.spool.recovered_from is None
                self.recovered = None
            self.model, self.letters, self.stale_ids = [], [], []
            self.appended = self.dropped = self.unreadable = self.written = self.last_id = 0
        else:
            assert self.spool.recovered_from is None
            self.recovered = None
        self.broken, self.damaged = None, False

    # ------------------------------------------------------------ invariants

    @invariant()
    def same_contents(self) -> None:
        self._check_moved()
        stored = spooled(self.path) if self.path.exists() else []
        assert [(b.batch_id, b.lines) for b in stored] == self.model
        if self.broken is None:  # a call now would be the retry
            oldest = self.spool.oldest()
            assert (oldest.batch_id, oldest.lines) == self.model[0] if oldest else not self.model
        assert self.spool.pending_batches == len(self.model)
        assert self.spool.pending_points == sum(len(lines) for _, lines in self.model)
        assert self.spool.size_bytes == self._size()

    @invariant()
    def every_point_accounted_for(self) -> None:
        assert self.spool.dropped_points == self.dropped
        assert self.spool.unreadable_points == self.unreadable
        in_file = sum(len(lines) for _, lines in self.model)
        assert self.appended == self.dropped + self.unreadable + in_file + self.written
        assert len([p for p in self.dir.iterdir() if ".corrupt-" in p.name]) == self.moves

    @invariant()
    def same_dead_letters(self) -> None:
        stored = stored_letters(self.path) if self.path.exists() else []
        assert stored == self.letters[::-1]
        assert len(stored) <= MODEL_LETTERS
        assert len(stored) <= 1 or sum(map(letter_bytes, stored)) <= MODEL_LETTER_BYTES
        assert self.spool.dead_letter_count == len(self.letters)
        if self.broken is None:
            newest_first = [(d.line, d.reason) for d in self.spool.dead_letters(limit=1000)]
            assert newest_first == self.letters[::-1]


TestSpoolModel = SpoolModel.TestCase
