"""
Delivery: everything about handing one copy of an event to one subscription.

An admitted event fans out to every matching subscription. In async mode its
copy goes into the subscription's bounded backlog (see
:mod:`audit_logging._engine.dispatch`), and a worker later hands it over with
:meth:`Deliverer.deliver_item`; in sync mode it is handed over at once in the
caller. Either way :meth:`Deliverer.deliver_one` does the handing over: ask the
subscription's circuit breaker, call the handler, record the outcome.

A copy that cannot be handed over now is never lost silently. A full backlog,
an open circuit or a handler that raised spills *that subscription's* copy,
marked with its name, so a replay reaches it alone; events a batching sink hands
back later (its failure callback) are spilled the same way. Where no spill is
configured, or the spill refuses the copy, it is dropped: counted by reason
(metrics and the drop summaries) and reported to ``error_func``, throttled per
kind so a burst is one report plus a count.

Circuit breakers are per subscription: a failing Kafka sink opens its own
circuit and spills its own copies while the file and database sinks keep
receiving events.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from typing import Any

from audit_logging._engine.dispatch import Marker, WorkerPool
from audit_logging._engine.metrics import NopMetrics
from audit_logging._engine.reporting import DropCounter, ErrorReporter
from audit_logging._engine.settings import BusConfig
from audit_logging._engine.spill.store import SpillStore
from audit_logging._engine.subscription import Subscription, Subscriptions
from audit_logging._model.event import Event
from audit_logging._threads import new_thread
from audit_logging.exceptions import (
    AuditError,
    BusClosedError,
    CircuitOpenError,
    PublishTimeoutError,
    RateLimitExceededError,
    SinkError,
    SpillError,
    SpillFullError,
)
from audit_logging.typing import BusMetrics, SpillHandler

__all__ = ["Deliverer", "Delivery", "drop_error"]


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


_SEVERITY = {Delivery.DROPPED: 3, Delivery.SPILLED: 2}


_DROP_ERRORS: dict[str, type[AuditError]] = {
    "closed": BusClosedError,
    "circuit_open": CircuitOpenError,
    "rate_limited": RateLimitExceededError,
    "queue_full": PublishTimeoutError,
    "spill_full": SpillFullError,
    "spill_failed": SpillError,
    "handler_error": SinkError,
    "close_timeout": SinkError,
    "sink_failed": SinkError,
}
"""The public error each drop reason is reported as (anything else: :class:`AuditError`)."""


def drop_error(reason: str, text: str, subscription: str | None) -> AuditError:
    """
    The error ``error_func`` receives for a dropped copy: a public type per reason,
    with ``reason`` and ``subscription`` attributes for code that routes on them.
    """
    exc = _DROP_ERRORS.get(reason, AuditError)(text)
    exc.reason = reason  # type: ignore[attr-defined]
    exc.subscription = subscription  # type: ignore[attr-defined]
    return exc


class Deliverer:
    """
    Hands copies of admitted events to subscriptions, and spills or drops what it cannot.

    It owns the worker pool (whose workers call :meth:`deliver_item`) and the
    count of spilled copies; everything else it needs is given to it.

    Args:
        subscriptions: the bus's subscriptions.
        config: the bus's settings (``buffer_size`` bounds each backlog,
            ``worker_count`` sizes the pool).
        metrics: where outcomes are counted; the optional ``event_spilled``,
            ``event_delivered`` and ``queue_depth`` methods are used when present.
        reporter: where problems are reported.
        drops: the drop counts behind ``stats()`` and the drop summaries.
        spill_store: the bus's spill store (copies keep their subscription's name).
        spill_handler: a custom spill target, used when there is no store; with
            neither, copies that cannot be delivered now are dropped.
        clock: monotonic clock for ``publish_with_timeout``'s and ``flush``'s waits.
    """

    def __init__(
        self,
        subscriptions: Subscriptions,
        config: BusConfig,
        *,
        metrics: BusMetrics,
        reporter: ErrorReporter,
        drops: DropCounter,
        spill_store: SpillStore | None,
        spill_handler: SpillHandler | None,
        clock: Callable[[], float],
    ) -> None:
        self._subscriptions = subscriptions
        self._matching = subscriptions.matching
        self._config = config
        self._metrics = metrics
        self._metric_spilled = getattr(metrics, "event_spilled", None)
        self._metric_depth = getattr(metrics, "queue_depth", None)
        # Timing every handler call costs two clock reads: only when someone records it;
        # the same for the per-delivery count (NopMetrics would only be called to do nothing).
        self._timed = type(metrics) is not NopMetrics
        self._metric_delivered = getattr(metrics, "event_delivered", None) if self._timed else None
        self._reporter = reporter
        self._drops = drops
        self._spill_store = spill_store
        self._spill_handler = spill_handler
        self._clock = clock
        self.pool = WorkerPool(config.worker_count, self.deliver_item, self.after_batch)
        self.closing = False
        """Set when the bus closes: stops ``publish_with_timeout`` waiting for room."""
        self.spilled = 0
        """Copies spilled so far."""

    def enqueue(self, evt: Event[Any], wait: float | None) -> tuple[Delivery, Exception | None]:
        """
        Async fan-out: put a copy in every matching subscription's backlog.

        A copy whose circuit is open, or whose backlog stays full (for up to
        ``wait`` seconds when given), is spilled for that subscription; the error
        says why, for ``publish_with_timeout``.
        """
        worst = Delivery.QUEUED
        error: Exception | None = None
        limit = self._config.buffer_size
        idle: list[Subscription] = []  # scheduled together after the loop: one wake-up
        try:
            for sub in self._matching(evt.type):
                if sub.breaker.is_open:
                    outcome = self.spill(evt, sub, "circuit_open")
                    error = CircuitOpenError(f"circuit of subscription {sub.name!r} is open")
                else:
                    queue = sub.queue
                    if len(queue) >= limit and wait:
                        if idle:  # what is queued already must not wait for this room
                            self.pool.schedule_all(idle)
                            idle.clear()
                        self._wait_for_room(sub, wait)
                    if len(queue) >= limit:
                        outcome = self.spill(evt, sub, "queue_full")
                        error = PublishTimeoutError(
                            f"no room in the backlog of subscription {sub.name!r}"
                        )
                    else:
                        queue.append(evt)
                        if not sub.scheduled:
                            idle.append(sub)
                        continue
                if _SEVERITY.get(outcome, 0) > _SEVERITY.get(worst, 0):
                    worst = outcome
        finally:
            if idle:
                self.pool.schedule_all(idle)
        return worst, error

    def _wait_for_room(self, sub: Subscription, timeout: float) -> None:
        deadline = self._clock() + timeout
        limit = self._config.buffer_size
        while len(sub.queue) >= limit and self._clock() < deadline and not self.closing:
            time.sleep(0.0005)

    def deliver_now(self, evt: Event[Any]) -> tuple[Delivery, Exception | None]:
        """
        Sync fan-out: hand a copy to every matching subscription in the caller.
        """
        worst = Delivery.DELIVERED
        error: Exception | None = None
        for sub in self._matching(evt.type):
            if sub.breaker.is_open:
                error = CircuitOpenError(f"circuit of subscription {sub.name!r} is open")
            with sub.lock:
                outcome = self.deliver_one(sub, evt)
            if _SEVERITY.get(outcome, 0) > _SEVERITY.get(worst, 0):
                worst = outcome
        return worst, error

    def after_batch(self, sub: Subscription) -> None:
        """
        Worker hook after each batch: report the subscription's backlog depth.
        """
        if self._metric_depth is not None:
            self._metric_depth(sub.name, len(sub.queue))

    def deliver_item(self, sub: Subscription, item: Any) -> None:
        """
        Worker entry point: deliver one backlog item (an event or a flush marker).
        """
        if isinstance(item, Marker):
            if item.flush_handler:
                try:
                    sub.flush_handler()
                except Exception as exc:
                    self._reporter.report(exc, None)
            item.done.set()
            return
        try:
            self.deliver_one(sub, item)
        except BaseException as exc:  # never let anything kill a worker
            self._reporter.report(exc, item)

    def deliver_one(self, sub: Subscription, evt: Event[Any]) -> Delivery:
        """
        Hand ``evt`` to ``sub``'s handler, or spill it when its circuit refuses.

        The caller holds ``sub.lock`` (one thread delivers to a subscription at a time).
        """
        breaker = sub.breaker
        closed = breaker.is_closed
        if not closed and not breaker.allow():
            return self.spill(evt, sub, "circuit_open")
        timed = self._timed
        start = time.perf_counter() if timed else 0.0
        sub.in_flight = evt
        try:
            sub.call(evt)
        except Exception as exc:
            sub.in_flight = None
            sub.failed += 1
            breaker.record_failure()
            self._reporter.report(exc, evt)
            return self.spill(evt, sub, "handler_error")
        sub.in_flight = None
        if timed:
            self._metrics.handler_latency(evt.type, time.perf_counter() - start)
        # One subscription is delivered to by one thread at a time: ``closed`` still holds.
        if not closed or breaker.consecutive_failures:
            breaker.record_success()
        sub.delivered += 1
        if self._metric_delivered is not None:
            self._metric_delivered(evt.type)
        return Delivery.DELIVERED

    def on_sink_failed(
        self, sub: Subscription, events: Sequence[Event[Any]], exc: BaseException
    ) -> None:
        """
        A batching sink hands back events it could not store: spill them for it.
        """
        sub.breaker.record_failure()
        self._reporter.report(exc, events[0] if events else None)
        for evt in events:
            self.spill(evt, sub, "sink_failed")

    def drain(self, deadline: float | None) -> bool:
        """
        Wait until every backlog is delivered up to now and its handler flushed.

        A :class:`~audit_logging._engine.dispatch.Marker` goes through each
        backlog; the worker reaching it flushes the handler in its own thread.

        Returns:
            False if ``time.monotonic()`` passed ``deadline`` first (a handler is stuck).
        """
        ok = True
        markers = []
        for sub in self._subscriptions.all:
            marker = Marker(flush_handler=True)
            sub.queue.append(marker)
            self.pool.schedule(sub)
            markers.append(marker)
        for marker in markers:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            ok = marker.done.wait(remaining) and ok
        return ok

    def flush_handlers(self) -> None:
        """
        Flush every handler in the caller (sync mode, or before the workers started).
        """
        for sub in self._subscriptions.all:
            try:
                with sub.lock:
                    sub.flush_handler()
            except Exception as exc:
                self._reporter.report(exc, None)

    def spill_leftovers(self) -> None:
        """
        At close: spill what is still in the backlogs, and release waiting flushes.
        """
        for sub in self._subscriptions.all:
            queue = sub.queue
            while True:
                try:
                    item = queue.popleft()
                except IndexError:
                    break
                if isinstance(item, Marker):
                    item.done.set()
                else:
                    self.spill(item, sub, "closed")

    def spill_in_flight(self) -> None:
        """
        At a close that timed out: spill the copy each stuck handler is still
        holding, and report it with its id. The handler may still finish it, so
        a replay can deliver it twice: at-least-once, never lost.
        """
        for sub in self._subscriptions.all:
            evt = sub.in_flight
            if evt is None:
                continue
            outcome = self.spill(evt, sub, "close_timeout")
            self._reporter.report(
                SinkError(
                    f"subscription {sub.name!r} was still handling event {evt.id} "
                    f"({evt.type}) when close timed out; {outcome}"
                ),
                evt,
            )

    def close_handlers(self, deadline: float | None = None) -> None:
        """
        At close, after the last delivery: close every handler that can be closed.

        With a ``deadline`` (``time.monotonic``) the handlers close side by side,
        each in a thread of its own, and a handler still closing at the deadline
        is given up on: what its ``abandon()`` returns (events it accepted but has
        not stored) is spilled for it, and it is reported.
        """
        subs = self._subscriptions.all
        if deadline is None:
            for sub in subs:
                self._close_one(sub)
            return
        closing = [
            (sub, new_thread(self._close_one, f"audit-close-{sub.name}", sub)) for sub in subs
        ]
        for _, thread in closing:
            thread.start()
        for sub, thread in closing:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                self._abandon(sub)

    def _close_one(self, sub: Subscription) -> None:
        try:
            sub.close_handler()
        except Exception as exc:
            self._reporter.report(exc, None)

    def _abandon(self, sub: Subscription) -> None:
        abandon = getattr(sub.handler, "abandon", None)
        events: list[Event[Any]] = []
        if callable(abandon):
            try:
                events = list(abandon())
            except Exception as exc:
                self._reporter.report(exc, None)
        for evt in events:
            self.spill(evt, sub, "close_timeout")
        self._reporter.report(
            SinkError(
                f"the handler of subscription {sub.name!r} did not close before the "
                f"close timeout; {len(events)} event(s) it had not stored were spilled"
                + ("" if callable(abandon) else " (it cannot say which it holds: no abandon())")
            )
        )

    def spill(self, evt: Event[Any], sub: Subscription | None, reason: str) -> Delivery:
        """
        Spill one copy (for ``sub``, or for every subscription when None), else drop it.
        """
        store = self._spill_store
        handler = self._spill_handler
        if store is None and handler is None:
            return self.drop(evt, sub, reason)
        try:
            if store is not None:
                store.write(evt, None if sub is None else sub.name)
            elif handler is not None:
                handler.write(evt)
        except SpillFullError as exc:
            return self.drop(evt, sub, "spill_full", exc)
        except Exception as exc:
            return self.drop(evt, sub, "spill_failed", exc)
        self.spilled += 1
        if self._metric_spilled is not None:
            self._metric_spilled(evt.type, reason)
        return Delivery.SPILLED

    def count_drop(self, event_type: str, reason: str) -> None:
        """
        Count one dropped (or rejected, or sampled-out) event by reason.
        """
        self._metrics.event_dropped(event_type, reason)
        self._drops.add(reason)

    def drop(
        self,
        evt: Event[Any] | None,
        sub: Subscription | None,
        reason: str,
        cause: BaseException | None = None,
    ) -> Delivery:
        """
        Drop one copy: count it and report it to ``error_func`` with a public error
        type per reason (see :func:`drop_error`; the default reporter throttles
        per reason and subscription, a custom ``error_func`` sees every drop).
        """
        self.count_drop(evt.type if evt is not None else "unknown", reason)
        where = "" if sub is None else f" for subscription {sub.name!r}"

        def make(suppressed: int) -> BaseException:
            more = f" ({suppressed} more since the last report)" if suppressed else ""
            text = f"event dropped{where}: {reason}{more}"
            if cause is not None:
                text += f": {cause}"
            if reason == "closed":
                text = f"the bus is closed; {text}"
            return drop_error(reason, text, None if sub is None else sub.name)

        self._reporter.report_throttled(f"{reason}:{where}", make, evt)
        return Delivery.DROPPED
