"""
Handing copies to subscriptions: sync and async, isolation, breakers, spilling
and dropping copies, batching sinks' hand-backs, delivery metrics.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.exceptions import (
    AuditError,
    CircuitOpenError,
    PublishTimeoutError,
    SinkError,
)
from audit_logging.spillover import SpillError
from tests._helpers import Errors, FakeClock, Recorder
from tests.engine._events import login

pytestmark = pytest.mark.timeout(120)


def test_sync_mode_runs_handlers_in_the_caller(buses):
    """In sync mode the handler runs in the publishing thread and the outcome is DELIVERED."""
    bus = buses(asynchronous=False)
    rec = Recorder()
    bus.subscribe(EVENT_ANY, rec)
    assert bus.publish(login()) is Delivery.DELIVERED
    assert rec.threads == [threading.get_ident()]


def test_async_publish_queues_and_flush_delivers(buses):
    """An async publish returns QUEUED at once; flush() returns after delivery in a worker."""
    bus = buses()
    rec = Recorder()
    bus.subscribe("auth_login", rec)
    evt = login()
    assert bus.publish(evt) is Delivery.QUEUED
    assert bus.flush(timeout=10)
    assert rec.ids == [evt.id]
    assert rec.threads[0] != threading.get_ident()


def test_full_backlog_spills_only_that_subscription_and_replays_to_it_alone(buses, tmp_path):
    """Copies past a subscription's backlog are spilled for it and replayed to it only."""
    bus = buses(buffer_size=10, worker_count=2, spillover_dir=tmp_path / "spill")
    release = threading.Event()
    slow = Recorder("slow")
    fast = Recorder("fast")

    def slow_handler(evt: Event[Any]) -> None:
        release.wait(10)
        slow(evt)

    bus.subscribe(EVENT_ANY, slow_handler, name="slow")
    bus.subscribe(EVENT_ANY, fast, name="fast")
    events = [login(f"u{i}") for i in range(100)]
    outcomes = [bus.publish(e) for e in events]
    assert Delivery.SPILLED in outcomes
    release.set()
    assert bus.flush(timeout=10)
    bus.recover_spillover()
    assert bus.flush(timeout=10)
    expected = sorted(e.id for e in events)
    # each subscription got every event exactly once: its own spilled copies and no one else's
    assert sorted(slow.ids) == expected
    assert sorted(fast.ids) == expected


def test_raising_handler_is_isolated_and_reported(buses):
    """A raising handler does not stop the next one; error_func gets the exception and event."""
    errors = Errors()
    bus = buses(asynchronous=False, error_func=errors)
    rec = Recorder()

    def bad(evt: Event[Any]) -> None:
        raise RuntimeError("sink exploded")

    bus.subscribe(EVENT_ANY, bad, name="bad")
    bus.subscribe(EVENT_ANY, rec, name="good")
    evt = login()
    assert bus.publish(evt) is Delivery.DROPPED
    assert rec.ids == [evt.id]
    runtime = [(e, ev) for e, ev in errors.calls if isinstance(e, RuntimeError)]
    assert runtime
    assert runtime[0][1].id == evt.id


def test_raising_handler_never_kills_a_worker(buses):
    """After many handler failures in async mode, the workers still deliver."""
    bus = buses(worker_count=1, error_func=Errors(), circuit_max_fails=0)
    rec = Recorder()
    bus.subscribe(EVENT_ANY, lambda evt: 1 / 0, name="bad")
    bus.subscribe(EVENT_ANY, rec, name="good")
    for _ in range(50):
        bus.publish(login())
    assert bus.flush(timeout=10)
    assert len(rec.events) == 50


def test_circuit_opens_spills_probes_and_closes(buses, tmp_path):
    """Failures open the circuit; after the timeout one probe runs; success closes it."""
    clock = FakeClock()
    bus = buses(
        asynchronous=False,
        circuit_max_fails=3,
        circuit_timeout=30,
        clock=clock,
        spillover_dir=tmp_path / "spill",
        error_func=Errors(),
        lifecycle_events=True,
    )
    healthy = threading.Event()
    calls: list[str] = []

    def flaky(evt: Event[Any]) -> None:
        calls.append(evt.id)
        if not healthy.is_set():
            raise ConnectionError("down")

    lifecycle = Recorder()
    bus.subscribe("auth_login", flaky, name="flaky")
    bus.subscribe("audit_circuit_opened", lifecycle, name="l1")
    bus.subscribe("audit_circuit_closed", lifecycle, name="l2")
    for _ in range(3):
        assert bus.publish(login()) is Delivery.SPILLED
    assert len(calls) == 3
    assert bus.publish(login()) is Delivery.SPILLED  # open: not called
    assert len(calls) == 3
    assert [e.type for e in lifecycle.events] == ["audit_circuit_opened"]
    clock.advance(31)
    healthy.set()
    assert bus.publish(login()) is Delivery.DELIVERED  # the half-open probe
    assert len(calls) == 4
    assert bus.publish(login()) is Delivery.DELIVERED
    assert [e.type for e in lifecycle.events] == ["audit_circuit_opened", "audit_circuit_closed"]
    assert bus.recover_spillover() == 4
    assert len(calls) == 9


def test_one_breaker_per_subscription(buses):
    """A failing subscription's open circuit does not affect another subscription."""
    bus = buses(asynchronous=False, circuit_max_fails=2, error_func=Errors())
    rec = Recorder()
    bus.subscribe(EVENT_ANY, lambda e: 1 / 0, name="bad")
    bus.subscribe(EVENT_ANY, rec, name="good")
    for _ in range(10):
        bus.publish(login())
    assert len(rec.events) == 10


def test_batching_sink_failures_are_spilled_for_it(buses, tmp_path):
    """Events a batching sink hands back are spilled for that subscription and replayed to it."""
    bus = buses(asynchronous=False, spillover_dir=tmp_path / "s", error_func=Errors())

    class Batching:
        name = "batching"

        def __init__(self) -> None:
            self.callback: Any = None
            self.stored: list[str] = []
            self.pending: list[Event[Any]] = []
            self.down = True

        def set_failure_callback(self, cb: Any) -> None:
            self.callback = cb

        def write_event(self, evt: Event[Any]) -> None:
            self.pending.append(evt)

        def flush(self) -> None:
            batch, self.pending = self.pending, []
            if self.down:
                self.callback(batch, ConnectionError("db down"))
            else:
                self.stored.extend(e.id for e in batch)

    sink = Batching()
    bus.subscribe(EVENT_ANY, sink)
    events = [login() for _ in range(5)]
    for evt in events:
        bus.publish(evt)
    bus.flush()
    assert sink.stored == []
    sink.down = False
    assert bus.recover_spillover() == 5
    bus.flush()
    assert sorted(sink.stored) == sorted(e.id for e in events)


def test_spill_failure_drops_with_reason_and_never_raises(tmp_path):
    """When the spill target fails, publish returns DROPPED and reports, without raising."""
    errors = Errors()

    class Broken:
        def write(self, evt: Event[Any]) -> None:
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            pass

        def close(self) -> None:
            pass

    with Bus(
        spill_handler=Broken(),
        buffer_size=1,
        worker_count=1,
        lifecycle_events=False,
        error_func=errors,
    ) as bus:
        release = threading.Event()
        bus.subscribe(EVENT_ANY, lambda e: release.wait(5), name="stuck")
        outcomes = [bus.publish(new_event("x", "y", None)) for _ in range(20)]
        release.set()
        assert Delivery.DROPPED in outcomes
        assert bus.stats()["dropped"]["spill_failed"] >= 1
    assert errors.of(SpillError)


def test_prometheus_counts_delivered_spilled_and_queue_depth(tmp_path):
    """The bus reports deliveries, spills with their reason and the backlog depth."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    bus = Bus(
        metrics_registry=registry,
        lifecycle_events=False,
        buffer_size=1,
        worker_count=1,
        spillover_dir=tmp_path / "s",
    )
    release = threading.Event()
    bus.subscribe(EVENT_ANY, lambda e: release.wait(10), name="slow")
    outcomes = [bus.publish(login()) for _ in range(10)]
    release.set()
    bus.close()
    spilled = outcomes.count(Delivery.SPILLED)
    assert spilled >= 1
    labels = {"event_type": "auth_login", "reason": "queue_full"}
    assert registry.get_sample_value("audit_events_spilled_total", labels) == spilled
    delivered = registry.get_sample_value(
        "audit_events_delivered_total", {"event_type": "auth_login"}
    )
    assert delivered == 10 - spilled
    assert registry.get_sample_value("audit_queue_depth", {"subscription": "slow"}) == 0


def test_error_func_gets_every_dropped_copy_as_a_public_error(buses):
    """Circuit-open and full-backlog drops reach a custom error_func one by one, typed."""
    errors = Errors()
    clock = FakeClock()
    bus = buses(
        asynchronous=False, circuit_max_fails=1, circuit_timeout=60, clock=clock, error_func=errors
    )

    def broken(evt: Event[Any]) -> None:
        raise OSError("disk gone")

    bus.subscribe(EVENT_ANY, broken, name="broken")
    events = [login() for _ in range(4)]
    for evt in events:
        assert bus.publish(evt) is Delivery.DROPPED
    sink_errors = errors.of(SinkError)
    circuit = errors.of(CircuitOpenError)
    assert len(sink_errors) == 1
    assert len(circuit) == 3
    assert {getattr(e, "subscription", None) for e in circuit} == {"broken"}
    dropped_ids = [evt.id for exc, evt in errors.calls if isinstance(exc, AuditError) and evt]
    assert set(dropped_ids) == {evt.id for evt in events}


def test_full_backlog_drop_is_reported_as_publish_timeout(buses):
    """A copy dropped because its backlog is full arrives as PublishTimeoutError."""
    errors = Errors()
    gate = threading.Event()
    bus = buses(buffer_size=1, error_func=errors)
    bus.subscribe(EVENT_ANY, lambda evt: gate.wait(10), name="slow")
    outcomes = [bus.publish(login()) for _ in range(20)]
    gate.set()
    assert Delivery.DROPPED in outcomes
    assert len(errors.of(PublishTimeoutError)) == outcomes.count(Delivery.DROPPED)
    assert {getattr(e, "reason", None) for e in errors.of(PublishTimeoutError)} == {"queue_full"}
