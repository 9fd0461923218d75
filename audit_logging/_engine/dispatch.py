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
- **Few wake-ups, none on the publisher while events keep coming.** While
  deliveries are recent (:data:`LINGER`), one idle worker polls the ready queue
  every :data:`POLL` seconds and the publisher wakes nobody: it only appends.
  Otherwise the publisher wakes at most one worker per event, and only when one
  is waiting and none is already on its way (:meth:`WorkerPool.schedule_all`
  schedules every subscription of one event under one lock). A worker that takes
  a subscription and leaves more ready wakes the next one itself (a chain), so a
  stuck handler still never holds up another subscription. Why: in an ASGI app
  the publisher is the event loop. Sampled with ``py-spy --gil``, a quarter of
  the loop thread's time went to ``Condition.notify`` in ``schedule``: the
  futex wake-up, during which the kernel may run the woken worker and park the
  loop thread *with the GIL held*, on a busy machine for milliseconds (issue 14,
  PERFORMANCE.md "ASGI event-loop stalls"). The cost is up to :data:`POLL` more
  latency per event under traffic, and one timed wake-up per :data:`POLL`
  while it lasts.

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

__all__ = ["BATCH", "LINGER", "POLL", "Marker", "WorkerPool"]

BATCH = 256
"""Backlog items a worker delivers to one subscription before serving the next one."""

POLL = 0.002
"""Seconds between two looks at the ready queue by the polling worker (see the module doc)."""

LINGER = 0.05
"""Seconds after the last delivery during which an idle worker polls instead of waiting."""


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
        self._idle = 0  # workers waiting on the condition (the polling one included)
        self._waking = 0  # 1: a notified worker is on its way (reset by the next take)
        self._polling = False  # an idle worker looks at the ready queue every POLL s
        self._last_take = 0.0  # time.monotonic() of the last subscription taken

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
            self._wake_one()

    def schedule_all(self, subs: list[Subscription]) -> None:
        """
        Schedule the subscriptions one event was queued for: one lock, one wake-up at most.
        """
        with self._cond:
            ready = self._ready
            for sub in subs:
                if not sub.scheduled:
                    sub.scheduled = True
                    ready.append(sub)
            self._wake_one()

    def _wake_one(self) -> None:
        # Called with the condition held and something on the ready queue. Nobody is
        # woken when the polling worker will look within POLL, when a notified worker
        # is on its way (it takes the first ready subscription and, if more are left,
        # wakes the next one), or when none waits (a busy worker looks at the ready
        # queue before it waits). A wrong "on its way" only costs a spare wake-up:
        # every take resets it, and the worker taking leaves none ready unwoken.
        if not self._polling and not self._waking and self._idle:
            self._waking = 1
            self._cond.notify()

    def _run(self) -> None:
        cond = self._cond
        ready = self._ready
        monotonic = time.monotonic
        while True:
            with cond:
                while not ready:
                    if self._stopping:
                        return
                    poll = not self._polling and monotonic() - self._last_take < LINGER
                    self._idle += 1
                    self._polling = self._polling or poll
                    try:
                        cond.wait(POLL if poll else None)
                    finally:
                        self._idle -= 1
                        if poll:
                            self._polling = False
                sub = ready.popleft()
                self._waking = 0
                self._last_take = monotonic()
                if ready:
                    self._wake_one()
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
        self._idle = 0
        self._waking = 0
        self._polling = False
        self._last_take = 0.0
