"""The batch task against a fake InfluxDB 2 (error classes) with a real SQLite spool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
import threading
import time
from typing import Any

import aiohttp
import pytest

from custom_components.ha_ingestor.backoff import Backoff
from custom_components.ha_ingestor.coordinator import snapshot
from custom_components.ha_ingestor.pipeline import Pipeline, PipelineConfig
from custom_components.ha_ingestor.spool import EncodedBatch, Spool, SpoolError, encode_batch
from custom_components.ha_ingestor.spool_access import SpoolAccess
from custom_components.ha_ingestor.stats import Stats
from custom_components.ha_ingestor.writer import InfluxWriter, Outcome, Target, WriteResult
from tests.fake_influxdb2 import FakeInfluxDB2
from tests.helpers import (
    CorruptOnce,
    Hooks,
    accounted,
    async_wait_until,
    lines,
    serve,
    spool_closed,
    spooled,
)

pytestmark = pytest.mark.asyncio


@dataclass
class Harness:
    fake: FakeInfluxDB2
    url: str
    session: aiohttp.ClientSession
    tmp: Path
    hooks: Hooks = field(default_factory=Hooks)
    submitted: int = 0

    def pipeline(
        self,
        token: str = "good-token",
        spool_bytes: int = 50_000_000,
        backoff: Backoff | None = None,
        **cfg: float,
    ) -> Pipeline:
        target = Target(api="v2", url=self.url, org="home", bucket="home_assistant", token=token)
        spool = Spool(self.tmp / "spool.db", spool_bytes, synchronous="NORMAL")
        config = PipelineConfig(**{"batch_size": 100, "flush_interval": 0.05, **cfg})  # type: ignore[arg-type]
        pipeline = Pipeline(
            InfluxWriter(self.session, target, timeout=5),
            spool,
            Stats(),
            config,
            self.hooks,
            backoff or Backoff(initial=0.02, cap=0.1),
        )
        pipeline.start(lambda coro: __import__("asyncio").get_running_loop().create_task(coro))
        return pipeline

    def submit(self, pipeline: Pipeline, lines: list[str]) -> None:
        for line in lines:
            pipeline.stats.received += 1
            pipeline.submit(line)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    fake = FakeInfluxDB2()
    async with serve(fake.app()) as url, aiohttp.ClientSession() as session:
        yield Harness(fake, url, session, tmp_path)


async def test_everything_written_in_batches(harness: Harness) -> None:
    p = harness.pipeline()
    data = lines(2_550)
    harness.submit(p, data)
    assert await p.flush()
    await p.async_stop()
    assert sorted(harness.fake.written) == sorted(data)
    assert p.stats.written == 2_550 and p.pending == 0
    # A backlog goes out in requests of up to 5 batches: 5 x 500, then the last 50.
    assert harness.fake.requests == 6
    assert set(harness.fake.encodings) == {""}  # loopback: plain bodies, gzip would not pay
    assert harness.hooks.connectivity == []  # nothing to announce: it was never down


async def test_rejected_points_are_dead_lettered_rest_written(harness: Harness) -> None:
    harness.fake.reject = lambda line: (
        "invalid field" if " v=13.0 " in line or " v=77.0 " in line else None
    )
    p = harness.pipeline()
    data = lines(300)
    harness.submit(p, data)
    assert await p.flush()
    bad = {data[13], data[77]}
    assert set(harness.fake.written) == set(data) - bad
    assert {line for line, _ in harness.hooks.dead} == bad
    assert p.stats.dead_lettered == 2
    letters = p.spool.dead_letters(10)
    assert {d.line for d in letters} == bad
    assert all("HTTP 400" in d.reason for d in letters)
    assert accounted(p) == 300
    await p.async_stop()


async def test_field_type_conflict_is_dead_lettered(harness: Harness) -> None:
    p = harness.pipeline()
    good = lines(10)
    conflicting = 'm,e=x0 v="text" 1700000000000099'
    harness.submit(p, [*good, conflicting])
    assert await p.flush()
    assert p.stats.dead_lettered == 1 and p.stats.written == 10
    assert "field type conflict" in p.spool.dead_letters(1)[0].reason
    await p.async_stop()


async def test_a_rejected_line_with_a_lone_surrogate_is_dead_lettered_and_writing_goes_on(
    harness: Harness,
) -> None:
    """A string attribute can hold a lone surrogate; the writer sends it as '?'. When
    InfluxDB rejected such a line, storing the dead letter raised in SQLite (it takes only
    valid UTF-8) and the batch task died: nothing was written any more."""
    p = harness.pipeline()
    odd = 'm,e=x0 s="a\ud800b" 1700000000000099'
    harness.fake.reject = lambda line: "invalid field" if ' s="a?b" ' in line else None
    harness.submit(p, [odd, *lines(10)])
    assert await p.flush()
    assert p.stats.dead_lettered == 1 and p.stats.written == 10
    assert [d.line for d in p.spool.dead_letters(5)] == ['m,e=x0 s="a?b" 1700000000000099']
    later = lines(5, start=100)
    harness.submit(p, later)  # the batch task is alive
    assert await p.flush()
    assert set(later) <= set(harness.fake.written)
    assert accounted(p) == 16
    await p.async_stop()


async def test_server_errors_spool_then_replay_with_retry_after(harness: Harness) -> None:
    harness.fake.fail_next = [503, 503, 429]
    harness.fake.retry_after = "0"
    p = harness.pipeline()
    data = lines(500)
    harness.submit(p, data)
    await async_wait_until(
        lambda: p.stats.written == 500 and p.pending == 0 and not p.spool.pending_points,
        "500 written and removed from the spool",
    )
    assert sorted(set(harness.fake.written)) == sorted(data)
    assert harness.hooks.connectivity == [False, True]
    assert p.pending == 0 and p.spool.pending_points == 0
    await p.async_stop()


async def test_auth_failure_keeps_everything(harness: Harness, tmp_path: Path) -> None:
    p = harness.pipeline(token="revoked")
    data = lines(250)
    harness.submit(p, data)
    # paused: the queue goes to disk as batches come due, nothing waits in memory
    await async_wait_until(
        lambda: harness.hooks.auth and not p.queue and p.spool.pending_points == 250,
        "auth paused, all 250 spooled",
    )
    assert p.paused_for_auth
    requests = harness.fake.requests
    harness.submit(p, lines(50, start=250))
    assert not await p.flush(wait=0.3)  # paused: nothing is written
    assert harness.fake.requests == requests
    await p.async_stop()
    assert accounted(p) == 300 and p.stats.written == 0
    # "reauth": a new pipeline with the new token over the same spool writes the backlog
    p2 = harness.pipeline(token="good-token")
    await async_wait_until(lambda: p2.spool.pending_points == 0, "the backlog replayed")
    assert sorted(set(harness.fake.written)) == sorted(data + lines(50, start=250))
    await p2.async_stop()


async def test_too_large_is_split(harness: Harness) -> None:
    harness.fake.max_body_lines = 30
    p = harness.pipeline()
    data = lines(100)
    harness.submit(p, data)
    assert await p.flush()
    assert sorted(harness.fake.written) == sorted(data)
    assert p.stats.dead_lettered == 0
    await p.async_stop()


async def test_missing_bucket_kept_until_created(harness: Harness) -> None:
    harness.fake.buckets = set()
    p = harness.pipeline()
    harness.submit(p, lines(120))
    await async_wait_until(lambda: harness.hooks.missing, "the missing-bucket report")
    assert 'bucket "home_assistant" not found' in harness.hooks.missing[0]
    harness.fake.buckets = {"home_assistant"}
    await async_wait_until(lambda: p.stats.written == 120, "120 written")
    await p.async_stop()


async def test_spills_to_spool_while_down_and_memory_stays_bounded(harness: Harness) -> None:
    harness.fake.fail_next = [503] * 10_000
    p = harness.pipeline(batch_size=100)
    peak = 0
    for chunk in range(30):
        harness.submit(p, lines(1_000, start=chunk * 1_000))
        peak = max(peak, len(p.queue))
        await async_wait_until(lambda: len(p.queue) < 100, "the queue spilled")
    assert peak <= 1_100
    assert accounted(p) == 30_000
    await p.async_stop()
    assert spool_closed(p.spool)
    reopened = Spool(harness.tmp / "spool.db", 50_000_000)
    assert reopened.pending_points == 30_000
    reopened.close()


async def test_spool_full_drops_oldest_and_says_so(harness: Harness) -> None:
    harness.fake.fail_next = [503] * 10_000
    p = harness.pipeline(spool_bytes=5_000, batch_size=100)  # 8 batches of 100 (580 bytes)
    data = lines(2_000)
    for start in range(0, len(data), 100):  # an outage: batch after batch goes to disk
        harness.submit(p, data[start : start + 100])
        await async_wait_until(
            lambda n=start + 100: p.spool.pending_points + p.stats.dropped["spool_full"] == n,
            f"the first {start + 100} points spooled or dropped",
        )
    dropped = p.stats.dropped["spool_full"]
    assert 0 < dropped < len(data)
    assert sum(harness.hooks.spool_drops) == dropped
    assert accounted(p) == len(data)
    # Whole batches went, oldest first: the spool holds exactly the newest points.
    kept = [line for batch in spooled(harness.tmp / "spool.db") for line in batch.lines]
    assert kept == data[dropped:]
    await p.async_stop()


async def test_a_spill_larger_than_the_whole_spool_is_counted_once_it_is_refused(
    harness: Harness,
) -> None:
    """Issue 16: under load the old test saw an empty queue and 0 drops. Spilled points are
    pending, not dropped, until the disk task (in the executor) has stored or refused them."""
    harness.fake.fail_next = [503] * 10_000
    p = harness.pipeline(spool_bytes=20_000, batch_size=100)
    real_append = p.spool.append_encoded
    disk_free = threading.Event()

    def slow_disk(batch: EncodedBatch) -> int:
        if batch.points > 500:  # the spill, not the failed batch of 500 parked before it
            assert disk_free.wait(30)
        return real_append(batch)

    p.spool.append_encoded = slow_disk  # type: ignore[method-assign]
    harness.submit(p, lines(5_000))
    await async_wait_until(lambda: not p.queue and harness.hooks.connectivity, "the spill")
    assert p.stats.dropped["spool_full"] == 0  # what the old test asserted on, too early
    assert accounted(p) == 5_000 and p.pending == 5_000
    disk_free.set()
    await async_wait_until(lambda: p.stats.dropped["spool_full"], "the refused spill counted")
    # 500 points failed first and fit; the 4,500 spilled after them are one compressed
    # batch larger than the whole 20 kB spool, refused as a whole.
    assert p.stats.dropped["spool_full"] == 4_500
    assert harness.hooks.spool_drops == [4_500]
    assert p.spool.pending_points == 500
    assert accounted(p) == 5_000
    await p.async_stop()


async def test_stop_spools_what_is_queued_and_restart_replays(harness: Harness) -> None:
    harness.fake.fail_next = [503] * 3
    p = harness.pipeline(flush_interval=30, batch_size=10_000)
    data = lines(700)
    harness.submit(p, data)
    await p.async_stop()  # nothing was due yet: all 700 go to the spool
    assert spool_closed(p.spool)
    p2 = harness.pipeline()
    await async_wait_until(lambda: p2.stats.written == 700, "700 replayed")
    assert sorted(set(harness.fake.written)) == sorted(data)
    await p2.async_stop()


async def test_stop_writes_what_is_queued_and_returns_without_waiting_out_the_timeout(
    harness: Harness,
) -> None:
    """A stop while a write is on its way: the lines queued behind it are written, and the
    stop returns as soon as they are. It used to wait out the whole shutdown timeout (10 s
    on every reload and every Home Assistant stop with anything queued)."""
    harness.fake.delay = 0.3  # the first write is still on its way when the stop comes
    p = harness.pipeline(flush_interval=3600, batch_size=1000, shutdown_timeout=3600)
    data = lines(50)
    harness.submit(p, data[:1])
    await async_wait_until(lambda: harness.fake.requests == 1, "the first write on its way")
    harness.submit(p, data[1:])
    async with asyncio.timeout(60):  # a deadline far below the shutdown timeout
        await p.async_stop()
    assert sorted(harness.fake.written) == sorted(data)
    assert p.stats.written == 50 and p.pending == 0
    assert harness.fake.requests == 2


async def test_stop_after_its_tasks_were_cancelled_still_spools_everything(
    harness: Harness,
) -> None:
    """Home Assistant cancels background tasks when a shutdown outlasts its jobs (20 s): a
    stop then finds its tasks cancelled, one of them mid-write, and used to raise there."""
    harness.fake.delay = 1.0  # the first write is still on its way when the tasks go
    p = harness.pipeline(flush_interval=3600, batch_size=1000)
    data = lines(700)
    harness.submit(p, data[:1])
    await async_wait_until(lambda: harness.fake.requests == 1, "the first write on its way")
    harness.submit(p, data[1:])
    for task in p._tasks:
        task.cancel()
    await asyncio.sleep(0)
    assert all(task.cancelled() for task in p._tasks)
    await p.async_stop()
    assert spool_closed(p.spool)
    reopened = Spool(harness.tmp / "spool.db", 50_000_000)
    assert reopened.pending_points == 700  # the one on its way too
    reopened.close()


async def test_a_replayed_batch_the_spool_could_not_remove_is_counted_once(
    harness: Harness,
) -> None:
    """The removal after a successful replay failed (a full disk: the DELETE writes to the
    WAL too): the batch stays and is replayed again, and its points were counted written
    each time (1,000 written for 500 points)."""
    harness.fake.fail_next = [503]  # so the points go to the spool first
    p = harness.pipeline()
    real_remove = p.spool.remove
    failures = [SpoolError("database or disk is full")]

    def remove_fails_once(batch_id: int) -> bool:
        if failures:
            raise failures.pop()
        return real_remove(batch_id)

    p.spool.remove = remove_fails_once  # type: ignore[method-assign]
    harness.submit(p, lines(500))
    await async_wait_until(
        lambda: not failures and p.pending == 0 and not p.spool.pending_points,
        "replayed, then removed",
    )
    assert p.stats.written == 500
    assert accounted(p) == 500
    await p.async_stop()


async def test_a_spool_that_cannot_be_changed_does_not_stop_writes_to_a_healthy_influxdb(
    harness: Harness,
) -> None:
    """A full disk (or a backup tool holding the file) makes removing a replayed batch fail.
    That paused InfluxDB writes as if InfluxDB were down, on InfluxDB's backoff: new events
    went to the outbox and the spool instead, for up to its cap, with InfluxDB healthy."""
    spool = Spool(harness.tmp / "spool.db", 50_000_000)
    spool.append_encoded(encode_batch(lines(300)))
    spool.close()
    # InfluxDB's backoff, were it used: an hour
    p = harness.pipeline(backoff=Backoff(initial=3600, cap=3600, rand=lambda: 0.999))
    real_remove = p.spool.remove
    disk_full = True

    def remove(batch_id: int) -> bool:
        if disk_full:
            raise SpoolError("database or disk is full")
        return real_remove(batch_id)

    p.spool.remove = remove  # type: ignore[method-assign]
    await async_wait_until(lambda: len(harness.fake.written) >= 300, "the spooled batch sent")
    harness.submit(p, lines(500, start=300))
    await async_wait_until(lambda: p.stats.written == 500, "the live points written", timeout=15)
    assert p.spool.pending_points == 300  # still there: it could not be removed
    disk_full = False
    await async_wait_until(lambda: p.pending == 0, "the spooled batch removed after all")
    assert p.stats.written == 800
    assert accounted(p) == 800
    await p.async_stop()


async def test_queued_and_spooled_add_up_while_a_spool_call_is_in_the_executor(
    harness: Harness,
) -> None:
    """The Pending sensor's queued/spooled split read the spool's own count, which runs ahead
    of the pipeline's while a call is in the executor: a replayed batch being removed showed
    as queued (300 queued, with nothing in memory)."""
    harness.fake.fail_next = [503] * 3  # the points go to the spool first
    p = harness.pipeline()
    real_remove = p.spool.remove
    removed, release = threading.Event(), threading.Event()

    def slow_remove(batch_id: int) -> bool:
        done = real_remove(batch_id)
        removed.set()
        release.wait(10)
        return done

    p.spool.remove = slow_remove  # type: ignore[method-assign]
    harness.submit(p, lines(300))
    await async_wait_until(removed.is_set, "a replayed batch being removed")
    now = snapshot(p)
    release.set()
    assert (now.queued, now.queued + now.spooled) == (0, now.pending)
    await async_wait_until(lambda: p.pending == 0, "everything written")
    assert accounted(p) == 300
    await p.async_stop()


async def test_a_spool_found_damaged_while_running_is_said_as_at_start(
    harness: Harness,
) -> None:
    """SQLite reported the file corrupt during a replay: the spool set it aside and started
    over (its points counted as unreadable), but only a damage found at start raised the
    repair issue; now the hook is told as soon as it happens."""
    # InfluxDB stays down, so the points stay spooled and each retry reads the spool (however
    # slow the machine: with a few failures only, the spool could drain before the damage).
    harness.fake.fail_next = [503] * 10_000
    p = harness.pipeline(batch_size=100, flush_interval=0.05)
    harness.submit(p, lines(300))
    await async_wait_until(lambda: p.spool.pending_points == 300, "all points in the spool")
    p.spool._conn = CorruptOnce(p.spool._conn)  # type: ignore[arg-type,assignment]
    await async_wait_until(lambda: harness.hooks.recovered, "the damage said")
    assert harness.hooks.recovered == [str(p.spool.recovered_from)]
    assert p.stats.dropped["spool_unreadable"] > 0
    assert accounted(p) == 300
    await p.async_stop()


async def test_a_lone_point_is_written_at_once_not_after_the_flush_interval(
    harness: Harness,
) -> None:
    p = harness.pipeline(flush_interval=3600, batch_size=1000)  # an interval the test never sees
    harness.submit(p, lines(1))
    await async_wait_until(lambda: p.stats.written == 1, "the lone point written")
    assert harness.fake.written == lines(1) and harness.fake.requests == 1
    await p.async_stop()


async def test_burst_faster_than_the_server_spills_and_loses_nothing(harness: Harness) -> None:
    import asyncio

    harness.fake.delay = 0.1  # at most ~25k points/s (backlog requests of 2,500)
    p = harness.pipeline(batch_size=500, spill_at=2_000, spill_chunk=2_000, max_queue=4_000)
    peak_queue = peak_spool = 0
    data = lines(40_000)
    for start in range(0, 40_000, 50):  # ~100k events/s, yielding as Home Assistant's loop does
        harness.submit(p, data[start : start + 50])
        peak_queue = max(peak_queue, len(p.queue))
        await asyncio.sleep(0.0005)
        peak_spool = max(peak_spool, p.spool.pending_points)
    await async_wait_until(lambda: p.stats.written == 40_000, "40,000 written")
    assert p.stats.dropped_total == 0
    assert peak_spool > 0  # the burst went through the spool
    assert peak_queue <= 4_000
    assert sorted(set(harness.fake.written)) == sorted(lines(40_000))
    await p.async_stop()


async def test_a_spill_that_reaches_the_spool_after_the_batch_task_slept_is_replayed(
    harness: Harness,
) -> None:
    """The batch task wrote what was queued and went to sleep with the spool still empty,
    while the burst's spill was on its way to the disk: nothing woke it once the spill was
    stored, and the points waited for the next event (a burst's last ones: for good)."""
    harness.fake.delay = 0.2  # the first request is on its way while the burst comes
    p = harness.pipeline(batch_size=100, spill_at=200, spill_chunk=200)
    real_append = p.spool.append_encoded
    release = threading.Event()

    def gated_append(batch: EncodedBatch) -> int:
        release.wait(10)
        return real_append(batch)

    p.spool.append_encoded = gated_append  # type: ignore[method-assign]
    data = lines(1_001)
    harness.submit(p, data[:1])
    await async_wait_until(lambda: p._delivery.inflight == 1, "the first request sent")
    harness.submit(p, data[1:])  # the burst: all but the last 100 spill
    await async_wait_until(
        lambda: p.stats.written == 101 and not p.queue and not p._delivery.inflight,
        "the queue written, the spill still on its way to the spool",
    )
    await asyncio.sleep(0.1)  # the batch task is asleep now
    release.set()
    await async_wait_until(lambda: p.stats.written == 1_001, "the spill replayed")
    assert sorted(harness.fake.written) == sorted(data)
    await p.async_stop()


async def test_spool_errors_keep_spilled_points_in_memory_until_it_works(harness: Harness) -> None:
    from custom_components.ha_ingestor.spool import SpoolError

    harness.fake.fail_next = [503] * 10_000
    p = harness.pipeline(batch_size=100)
    real_append = p.spool.append_encoded
    failures = [SpoolError("disk full"), SpoolError("disk full")]

    def flaky(batch: object) -> int:
        if failures:
            raise failures.pop()
        return real_append(batch)  # type: ignore[arg-type]

    p.spool.append_encoded = flaky  # type: ignore[method-assign]
    harness.submit(p, lines(3_000))
    await async_wait_until(
        lambda: not failures and p.spool.pending_points >= 2_900,
        "both spool errors passed, 2,900 spooled",
    )
    assert accounted(p) == 3_000
    assert p.stats.dropped_total == 0
    # said once when writes failed (a repair issue), once when they worked again
    assert harness.hooks.spool_writes == [(False, "disk full"), (True, None)]
    await p.async_stop()
    reopened = Spool(harness.tmp / "spool.db", 50_000_000)
    assert reopened.pending_points == 3_000
    reopened.close()


async def test_only_storing_points_says_whether_the_spool_is_writable(tmp_path: Path) -> None:
    """On a full disk a removal (it frees space) or a small dead letter can work while a
    batch still cannot be stored: that closed the repair issue while the points waited in
    memory, and the next store raised it again, each time the replay removed a batch."""
    spool = Spool(tmp_path / "spool.db", 50_000_000, synchronous="NORMAL")
    hooks = Hooks()
    access = SpoolAccess(spool, Stats(), hooks)
    for n in range(2):
        await access.append([f"m v={n}"], lambda: None)
    real_append = spool.append_encoded

    def full(batch: EncodedBatch) -> int:
        raise SpoolError("database or disk is full")

    spool.append_encoded = full  # type: ignore[method-assign]
    for _ in range(2):
        with pytest.raises(SpoolError):
            await access.append(["m v=9"], lambda: None)
        batch = await access.oldest()
        assert batch is not None
        assert await access.remove(batch.batch_id, lambda found: None)
        await access.add_dead_letters([("m v=x", "HTTP 400: bad")])
    assert hooks.spool_writes == [(True, None), (False, "database or disk is full")]
    spool.append_encoded = real_append  # type: ignore[method-assign]
    await access.append(["m v=9"], lambda: None)
    assert hooks.spool_writes[-1] == (True, None)
    await access.close()


async def test_stop_while_down_puts_every_queued_point_on_disk(harness: Harness) -> None:
    """Stop while the disk task is busy writing an earlier spill: what the final spill adds
    must still reach the spool before it closes."""
    import asyncio
    import time as time_module

    harness.fake.fail_next = [503] * 10_000
    p = harness.pipeline(batch_size=100, flush_interval=0.05)
    real_append = p.spool.append_encoded
    disk_busy = threading.Event()

    def slow(batch: object) -> int:
        disk_busy.set()  # latched: the spill is in the disk task's hands from here on
        time_module.sleep(0.5)  # a slow disk
        return real_append(batch)  # type: ignore[arg-type]

    p.spool.append_encoded = slow  # type: ignore[method-assign]
    harness.submit(p, lines(1_000))
    await async_wait_until(
        lambda: p.stats.failed_writes >= 1 and disk_busy.is_set(),
        "a failed write and the disk task writing a spill",
    )
    real_write = p._delivery._writer.write_lines

    async def slow_write(batch: list[str]) -> Any:
        await asyncio.sleep(0.3)  # the last write attempt outlasts the disk task's work
        return await real_write(batch)

    p._delivery._writer.write_lines = slow_write  # type: ignore[method-assign]
    p._delivery._retry_at = 0  # due for a retry when the stop comes
    harness.submit(p, lines(2_000, start=1_000))
    await p.async_stop()
    reopened = Spool(harness.tmp / "spool.db", 50_000_000)
    assert reopened.pending_points == 3_000
    reopened.close()


async def test_flush_writes_at_once_during_a_retry_backoff(harness: Harness) -> None:
    harness.fake.fail_next = [503]
    harness.fake.retry_after = "60"  # the writer would wait a minute
    p = harness.pipeline(backoff=Backoff(initial=1, cap=60))
    harness.submit(p, lines(10))
    await async_wait_until(
        lambda: p.stats.failed_writes == 1 and p.spool.pending_points == 10, "10 spooled"
    )
    harness.submit(p, lines(5, start=10))
    start = time.monotonic()
    assert await p.flush(wait=10)  # InfluxDB is back: written now, not in a minute
    assert time.monotonic() - start < 5
    await async_wait_until(lambda: p.stats.written == 15, "15 written")
    assert accounted(p) == 15
    # Still refused: one attempt, then False at once; everything stays pending.
    harness.fake.fail_next = [503] * 100
    harness.submit(p, lines(5, start=15))
    start = time.monotonic()
    assert not await p.flush(wait=10)
    assert time.monotonic() - start < 5
    assert accounted(p) == 20
    await p.async_stop()


class ScriptedWriter:
    """Answers from a script of (outcome, status); a None step holds the request until
    released, then answers the next step (503 when none is left)."""

    def __init__(self, script: list[tuple[Outcome, int] | None]) -> None:
        self.script = script
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    async def write_lines(self, part: list[str]) -> WriteResult:
        step = self.script.pop(0) if self.script else (Outcome.OK, 204)
        if step is None:
            self.holding.set()
            await self.release.wait()
            step = self.script.pop(0) if self.script else (Outcome.RETRY, 503)
        outcome, status = step
        return WriteResult(outcome, status, "scripted", None, 0.001)


async def replay_into_a_spool_that_fills(
    tmp_path: Path, writer: ScriptedWriter
) -> tuple[Pipeline, Stats]:
    """A spooled batch of 10 (left from an outage) is replayed through ``writer``; once the
    writer holds a request, 40 new lines fill the spool, which drops its oldest batch: the
    one being replayed."""
    old = lines(10, 0, "old")
    burst = lines(40, 1000, "new")
    room = len(encode_batch(old).data) + len(encode_batch(burst[:20]).data) + 10
    spool = Spool(tmp_path / "spool.db", room, synchronous="NORMAL")
    spool.append(old)
    stats = Stats.restore({"received": 10, "pending": 10}, spool.pending_points)
    p = Pipeline(
        writer,  # type: ignore[arg-type]
        spool,
        stats,
        PipelineConfig(batch_size=10, flush_interval=0.05, spill_at=20, spill_chunk=20),
        Hooks(),
        Backoff(initial=0.02, cap=0.05),
    )
    p.start(lambda coro: asyncio.get_running_loop().create_task(coro))
    await asyncio.wait_for(writer.holding.wait(), 30)
    for line in burst:
        stats.received += 1
        p.submit(line)
    return p, stats


async def test_a_replayed_batch_the_full_spool_dropped_mid_split_is_counted_once(
    tmp_path: Path,
) -> None:
    """A spooled batch is replayed: 400, so it is split; the first half is written, and while
    the second is on its way a burst fills the spool, which drops that batch (counting all of
    it as dropped); then the second half fails. The written half was counted twice."""
    writer = ScriptedWriter([(Outcome.REJECTED, 400), (Outcome.OK, 204), None])
    p, stats = await replay_into_a_spool_that_fills(tmp_path, writer)
    await async_wait_until(lambda: stats.dropped["spool_full"] > 0, "the old batch dropped")
    writer.release.set()
    await async_wait_until(lambda: p.pending == 0, "everything settled")
    # Each line once: written or dropped (the old batch among them), never both; of the
    # old batch, the half written before the spool dropped it is recovered.
    assert stats.written + stats.dropped["spool_full"] == stats.received == 50
    assert stats.recovered == 5
    assert accounted(p) == 50
    await p.async_stop()


async def test_a_replayed_batch_the_full_spool_dropped_meanwhile_never_lowers_dropped(
    tmp_path: Path,
) -> None:
    """The replay of a spooled batch succeeded after the full spool had dropped that batch:
    Dropped was lowered again (10 -> 0). It is total_increasing: Home Assistant reads a
    decrease as a meter reset, and its statistics keep the drop twice."""
    writer = ScriptedWriter([None, (Outcome.OK, 204)])  # the replay is held
    p, stats = await replay_into_a_spool_that_fills(tmp_path, writer)
    await async_wait_until(lambda: stats.dropped_total > 0, "the old batch dropped")
    seen = [snapshot(p).dropped]  # a refresh of the sensors lands here
    writer.release.set()  # the replay succeeds after all
    await async_wait_until(lambda: p.pending == 0, "everything settled")
    seen.append(snapshot(p).dropped)
    assert seen[1] >= seen[0] > 0
    assert stats.recovered == 10  # the old batch reached InfluxDB
    assert accounted(p) == 50
    await p.async_stop()
