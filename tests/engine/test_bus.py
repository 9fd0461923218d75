"""
Delivery behaviour of the bus: modes, order, isolation, breakers, limits, close.
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
    SchemaValidationError,
)
from tests._helpers import Errors, FakeClock, Recorder

pytestmark = pytest.mark.timeout(60)


def login(user: str = "u42") -> Event[Any]:
    return new_event("auth_login", "api", {"user_id": user})


@pytest.fixture
def buses():
    """Collects buses and closes them after the test."""
    made: list[Bus] = []

    def make(**kwargs: Any) -> Bus:
        kwargs.setdefault("lifecycle_events", False)
        bus = Bus(**kwargs)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        bus.close(timeout=5)


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


def test_subscription_by_type_only_gets_that_type(buses):
    """A subscription to one type does not receive other types."""
    bus = buses(asynchronous=False)
    rec = Recorder()
    bus.subscribe("auth_logout", rec)
    bus.publish(login())
    bus.publish(new_event("auth_logout", "api", {"user_id": "u"}))
    assert [e.type for e in rec.events] == ["auth_logout"]


def test_order_per_publishing_thread_with_eight_workers(buses):
    """Each handler sees every thread's events in publish order, with 8 workers and 4 threads."""
    bus = buses(worker_count=8, buffer_size=100_000)
    recs = [Recorder(f"r{i}") for i in range(3)]
    for rec in recs:
        bus.subscribe(EVENT_ANY, rec, name=rec.name)

    def publisher(tid: int) -> None:
        for seq in range(3000):
            bus.publish(new_event("seq", "t", {"tid": tid, "seq": seq}))

    threads = [threading.Thread(target=publisher, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bus.flush(timeout=30)
    for rec in recs:
        assert len(rec.events) == 12_000
        last: dict[int, int] = {}
        for evt in rec.events:
            tid, seq = evt.payload["tid"], evt.payload["seq"]
            assert seq == last.get(tid, -1) + 1
            last[tid] = seq


def test_stuck_handler_does_not_stop_another(buses):
    """A handler blocked on an event does not keep another subscription from receiving."""
    bus = buses(worker_count=2)
    release = threading.Event()
    bus.subscribe(EVENT_ANY, lambda evt: release.wait(10), name="stuck")
    fast = Recorder()
    bus.subscribe(EVENT_ANY, fast, name="fast")
    for _ in range(500):
        bus.publish(login())
    try:
        assert fast.wait_for(500, timeout=10)
    finally:
        release.set()
    assert bus.flush(timeout=10)


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


def test_logging_handler_subscriber_gets_records(buses):
    """A logging.Handler gets handle(record) with the event, mapped level and message."""
    bus = buses(asynchronous=False)
    got: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    handler = Capture(level=logging.WARNING)
    bus.subscribe(EVENT_ANY, handler)
    bus.publish(new_event("log_info", "app", {"message": "quiet", "fields": {}}))
    bus.publish(new_event("log_error", "app", {"message": "boom", "fields": {}, "error": "x"}))
    assert [r.getMessage() for r in got] == ["boom"]
    assert got[0].levelno == logging.ERROR
    assert got[0].audit_event.type == "log_error"


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
    assert len(errors.calls) == 1  # throttled: one report per burst


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


def test_not_an_event_is_rejected(buses):
    """Publishing something that is not an Event is REJECTED, not raised."""
    errors = Errors()
    bus = buses(error_func=errors)
    assert bus.publish({"type": "x"}) is Delivery.REJECTED  # type: ignore[arg-type]
    assert errors.of(TypeError)


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


def test_max_event_bytes_rejects_oversize(buses):
    """An event whose JSON exceeds max_event_bytes is REJECTED and reported."""
    errors = Errors()
    bus = buses(max_event_bytes=1000, error_func=errors)
    assert bus.publish(new_event("custom", "x", {"blob": "a" * 2000})) is Delivery.REJECTED
    assert errors.calls


def test_non_latin_text_round_trips(buses):
    """Non-Latin payloads reach handlers unchanged."""
    bus = buses(asynchronous=False)
    rec = Recorder()
    bus.subscribe(EVENT_ANY, rec)
    text = "こんにちは, 世界! مرحبا 🎉"
    bus.publish(new_event("custom", "api", {"text": text}))
    assert rec.events[0].payload["text"] == text


def test_unsubscribe_stops_delivery(buses):
    """After unsubscribe() the handler receives nothing new."""
    bus = buses(asynchronous=False)
    rec = Recorder()
    sub = bus.subscribe(EVENT_ANY, rec)
    bus.publish(login())
    sub.unsubscribe()
    bus.publish(login())
    assert len(rec.events) == 1


def test_subscription_names_are_unique(buses):
    """Default names are made unique; an explicit duplicate name is refused."""
    bus = buses()
    rec = Recorder("same")
    a = bus.subscribe(EVENT_ANY, rec)
    b = bus.subscribe(EVENT_ANY, rec)
    assert a.name == "same"
    assert b.name == "same#2"
    with pytest.raises(ValueError, match="already used"):
        bus.subscribe(EVENT_ANY, rec, name="same")


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


def test_publish_after_close_is_dropped_and_reported(buses):
    """After close, publish returns DROPPED and error_func hears BusClosedError."""
    errors = Errors()
    bus = buses(error_func=errors)
    bus.close()
    assert bus.publish(login()) is Delivery.DROPPED
    assert errors.of(BusClosedError)


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


def test_sixteen_threads_exactly_once(buses):
    """16 threads x 20k events with a counting handler: each event delivered exactly once."""
    bus = buses(worker_count=8, buffer_size=400_000)
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def count(evt: Event[Any]) -> None:
        with lock:
            counts[evt.id] = counts.get(evt.id, 0) + 1

    bus.subscribe(EVENT_ANY, count)
    outcomes: list[Delivery] = []

    def publisher() -> None:
        local = [bus.publish(new_event("n", "t", None)) for _ in range(20_000)]
        with lock:
            outcomes.extend(local)

    threads = [threading.Thread(target=publisher) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bus.flush(timeout=120)
    assert outcomes.count(Delivery.QUEUED) == 320_000
    assert len(counts) == 320_000
    assert set(counts.values()) == {1}


def test_lifecycle_events_are_published(tmp_path):
    """The bus audits its start, configuration changes, history access and stop."""
    rec = Recorder()
    bus = Bus(asynchronous=False)
    bus.subscribe(EVENT_ANY, rec)
    bus.set_sample_rate(0.5)
    bus.set_history_cap(10)
    bus.history({"role": "admin"})
    with pytest.raises(PermissionError):
        bus.history({"role": "guest"})
    bus.close()
    types = [e.type for e in rec.events]
    assert types[0] == "audit_bus_started"
    assert types.count("audit_config_changed") == 2
    accessed = rec.of_type("audit_history_accessed")
    assert [e.payload["granted"] for e in accessed] == [True, False]
    assert types[-1] == "audit_bus_stopped"
    assert all(e.source == "audit_logging.bus" for e in rec.events)


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


def test_every_sink_subscribed_before_the_first_event_sees_the_start():
    """audit_bus_started reaches all sinks subscribed before the first publish."""
    first, second = Recorder("a"), Recorder("b")
    with Bus(asynchronous=False) as bus:
        bus.subscribe(EVENT_ANY, first)
        bus.subscribe(EVENT_ANY, second)
        bus.publish(login())
    for rec in (first, second):
        assert [e.type for e in rec.events][:2] == ["audit_bus_started", "auth_login"]
        assert rec.events[-1].type == "audit_bus_stopped"


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
