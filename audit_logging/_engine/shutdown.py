"""
How a bus closes, in order, within one bound on wall time.

1. ``audit_bus_started`` is sent if still pending; intake closes and the
   publishers already inside are waited for;
2. the maintenance thread stops; what is accepted is delivered and the
   handlers flushed;
3. ``audit_bus_stopped`` is published with the counts as they are after that
   drain, and delivered: it is the last event of the trail;
4. if the drain did not finish in time, what is still in the backlogs is
   spilled, and so is the copy each stuck handler holds (it may still finish
   it: a replay can deliver that one twice, never lose it);
5. the workers stop, the handlers close side by side, and a handler still
   closing at the deadline is given up on: what its ``abandon()`` returns (what
   it accepted but has not stored) is spilled, and it is reported;
6. what a signal handler published during the close is spilled; the spill closes.

With a deadline every step that can block (a publisher stuck in a sync
handler, a flush, a connect, a close) runs against what is left of it, in a
thread of its own where nothing else bounds it; a thread left behind is a
daemon and holds nothing the closed bus still needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from audit_logging._engine.admission import Admission
from audit_logging._engine.delivery import Deliverer
from audit_logging._engine.dispatch import WorkerPool
from audit_logging._engine.lifecycle import Lifecycle, Maintenance
from audit_logging._engine.reporting import ErrorReporter
from audit_logging._engine.spill.store import SpillStore
from audit_logging._model.event import Event
from audit_logging._threads import new_thread
from audit_logging.typing import SpillHandler

__all__ = ["DRAIN_TIMEOUT", "bounded", "shut_down"]

DRAIN_TIMEOUT = 5.0
"""Seconds the workers get to exit after a complete drain (without a deadline)."""


def bounded(call: Callable[[], object], deadline: float | None) -> bool:
    """
    Run ``call``, giving up on it at ``deadline`` (``time.monotonic``); True if it
    finished. With a deadline it runs in a thread of its own, left behind if stuck.
    """
    if deadline is None:
        call()
        return True
    thread = new_thread(call, "audit-bus-close")
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    return not thread.is_alive()


def shut_down(
    deadline: float | None,
    *,
    lifecycle: Lifecycle,
    lifecycle_events: bool,
    admission: Admission,
    maintenance: Maintenance,
    deliverer: Deliverer,
    pool: WorkerPool,
    drain_until: Callable[[float | None], bool],
    counts: Callable[[], dict[str, Any]],
    spill: SpillHandler | SpillStore | None,
    reporter: ErrorReporter,
) -> None:
    """
    Close one bus (see the module docstring); ``deadline`` is ``time.monotonic``.
    """

    def left() -> float | None:
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    lifecycle.send_started()
    lifecycle.stop()
    drained = admission.close_intake(deadline)
    maintenance.stop(left())
    drained = drain_until(deadline) and drained
    if lifecycle_events:
        final = counts()
        if bounded(lambda: lifecycle.emit_stopped(final), deadline):
            drained = drain_until(deadline) and drained
        else:
            drained = False
    if not drained:
        deliverer.spill_in_flight()
        deliverer.spill_leftovers()
    remaining = left()
    if not drained:
        pool.stop(0.0)
    else:
        pool.stop(DRAIN_TIMEOUT if remaining is None else min(DRAIN_TIMEOUT, remaining))
    deliverer.spill_leftovers()
    deliverer.close_handlers(deadline)
    deferred = admission.guard.deferred
    while deferred:
        evt = deferred.popleft()[0]
        if isinstance(evt, Event):
            deliverer.spill(evt, None, "closed")
    if spill is not None:
        try:
            spill.close()
        except Exception as exc:
            reporter.report(exc, None)
