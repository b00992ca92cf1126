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


def test_stored_counters_round_trip_and_reconcile_with_the_spool() -> None:
    stats = Stats(received=100, written=60, filtered=10, dead_lettered=2)
    stats.dropped["queue_full"] += 3
    stats.filtered_reasons["filter"] += 10
    stored = stats.as_stored(pending=25)
    assert stored["received"] == 60 + 25 + 10 + 2 + 3
    clean = Stats.restore(stored, pending_now=25)  # a clean stop: the spool holds what was pending
    assert (clean.received, clean.written, clean.dropped_total) == (100, 60, 3)
    assert clean.filtered_reasons["filter"] == 10
    # After a crash the spool differs from the last save: the identity is restored either way.
    for pending_now in (40, 5):
        crashed = Stats.restore(stored, pending_now)
        assert crashed.received == (
            crashed.written
            + pending_now
            + crashed.filtered
            + crashed.dead_lettered
            + crashed.dropped_total
        )
    assert Stats.restore(stored, 5).dropped["unclean_shutdown"] == 20
    # No stored counters (first start): a spool left from before counts as received.
    assert Stats.restore(None, pending_now=7).received == 7


def test_rate_holds_when_the_sampling_timer_fires_a_little_late() -> None:
    """The stats coordinator samples every 30 s, a few ms late each time: the oldest sample
    was dropped as soon as it was over 60 s old, so half a minute's count was divided by a
    minute and a steady 100 a minute read 50."""
    stats = Stats()
    t = 1000.0
    stats.events_per_minute(t)
    rates = []
    for _ in range(10):
        t += 30.002
        stats.received += 50
        rates.append(stats.events_per_minute(t))
    assert all(abs(rate - 100.0) < 0.1 for rate in rates[1:])
