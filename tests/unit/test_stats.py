"""The events-per-minute rate behind the diagnostic sensor."""

from __future__ import annotations

from custom_components.ha_ingestor.stats import Stats


def test_rate_is_per_minute_and_not_extrapolated_at_start() -> None:
    stats = Stats()
    assert stats.events_per_minute(now=0.0) == 0.0
    stats.received = 500  # a start-up burst in the first 5 s
    assert stats.events_per_minute(now=5.0) == 500.0  # not 6,000/min
    for second in range(10, 130, 5):  # then 10 events/s
        stats.received += 50
        rate = stats.events_per_minute(now=float(second))
    assert rate == 600.0  # the last minute only


def test_dropped_total() -> None:
    stats = Stats()
    stats.dropped["spool_full"] += 3
    stats.dropped["encode_error"] += 1
    assert stats.dropped_total == 4
