"""
Dispatch: one bounded backlog per subscription, served by a shared worker pool.

Why this shape (rather than one queue shared by every handler):

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

The pool knows nothing about delivery itself: it is given ``deliver(sub, item)``
(:meth:`audit_logging._engine.delivery.Deliverer.deliver_item`) and calls it for
every backlog item, in order.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from audit_logging._engine.subscription import Subscription
from audit_logging._threads import new_thread

__all__ = ["BATCH", "Marker", "WorkerPool"]

BATCH = 256
"""Backlog items a worker delivers to one subscription before serving the next one."""


class Marker:
    """
    A flush barrier travelling through a backlog.
    """

    __slots__ = ("done", "flush_handler")

    def __init__(self, flush_handler: bool) -> None:
        self.done = threading.Event()
        self.flush_handler = flush_handler


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
            thread = new_thread(self._run, f"audit-bus-worker-{i}")
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
