"""
Subscriptions: who receives which events, and how each handler is called.

A handler's kind is resolved once, when it is subscribed, against the protocols
in :mod:`audit_logging.typing`, never per event:

- an :class:`~audit_logging.typing.EventSink` (the sinks) is called through
  ``write_event``, so its failures raise to the bus;
- any other ``logging.Handler`` gets ``handle(record)`` with a ``LogRecord``
  carrying the event as ``record.audit_event``, its own level and filters
  applying as they would under a logger;
- any other callable is called with the event (raising means failure).

A :class:`~audit_logging.typing.Flushable` handler is flushed by
:meth:`Subscription.flush_handler`, a :class:`~audit_logging.typing.Closable`
one closed by :meth:`Subscription.close_handler`, and one that
:class:`~audit_logging.typing.HandsBackFailures` is offered the bus's callback
(:attr:`Subscription.hands_back`).
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

from audit_logging._engine.resilience import CircuitBreaker
from audit_logging._model.event import EVENT_ANY, Event
from audit_logging._records.logrecord import event_to_record
from audit_logging.typing import (
    Closable,
    EventSink,
    FailedEventsCallback,
    Flushable,
    HandsBackFailures,
)

__all__ = ["MATCH_CACHE_MAX", "Subscription", "Subscriptions"]

MATCH_CACHE_MAX = 1024
"""Event types whose matching subscriptions are cached."""
_MATCH_CACHE_TYPE_LEN = 128


def _handler_name(handler: object) -> str:
    name = getattr(handler, "name", None)
    if isinstance(name, str) and name:
        return name
    qualname = getattr(handler, "__qualname__", None)
    if isinstance(qualname, str):
        return qualname
    return type(handler).__name__


def _method(handler: Any, kind: type, name: str) -> Callable[..., Any] | None:
    """
    ``handler``'s method ``name`` if ``handler`` is of the protocol ``kind``, else None.
    """
    if isinstance(handler, kind):
        method = getattr(handler, name)
        if callable(method):
            return method  # type: ignore[no-any-return]
    return None


def _event_call(handler: Any) -> Callable[[Event[Any]], object]:
    """
    How one event is handed to ``handler`` (see the module docstring).
    """
    write_event = _method(handler, EventSink, "write_event")
    if write_event is not None:
        return write_event
    if isinstance(handler, logging.Handler):
        log_handler = handler

        def handle(evt: Event[Any]) -> None:
            # Logger.callHandlers checks the handler's level, not handle(): do it here.
            record = event_to_record(evt)
            if record.levelno >= log_handler.level:
                log_handler.handle(record)

        return handle
    if callable(handler):
        return handler  # type: ignore[no-any-return]
    raise TypeError(f"handler must be callable or a logging.Handler, not {type(handler).__name__}")


class Subscription:
    """
    A handler subscribed to one event type (or ``EVENT_ANY``) on a bus.

    Attributes:
        name: unique per bus; routes spill replays to this subscription.
        event_type: the type subscribed to.
        handler: the callable or ``logging.Handler``.
        call: what one event is handed to (``write_event``, a record wrapper or
            the handler itself), resolved at subscription.
        hands_back: the handler's ``set_failure_callback``, or None when it cannot
            hand back events it failed to store.
    """

    def __init__(
        self,
        event_type: str,
        handler: Any,
        name: str,
        breaker: CircuitBreaker,
        *,
        internal: bool = False,
        call: Callable[[Event[Any]], object] | None = None,
        on_unsubscribe: Callable[[Subscription], None] | None = None,
    ) -> None:
        self.name = name
        self.event_type = event_type
        self.handler = handler
        self.breaker = breaker
        self.internal = internal
        self.queue: collections.deque[Any] = collections.deque()
        self.scheduled = False
        # Re-entrant: in sync mode a handler may publish (e.g. a lifecycle event)
        # that comes back to the same subscription in the same thread.
        self.lock = threading.RLock()
        self.active = True
        self.in_flight: Event[Any] | None = None
        """The event the handler is being given right now (spilled if ``close`` times out)."""
        self.delivered = 0
        self.failed = 0
        self.call = _event_call(handler) if call is None else call
        self._flush = _method(handler, Flushable, "flush")
        self._close = _method(handler, Closable, "close")
        self.hands_back: Callable[[FailedEventsCallback | None], None] | None = _method(
            handler, HandsBackFailures, "set_failure_callback"
        )
        self._on_unsubscribe = on_unsubscribe

    def matches(self, event_type: str) -> bool:
        """
        True if events of ``event_type`` go to this subscription.
        """
        return self.event_type in (EVENT_ANY, event_type)

    def unsubscribe(self) -> None:
        """
        Stop receiving events; events already in the backlog are still delivered.
        """
        if self._on_unsubscribe is not None:
            self._on_unsubscribe(self)
        self.active = False

    def flush_handler(self) -> None:
        """
        Flush the handler if it can be flushed (sinks write what they batched).
        """
        if self._flush is not None:
            self._flush()

    def close_handler(self) -> None:
        """
        Close the handler if it can be closed.
        """
        if self._close is not None:
            self._close()

    def held_by_caller(self) -> bool:
        """
        True when the calling thread is delivering to this subscription (it is
        inside one of its handler's calls, or a worker serving it).
        """
        owned = getattr(self.lock, "_is_owned", None)
        return bool(owned()) if owned is not None else False

    def reinit_after_fork(self) -> None:
        """
        In a forked child: a fresh lock, and none of the parent's backlog.
        """
        self.in_flight = None
        self.lock = threading.RLock()
        self.queue.clear()
        self.scheduled = False

    def __repr__(self) -> str:
        return f"<Subscription {self.name!r} to {self.event_type!r}>"

    @staticmethod
    def default_name(handler: Any) -> str:
        """
        The name derived from a handler (its ``name``, qualified name or class).
        """
        return _handler_name(handler)


class Subscriptions:
    """
    The subscriptions of one bus, in subscription order, with unique names.

    Publishing reads :attr:`all` and :meth:`matching` without a lock: both are
    replaced (never mutated) under the lock when a subscription is added or removed.
    """

    def __init__(self) -> None:
        self.all: tuple[Subscription, ...] = ()
        self._by_type: dict[str, tuple[Subscription, ...]] = {}
        self._lock = threading.Lock()

    def add(
        self, name: str | None, handler: Any, make: Callable[[str], Subscription]
    ) -> Subscription:
        """
        Add the subscription ``make(final_name)`` builds, under a name unique on this bus.

        ``make`` runs under the lock, so the name it is given is still free when
        the subscription appears. The default name (``name=None``) is the
        handler's, made unique with a ``#2``, ``#3`` ... suffix.

        Raises:
            ValueError: ``name`` is already taken.
        """
        with self._lock:
            taken = {s.name for s in self.all}
            if name is not None:
                if name in taken:
                    raise ValueError(f"subscription name {name!r} is already used on this bus")
                final = name
            else:
                base = Subscription.default_name(handler)
                final, n = base, 1
                while final in taken:
                    n += 1
                    final = f"{base}#{n}"
            sub = make(final)
            self.all = (*self.all, sub)
            self._by_type = {}
        return sub

    def remove(self, sub: Subscription) -> None:
        """
        Remove ``sub``; a no-op if it is not (or no longer) here.
        """
        with self._lock:
            if sub in self.all:
                self.all = tuple(s for s in self.all if s is not sub)
                self._by_type = {}

    def matching(self, event_type: str) -> tuple[Subscription, ...]:
        """
        The subscriptions that receive events of ``event_type``, in subscription order.
        """
        subs = self._by_type.get(event_type)
        if subs is None:
            subs = tuple(s for s in self.all if s.matches(event_type))
            # Types are caller input: the cache stays bounded in entries and in size.
            if len(self._by_type) < MATCH_CACHE_MAX and len(event_type) <= _MATCH_CACHE_TYPE_LEN:
                self._by_type[event_type] = subs
        return subs

    def named(self, name: str) -> Subscription | None:
        """
        The subscription called ``name``, if there is one.
        """
        return next((s for s in self.all if s.name == name), None)

    def circuit_open(self) -> bool:
        """
        True while some subscription's circuit is open (not yet half-open).
        """
        return any(sub.breaker.is_open for sub in self.all)

    def reinit_after_fork(self) -> None:
        """
        In a forked child: fresh locks and empty backlogs.
        """
        self._lock = threading.Lock()
        for sub in self.all:
            sub.reinit_after_fork()
