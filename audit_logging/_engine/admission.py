"""
Admission: what a published event goes through before any subscription sees it.

The stages, in this order (each one's outcome is what ``publish`` returns when
it stops the event):

=================  ============================================================
stage              an event it stops
=================  ============================================================
closed             DROPPED and ``BusClosedError``: the bus accepts no more events
shape              REJECTED: not an :class:`Event` (an event without an id gets one)
schema             REJECTED and ``SchemaValidationError``: its payload breaks the
                   registered schema of its type
sampling           SAMPLED_OUT: outside ``sample_rate``
redaction          (never stops it) secrets are masked, before history, spill,
                   sinks and transport ever hold the event
size               REJECTED: canonical JSON over ``max_event_bytes``
rate limit         SPILLED (or DROPPED) and ``RateLimitExceededError``; a spill
                   recovery is scheduled for when the limiter has room again
history            (never stops it) kept in the access-controlled history
=================  ============================================================

then the event is counted as published and fans out
(:mod:`audit_logging._engine.delivery`). Lifecycle events skip sampling and the
rate limit. Nothing here raises for a delivery problem: problems go to
``error_func`` and the metrics, and the outcome says what happened.

The stages are written out in one function, in this order, rather than as a
list of stage objects: this is the path of every event, and a Python call per
stage would cost more than the rest of the function's bookkeeping.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from audit_logging._engine.delivery import Deliverer, Delivery
from audit_logging._engine.history import History
from audit_logging._engine.lifecycle import Lifecycle
from audit_logging._engine.metrics import NopMetrics
from audit_logging._engine.reentry import MainThreadGuard
from audit_logging._engine.reporting import ErrorReporter
from audit_logging._engine.resilience import TokenBucket
from audit_logging._engine.settings import BusConfig
from audit_logging._model.event import Event
from audit_logging._model.ids import uuid7_str
from audit_logging._model.schemas import validate
from audit_logging._security.policy import RedactionPolicy
from audit_logging._security.sanitize import sanitize_payload
from audit_logging.exceptions import BusClosedError, RateLimitExceededError, SchemaValidationError
from audit_logging.typing import BusMetrics

__all__ = ["Admission"]

_CLOSE_POLL = 0.0001
_get_ident = threading.get_ident


class Admission:
    """
    The intake of one bus: runs each published event through the stages.

    Args:
        config: the bus's settings (``max_event_bytes`` is read per event).
        deliverer: where admitted events fan out, and spills and drops are counted.
        history: where admitted events are kept.
        lifecycle: sends ``audit_bus_started`` before the first event.
        bucket: the rate limiter; None = unlimited.
        retry_after: asks for one spill recovery in that many seconds.
        metrics: counts every published event.
        reporter: where problems are reported.
        starters: what starts the bus's threads; called once, at the first publish.
    """

    def __init__(
        self,
        config: BusConfig,
        *,
        deliverer: Deliverer,
        history: History,
        lifecycle: Lifecycle,
        bucket: TokenBucket | None,
        retry_after: Callable[[float], None],
        metrics: BusMetrics,
        reporter: ErrorReporter,
        starters: Sequence[Callable[[], None]],
    ) -> None:
        self._config = config
        self._deliverer = deliverer
        self._enqueue = deliverer.enqueue
        self._deliver_now = deliverer.deliver_now
        self._history = history
        self._lifecycle = lifecycle
        self._bucket = bucket
        self._retry_after = retry_after
        self._metrics = metrics
        self._metric_published = (
            None if type(metrics) is NopMetrics else metrics.event_published
        )  # the default NopMetrics is not called on every publish to do nothing
        self._reporter = reporter
        self._starters = tuple(starters)
        policy = RedactionPolicy(config.redact_keys, config.keep_keys, config.redact_patterns)
        self._policy = policy if policy else None
        self._start_lock = threading.Lock()
        self._active: list[None] = []
        self.sample_rate = float(config.sample_rate)
        """Fraction of events accepted; the bus's ``set_sample_rate`` changes it."""
        self.running = False
        """True once the first publish started the bus's threads."""
        self.closing = False
        """True once the bus began closing: every event is refused from then on."""
        self.published = 0
        """Events admitted so far."""
        self.guard = MainThreadGuard()
        """Notes the main thread inside the bus; the bus's other calls use it too."""

    def publish(
        self,
        evt: Any,
        sync: bool,
        wait: float | None = None,
        internal: bool = False,
        final: bool = False,
    ) -> tuple[Delivery, Exception | None]:
        """
        Admit ``evt`` and fan it out; the outcome, and the error for ``publish_with_timeout``.

        Args:
            evt: what was published (anything; only an :class:`Event` is admitted).
            sync: hand the copies over in the caller rather than queue them.
            wait: seconds to wait for backlog room (``publish_with_timeout``).
            internal: a lifecycle event (skips sampling and the rate limit).
            final: ``audit_bus_stopped``, published by ``close`` after intake closed.

        A publish that re-enters the bus in the main thread (a signal handler)
        is deferred, see :mod:`~audit_logging._engine.reentry`.
        """
        guard = self.guard
        entered = False
        if _get_ident() == guard.main:
            if guard.inside and not internal:
                # Re-entered in the main thread: a signal handler (see reentry).
                # The bus's own events, published within its calls, are not deferred.
                guard.deferred.append((evt, sync, internal))
                return Delivery.QUEUED, None
            guard.inside = entered = True
        if self.closing and not final:
            try:
                return self._refuse_closed(evt)
            finally:
                if entered:
                    guard.inside = False
        active = self._active
        active.append(None)
        try:
            if self.closing and not final:
                return self._refuse_closed(evt)
            if not self.running:
                self._start()
            lifecycle = self._lifecycle
            if lifecycle.started_pending and not internal:
                lifecycle.send_started()
            if not isinstance(evt, Event):
                return self._reject_not_an_event(evt)
            if not evt.id:
                evt = dataclasses.replace(evt, id=uuid7_str())
            try:
                validate(evt)
            except SchemaValidationError as exc:
                return self._reject(evt, "schema", exc)
            rate = self.sample_rate
            if rate < 1.0 and not internal and random.random() >= rate:
                self._deliverer.count_drop(evt.type, "sampled")
                return Delivery.SAMPLED_OUT, None
            evt = sanitize_payload(evt, policy=self._policy)
            limit = self._config.max_event_bytes
            if limit is not None:
                size = len(evt.to_json_bytes())
                if size > limit:
                    text = f"event is {size} bytes of JSON, over max_event_bytes={limit}"
                    return self._reject(evt, "too_large", ValueError(text))
            bucket = self._bucket
            if bucket is not None and not internal and not bucket.try_acquire():
                return self._rate_limited(evt, bucket)
            self._history.add(evt)
            if self._metric_published is not None:
                self._metric_published(evt.type)
            self.published += 1
            if sync:
                return self._deliver_now(evt)
            return self._enqueue(evt, wait)
        finally:
            active.pop()
            if entered:
                guard.inside = False
                if guard.deferred:
                    self.publish_deferred()

    def leave(self, entered: bool) -> None:
        """
        The end of a bus call that entered the guard (``guard.enter()`` returned
        True): the main thread is out; publish what a signal handler deferred.
        """
        if entered:
            self.guard.inside = False
            if self.guard.deferred:
                self.publish_deferred()

    def publish_deferred(self) -> None:
        """
        Publish what a signal handler published while the main thread was inside
        the bus (called once the outer call holds nothing).
        """
        guard = self.guard
        if guard.draining:
            return  # the outer drain loop below publishes it
        guard.draining = True
        try:
            deferred = guard.deferred
            while deferred:
                evt, sync, internal = deferred.popleft()
                self.publish(evt, sync, internal=internal)
        finally:
            guard.draining = False

    def _start(self) -> None:
        """
        Start the bus's threads at the first publish, not at subscription:
        ``dictConfig`` builds handlers (and so subscribes sinks) while holding
        logging's module lock, and a thread started then can deadlock on it (a
        garbage collection in the new thread runs logging's weakref callback,
        which takes that lock while ``Thread.start`` waits for the thread).
        """
        with self._start_lock:
            if self.running:
                return
            self.running = True
        for start in self._starters:
            start()

    def _refuse_closed(self, evt: Any) -> tuple[Delivery, Exception | None]:
        event = evt if isinstance(evt, Event) else None
        self._deliverer.drop(event, None, "closed")
        return Delivery.DROPPED, BusClosedError("the bus is closed")

    def _reject_not_an_event(self, evt: Any) -> tuple[Delivery, Exception | None]:
        self._reporter.report(TypeError(f"cannot publish {type(evt).__name__}: not an Event"))
        self._deliverer.count_drop("invalid", "invalid")
        return Delivery.REJECTED, None

    def _reject(
        self, evt: Event[Any], reason: str, exc: Exception
    ) -> tuple[Delivery, Exception | None]:
        self._deliverer.count_drop(evt.type, reason)
        self._reporter.report(exc, evt)
        return Delivery.REJECTED, None

    def _rate_limited(
        self, evt: Event[Any], bucket: TokenBucket
    ) -> tuple[Delivery, Exception | None]:
        delivery = self._deliverer.spill(evt, None, "rate_limited")
        self._retry_after(bucket.time_until_available())
        return delivery, RateLimitExceededError(f"rate limit exceeded; event {delivery}")

    def close_intake(self, deadline: float | None = None) -> bool:
        """
        Refuse every event from now on, and wait (until the ``time.monotonic``
        ``deadline``) for publishers already past the check; False if one is
        still inside (a sync publisher stuck in a handler).
        """
        self.closing = True
        self._deliverer.closing = True
        while self._active:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_CLOSE_POLL)
        return True

    def reinit_after_fork(self) -> None:
        """
        In a forked child: no publisher of the parent is active here; restart the
        threads if the parent had started them and was not closing.
        """
        self._start_lock = threading.Lock()
        self._active = []
        self.guard.reinit_after_fork()
        if self.running and not self.closing:
            for start in self._starters:
                start()
