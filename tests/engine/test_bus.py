"""
The public Bus API: publish_with_timeout, close, the context manager, metrics
registries, the transport.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.exceptions import (
    BusClosedError,
    CircuitOpenError,
    PublishTimeoutError,
    RateLimitExceededError,
)
from tests._helpers import Errors, FakeClock, Recorder
from tests.engine._events import login

pytestmark = pytest.mark.timeout(60)


def test_publish_with_timeout_raises_when_no_room(buses):
    """publish_with_timeout waits for room, then spills/drops and raises PublishTimeoutError."""
    bus = buses(buffer_size=1, worker_count=1, error_func=Errors())
    release = threading.Event()
    bus.subscribe(EVENT_ANY, lambda e: release.wait(10), name="stuck")
    bus.publish(login())
    bus.flush(timeout=0.2)  # the worker now holds the first event
    bus.publish(login())  # fills the backlog
    try:
        with pytest.raises(PublishTimeoutError):
            bus.publish_with_timeout(login(), 0.05)
    finally:
        release.set()


def test_publish_with_timeout_succeeds_when_room_frees(buses):
    """publish_with_timeout returns QUEUED when room appears within the timeout."""
    bus = buses(buffer_size=1, worker_count=1)
    rec = Recorder()
    bus.subscribe(EVENT_ANY, rec)
    for _ in range(20):
        assert bus.publish_with_timeout(login(), 5) is Delivery.QUEUED
    assert bus.flush(timeout=5)
    assert len(rec.events) == 20


def test_publish_with_timeout_rate_limit_and_closed(buses):
    """publish_with_timeout raises RateLimitExceededError and BusClosedError."""
    clock = FakeClock()
    bus = buses(rate_limit=1, rate_burst=1, clock=clock, error_func=Errors())
    bus.subscribe(EVENT_ANY, Recorder())
    assert bus.publish_with_timeout(login(), 1) is Delivery.QUEUED
    with pytest.raises(RateLimitExceededError):
        bus.publish_with_timeout(login(), 1)
    bus.close()
    with pytest.raises(BusClosedError):
        bus.publish_with_timeout(login(), 1)


def test_publish_with_timeout_circuit_open(buses):
    """publish_with_timeout raises CircuitOpenError when a matching circuit is open."""
    bus = buses(asynchronous=False, circuit_max_fails=1, error_func=Errors())
    bus.subscribe(EVENT_ANY, lambda e: 1 / 0, name="bad")
    bus.publish(login())
    with pytest.raises(CircuitOpenError):
        bus.publish_with_timeout(login(), 1)


def test_close_drains_everything_accepted(buses):
    """close() returns after every queued event was delivered."""
    # The backlog holds every event even if the worker is starved on a loaded machine.
    bus = buses(worker_count=2, buffer_size=10_000)
    rec = Recorder()
    bus.subscribe(EVENT_ANY, rec)
    outcomes = {bus.publish(login()) for _ in range(2000)}
    bus.close()
    assert outcomes == {Delivery.QUEUED}
    assert len(rec.events) == 2000


def test_close_from_ten_threads_while_publishing(buses):
    """Ten concurrent close() calls while four threads publish: no error, nothing lost."""
    bus = buses(worker_count=4, error_func=Errors(), buffer_size=1_000_000)
    rec = Recorder()
    bus.subscribe(EVENT_ANY, rec)
    outcomes: list[Delivery] = []
    lock = threading.Lock()
    baseline = threading.active_count()

    def publisher() -> None:
        local = [bus.publish(login()) for _ in range(2000)]
        with lock:
            outcomes.extend(local)

    pubs = [threading.Thread(target=publisher) for _ in range(4)]
    closers = [threading.Thread(target=bus.close) for _ in range(10)]
    for t in pubs + closers:
        t.start()
    for t in pubs + closers:
        t.join(30)
    bus.close()
    assert len(rec.events) == outcomes.count(Delivery.QUEUED)
    assert set(outcomes) <= {Delivery.QUEUED, Delivery.DROPPED}
    assert threading.active_count() <= baseline


def test_close_closes_sinks_once_and_is_idempotent(buses):
    """close() flushes and closes subscribed handlers once; a second close does nothing."""
    bus = buses()
    closed: list[int] = []

    class Sink(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            pass

        def close(self) -> None:
            closed.append(1)
            super().close()

    bus.subscribe(EVENT_ANY, Sink())
    bus.close()
    bus.close()
    assert closed == [1]


def test_context_manager_closes(buses):
    """`with Bus() as bus` closes the bus at the end of the block."""
    rec = Recorder()
    with Bus(lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, rec)
        bus.publish(login())
    assert bus.closed
    assert len(rec.events) == 1


def test_metrics_per_registry_and_drop_reasons():
    """Two buses on two registries count separately; two on one registry do not raise."""
    from prometheus_client import CollectorRegistry

    r1, r2 = CollectorRegistry(), CollectorRegistry()
    b1 = Bus(metrics_registry=r1, asynchronous=False, lifecycle_events=False)
    b2 = Bus(metrics_registry=r2, asynchronous=False, lifecycle_events=False)
    b3 = Bus(metrics_registry=r2, asynchronous=False, lifecycle_events=False)
    try:
        b1.subscribe(EVENT_ANY, Recorder())
        b1.publish(login())
        b2.publish(login())
        b2.publish(login())
        b3.publish(new_event("auth_login", "api", {}))
        labels = {"event_type": "auth_login"}
        assert r1.get_sample_value("audit_events_published_total", labels) == 1
        assert r2.get_sample_value("audit_events_published_total", labels) == 2
        dropped = {"event_type": "auth_login", "reason": "schema"}
        assert r2.get_sample_value("audit_events_dropped_total", dropped) == 1
    finally:
        for b in (b1, b2, b3):
            b.close()


def test_transport_gets_every_event_and_is_flushed_and_closed():
    """A transport receives every accepted event; flush() and close() reach it."""

    class Memory:
        def __init__(self) -> None:
            self.sent: list[str] = []
            self.calls: list[str] = []
            self.callback: Any = None

        def start(self) -> None:
            self.calls.append("start")

        def send(self, evt: Event[Any]) -> None:
            self.sent.append(evt.id)

        def flush(self) -> None:
            self.calls.append("flush")

        def close(self) -> None:
            self.calls.append("close")

        def set_failure_callback(self, cb: Any) -> None:
            self.callback = cb

    transport = Memory()
    bus = Bus(transport=transport, lifecycle_events=False)
    evt = login()
    bus.publish(evt)
    assert bus.flush(10)
    assert transport.sent == [evt.id]
    assert transport.callback is not None  # async failures can come back to the bus
    bus.close()
    assert transport.calls[0] == "start"
    assert "flush" in transport.calls
    assert transport.calls[-1] == "close"
