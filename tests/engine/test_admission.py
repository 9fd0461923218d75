"""
The admission stages of publish, in order: closed, shape, schema, sampling,
redaction, size, rate limit (and the threads started by the first publish).
"""

from __future__ import annotations

import logging
import threading

import pytest

from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, new_event
from audit_logging.exceptions import (
    BusClosedError,
    RateLimitExceededError,
    SchemaValidationError,
)
from tests._helpers import Errors, FakeClock, Recorder
from tests.engine._events import login

pytestmark = pytest.mark.timeout(60)


def test_publish_after_close_is_dropped_and_reported(buses):
    """After close, publish returns DROPPED and error_func hears BusClosedError."""
    errors = Errors()
    bus = buses(error_func=errors)
    bus.close()
    assert bus.publish(login()) is Delivery.DROPPED
    assert errors.of(BusClosedError)


def test_not_an_event_is_rejected(buses):
    """Publishing something that is not an Event is REJECTED, not raised."""
    errors = Errors()
    bus = buses(error_func=errors)
    assert bus.publish({"type": "x"}) is Delivery.REJECTED  # type: ignore[arg-type]
    assert errors.of(TypeError)


def test_schema_violation_is_rejected_everywhere(buses):
    """An invalid payload reaches no handler nor history; error_func gets the schema error."""
    errors = Errors()
    bus = buses(asynchronous=False, error_func=errors)
    rec = Recorder()
    bus.subscribe(EVENT_ANY, rec)
    assert bus.publish(new_event("auth_login", "api", {"user": "x"})) is Delivery.REJECTED
    assert rec.events == []
    assert bus.history({"role": "admin"}) == []
    (err,) = errors.of(SchemaValidationError)
    assert "auth_login" in str(err)
    assert "user_id" in str(err)


def test_sampling(buses):
    """sample_rate 0 samples everything out; set_sample_rate validates its range."""
    bus = buses(asynchronous=False)
    rec = Recorder()
    bus.subscribe(EVENT_ANY, rec)
    bus.set_sample_rate(0.0)
    assert bus.publish(login()) is Delivery.SAMPLED_OUT
    bus.set_sample_rate(1.0)
    assert bus.publish(login()) is Delivery.DELIVERED
    assert len(rec.events) == 1
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="sample rate"):
            bus.set_sample_rate(bad)


def test_sanitized_before_handlers_and_history(buses):
    """Handlers and history only see redacted payloads."""
    bus = buses(asynchronous=False)
    rec = Recorder()
    bus.subscribe(EVENT_ANY, rec)
    bus.publish(new_event("auth_register", "api", {"user_id": "u", "email": "user@example.com"}))
    bus.publish(new_event("custom", "api", {"password": "hunter2", "nested": {"token": "t0k"}}))
    text = repr([e.payload for e in rec.events]) + repr(
        [e.payload for e in bus.history({"role": "admin"})]
    )
    assert "user@example.com" not in text
    assert "hunter2" not in text
    assert "t0k" not in text
    assert rec.events[0].payload["email"] == "u****@example.com"


def test_non_latin_text_round_trips(buses):
    """Non-Latin payloads reach handlers unchanged."""
    bus = buses(asynchronous=False)
    rec = Recorder()
    bus.subscribe(EVENT_ANY, rec)
    text = "こんにちは, 世界! مرحبا 🎉"
    bus.publish(new_event("custom", "api", {"text": text}))
    assert rec.events[0].payload["text"] == text


def test_max_event_bytes_rejects_oversize(buses):
    """An event whose JSON exceeds max_event_bytes is REJECTED and reported."""
    errors = Errors()
    bus = buses(max_event_bytes=1000, error_func=errors)
    assert bus.publish(new_event("custom", "x", {"blob": "a" * 2000})) is Delivery.REJECTED
    assert errors.calls


def test_rate_limit_spills_and_debounced_retry_delivers(buses, tmp_path):
    """Events over the rate limit are spilled, then replayed once tokens are back."""
    bus = buses(rate_limit=1000, rate_burst=5, spillover_dir=tmp_path / "s")
    rec = Recorder()
    bus.subscribe(EVENT_ANY, rec)
    outcomes = [bus.publish(login()) for _ in range(50)]
    assert outcomes.count(Delivery.SPILLED) >= 1
    assert rec.wait_for(50, timeout=15)
    assert len(set(rec.ids)) == 50


def test_rate_limit_without_spill_drops_and_counts(buses):
    """Without spill, events over the rate limit are DROPPED, counted and reported."""
    errors = Errors()
    clock = FakeClock()
    bus = buses(rate_limit=2, rate_burst=2, clock=clock, error_func=errors)
    bus.subscribe(EVENT_ANY, Recorder())
    outcomes = [bus.publish(login()) for _ in range(5)]
    assert outcomes == [Delivery.QUEUED] * 2 + [Delivery.DROPPED] * 3
    assert bus.stats()["dropped"]["rate_limited"] == 3
    # A custom error_func sees every drop, with its event and the public error type.
    dropped = errors.of(RateLimitExceededError)
    assert len(dropped) == 3
    assert all(evt is not None and evt.type == "auth_login" for _, evt in errors.calls)
    assert {getattr(exc, "reason", None) for exc in dropped} == {"rate_limited"}


def test_default_reporter_throttles_a_burst_of_drops(buses, caplog):
    """The default (logging) reporter logs one line per burst; the counts keep the rest."""
    bus = buses(rate_limit=2, rate_burst=2, clock=FakeClock())
    bus.subscribe(EVENT_ANY, Recorder())
    with caplog.at_level(logging.ERROR, logger="audit_logging"):
        for _ in range(50):
            bus.publish(login())
    lines = [r.getMessage() for r in caplog.records if "rate_limited" in r.getMessage()]
    assert len(lines) == 1
    assert "RateLimitExceededError" in lines[0]
    assert bus.stats()["dropped"]["rate_limited"] == 48


def test_threads_start_at_first_publish_not_at_subscription():
    """Subscribing starts no thread (dictConfig subscribes under logging's lock)."""
    before = set(threading.enumerate())
    bus = Bus(lifecycle_events=False)
    try:
        bus.subscribe(EVENT_ANY, Recorder())
        new = set(threading.enumerate()) - before
        assert not any(t.name.startswith("audit-bus") for t in new)
        bus.publish(login())
        new = set(threading.enumerate()) - before
        assert any(t.name.startswith("audit-bus-worker") for t in new)
    finally:
        bus.close()


def test_a_chain_of_deferred_publishes_is_drained_in_a_loop_not_by_recursion() -> None:
    """Each deferred event re-entering the bus (as a signal storm does) must not nest:
    5 000 deferrals in a chain drained by one loop, none lost, no RecursionError."""
    from audit_logging import EVENT_ANY, Bus, new_event

    seen: list[int] = []
    with Bus(asynchronous=False, lifecycle_events=False, history_cap=0) as bus:

        def relay(evt) -> None:
            n = evt.payload["n"]
            seen.append(n)
            if n < 5_000:  # re-enters the bus in the main thread: deferred
                bus.publish(new_event("chain", "t", {"n": n + 1}))

        bus.subscribe(EVENT_ANY, relay, name="relay")
        bus.publish(new_event("chain", "t", {"n": 0}))
    assert seen == list(range(5_001))
