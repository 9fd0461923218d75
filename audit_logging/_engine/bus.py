"""
The bus: publish typed audit events to subscribed handlers, asynchronously,
without ever losing one silently.

:class:`Bus` is the public face of the engine and wires its parts together;
each part is a module of its own:

- :mod:`~audit_logging._engine.admission`: what ``publish`` checks, in order
  (closed, schema, sampling, redaction, size, rate limit, history);
- :mod:`~audit_logging._engine.delivery`: handing one copy to one
  subscription (backlogs, breakers, spilling and dropping copies);
- :mod:`~audit_logging._engine.dispatch`: the per-subscription backlogs and
  the worker pool serving them;
- :mod:`~audit_logging._engine.subscription`: who receives what, and how each
  kind of handler is called;
- :mod:`~audit_logging._engine.lifecycle`: the bus's own audit events and its
  maintenance thread;
- :mod:`~audit_logging._engine.replay`: spilled events back through delivery;
- :mod:`~audit_logging._engine.shutdown`: what ``close`` does, in order, in its bound;
- :mod:`~audit_logging._engine.reentry`: publishing from a signal handler;
- :mod:`~audit_logging._engine.process`: closing at exit, fork, SIGTERM.

``publish`` never blocks and never raises for a delivery problem: problems go
to ``error_func`` (every drop; the default, logging reporter is throttled per
kind) and to the metrics, and the returned :class:`Delivery` says what happened.

Durability: ``QUEUED`` events live in memory until delivered; ``SPILLED`` ones
reached the OS before ``publish`` returned and survive ``kill -9``; ``close()``
(also run at interpreter exit) delivers or spills everything accepted.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from audit_logging._engine import process
from audit_logging._engine.admission import Admission
from audit_logging._engine.delivery import Deliverer, Delivery
from audit_logging._engine.history import History
from audit_logging._engine.lifecycle import LIFECYCLE_SOURCE, Lifecycle, Maintenance
from audit_logging._engine.metrics import NopMetrics, PrometheusMetrics
from audit_logging._engine.replay import replay_spill
from audit_logging._engine.reporting import DropCounter, ErrorReporter
from audit_logging._engine.resilience import CircuitBreaker, TokenBucket
from audit_logging._engine.settings import BusConfig
from audit_logging._engine.shutdown import bounded, shut_down
from audit_logging._engine.spill.configured import spill_store_for
from audit_logging._engine.subscription import Subscription, Subscriptions
from audit_logging._model.event import EVENT_ANY, Event
from audit_logging._security.access import authorize, check_history_access
from audit_logging._threads import new_thread
from audit_logging.exceptions import BusClosedError
from audit_logging.typing import BusMetrics

__all__ = ["LIFECYCLE_SOURCE", "Bus", "Delivery", "Subscription"]

_TRANSPORT_NAME = "transport"


class Bus:
    """
    An in-process publish/subscribe bus for audit events.

    Args:
        config: the settings; ``None`` = ``BusConfig()``.
        metrics_registry: a prometheus ``CollectorRegistry`` to report to (builds a
            :class:`PrometheusMetrics` unless ``metrics`` is given).
        clock: monotonic clock for the rate limiter, breakers and timers (tests).
        **overrides: any :class:`BusConfig` field.
    """

    def __init__(
        self,
        config: BusConfig | None = None,
        *,
        metrics_registry: Any = None,
        clock: Callable[[], float] = time.monotonic,
        **overrides: Any,
    ) -> None:
        cfg = dataclasses.replace(config, **overrides) if config else BusConfig(**overrides)
        if cfg.metrics is None and metrics_registry is not None:
            cfg.metrics = PrometheusMetrics(metrics_registry)
        self._config = cfg
        self._clock = clock
        metrics: BusMetrics = cfg.metrics or NopMetrics()
        self._history = History(cfg.history_cap, cfg.max_memory_mb * 1024 * 1024)
        self._reporter = ErrorReporter(cfg.error_func)
        self._drops = DropCounter()
        self._access_control = cfg.access_control or check_history_access
        self._spill_store = spill_store_for(cfg, clock) if cfg.spill_handler is None else None
        self._spill = cfg.spill_handler if cfg.spill_handler is not None else self._spill_store
        self._subs = Subscriptions()
        self._deliverer = Deliverer(
            self._subs,
            cfg,
            metrics=metrics,
            reporter=self._reporter,
            drops=self._drops,
            spill_store=self._spill_store,
            spill_handler=cfg.spill_handler,
            clock=clock,
        )
        self._pool = self._deliverer.pool
        self._lifecycle = Lifecycle(cfg, spill=self._spill is not None, drops=self._drops)
        self._maint = Maintenance(
            cfg,
            has_store=self._spill_store is not None,
            recover=self.recover_spillover,
            circuit_open=self._subs.circuit_open,
            lifecycle=self._lifecycle,
            reporter=self._reporter,
            clock=clock,
        )
        self._async = cfg.asynchronous
        bucket = (
            TokenBucket(cfg.rate_limit, cfg.rate_burst, clock=clock) if cfg.rate_limit else None
        )
        self._admission = Admission(
            cfg,
            deliverer=self._deliverer,
            history=self._history,
            lifecycle=self._lifecycle,
            bucket=bucket,
            retry_after=self._maint.retry_after,
            metrics=metrics,
            reporter=self._reporter,
            starters=(self._pool.start, self._maint.start) if self._async else (self._maint.start,),
        )
        self._publish = self._admission.publish
        self._lifecycle.publish = functools.partial(
            self._admission.publish, sync=not self._async, internal=True
        )
        self._lifecycle.publish_final = functools.partial(
            self._admission.publish, sync=not self._async, internal=True, final=True
        )
        self._guard = self._admission.guard
        self._closed = False
        self._close_lock = threading.Lock()
        self._replayed = 0
        self._transport = cfg.transport
        if self._transport is not None:
            self._transport.start()
            # The transport itself is the handler (so its flush, close and failure
            # callback are found like a sink's); send() is what is called.
            self._add_subscription(
                EVENT_ANY,
                self._transport,
                _TRANSPORT_NAME,
                internal=True,
                call=self._transport.send,
            )
        process.track(self)
        self._maint.start_soon()

    @property
    def config(self) -> BusConfig:
        """
        The settings this bus was built with (``sample_rate``/``history_cap`` follow setters).
        """
        return self._config

    @property
    def closed(self) -> bool:
        """
        True once :meth:`close` started; the bus accepts no more events.
        """
        return self._admission.closing

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """
        The current subscriptions, in subscription order.
        """
        return self._subs.all

    def set_sample_rate(self, rate: float) -> None:
        """
        Change the fraction of events accepted; audited as ``audit_config_changed``.

        Raises:
            ValueError: ``rate`` outside [0, 1].
        """
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"sample rate must be within [0, 1], got {rate!r}")
        old, self._admission.sample_rate = self._admission.sample_rate, float(rate)
        self._config.sample_rate = float(rate)
        self._lifecycle.emit(
            "audit_config_changed", {"setting": "sample_rate", "old": old, "new": rate}
        )

    def set_lifecycle_events(self, enabled: bool) -> None:
        """
        Turn the lifecycle events on or off from now on (what has been sent stays sent).

        For hosts that learn only after the bus was built that this process is a
        short tool run, not a service (Django's management commands).
        """
        self._config.lifecycle_events = bool(enabled)

    def set_history_cap(self, n: int) -> None:
        """
        Change how many events the history keeps; audited as ``audit_config_changed``.

        Raises:
            ValueError: ``n`` negative or not an int.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"history cap must be an int >= 0, got {n!r}")
        old = self._history.cap
        self._history.set_cap(n)
        self._config.history_cap = n
        self._lifecycle.emit(
            "audit_config_changed", {"setting": "history_cap", "old": old, "new": n}
        )

    def subscribe(self, event_type: str, handler: Any, *, name: str | None = None) -> Subscription:
        """
        Deliver events of ``event_type`` (or ``EVENT_ANY``) to ``handler``.

        ``handler`` is a callable taking the event (raising = failure), a sink
        with ``write_event`` (failures raise to the bus) or any ``logging.Handler``
        (it gets ``handle(record)`` with ``record.audit_event``). ``name`` routes
        spill replays across processes, so give sinks stable names; the default is
        the handler's name, made unique with a ``#2`` suffix.

        Raises:
            BusClosedError: the bus is closed.
            ValueError: ``name`` is already taken on this bus.
            TypeError: ``handler`` is not callable.
        """
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("event_type must be a non-empty str")
        return self._add_subscription(event_type, handler, name, internal=False)

    def _add_subscription(
        self,
        event_type: str,
        handler: Any,
        name: str | None,
        *,
        internal: bool,
        call: Callable[[Event[Any]], object] | None = None,
    ) -> Subscription:
        if self._admission.closing:
            raise BusClosedError("cannot subscribe: the bus is closed")

        def make(final: str) -> Subscription:
            breaker = CircuitBreaker(
                self._config.circuit_max_fails,
                self._config.circuit_timeout,
                clock=self._clock,
                on_change=functools.partial(self._lifecycle.on_circuit_change, final),
            )
            sub = Subscription(
                event_type,
                handler,
                final,
                breaker,
                internal=internal,
                call=call,
                on_unsubscribe=self._subs.remove,
            )
            if sub.hands_back is not None:
                sub.hands_back(functools.partial(self._deliverer.on_sink_failed, sub))
            if not internal:
                self._lifecycle.note_subscriber()
            return sub

        return self._subs.add(name, handler, make)

    def publish(self, evt: Event[Any]) -> Delivery:
        """
        Publish an event; never raises for a delivery problem.

        Returns QUEUED (async) or DELIVERED (sync) when every copy was accepted,
        SPILLED/DROPPED when a copy was spilled/dropped, SAMPLED_OUT or REJECTED.
        """
        return self._publish(evt, not self._async)[0]

    def publish_sync(self, evt: Event[Any]) -> Delivery:
        """
        Publish and run the handlers in the caller, even on an async bus.
        """
        return self._publish(evt, True)[0]

    def publish_with_timeout(self, evt: Event[Any], timeout: float) -> Delivery:
        """
        Publish, waiting up to ``timeout`` seconds for backlog room.

        The event is spilled (or dropped) exactly as :meth:`publish` would, then
        an error tells the caller it was not queued.

        Raises:
            BusClosedError, RateLimitExceededError, CircuitOpenError, PublishTimeoutError.
        """
        delivery, error = self._publish(evt, not self._async, max(0.0, timeout))
        if error is not None:
            raise error
        return delivery

    def recover_spillover(self) -> int:
        """
        Replay spilled events through normal delivery; returns how many were replayed.

        Returns after the replayed events were handed to their handlers and those
        handlers were flushed (a batching sink has stored them, or handed them back
        to be spilled again). A copy marked for a subscription this bus does not
        have is kept for a later recovery and reported; corrupt lines are
        quarantined and reported. A crash during replay loses nothing: a killed
        replay delivers at most the lines since its last flush of the sinks again
        (at-least-once).
        """
        store = self._spill_store
        if store is None:
            return 0
        self._lifecycle.send_started()
        entered = self._guard.enter()
        try:
            replayed = replay_spill(
                store, self._subs, self._deliverer, self._history, self._reporter
            )
        finally:
            self._admission.leave(entered)
        self._replayed += replayed
        return replayed

    def history(self, ctx: Mapping[str, Any] | None = None) -> list[Event[Any]]:
        """
        The kept events, oldest first, as copies; guarded by ``access_control``.

        Every call, granted or refused, is audited as ``audit_history_accessed``.

        Raises:
            AccessDeniedError: access control refused ``ctx``.
        """
        role = authorize(self._access_control, ctx, self._audit_refusal)
        events = self._history.snapshot()
        self._lifecycle.emit(
            "audit_history_accessed",
            {"granted": True, "role": role, "entries": len(events)},
        )
        return events

    def _audit_refusal(self, role: str) -> None:
        self._lifecycle.emit(
            "audit_history_accessed", {"granted": False, "role": role, "entries": 0}
        )

    def flush(self, timeout: float | None = None) -> bool:
        """
        Wait until everything accepted so far is handled and the sinks flushed.

        Returns:
            False if ``timeout`` seconds passed first (e.g. a handler is stuck),
            and at once, without waiting, when called from inside one of this
            bus's handlers (it would wait for itself) or from a signal handler
            that interrupted the bus in the main thread.
        """
        if self._waits_on_itself():
            return False
        entered = self._guard.enter()
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            ok = self._drain_until(deadline)
            if self._spill is not None:
                try:
                    self._spill.flush()
                except Exception as exc:
                    self._reporter.report(exc, None)
        finally:
            self._admission.leave(entered)
        return ok

    def _drain_until(self, deadline: float | None) -> bool:
        """
        Deliver what is accepted and flush the handlers, until ``deadline``.
        """
        if self._async and self._admission.running:
            return self._deliverer.drain(deadline)
        return bounded(self._deliverer.flush_handlers, deadline)

    def _waits_on_itself(self) -> bool:
        """
        True in a thread that flush or close would wait for: one delivering for
        this bus (a handler, a worker), or the main thread interrupted inside the
        bus by a signal handler.
        """
        guard = self._guard
        if guard.inside and threading.get_ident() == guard.main:
            return True
        return any(sub.held_by_caller() for sub in self._subs.all)

    def close(self, timeout: float | None = None) -> None:
        """
        Stop intake, deliver (or spill) everything accepted, then close sinks,
        transport and spill. Idempotent and safe from many threads at once.

        ``audit_bus_stopped`` is the last event, published after the drain with
        the final counts.

        Args:
            timeout: a bound on the wall time of the whole close, whatever the
                sinks do: what is not delivered by then is spilled (or dropped and
                reported where no spill is configured), the copy a stuck handler
                holds included (a replay may deliver it twice), and a handler
                still closing at the deadline is given up on (what its
                ``abandon()`` returns is spilled) and reported. ``None`` waits as
                long as delivery takes.

        Called from inside one of this bus's handlers (or from a signal handler
        that interrupted the bus) it cannot wait for itself: it stops intake at
        once and finishes the close in a thread of its own, after returning.
        """
        if self._waits_on_itself():
            self._admission.closing = True
            new_thread(self.close, "audit-bus-close", timeout).start()
            return
        entered = self._guard.enter()
        try:
            with self._close_lock:
                if self._closed:
                    return
                shut_down(
                    None if timeout is None else time.monotonic() + timeout,
                    lifecycle=self._lifecycle,
                    lifecycle_events=self._config.lifecycle_events,
                    admission=self._admission,
                    maintenance=self._maint,
                    deliverer=self._deliverer,
                    pool=self._pool,
                    drain_until=self._drain_until,
                    counts=self._stop_counts,
                    spill=self._spill,
                    reporter=self._reporter,
                )
                self._closed = True
        finally:
            self._admission.leave(entered)
        process.untrack(self)

    def _stop_counts(self) -> dict[str, Any]:
        return {
            "published": self._admission.published,
            "delivered": sum(s.delivered for s in self._subs.all),
            "spilled": self._deliverer.spilled,
            "dropped": dict(self._drops.total),
        }

    def stats(self) -> dict[str, Any]:
        """
        Counts for dashboards and tests: published, delivered, spilled, replayed, dropped.
        """
        counts = self._stop_counts()
        counts["replayed"] = self._replayed
        counts["queued"] = sum(len(s.queue) for s in self._subs.all)
        return counts

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._admission.closing else "open"
        return f"<Bus {state} subscriptions={len(self._subs.all)}>"

    def _reinit_after_fork(self) -> None:
        """
        In a forked child: fresh locks and threads; the parent's backlog is not ours.
        """
        self._close_lock = threading.Lock()
        self._subs.reinit_after_fork()
        self._history.reinit_after_fork()
        self._reporter.reinit_after_fork()
        self._drops.reinit_after_fork()
        self._lifecycle.reinit_after_fork()
        self._pool.reinit_after_fork()
        self._maint.reinit_after_fork()
        self._admission.reinit_after_fork()
