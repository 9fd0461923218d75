"""
Tests for the token bucket and the circuit breaker (fake clocks, no sleeps).
"""

from __future__ import annotations

import math
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_logging._engine.resilience import CircuitBreaker, CircuitState, TokenBucket
from tests._helpers import FakeClock


def test_bucket_default_burst_is_one_second_of_rate() -> None:
    """Without burst the capacity is ceil(rate), at least 1."""
    assert TokenBucket(10).burst == 10
    assert TokenBucket(2.5).burst == 3
    assert TokenBucket(0.1).burst == 1


@pytest.mark.parametrize("rate", [0, -1, math.nan, math.inf])
def test_bucket_rejects_non_positive_rate(rate: float) -> None:
    """A rate that is not a positive finite number is a ValueError."""
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate)


@pytest.mark.parametrize("burst", [0, -3])
def test_bucket_rejects_burst_below_one(burst: int) -> None:
    """A burst below 1 is a ValueError."""
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(5, burst)


def test_bucket_starts_full_and_then_refuses() -> None:
    """A fresh bucket grants exactly burst tokens at one instant."""
    bucket = TokenBucket(1, 3, clock=FakeClock())
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_at_rate() -> None:
    """Tokens come back at rate per second of clock time."""
    clock = FakeClock()
    bucket = TokenBucket(2, 2, clock=clock)
    assert bucket.try_acquire(2)
    clock.advance(0.4)
    assert not bucket.try_acquire()
    clock.advance(0.1)
    assert bucket.try_acquire()
    assert not bucket.try_acquire()


def test_bucket_never_holds_more_than_burst() -> None:
    """A long idle period refills to burst, not beyond."""
    clock = FakeClock()
    bucket = TokenBucket(100, 5, clock=clock)
    clock.advance(3600)
    assert sum(bucket.try_acquire() for _ in range(10)) == 5


def test_bucket_request_above_burst_is_never_granted() -> None:
    """Asking for more than the capacity fails and reports infinite wait."""
    bucket = TokenBucket(10, 4, clock=FakeClock())
    assert not bucket.try_acquire(5)
    assert bucket.time_until_available(5) == math.inf
    assert bucket.try_acquire(4)


def test_bucket_time_until_available() -> None:
    """The wait is the missing tokens divided by the rate, 0 when available."""
    clock = FakeClock()
    bucket = TokenBucket(4, 4, clock=clock)
    assert bucket.time_until_available(4) == 0.0
    assert bucket.try_acquire(4)
    assert bucket.time_until_available(2) == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.time_until_available(2) == 0.0


def test_bucket_rejects_non_positive_n() -> None:
    """n below 1 is a ValueError."""
    bucket = TokenBucket(1)
    with pytest.raises(ValueError, match="n must be"):
        bucket.try_acquire(0)
    with pytest.raises(ValueError, match="n must be"):
        bucket.time_until_available(0)


def test_bucket_clock_going_backwards_grants_nothing_twice() -> None:
    """A backward step adds no tokens, and the time is not counted again going forward."""
    clock = FakeClock()
    bucket = TokenBucket(1, 1, clock=clock)
    assert bucket.try_acquire()
    clock.advance(-3600)
    assert not bucket.try_acquire()
    clock.advance(3600)
    assert not bucket.try_acquire()
    clock.advance(1)
    assert bucket.try_acquire()


@pytest.mark.timeout(30)
def test_bucket_is_thread_safe() -> None:
    """Racing threads with a frozen clock share exactly burst tokens."""
    bucket = TokenBucket(1, 500, clock=FakeClock())
    granted = [0] * 4
    barrier = threading.Barrier(4)

    def take(i: int) -> None:
        barrier.wait()
        for _ in range(300):
            if bucket.try_acquire():
                granted[i] += 1

    threads = [threading.Thread(target=take, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 500


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.01, max_value=1e4),
    burst=st.integers(min_value=1, max_value=50),
    steps=st.lists(
        st.tuples(st.floats(min_value=-5.0, max_value=5.0), st.integers(min_value=1, max_value=5)),
        max_size=60,
    ),
)
def test_bucket_never_grants_more_than_burst_plus_rate_times_elapsed(
    rate: float, burst: int, steps: list[tuple[float, int]]
) -> None:
    """Over any run, tokens granted <= burst + rate * (forward clock progress)."""
    clock = FakeClock(0.0)
    bucket = TokenBucket(rate, burst, clock=clock)
    granted = 0
    high_water = 0.0
    for dt, n in steps:
        clock.advance(dt)
        high_water = max(high_water, clock.now)
        if bucket.try_acquire(n):
            granted += n
        assert granted <= burst + rate * high_water + 1e-6


def make_breaker(
    max_fails: int = 3, timeout: float = 10.0
) -> tuple[CircuitBreaker, FakeClock, list[tuple[CircuitState, CircuitState]]]:
    clock = FakeClock()
    changes: list[tuple[CircuitState, CircuitState]] = []
    breaker = CircuitBreaker(
        max_fails, timeout, clock=clock, on_change=lambda old, new: changes.append((old, new))
    )
    return breaker, clock, changes


def test_breaker_starts_closed_and_allows() -> None:
    """A new breaker is closed and allows calls."""
    breaker, _, changes = make_breaker()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    assert changes == []


def test_breaker_opens_after_max_consecutive_failures() -> None:
    """max_fails consecutive failures open the circuit and refuse calls."""
    breaker, _, changes = make_breaker(max_fails=3)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow()
    assert changes == [(CircuitState.CLOSED, CircuitState.OPEN)]


def test_breaker_success_resets_failure_count() -> None:
    """A success between failures resets the consecutive count."""
    breaker, _, _ = make_breaker(max_fails=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    assert breaker.consecutive_failures == 0
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


def test_breaker_half_opens_lazily_after_timeout() -> None:
    """Once the timeout has passed, reading state turns OPEN into HALF_OPEN."""
    breaker, clock, changes = make_breaker(max_fails=1, timeout=10)
    breaker.record_failure()
    clock.advance(9.99)
    assert breaker.state is CircuitState.OPEN
    clock.advance(0.01)
    assert breaker.state is CircuitState.HALF_OPEN
    assert changes[-1] == (CircuitState.OPEN, CircuitState.HALF_OPEN)


def test_breaker_half_open_allows_exactly_one_probe() -> None:
    """After the timeout allow() is True once, then False while the probe is out."""
    breaker, clock, _ = make_breaker(max_fails=1, timeout=5)
    breaker.record_failure()
    clock.advance(5)
    assert [breaker.allow() for _ in range(3)] == [True, False, False]
    assert breaker.state is CircuitState.HALF_OPEN


def test_breaker_probe_success_closes() -> None:
    """A successful probe closes the circuit."""
    breaker, clock, changes = make_breaker(max_fails=1, timeout=5)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    assert changes == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]


def test_breaker_probe_failure_reopens_with_fresh_timeout() -> None:
    """A failed probe re-opens the circuit for a whole new timeout."""
    breaker, clock, _ = make_breaker(max_fails=2, timeout=5)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(7)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    clock.advance(4.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_breaker_lost_probe_is_replaced_after_timeout() -> None:
    """A probe whose outcome is never reported does not block the circuit forever."""
    breaker, clock, _ = make_breaker(max_fails=1, timeout=5)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.allow()
    clock.advance(5)
    assert not breaker.allow()
    clock.advance(0.5)
    assert breaker.allow()


def test_breaker_late_outcomes_do_not_change_open_circuit() -> None:
    """Success or failure of calls allowed before opening leave an OPEN circuit as is."""
    breaker, clock, _ = make_breaker(max_fails=1, timeout=5)
    breaker.record_failure()
    clock.advance(3)
    breaker.record_success()
    assert breaker.state is CircuitState.OPEN
    breaker.record_failure()
    clock.advance(2)
    assert breaker.state is CircuitState.HALF_OPEN


def test_breaker_is_closed_tracks_state() -> None:
    """is_closed is True only while CLOSED (or disabled), without taking the lock."""
    breaker, clock, _ = make_breaker(max_fails=1, timeout=5)
    assert breaker.is_closed
    breaker.record_failure()
    assert not breaker.is_closed
    clock.advance(5)
    assert breaker.allow()
    assert not breaker.is_closed
    breaker.record_success()
    assert breaker.is_closed
    disabled, _, _ = make_breaker(max_fails=0)
    disabled.record_failure()
    assert disabled.is_closed


@pytest.mark.parametrize("max_fails", [0, -1])
def test_breaker_disabled_when_max_fails_not_positive(max_fails: int) -> None:
    """max_fails <= 0 never opens the circuit."""
    breaker, _, changes = make_breaker(max_fails=max_fails)
    for _ in range(100):
        breaker.record_failure()
    assert breaker.allow()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 100
    assert changes == []


def test_breaker_rejects_negative_timeout() -> None:
    """A negative timeout is a ValueError."""
    with pytest.raises(ValueError, match="timeout"):
        CircuitBreaker(3, -1)


def test_breaker_zero_timeout_probes_immediately() -> None:
    """With timeout 0 an opened circuit allows a probe at once."""
    breaker, _, _ = make_breaker(max_fails=1, timeout=0)
    breaker.record_failure()
    assert breaker.allow()
    assert not breaker.allow()


@pytest.mark.timeout(10)
def test_breaker_on_change_runs_outside_the_lock() -> None:
    """The callback may call back into the breaker without deadlocking."""
    clock = FakeClock()
    seen: list[CircuitState] = []
    breaker: CircuitBreaker

    def on_change(old: CircuitState, new: CircuitState) -> None:
        seen.append(breaker.state)
        breaker.allow()

    breaker = CircuitBreaker(1, 5, clock=clock, on_change=on_change)
    breaker.record_failure()
    assert seen == [CircuitState.OPEN]


def test_breaker_on_change_error_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """A raising callback is logged to audit_logging and the state still changes."""

    def on_change(old: CircuitState, new: CircuitState) -> None:
        raise RuntimeError("boom")

    breaker = CircuitBreaker(1, 5, clock=FakeClock(), on_change=on_change)
    with caplog.at_level("ERROR", logger="audit_logging"):
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert "on_change callback failed" in caplog.text


def test_breaker_ignores_wall_clock() -> None:
    """Only the injected clock matters: its value alone decides the timeout."""
    clock = FakeClock(50.0)
    breaker = CircuitBreaker(1, 30, clock=clock)
    breaker.record_failure()
    clock.advance(29)
    assert breaker.state is CircuitState.OPEN
    clock.advance(1)
    assert breaker.state is CircuitState.HALF_OPEN


@pytest.mark.timeout(20)
def test_fork_child_gets_fresh_locks() -> None:
    """A child forked while a breaker and bucket lock were held can still use them."""
    breaker = CircuitBreaker(1, 5, clock=FakeClock())
    bucket = TokenBucket(1, 1, clock=FakeClock())
    breaker._lock.acquire()
    bucket._lock.acquire()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                breaker.record_failure()
                code = 0 if breaker.state is CircuitState.OPEN and bucket.try_acquire() else 2
            finally:
                os._exit(code)
    finally:
        breaker._lock.release()
        bucket._lock.release()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert breaker.state is CircuitState.CLOSED
