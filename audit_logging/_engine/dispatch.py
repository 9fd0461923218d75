"""
Dispatch: one bounded backlog per subscription, served by a shared worker pool.

Why this shape (rather than the Go bus's single queue):

- **Isolation.** Each subscription has its own backlog (a ``deque``), so a slow or
  stuck handler only lets *its own* backlog grow. When that backlog reaches
  ``buffer_size``, further copies for that subscription are spilled, marked with
  its name, and later replayed to it alone; the other subscriptions neither wait
  nor receive duplicates.
- **Order.** A subscription is served by at most one worker at a time (it is
  "scheduled" on a ready queue once), so its handler sees events in the order they
  entered its backlog, i.e. publish order per publishing thread, with any number
  of workers.
- **Sharing.** ``worker_count`` threads serve all subscriptions: a worker takes a
  ready subscription, delivers up to :data:`BATCH` of its events, and puts it
  back on the ready queue if more are waiting. A handler stuck forever holds one
  worker; the others keep serving every other subscription.
- **Cheap publish.** The caller appends to a ``deque`` (atomic under the GIL) and
  only takes a lock to schedule a subscription that is idle. A worker marks its
  subscription idle *before* looking at the backlog one last time, so a wake-up
  can never be lost.

``flush`` and ``close`` push a :class:`Marker` through each backlog: when a worker
reaches it, everything accepted before it has been handled, and the worker flushes
the sink in its own thread before signalling.
"""

from __future__ import annotations

import collections
import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from audit_logging._engine.resilience import CircuitBreaker
from audit_logging._model.event import Event
from audit_logging._records.logrecord import event_to_record

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus

__all__ = ["BATCH", "Delivery", "Marker", "Subscription", "WorkerPool"]

BATCH = 256


class Delivery(enum.StrEnum):
    """
    What happened to a published event.

    With several matching subscriptions the outcome is the worst copy's:
    DROPPED > SPILLED > QUEUED/DELIVERED.
    """

    QUEUED = "queued"
    DELIVERED = "delivered"
    SPILLED = "spilled"
    SAMPLED_OUT = "sampled_out"
    REJECTED = "rejected"
    DROPPED = "dropped"


class Marker:
    """
    A flush barrier travelling through a backlog.
    """

    __slots__ = ("done", "flush_handler")

    def __init__(self, flush_handler: bool) -> None:
        self.done = threading.Event()
        self.flush_handler = flush_handler


def _handler_name(handler: object) -> str:
    name = getattr(handler, "name", None)
    if isinstance(name, str) and name:
        return name
    qualname = getattr(handler, "__qualname__", None)
    if isinstance(qualname, str):
        return qualname
    return type(handler).__name__


class Subscription:
    """
    A handler subscribed to one event type (or ``EVENT_ANY``) on a bus.

    Attributes:
        name: unique per bus; routes spill replays to this subscription.
        event_type: the type subscribed to.
        handler: the callable or ``logging.Handler``.
    """

    def __init__(
        self,
        bus: Bus,
        event_type: str,
        handler: Any,
        name: str,
        breaker: CircuitBreaker,
        *,
        internal: bool = False,
        call: Callable[[Event[Any]], object] | None = None,
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
        self.delivered = 0
        self.failed = 0
        self._bus = bus
        self.call = self._make_call(handler) if call is None else call

    @staticmethod
    def _make_call(handler: Any) -> Callable[[Event[Any]], object]:
        write_event = getattr(handler, "write_event", None)
        if callable(write_event):
            return write_event  # type: ignore[no-any-return]
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
        raise TypeError(
            f"handler must be callable or a logging.Handler, not {type(handler).__name__}"
        )

    def matches(self, event_type: str) -> bool:
        """
        True if events of ``event_type`` go to this subscription.
        """
        return self.event_type in ("*", event_type)

    def unsubscribe(self) -> None:
        """
        Stop receiving events; events already in the backlog are still delivered.
        """
        self._bus._unsubscribe(self)

    def flush_handler(self) -> None:
        """
        Flush the handler if it can be flushed (sinks write what they batched).
        """
        flush = getattr(self.handler, "flush", None)
        if callable(flush):
            flush()

    def __repr__(self) -> str:
        return f"<Subscription {self.name!r} to {self.event_type!r}>"

    @staticmethod
    def default_name(handler: Any) -> str:
        """
        The name derived from a handler (its ``name``, qualified name or class).
        """
        return _handler_name(handler)


class WorkerPool:
    """
    ``worker_count`` daemon threads serving ready subscriptions.

    Threads are daemons so a handler stuck forever cannot hang interpreter exit;
    the bus's ``atexit`` hook drains (or spills) what is still queued first.
    """

    def __init__(
        self,
        size: int,
        deliver: Callable[[Subscription, Any], None],
        after_batch: Callable[[Subscription], None] | None = None,
    ) -> None:
        self._size = size
        self._deliver = deliver
        self._after_batch = after_batch
        self._ready: collections.deque[Subscription] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._started = False

    def start(self) -> None:
        """
        Start the threads (once).
        """
        with self._cond:
            if self._started:
                return
            self._started = True
            self._stopping = False
        for i in range(self._size):
            thread = threading.Thread(target=self._run, name=f"audit-bus-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def schedule(self, sub: Subscription) -> None:
        """
        Put an idle subscription with waiting events on the ready queue.
        """
        with self._cond:
            if sub.scheduled:
                return
            sub.scheduled = True
            self._ready.append(sub)
            self._cond.notify()

    def _run(self) -> None:
        cond = self._cond
        ready = self._ready
        while True:
            with cond:
                while not ready:
                    if self._stopping:
                        return
                    cond.wait()
                sub = ready.popleft()
            self._drain(sub)

    def _drain(self, sub: Subscription) -> None:
        queue = sub.queue
        deliver = self._deliver
        with sub.lock:
            lingered = False
            n = 0
            while n < BATCH:
                try:
                    item = queue.popleft()
                except IndexError:
                    if lingered:
                        break
                    # Give publishers one GIL turn before going idle: under a steady
                    # stream this saves a schedule (lock + notify + wake-up) per event.
                    lingered = True
                    time.sleep(0)
                    continue
                n += 1
                deliver(sub, item)
        if self._after_batch is not None:
            self._after_batch(sub)
        sub.scheduled = False
        if queue:
            self.schedule(sub)

    def stop(self, timeout: float | None) -> bool:
        """
        Ask the threads to exit once the ready queue is empty; True if all exited in time.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        alive = False
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
            alive = alive or thread.is_alive()
        return not alive

    def reinit_after_fork(self) -> None:
        """
        The child has none of the parent's threads: forget them and start anew lazily.
        """
        self._cond = threading.Condition(threading.Lock())
        self._ready = collections.deque()
        self._threads = []
        self._started = False
        self._stopping = False
