"""
Closing under pressure: ``close(timeout)`` as a hard bound (stuck handlers,
handlers that never finish closing), the lifecycle order at both ends, the
recovery that starts with the bus, flush/close called from inside a handler,
and publishing from a signal handler.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, Event
from audit_logging.exceptions import SinkError
from tests._helpers import Errors, Recorder
from tests.engine._events import login

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


class Stuck:
    """A handler that blocks on its first event until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, evt: Event[Any]) -> None:
        self.entered.set()
        self.release.wait(30)


class NeverCloses:
    """A sink whose close() hangs (a database that never answers), holding events."""

    def __init__(self) -> None:
        self.held: list[Event[Any]] = []
        self.release = threading.Event()
        self.abandoned = False

    def write_event(self, evt: Event[Any]) -> None:
        self.held.append(evt)

    def close(self) -> None:
        self.release.wait(30)

    def abandon(self) -> list[Event[Any]]:
        self.abandoned = True
        held, self.held = self.held, []
        return held


def _replayed(spill_dir: Path, name: str) -> list[str]:
    rec = Recorder(name)
    with Bus(spillover_dir=spill_dir, lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, rec, name=name)
        bus.recover_spillover()
    return rec.ids


def test_close_timeout_spills_the_event_a_stuck_handler_holds(tmp_path: Path) -> None:
    """All 10 events survive a stuck handler: 9 queued and the one in its hands, reported."""
    stuck, errors = Stuck(), Errors()
    bus = Bus(spillover_dir=tmp_path / "s", lifecycle_events=False, error_func=errors)
    bus.subscribe(EVENT_ANY, stuck, name="sink")
    events = [login() for _ in range(10)]
    try:
        for evt in events:
            bus.publish(evt)
        assert stuck.entered.wait(10)
        started = time.monotonic()
        bus.close(timeout=0.5)
        took = time.monotonic() - started
    finally:
        stuck.release.set()
    assert took < 2.0
    assert sorted(_replayed(tmp_path / "s", "sink")) == sorted(e.id for e in events)
    (report,) = [str(e) for e in errors.of(SinkError) if "still handling" in str(e)]
    assert events[0].id in report


def test_close_timeout_bounds_a_handler_that_never_closes(tmp_path: Path) -> None:
    """close(timeout) returns on time; what the hung sink holds is spilled via abandon()."""
    sink, errors = NeverCloses(), Errors()
    bus = Bus(spillover_dir=tmp_path / "s", lifecycle_events=False, error_func=errors)
    bus.subscribe(EVENT_ANY, sink, name="db")
    events = [login() for _ in range(5)]
    try:
        for evt in events:
            bus.publish(evt)
        started = time.monotonic()
        bus.close(timeout=1.0)
        took = time.monotonic() - started
    finally:
        sink.release.set()
    assert took < 2.5
    assert sink.abandoned
    assert sorted(_replayed(tmp_path / "s", "db")) == sorted(e.id for e in events)
    assert any("did not close before the close timeout" in str(e) for e in errors.of(SinkError))


def test_close_timeout_bounds_a_sync_publisher_stuck_in_a_handler(tmp_path: Path) -> None:
    """On a sync bus, close from another thread does not wait forever for the stuck caller."""
    stuck = Stuck()
    bus = Bus(asynchronous=False, spillover_dir=tmp_path / "s", lifecycle_events=False)
    bus.subscribe(EVENT_ANY, stuck, name="sink")
    evt = login()
    publisher = threading.Thread(target=bus.publish, args=(evt,))
    publisher.start()
    try:
        assert stuck.entered.wait(10)
        started = time.monotonic()
        bus.close(timeout=0.5)
        assert time.monotonic() - started < 2.0
    finally:
        stuck.release.set()
        publisher.join(10)
    assert _replayed(tmp_path / "s", "sink") == [evt.id]


def test_bus_started_sorts_before_the_first_event() -> None:
    """audit_bus_started is built with the bus: its id and time precede the first event's."""
    rec = Recorder()
    with Bus(asynchronous=False) as bus:
        bus.subscribe(EVENT_ANY, rec)
        evt = login()
        bus.publish(evt)
    started, first = rec.events[0], rec.events[1]
    assert started.type == "audit_bus_started"
    assert first.id == evt.id
    assert started.id < first.id
    assert started.time <= first.time


@pytest.mark.parametrize("asynchronous", [True, False])
def test_bus_stopped_is_last_with_the_counts_after_the_drain(asynchronous: bool) -> None:
    """audit_bus_stopped comes after every event and counts them as delivered."""
    rec = Recorder()
    gate = threading.Event()

    def slow(evt: Event[Any]) -> None:
        gate.wait(0.001)
        rec(evt)

    bus = Bus(asynchronous=asynchronous)
    bus.subscribe(EVENT_ANY, slow, name="slow")
    for _ in range(20):
        bus.publish(login())
    bus.close(timeout=20)
    types = [e.type for e in rec.events]
    assert types[0] == "audit_bus_started"
    assert types[-1] == "audit_bus_stopped"
    assert types.count("auth_login") == 20
    counts = rec.events[-1].payload
    assert counts["published"] == 21  # the start and 20 events
    assert counts["delivered"] == 21
    assert counts["dropped"] == {}


def test_recover_interval_runs_from_construction(tmp_path: Path) -> None:
    """A restarted service that only recovers (never publishes) replays its spill."""
    spill = tmp_path / "s"
    stuck = Stuck()
    first = Bus(spillover_dir=spill, lifecycle_events=False, buffer_size=1, worker_count=1)
    first.subscribe(EVENT_ANY, stuck, name="sink")
    events = [login() for _ in range(5)]
    for evt in events:
        first.publish(evt)
    first.close(timeout=0.2)
    stuck.release.set()
    rec = Recorder("sink")
    with Bus(spillover_dir=spill, lifecycle_events=False, recover_interval=0.1) as again:
        again.subscribe(EVENT_ANY, rec, name="sink")
        assert rec.wait_for(5, timeout=20)
    assert sorted(rec.ids) == sorted(e.id for e in events)


@pytest.mark.parametrize("asynchronous", [True, False])
def test_flush_from_inside_a_handler_returns_false_at_once(asynchronous: bool) -> None:
    """A handler calling bus.flush() would wait for itself: it gets False instead."""
    results: list[bool] = []
    with Bus(asynchronous=asynchronous, lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, lambda evt: results.append(bus.flush(timeout=30)), name="h")
        started = time.monotonic()
        bus.publish(login())
        assert bus.flush(10)
        assert time.monotonic() - started < 5
    assert results == [False]


@pytest.mark.parametrize("asynchronous", [True, False])
def test_close_from_inside_a_handler_returns_and_closes_after(asynchronous: bool) -> None:
    """A handler closing its own bus returns at once; the close completes after it."""
    rec = Recorder()
    bus = Bus(asynchronous=asynchronous)

    def closer(evt: Event[Any]) -> None:
        if evt.type == "auth_login":
            bus.close(timeout=10)
            rec(evt)

    bus.subscribe(EVENT_ANY, closer, name="closer")
    bus.subscribe(EVENT_ANY, rec, name="rec")
    bus.publish(login())
    assert rec.wait_for(2, timeout=10)  # the closer returned
    bus.close(10)  # waits for the close the handler started
    assert bus.closed
    assert rec.events[-1].type == "audit_bus_stopped"
    assert bus.publish(login()) is Delivery.DROPPED


SIGNAL_CHILD = textwrap.dedent(
    """
    import signal, sys, tempfile
    from prometheus_client import CollectorRegistry
    from audit_logging.bus import Bus
    from audit_logging.events import new_event
    from audit_logging.sinks.file import RotatingJSONFileHandler

    tmp = tempfile.mkdtemp()
    bus = Bus(asynchronous=sys.argv[1] == "async", spillover_dir=tmp + "/spill",
              metrics_registry=CollectorRegistry(), lifecycle_events=False, buffer_size=100_000)
    sink = RotatingJSONFileHandler(tmp + "/audit.jsonl")
    bus.subscribe("*", sink, name="file")
    fired = []

    def failing(evt):
        raise OSError("always down")  # every copy is spilled for it: the spill lock

    bus.subscribe("*", failing, name="down")

    def on_alarm(signum, frame):
        fired.append(bus.publish(new_event("signal_seen", "child", {"n": len(fired)})))

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
    for i in range(int(sys.argv[2])):
        bus.publish(new_event("work", "child", {"i": i}))
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    bus.close(20)
    sink.close()
    lines = open(tmp + "/audit.jsonl").read().count("\\n")
    print(len(fired), lines)
    """
)


def _not_handler_noise(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if "always down" not in line)[-3000:]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_publishing_from_a_signal_handler_never_deadlocks(mode: str) -> None:
    """SIGALRM every 0.2 ms publishes while the main thread publishes: no hang, nothing lost."""
    n = 3000
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_CHILD, mode, str(n)],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stdout, _not_handler_noise(done.stderr))
    fired, lines = (int(x) for x in done.stdout.split())
    assert fired > 10
    assert lines == n + fired
