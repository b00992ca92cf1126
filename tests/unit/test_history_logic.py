"""Backfill planning and the ha_statistics encoding: pure logic, no Home Assistant."""

from __future__ import annotations

import itertools

from custom_components.ha_ingestor.backfill_plan import (
    SLICE_MAX_SECONDS,
    SLICE_MIN_SECONDS,
    SLICE_TARGET_STATES,
    BackfillJob,
    JobStatus,
    next_slice_seconds,
)
from custom_components.ha_ingestor.statistics_points import statistics_lines


def test_job_walks_its_window_without_gap_or_overlap() -> None:
    job = BackfillJob(start=1000.0, end=100_000.0, entity_ids=["sensor.a"])
    covered: list[tuple[float, float]] = []
    while (window := job.next_slice()) is not None:
        covered.append(window)
        job.slice_done(window[1], states=5000)
    assert covered[0][0] == 1000.0
    assert covered[-1][1] == 100_000.0
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    assert job.percent == 100.0


def test_the_slice_read_ahead_is_the_one_the_checkpoint_leads_to() -> None:
    job = BackfillJob(start=0.0, end=50_000.0, entity_ids=["sensor.a"])
    window = job.next_slice()
    for states in itertools.cycle([0, 90_000, 20_000, 3]):
        assert window is not None
        ahead = job.slice_after(window[1], states)
        assert job.cursor == window[0]  # reading ahead does not move the checkpoint
        job.slice_done(window[1], states)
        assert ahead == job.next_slice()
        if ahead is None:
            break
        window = ahead
    assert job.cursor == 50_000.0


def test_checkpoint_round_trips_and_resumes_where_it_stopped() -> None:
    job = BackfillJob(start=0.0, end=86_400.0, entity_ids=["sensor.a", "light.b"])
    window = job.next_slice()
    assert window is not None
    job.slice_done(window[1], states=100)
    job.points_written = 100
    restored = BackfillJob.from_dict(job.as_dict())
    assert restored == job
    assert restored.next_slice() == (window[1], window[1] + restored.slice_seconds)
    assert 0 < restored.percent < 100
    assert restored.status is JobStatus.RUNNING
    cancelled = BackfillJob.from_dict({**job.as_dict(), "status": "cancelled", "unknown": 1})
    assert cancelled.status is JobStatus.CANCELLED


def test_slices_aim_at_the_target_and_stay_within_bounds() -> None:
    assert next_slice_seconds(3600, SLICE_TARGET_STATES) == 3600
    assert next_slice_seconds(3600, SLICE_TARGET_STATES * 2) == 1800
    assert next_slice_seconds(3600, 0) == 4 * 3600  # empty: grow, at most 4x a step
    assert next_slice_seconds(SLICE_MAX_SECONDS, 0) == SLICE_MAX_SECONDS
    assert next_slice_seconds(SLICE_MIN_SECONDS, 10**9) == SLICE_MIN_SECONDS


def test_statistics_lines_have_the_documented_schema() -> None:
    rows = {
        "sensor.energy": [
            {"start": 1_700_000_000.0, "end": 1_700_003_600.0, "state": 12.5, "sum": 3.25},
        ],
        "sensor.temp": [
            {"start": 1_700_000_000.0, "mean": 20.5, "min": 19.0, "max": 22.0, "sum": None},
        ],
        "energy:import, grid": [{"start": 1_700_003_600.0, "sum": 7}],
    }
    meta = {
        "sensor.energy": ("recorder", "kWh"),
        "sensor.temp": ("recorder", "°C"),
        "energy:import, grid": ("energy", "kWh"),
    }
    lines = statistics_lines(rows, meta, "hour")
    assert lines == [
        "ha_statistics,period=hour,source=recorder,statistic_id=sensor.energy,unit=kWh"
        " state=12.5,sum=3.25 1700000000000000",
        "ha_statistics,period=hour,source=recorder,statistic_id=sensor.temp,unit=°C"
        " mean=20.5,min=19.0,max=22.0 1700000000000000",
        "ha_statistics,period=hour,source=energy,statistic_id=energy:import\\,\\ grid,unit=kWh"
        " sum=7.0 1700003600000000",
    ]
