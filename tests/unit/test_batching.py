"""The adaptive batching policy, alone and driving the batch task (a scripted writer, a real
SQLite spool). Behaviour, not timings: flush intervals are an hour, so whatever is written
was written because the policy said so, not because a timer ran out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from custom_components.ha_ingestor.backoff import Backoff
from custom_components.ha_ingestor.batching import BatchPolicy
from custom_components.ha_ingestor.pipeline import Pipeline, PipelineConfig
from custom_components.ha_ingestor.spool import Spool
from custom_components.ha_ingestor.stats import Stats
from custom_components.ha_ingestor.writer import Outcome, WriteResult
from tests.helpers import Hooks, accounted, async_wait_until, lines

HOUR = 3600.0
POLICY = BatchPolicy(batch_size=100, flush_interval=1.0, spacing=0.025)


def test_a_quiet_pipeline_writes_a_single_line_at_once() -> None:
    assert POLICY.write_due(1, oldest_age=0.0, since_request=HOUR, forced=False)


def test_right_after_a_request_lines_wait_for_the_spacing() -> None:
    assert not POLICY.write_due(5, oldest_age=0.0, since_request=0.01, forced=False)
    assert POLICY.wait(oldest_age=0.0, since_request=0.01) == pytest.approx(0.015)
    assert POLICY.write_due(5, oldest_age=0.0, since_request=0.025, forced=False)


def test_a_full_batch_the_flush_interval_or_a_flush_do_not_wait_for_the_spacing() -> None:
    assert POLICY.write_due(100, oldest_age=0.0, since_request=0.0, forced=False)
    assert POLICY.write_due(1, oldest_age=1.0, since_request=0.0, forced=False)
    assert POLICY.write_due(1, oldest_age=0.0, since_request=0.0, forced=True)
    assert not POLICY.write_due(0, oldest_age=HOUR, since_request=HOUR, forced=True)


def test_the_flush_interval_is_an_upper_bound_on_the_wait() -> None:
    slow = BatchPolicy(batch_size=100, flush_interval=0.2, spacing=10.0)
    assert slow.wait(oldest_age=0.15, since_request=0.0) == pytest.approx(0.05)


def test_while_blocked_the_queue_goes_to_disk_by_batch_not_by_line() -> None:
    assert not POLICY.spill_due(5, oldest_age=0.5, forced=False)
    assert POLICY.spill_due(100, oldest_age=0.0, forced=False)
    assert POLICY.spill_due(5, oldest_age=1.0, forced=False)
    assert POLICY.spill_due(5, oldest_age=0.0, forced=True)
    # ...and waits for the flush interval, not the spacing, before that.
    assert POLICY.spill_wait(oldest_age=0.25) == pytest.approx(0.75)
    assert POLICY.spill_wait(oldest_age=2.0) == 0.0


def test_request_size_is_what_is_queued_up_to_a_batch_and_more_when_behind() -> None:
    assert POLICY.request_size(1) == 1
    assert POLICY.request_size(150) == 100
    assert POLICY.request_size(200) == 200
    assert POLICY.request_size(10_000) == 500


class ScriptedWriter:
    """Answers 204 when the test lets it; records every request and the most in flight."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = 0
        self.most_in_flight = 0

    async def write_lines(self, batch: list[str]) -> WriteResult:
        self.requests.append(batch)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        return WriteResult(Outcome.OK, 204)


def start(tmp_path: Path, writer: ScriptedWriter, batch_size: int = 1000) -> Pipeline:
    p = Pipeline(
        writer,  # type: ignore[arg-type]
        Spool(tmp_path / "spool.db", 50_000_000, synchronous="NORMAL"),
        Stats(),
        PipelineConfig(batch_size=batch_size, flush_interval=HOUR),
        Hooks(),
        Backoff(initial=0.02, cap=0.1),
    )
    p.start(asyncio.get_running_loop().create_task)
    return p


def submit(p: Pipeline, data: list[str]) -> None:
    for line in data:
        p.stats.received += 1
        p.submit(line)


@pytest.mark.asyncio
async def test_one_event_on_a_quiet_pipeline_is_its_own_request(tmp_path: Path) -> None:
    writer = ScriptedWriter()
    p = start(tmp_path, writer)
    submit(p, lines(1))
    await async_wait_until(lambda: p.stats.written == 1, "the single event written")
    submit(p, lines(1, start=1))  # and the next one, after a pause, too
    await async_wait_until(lambda: p.stats.written == 2, "the second event written")
    assert writer.requests == [lines(1), lines(1, start=1)]
    await p.async_stop()


@pytest.mark.asyncio
async def test_what_arrives_during_a_request_goes_out_as_one_batch(tmp_path: Path) -> None:
    writer = ScriptedWriter()
    writer.gate.clear()  # the server takes its time
    p = start(tmp_path, writer)
    submit(p, lines(1))
    await async_wait_until(lambda: writer.requests, "the first request")
    submit(p, lines(2_999, start=1))  # a burst while it is on its way
    await asyncio.sleep(0.1)  # the spacing passes many times over: still one in flight
    assert len(writer.requests) == 1 and writer.in_flight == 1
    writer.gate.set()
    await async_wait_until(lambda: p.stats.written == 3_000, "all 3,000 written")
    # Behind by more than two batches: the rest went out in one request of up to 5 batches.
    assert [len(r) for r in writer.requests] == [1, 2_999]
    assert writer.most_in_flight == 1
    assert accounted(p) == 3_000 and p.pending == 0
    await p.async_stop()


@pytest.mark.asyncio
async def test_a_steady_trickle_is_written_without_waiting_for_a_full_batch(
    tmp_path: Path,
) -> None:
    writer = ScriptedWriter()
    p = start(tmp_path, writer)
    for i in range(20):
        submit(p, lines(5, start=i * 5))
        await async_wait_until(lambda n=i: p.stats.written == (n + 1) * 5, "the 5 lines written")
    assert sum(map(len, writer.requests)) == 100
    assert all(len(r) <= 5 for r in writer.requests)  # never held back for the batch size
    await p.async_stop()
