"""Loss windows from counters (gaps.py, no Home Assistant)."""

from __future__ import annotations

from collections import Counter

from custom_components.ha_ingestor.gaps import (
    NOT_RUNNING,
    LossTracker,
    LossWindow,
    not_running_window,
    recovered_points,
)

MARGIN = 10.0


def test_old_drops_are_not_new_losses() -> None:
    tracker = LossTracker(margin=MARGIN)
    tracker.start(1000.0, Counter(spool_full=50, queue_full=3), spool_points=0)
    assert not tracker.observe(1010.0, Counter(spool_full=50, queue_full=3), spool_points=0)
    assert tracker.window is None


def test_drops_after_the_previous_runs_last_look_are_new_losses() -> None:
    """The spool dropped points while the entry stopped, after the tracker's last look: the
    counters restored at the next start hold them, and what it saw (stored) does not."""
    tracker = LossTracker(margin=MARGIN, spool_since=900.0)
    seen = {"spool_full": 50}  # stored by the previous run, without queue_full (older data)
    tracker.start(1000.0, Counter(spool_full=80, queue_full=3), spool_points=10, seen=seen)
    assert tracker.observe(1000.0, Counter(spool_full=80, queue_full=3), spool_points=10)
    assert tracker.window == LossWindow(900.0 - MARGIN, 1000.0, {"spool_full": 30})


def test_queue_full_lies_between_two_observations() -> None:
    tracker = LossTracker(margin=MARGIN)
    tracker.start(1000.0, Counter(), spool_points=0)
    assert tracker.observe(1010.0, Counter(queue_full=7), spool_points=0)
    assert tracker.window == LossWindow(1000.0 - MARGIN, 1010.0, {"queue_full": 7})


def test_spool_full_reaches_back_to_when_the_spool_was_last_empty() -> None:
    tracker = LossTracker(margin=MARGIN)
    tracker.start(1000.0, Counter(), spool_points=0)
    tracker.observe(1010.0, Counter(), spool_points=0)  # still empty at 1010
    tracker.observe(1020.0, Counter(), spool_points=500)  # outage: filling up
    tracker.observe(1030.0, Counter(), spool_points=900)
    assert tracker.observe(1040.0, Counter(spool_full=200), spool_points=900)
    assert tracker.window == LossWindow(1010.0 - MARGIN, 1040.0, {"spool_full": 200})
    # Further drops of the same outage widen the same window.
    assert tracker.observe(1050.0, Counter(spool_full=300), spool_points=900)
    assert tracker.window == LossWindow(1010.0 - MARGIN, 1050.0, {"spool_full": 300})


def test_spool_full_after_a_restart_without_a_known_empty_time_reaches_back_to_zero() -> None:
    tracker = LossTracker(margin=MARGIN)
    tracker.start(1000.0, Counter(), spool_points=400)  # spool_since not stored
    tracker.observe(1010.0, Counter(spool_full=1), spool_points=400)
    assert tracker.window is not None
    assert tracker.window.start == 0.0  # as far back as the recorder holds


def test_a_cancelled_repair_reopens_its_window_beside_new_losses() -> None:
    tracker = LossTracker(margin=MARGIN)
    tracker.add(2000.0, 2100.0, "queue_full", 4)
    tracker.reopen(LossWindow(1000.0, 1500.0, {"spool_full": 10, NOT_RUNNING: 0}))
    assert tracker.window == LossWindow(
        1000.0, 2100.0, {"queue_full": 4, "spool_full": 10, NOT_RUNNING: 0}
    )
    assert tracker.window.dropped == 14


def test_windows_survive_a_round_trip() -> None:
    window = LossWindow(1.5, 2.5, {"spool_full": 3})
    assert LossWindow.from_dict(window.as_dict()) == window
    assert LossWindow.from_dict(None) is None


def test_not_running_window() -> None:
    assert not_running_window(None, 100.0, MARGIN) is None  # first start ever
    assert not_running_window({"alive": 50.0, "stopped": 60.0}, 100.0, MARGIN) == (
        60.0,
        100.0,
        False,
    )
    disabled = {"alive": 50.0, "stopped": 60.0, "disabled": True}
    assert not_running_window(disabled, 100.0, MARGIN) == (60.0, 100.0, True)
    # A crash: no stop recorded, from the last sign of life (less what sat in memory).
    assert not_running_window({"alive": 50.0, "stopped": None}, 100.0, MARGIN) == (
        50.0 - MARGIN,
        100.0,
        False,
    )


def test_recovered_is_at_most_what_was_dropped() -> None:
    window = LossWindow(0.0, 1.0, {"spool_full": 30, "queue_full": 5, NOT_RUNNING: 0})
    assert recovered_points(window, 1000) == 35  # the window held more states than were lost
    assert recovered_points(window, 20) == 20  # the recorder no longer held them all
