"""The durable spool (no Home Assistant): order, bounds, reopen, recovery, crash safety."""

from __future__ import annotations

from collections.abc import Callable, Iterator
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

from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
import pytest

from custom_components.ha_ingestor import spool as spool_module
from custom_components.ha_ingestor.spool import (
    SCHEMA_VERSION,
    Spool,
    SpoolError,
    _decode,
    _encode,
)
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


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "entry.db"


@pytest.fixture
def spool(path: Path) -> Iterator[Spool]:
    with Spool(path, BIG) as opened:
        yield opened


def drain(spool: Spool) -> list[list[str]]:
    out = []
    while (batch := spool.oldest()) is not None:
        out.append(batch.lines)
        assert spool.remove(batch.batch_id)
    return out


# ---------------------------------------------------------------- order and replace


def test_fifo_order_and_counters(spool: Spool) -> None:
    batches = [make_lines(str(n), n + 1) for n in range(10)]
    for lines in batches:
        assert spool.append(lines) == 0
    assert spool.pending_batches == 10
    assert spool.pending_points == sum(len(b) for b in batches)
    assert spool.size_bytes == sum(stored_size(b) for b in batches)
    assert [b.lines for b in spool.batches()] == batches
    assert drain(spool) == batches
    assert (spool.pending_points, spool.pending_batches, spool.size_bytes) == (0, 0, 0)
    assert spool.oldest() is None


def test_replace_keeps_position_and_updates_counters(spool: Spool) -> None:
    for n in range(3):
        spool.append(make_lines(str(n), 100))
    first = spool.oldest()
    assert first is not None
    middle = spool.batches()[1]
    assert spool.replace(middle.batch_id, middle.lines[90:])
    assert spool.replace(first.batch_id, first.lines[40:])
    assert spool.pending_points == 60 + 10 + 100
    assert spool.size_bytes == sum(stored_size(b.lines) for b in spool.batches())
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
    with Spool(path, BIG) as reopened:
        batch = reopened.oldest()
        assert batch is not None
        assert batch.lines == lines


# ---------------------------------------------------------------- size bound


def test_bound_drops_oldest_with_exact_point_counts(path: Path) -> None:
    rng = random.Random(1)
    batches = [noise_lines(rng, n) for n in (10, 20, 30, 25)]
    sizes = [stored_size(b) for b in batches]
    # Room for the last three exactly: the fourth append must drop only the first batch.
    with Spool(path, sum(sizes[1:])) as spool:
        assert [spool.append(b) for b in batches[:3]] == [0, 0, 0]
        assert spool.append(batches[3]) == 10
        assert spool.size_bytes == sum(sizes[1:]) == spool.max_bytes
        assert spool.pending_points == 75
        assert spool.dropped_points == 10
        # A big batch pushes out as many old batches as it needs, counted in points.
        big = noise_lines(rng, 60)
        assert sizes[3] + stored_size(big) > spool.max_bytes >= stored_size(big)
        assert spool.append(big) == 20 + 30 + 25
        assert [b.lines for b in spool.batches()] == [big]
        assert spool.dropped_points == 10 + 75


def test_batch_larger_than_the_spool_is_refused(path: Path) -> None:
    rng = random.Random(2)
    small = noise_lines(rng, 5)
    with Spool(path, stored_size(small) * 3) as spool:
        spool.append(small)
        assert spool.append(noise_lines(rng, 200)) == 200
        assert [b.lines for b in spool.batches()] == [small]
        assert spool.dropped_points == 200


def test_lowered_bound_applies_on_trim(path: Path) -> None:
    rng = random.Random(3)
    batches = [noise_lines(rng, 10) for _ in range(5)]
    with Spool(path, BIG) as spool:
        for batch in batches:
            spool.append(batch)
    with Spool(path, stored_size(batches[-1]) * 2 + 1) as spool:
        assert spool.pending_points == 50  # reopening never drops
        assert spool.trim() == 30
        assert [b.lines for b in spool.batches()] == batches[3:]
        assert spool.trim() == 0
        spool.max_bytes = stored_size(batches[-1])
        assert spool.trim() == 10
        assert spool.dropped_points == 40
        with pytest.raises(ValueError, match="positive"):
            spool.max_bytes = 0


def test_bound_holds_under_random_load(path: Path) -> None:
    rng = random.Random(4)
    limit = 20_000
    appended = dropped = removed = 0
    with Spool(path, limit) as spool:
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
    with Spool(path, BIG, max_dead_letters=3) as spool:
        for lines in batches:
            spool.append(lines)
        first = spool.oldest()
        assert first is not None
        spool.replace(first.batch_id, ["kept"])
        spool.add_dead_letters([(f"bad {i}", "type conflict") for i in range(5)])
        ids = [b.batch_id for b in spool.batches()]
        counters = (spool.pending_points, spool.pending_batches, spool.size_bytes)
    with Spool(path, BIG, max_dead_letters=3) as spool:
        assert [b.batch_id for b in spool.batches()] == ids
        assert (spool.pending_points, spool.pending_batches, spool.size_bytes) == counters
        assert spool.dead_letter_count == 3
        assert spool.dead_letters_evicted == 2
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
    with Spool(path, BIG, synchronous="NORMAL") as spool:
        for _ in range(50):
            spool.append(noise_lines(rng, 200))
        full = path.stat().st_size + path.with_name(path.name + "-wal").stat().st_size
        drain(spool)
        empty = path.stat().st_size + path.with_name(path.name + "-wal").stat().st_size
    assert empty < full / 10


def test_migration_runs_once_and_keeps_data(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Spool(path, BIG) as spool:
        spool.append(make_lines("a", 3))
    step = ("ALTER TABLE batches ADD COLUMN origin TEXT",)
    monkeypatch.setattr(spool_module, "_MIGRATIONS", (*spool_module._MIGRATIONS, step))
    monkeypatch.setattr(spool_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    for _ in range(2):  # the second open must not run the step again
        with Spool(path, BIG) as spool:
            assert spool.recovered_from is None
            assert [b.lines for b in spool.batches()] == [make_lines("a", 3)]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        columns = [row[1] for row in conn.execute("PRAGMA table_info(batches)")]
        assert "origin" in columns
    finally:
        conn.close()


def test_closed_spool_raises(path: Path) -> None:
    spool = Spool(path, BIG)
    spool.close()
    spool.close()  # idempotent
    assert spool.closed
    with pytest.raises(SpoolError, match="closed"):
        spool.append(["m v=1"])
    with pytest.raises(SpoolError, match="closed"):
        spool.oldest()


def test_failed_write_changes_nothing(path: Path) -> None:
    rng = random.Random(6)
    with Spool(path, BIG) as spool:
        spool.append(make_lines("a", 10))
        before = (spool.pending_points, spool.pending_batches, spool.size_bytes)
        # Simulate a full disk: cap the file at its current page count.
        assert spool._conn is not None
        pages = spool._conn.execute("PRAGMA page_count").fetchone()[0]
        spool._conn.execute(f"PRAGMA max_page_count={pages}")
        with pytest.raises(SpoolError, match="full"):
            spool.append(noise_lines(rng, 2000))
        assert (spool.pending_points, spool.pending_batches, spool.size_bytes) == before
        assert [b.lines for b in spool.batches()] == [make_lines("a", 10)]
        spool._conn.execute(f"PRAGMA max_page_count={pages * 1000}")
        spool.append(["m v=2"])
        assert spool.pending_points == 11


def test_concurrent_callers_are_serialised(spool: Spool) -> None:
    def worker(tag: int) -> None:
        for n in range(20):
            spool.append(make_lines(f"{tag}-{n}", 10))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert spool.pending_points == 800
    stored = spool.batches()
    assert len(stored) == 80
    for tag in range(4):  # each thread's batches stay in its own order
        mine = [b.lines for b in stored if b.lines[0].startswith(f"sensor,entity_id=s.{tag}-")]
        assert mine == [make_lines(f"{tag}-{n}", 10) for n in range(20)]


# ---------------------------------------------------------------- dead letters


def test_dead_letters_bounded_newest_first(path: Path) -> None:
    with Spool(path, BIG, max_dead_letters=5) as spool:
        spool.add_dead_letters([(f"line {i}", f"reason {i}") for i in range(3)])
        spool.add_dead_letters([(f"line {i}", f"reason {i}") for i in range(3, 8)])
        spool.add_dead_letters([])
        assert spool.dead_letter_count == 5
        assert spool.dead_letters_evicted == 3
        letters = spool.dead_letters()
        assert [d.line for d in letters] == [f"line {i}" for i in range(7, 2, -1)]
        assert letters[0].reason == "reason 7"
        assert [d.line for d in spool.dead_letters(limit=2)] == ["line 7", "line 6"]
        # A burst bigger than the bound keeps the newest of the burst.
        spool.add_dead_letters([(f"burst {i}", "r") for i in range(12)])
        assert [d.line for d in spool.dead_letters()] == [f"burst {i}" for i in range(11, 6, -1)]
        assert spool.dead_letters_evicted == 3 + 12
        assert spool.clear_dead_letters() == 5
        assert spool.dead_letter_count == 0
        assert spool.dead_letters() == []


# ---------------------------------------------------------------- damaged files


def fill(path: Path, batches: int = 30) -> None:
    rng = random.Random(7)
    with Spool(path, BIG) as spool:
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
    with caplog.at_level(logging.WARNING), Spool(path, BIG) as spool:
        moved = spool.recovered_from
        assert moved is not None
        assert moved.name.startswith("entry.db.corrupt-")
        assert moved.read_bytes() == damaged_bytes  # kept for inspection
        assert spool.pending_points == 0
        spool.append(["m v=1"])
        assert [b.lines for b in spool.batches()] == [["m v=1"]]
    assert "moved it to" in caplog.text
    with Spool(path, BIG) as spool:  # the fresh file is healthy from now on
        assert spool.recovered_from is None
        assert spool.pending_points == 1


class CorruptOnce:
    """Wraps the spool's connection; the first query on ``batches`` fails as SQLITE_CORRUPT."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.armed = True

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.armed and "FROM batches" in sql:
            self.armed = False
            err = sqlite3.DatabaseError("database disk image is malformed")
            err.sqlite_errorcode = sqlite3.SQLITE_CORRUPT
            raise err
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def test_corruption_found_later_starts_over_once(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(8)
    batches = [noise_lines(rng, 10) for _ in range(3)]
    with Spool(path, stored_size(batches[1]) + stored_size(batches[2])) as spool:
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
        assert [b.lines for b in spool.batches()] == [["m v=1"]]
    with Spool(path, BIG) as spool:
        assert spool.recovered_from is None
        assert (spool.unreadable_points, spool.dropped_points, spool.pending_points) == (20, 10, 1)
    # The moved-aside copy still holds the batches, for whoever wants to look.
    with Spool(moved, BIG) as old:
        assert old.pending_points == 20


def test_unreadable_batch_is_discarded_not_blocking(spool: Spool, path: Path) -> None:
    for n in range(3):
        spool.append(make_lines(str(n), 10))
    conn = sqlite3.connect(path)
    try:
        conn.execute("UPDATE batches SET data = x'00112233' WHERE id = 2")
        conn.commit()
    finally:
        conn.close()
    assert len(spool.batches()) == 2  # listing skips it
    assert drain(spool) == [make_lines("0", 10), make_lines("2", 10)]
    assert spool.unreadable_points == 10
    assert spool.pending_points == 0


def test_delete_files(path: Path) -> None:
    fill(path, batches=2)
    path.write_bytes(b"junk" * 1000)
    with Spool(path, BIG) as spool:
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
        with Spool(path, BIG) as spool:
            assert spool.recovered_from is None
            stored = spool.batches()
            actual = [b.lines for b in stored]
            assert [b.batch_id for b in stored] == sorted({b.batch_id for b in stored})
            assert spool.pending_points == sum(map(len, actual))
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


@settings(max_examples=60, stateful_step_count=40, deadline=None)
class SpoolModel(RuleBasedStateMachine):
    """A plain list of batches next to the spool, through appends, removals, reopens."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="spool-model-"))
        self.path = self.dir / "model.db"
        self.limit = 1500
        self.spool = Spool(self.path, self.limit, synchronous="NORMAL", max_dead_letters=6)
        self.model: list[tuple[int, list[str]]] = []  # (batch id, lines), oldest first
        self.letters: list[tuple[str, str]] = []
        self.dropped = 0
        self.evicted = 0
        self.stale_ids: list[int] = []

    def teardown(self) -> None:
        self.spool.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _take_front(self, room: int) -> int:
        """Drop model batches from the front until the rest fits in ``room``; return points."""
        points = 0
        while sum(stored_size(lines) for _, lines in self.model) > room:
            batch_id, lines = self.model.pop(0)
            self.stale_ids.append(batch_id)
            points += len(lines)
        return points

    @rule(lines=LINES)
    def append(self, lines: list[str]) -> None:
        size = stored_size(lines)
        expected = len(lines) if size > self.limit else self._take_front(self.limit - size)
        assert self.spool.append(lines) == expected
        self.dropped += expected
        if size <= self.limit:
            newest = self.spool.batches()[-1]
            assert not self.model or newest.batch_id > self.model[-1][0]
            self.model.append((newest.batch_id, lines))
        assert self.spool.size_bytes <= self.limit

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.model) - 1))
        batch_id, _ = self.model.pop(index)
        self.stale_ids.append(batch_id)
        assert self.spool.remove(batch_id)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def replace_with_rest(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, len(self.model) - 1))
        batch_id, lines = self.model[index]
        keep = data.draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)))
        rest = [line for line, kept in zip(lines, keep, strict=True) if kept]
        assert self.spool.replace(batch_id, rest)
        if rest:
            self.model[index] = (batch_id, rest)
        else:
            self.model.pop(index)
            self.stale_ids.append(batch_id)

    @precondition(lambda self: self.stale_ids)
    @rule(data=st.data(), lines=LINES)
    def stale_id_does_nothing(self, data: st.DataObject, lines: list[str]) -> None:
        batch_id = data.draw(st.sampled_from(self.stale_ids))
        assert not self.spool.replace(batch_id, lines)
        assert not self.spool.remove(batch_id)

    @rule(items=st.lists(st.tuples(LINE, LINE), max_size=8))
    def dead_letters(self, items: list[tuple[str, str]]) -> None:
        self.spool.add_dead_letters(items)
        self.letters.extend(items)
        self.evicted += max(0, len(self.letters) - 6)
        del self.letters[:-6]

    @rule(limit=st.sampled_from([600, 1500, 4000]))
    def reopen(self, limit: int) -> None:
        self.spool.close()
        self.spool = Spool(self.path, limit, synchronous="NORMAL", max_dead_letters=6)
        self.limit = limit
        expected = self._take_front(limit)
        assert self.spool.trim() == expected
        self.dropped += expected

    @invariant()
    def same_contents(self) -> None:
        stored = self.spool.batches()
        assert [(b.batch_id, b.lines) for b in stored] == self.model
        oldest = self.spool.oldest()
        assert (oldest.batch_id, oldest.lines) == self.model[0] if oldest else not self.model
        assert self.spool.pending_batches == len(self.model)
        assert self.spool.pending_points == sum(len(lines) for _, lines in self.model)
        assert self.spool.size_bytes == sum(stored_size(lines) for _, lines in self.model)
        assert self.spool.dropped_points == self.dropped

    @invariant()
    def same_dead_letters(self) -> None:
        assert self.spool.dead_letter_count == len(self.letters)
        assert self.spool.dead_letters_evicted == self.evicted
        newest_first = [(d.line, d.reason) for d in self.spool.dead_letters(limit=100)]
        assert newest_first == self.letters[::-1]


TestSpoolModel = SpoolModel.TestCase
