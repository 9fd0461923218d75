"""
Small helpers shared by the tests (not fixtures: plain classes and functions).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, Event


class FakeClock:
    """
    A monotonic clock the test moves by hand.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """
    A thread-safe handler that records the events it receives.
    """

    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.events: list[Event[Any]] = []
        self.threads: list[int] = []
        self._lock = threading.Lock()
        self._waiters: list[tuple[int, threading.Event]] = []

    def __call__(self, evt: Event[Any]) -> None:
        with self._lock:
            self.events.append(evt)
            self.threads.append(threading.get_ident())
            n = len(self.events)
            for count, ready in self._waiters:
                if n >= count:
                    ready.set()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """
        Block until at least ``count`` events arrived (or the timeout passed).
        """
        ready = threading.Event()
        with self._lock:
            if len(self.events) >= count:
                return True
            self._waiters.append((count, ready))
        return ready.wait(timeout)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.events]

    def of_type(self, event_type: str) -> list[Event[Any]]:
        return [e for e in self.events if e.type == event_type]


class Errors:
    """
    An ``error_func`` that records what it is told.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[BaseException, Event[Any] | None]] = []
        self._lock = threading.Lock()

    def __call__(self, exc: BaseException, evt: Event[Any] | None) -> None:
        with self._lock:
            self.calls.append((exc, evt))

    def of(self, kind: type[BaseException]) -> list[BaseException]:
        return [exc for exc, _ in self.calls if isinstance(exc, kind)]


class HandedBack:
    """
    A failure callback as the bus gives a batching sink: records what the sink handed back.
    """

    def __init__(self) -> None:
        self.events: list[Event[Any]] = []
        self.errors: list[BaseException] = []

    def __call__(self, events: Sequence[Event[Any]], exc: BaseException) -> None:
        self.events.extend(events)
        self.errors.append(exc)


def make_bus(**config: Any) -> tuple[Bus, Recorder, Errors]:
    """
    A bus without lifecycle events, a recorder subscribed to everything, and its errors.
    """
    errors = Errors()
    recorder = Recorder()
    bus = Bus(lifecycle_events=False, error_func=errors, **config)
    bus.subscribe(EVENT_ANY, recorder, name="rec")
    return bus, recorder, errors


class UnreadableMapping(Mapping[str, Any]):
    """A mapping that lists a "role" key but raises when any key is read."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("unreadable")

    def __iter__(self) -> Iterator[str]:
        return iter(["role"])

    def __len__(self) -> int:
        return 1


SPAN = SpanContext(
    trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
    span_id=0x00F067AA0BA902B7,
    is_remote=False,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
)
"""A sampled span for events built outside a real trace."""


class Offset:
    """A clock the test moves forward (for circuit-breaker timeouts) on top of real time."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset
