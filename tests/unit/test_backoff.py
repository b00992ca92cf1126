"""Backoff policy and Retry-After parsing (no Home Assistant)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, strategies as st
import pytest

from custom_components.ha_ingestor.backoff import (
    DEFAULT_CAP,
    Backoff,
    parse_retry_after,
)

NOW = datetime(2026, 11, 27, 15, 0, 0, tzinfo=UTC)


def test_ceiling_doubles_from_initial_up_to_cap() -> None:
    backoff = Backoff(initial=1.0, cap=300.0, rand=lambda: 0.999999)
    delays = [backoff.next_delay() for _ in range(12)]
    expected = [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    assert delays == pytest.approx([e * 0.999999 for e in expected])
    assert backoff.attempts == 12


def test_full_jitter_uses_the_random_draw() -> None:
    draws = iter([0.0, 0.5, 0.25])
    backoff = Backoff(initial=2.0, cap=100.0, rand=lambda: next(draws))
    assert backoff.next_delay() == 0.0
    assert backoff.next_delay() == pytest.approx(2.0)  # 0.5 * 4
    assert backoff.next_delay() == pytest.approx(2.0)  # 0.25 * 8


def test_reset_starts_again_at_initial() -> None:
    backoff = Backoff(initial=1.0, cap=60.0, rand=lambda: 0.5)
    for _ in range(10):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay() == pytest.approx(0.5)


def test_retry_after_is_a_floor_limited_to_the_cap() -> None:
    backoff = Backoff(initial=1.0, cap=300.0, rand=lambda: 0.5)
    assert backoff.next_delay(retry_after=30.0) == 30.0
    assert backoff.next_delay(retry_after=0.1) == pytest.approx(1.0)  # jitter larger
    assert backoff.next_delay(retry_after=10_000.0) == 300.0
    assert backoff.next_delay(retry_after=-5.0) == pytest.approx(4.0)


def test_no_overflow_after_very_many_attempts() -> None:
    backoff = Backoff(rand=lambda: 0.999)
    for _ in range(5000):
        delay = backoff.next_delay()
    assert delay == pytest.approx(DEFAULT_CAP * 0.999)


def test_default_random_source_stays_in_bounds() -> None:
    backoff = Backoff(initial=1.0, cap=8.0)
    for attempt in range(50):
        ceiling = min(8.0, 2.0**attempt)
        assert 0.0 <= backoff.next_delay() <= ceiling


@pytest.mark.parametrize(
    ("initial", "cap", "multiplier"), [(0.0, 1.0, 2.0), (2.0, 1.0, 2.0), (1.0, 5.0, 0.5)]
)
def test_rejects_nonsense(initial: float, cap: float, multiplier: float) -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=initial, cap=cap, multiplier=multiplier)


@given(
    draws=st.lists(st.floats(min_value=0.0, max_value=1.0, exclude_max=True), min_size=1),
    retry_after=st.none() | st.floats(allow_nan=False, min_value=-1e9, max_value=1e9),
    initial=st.floats(min_value=0.01, max_value=10.0),
)
def test_delay_always_within_zero_and_cap(
    draws: list[float], retry_after: float | None, initial: float
) -> None:
    source = iter(draws)
    backoff = Backoff(initial=initial, cap=120.0, rand=lambda: next(source))
    for _ in draws:
        delay = backoff.next_delay(retry_after)
        assert 0.0 <= delay <= 120.0
        if retry_after is not None:
            assert delay >= min(max(retry_after, 0.0), 120.0)


# ---------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("  7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("+3", 3.0),
        ("86400", DEFAULT_CAP),
        ("9" * 400, DEFAULT_CAP),
    ],
)
def test_delta_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        "Fri, 27 Nov 2026 15:01:30 GMT",  # IMF-fixdate
        "Friday, 27-Nov-26 15:01:30 GMT",  # RFC 850
        "Fri Nov 27 15:01:30 2026",  # asctime, no zone: GMT
        "Fri, 27 Nov 2026 16:01:30 +0100",  # numeric zone (not HTTP, but unambiguous)
    ],
)
def test_http_date_forms(value: str) -> None:
    assert parse_retry_after(value, NOW) == pytest.approx(90.0)


def test_http_date_in_the_past_is_zero_and_far_future_is_capped() -> None:
    assert parse_retry_after("Thu, 26 Nov 2026 15:00:00 GMT", NOW) == 0.0
    assert parse_retry_after("Fri, 27 Nov 2026 18:00:00 GMT", NOW) == DEFAULT_CAP
    assert parse_retry_after("Fri, 27 Nov 2026 18:00:00 GMT", NOW, cap=1e9) == 3 * 3600.0


def test_now_in_another_zone_or_naive() -> None:
    date = "Fri, 27 Nov 2026 15:00:10 GMT"
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    assert parse_retry_after(date, tokyo) == pytest.approx(10.0)
    assert parse_retry_after(date, NOW.replace(tzinfo=None)) == pytest.approx(10.0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "1e3",
        "inf",
        "nan",
        "12 seconds",
        "0x10",
        "Fri, 32 Nov 2026 15:00:00 GMT",
        "Fri, 27 Nov 2026 25:00:00 GMT",
        "Fri, 27 Nov 99999 15:00:00 GMT",
        "1 2 3 4 5",
    ],
)
def test_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@given(st.text())
def test_never_raises_and_stays_in_range(value: str) -> None:
    result = parse_retry_after(value, NOW)
    assert result is None or 0.0 <= result <= DEFAULT_CAP
