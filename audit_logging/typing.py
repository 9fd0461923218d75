"""
Type aliases and protocols shared by the core and the sinks.

These are the seams of the package: the bus depends only on these shapes, and
sinks, transports, metrics and spill back-ends implement them without
importing the bus. The bus resolves a handler's kind against these protocols
once, when it subscribes it: whether it takes the event itself
(:class:`EventSink`), hands back events it failed to store
(:class:`HandsBackFailures`, :class:`BatchingSink`), buffers output that
``flush`` writes (:class:`Flushable`) and holds something ``close`` releases
(:class:`Closable`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from audit_logging._model.event import Event

__all__ = [
    "AccessControlFunc",
    "BatchingSink",
    "BusMetrics",
    "Closable",
    "ErrorFunc",
    "EventSink",
    "FailedEventsCallback",
    "Flushable",
    "Handler",
    "HandsBackFailures",
    "Sanitizer",
    "SpillHandler",
    "Transport",
]

Handler = Callable[["Event[Any]"], object]
"""A subscriber: called with each matching event; raising means failure."""

Sanitizer = Callable[[str, Any], Any]
"""Redacts one payload value: ``(key, value) -> new value``."""

AccessControlFunc = Callable[[Mapping[str, Any] | None], None]
"""Decides access to the history: returns to allow, raises AccessDeniedError to refuse."""

ErrorFunc = Callable[[BaseException, "Event[Any] | None"], None]
"""Receives every delivery problem with the event concerned (if any)."""

FailedEventsCallback = Callable[[Sequence["Event[Any]"], BaseException], None]
"""Given by the bus to a batching sink: hands back events the sink failed to store."""


@runtime_checkable
class BusMetrics(Protocol):
    """
    What the bus reports about itself: every accepted event, every drop with its reason,
    and how long handlers take.
    """

    def event_published(self, event_type: str) -> None: ...

    def event_dropped(self, event_type: str, reason: str = "") -> None: ...

    def handler_latency(self, event_type: str, seconds: float) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """
    Carries every accepted event to another process (e.g. Kafka).
    """

    def start(self) -> None: ...

    def send(self, evt: Event[Any]) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class SpillHandler(Protocol):
    """
    Where events go that cannot be delivered now (instead of the bus's own spill store).
    """

    def write(self, evt: Event[Any]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class EventSink(Protocol):
    """
    A handler the bus calls with the event itself; raising reports a failure to the bus.
    """

    def write_event(self, evt: Event[Any]) -> None: ...


@runtime_checkable
class HandsBackFailures(Protocol):
    """
    A sink or transport that stores events after the bus handed them over.

    Such a handler cannot report a failure by raising (the call that took the
    event has returned), so the bus gives it, at subscription, a callback to hand
    back the events it finally failed to store; the bus spills them for that
    subscription, so nothing accepted is lost silently.
    """

    def set_failure_callback(self, callback: FailedEventsCallback | None) -> None: ...


@runtime_checkable
class BatchingSink(EventSink, HandsBackFailures, Protocol):
    """
    A sink that stores events later (in batches) and hands back what it could not store.

    The bus calls ``set_failure_callback`` at subscription; the sink calls the
    callback from its own thread with the events a batch failed to store after
    its retries, and the bus spills them for that subscription.
    """


@runtime_checkable
class Flushable(Protocol):
    """
    A handler holding output in memory: ``flush`` writes it out.

    The bus flushes it in :meth:`Bus.flush` (so rows and lines are visible when
    that returns) and before a spill replay moves its checkpoint past events the
    handler accepted, so a crash cannot lose them.
    """

    def flush(self) -> None: ...


@runtime_checkable
class Closable(Protocol):
    """
    A handler holding resources (files, connections, threads) that ``close`` releases.

    The bus closes it once, after delivering everything accepted.
    """

    def close(self) -> None: ...
