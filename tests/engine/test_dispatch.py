"""
The worker pool and its per-subscription backlogs: order, isolation, exactly once.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from audit_logging.bus import Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from tests._helpers import Recorder
from tests.engine._events import login

pytestmark = pytest.mark.timeout(60)


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


class CountingCondition(threading.Condition):
    """A real condition that counts the notify() calls each thread makes."""

    def __init__(self) -> None:
        super().__init__(threading.Lock())
        self.by_thread: dict[int, int] = {}

    def notify(self, n: int = 1) -> None:
        ident = threading.get_ident()
        self.by_thread[ident] = self.by_thread.get(ident, 0) + 1
        super().notify(n)


def test_a_steady_stream_wakes_no_worker_from_the_publisher(buses):
    """While events keep coming the publisher only appends (a worker polls): the publishing
    thread wakes a worker only after a pause longer than LINGER (issue 14: in an ASGI app
    that thread is the event loop). It made 587 notify() calls here before (two per event);
    a loaded machine that stalls this thread past LINGER lets a few through."""
    bus = buses(worker_count=4)
    pool = bus._deliverer.pool
    assert not pool._started  # the workers start at the first publish, on this condition
    cond = CountingCondition()
    pool._cond = cond
    recs = [Recorder(f"r{i}") for i in range(2)]
    for rec in recs:
        bus.subscribe(EVENT_ANY, rec, name=rec.name)
    bus.publish(login())
    assert all(rec.wait_for(1) for rec in recs)
    cond.by_thread.clear()
    for _ in range(300):
        bus.publish(login())
        threading.Event().wait(0.0005)  # a paced stream, as requests arrive
    assert all(rec.wait_for(301) for rec in recs)
    assert cond.by_thread.get(threading.get_ident(), 0) <= 15, cond.by_thread


def test_after_a_pause_the_publisher_wakes_a_worker(buses):
    """Past LINGER without deliveries the workers wait untimed and the publisher wakes one:
    an event after a pause is delivered at once, to every subscription."""
    from audit_logging._engine.dispatch import LINGER

    bus = buses(worker_count=2)
    recs = [Recorder(f"r{i}") for i in range(3)]
    for rec in recs:
        bus.subscribe(EVENT_ANY, rec, name=rec.name)
    for n in range(1, 4):
        bus.publish(login())
        assert all(rec.wait_for(n, timeout=2) for rec in recs)
        threading.Event().wait(LINGER * 3)
