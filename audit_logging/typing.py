"""
Type aliases and protocols shared by the core and the sinks.

These are the seams of the package: the bus depends only on these shapes, and
sinks, transports, metrics and spill back-ends implement them without
importing the bus.
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
    "ErrorFunc",
    "EventSink",
    "FailedEventsCallback",
    "Handler",
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
    What the bus reports about itself [Go: BusMetrics].
    """

    def event_published(self, event_type: str) -> None: ...

    def event_dropped(self, event_type: str, reason: str = "") -> None: ...

    def handler_latency(self, event_type: str, seconds: float) -> None: ...


@runtime_checkable
class Transport(Protocol):
    """
    Carries every accepted event to another process (e.g. Kafka) [Go: Transport].
    """

    def start(self) -> None: ...

    def send(self, evt: Event[Any]) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class SpillHandler(Protocol):
    """
    Where events go that cannot be delivered now [Go: WithSpilloverHandler].
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
class BatchingSink(EventSink, Protocol):
    """
    A sink that stores events later (in batches) and hands back what it could not store.

    The bus calls ``set_failure_callback`` at subscription; the sink calls the
    callback from its own thread with the events a batch failed to store after
    its retries, and the bus spills them for that subscription.
    """

    def set_failure_callback(self, callback: FailedEventsCallback | None) -> None: ...
