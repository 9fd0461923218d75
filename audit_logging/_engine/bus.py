"""
The bus: publish typed audit events to subscribed handlers, asynchronously,
without ever losing one silently [Go: Bus, NewBus].

What ``publish`` does, in order (API §3): refuse when closed (DROPPED) -> validate
the schema (REJECTED) -> sample (SAMPLED_OUT) -> redact secrets -> rate-limit
(spill or DROPPED) -> keep in history -> hand a copy to every matching
subscription. In async mode a copy goes into the subscription's bounded backlog
(see :mod:`audit_logging._engine.dispatch` for the design); a full backlog or an open
circuit spills *that subscription's* copy, marked with its name, so a replay
reaches it alone. ``publish`` never blocks and never raises for a delivery
problem: problems go to ``error_func`` (throttled per kind) and to the metrics,
and the returned :class:`Delivery` says what happened.

Circuit breakers are per subscription: a failing Kafka sink opens its own
circuit and spills its own copies while the file and database sinks keep
receiving events.

The bus audits itself (PCI DSS 10.2.1.6). When ``lifecycle_events`` is on it
publishes, with source ``audit_logging._engine.bus``:

=========================  ============================================================
type                       payload
=========================  ============================================================
``audit_bus_started``      buffer_size, worker_count, asynchronous, spill (just before
                           the first event, so every sink subscribed by then sees it)
``audit_bus_stopped``      published, delivered, spilled, dropped (by reason)
``audit_config_changed``   setting, old, new (``set_sample_rate``, ``set_history_cap``)
``audit_circuit_opened``   subscription, failures
``audit_circuit_closed``   subscription
``audit_drops_summary``    interval_s, dropped (reason -> count since the last summary)
``audit_history_accessed`` granted, role, entries
=========================  ============================================================

These bypass sampling and rate limiting.

Durability: ``QUEUED`` events live in memory until delivered; ``SPILLED`` ones
reached the OS before ``publish`` returned and survive ``kill -9``; ``close()``
(also run at interpreter exit) delivers or spills everything accepted.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from audit_logging._engine import registry as _registry
from audit_logging._engine.dispatch import Delivery, Marker, Subscription, WorkerPool
from audit_logging._engine.history import History
from audit_logging._engine.metrics import NopMetrics, PrometheusMetrics
from audit_logging._engine.reporting import DropCounter, ErrorReporter
from audit_logging._engine.resilience import CircuitBreaker, CircuitState, TokenBucket
from audit_logging._engine.settings import BusConfig
from audit_logging._engine.spill.store import SpillError, SpillFullError, SpillStore
from audit_logging._model.event import EVENT_ANY, Event, new_event
from audit_logging._model.ids import uuid7_str
from audit_logging._model.schemas import validate
from audit_logging._security.access import check_history_access, current_access_context
from audit_logging._security.sanitize import sanitize_payload
from audit_logging.exceptions import (
    BusClosedError,
    CircuitOpenError,
    PublishTimeoutError,
    RateLimitExceededError,
    SchemaValidationError,
)
from audit_logging.typing import BusMetrics, SpillHandler

__all__ = ["LIFECYCLE_SOURCE", "Bus", "Delivery", "Subscription"]

LIFECYCLE_SOURCE = "audit_logging.bus"
_SEVERITY = {Delivery.DROPPED: 3, Delivery.SPILLED: 2}
_TRANSPORT_NAME = "transport"
_REPLAY_LOCK_TIMEOUT = 5.0
_MATCH_CACHE_MAX = 1024  # event types whose subscriptions are cached
_REPLAY_COMMIT_EVERY = 500  # lines replayed between sink flushes and checkpoints


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
        self._metrics: BusMetrics = cfg.metrics or NopMetrics()
        self._metric_spilled = getattr(self._metrics, "event_spilled", None)
        self._metric_depth = getattr(self._metrics, "queue_depth", None)
        self._metric_delivered = getattr(self._metrics, "event_delivered", None)
        # Timing every handler call costs two clock reads: only when someone records it.
        self._timed = type(self._metrics) is not NopMetrics
        self._history = History(cfg.history_cap, cfg.max_memory_mb * 1024 * 1024)
        self._reporter = ErrorReporter(cfg.error_func)
        self._drops = DropCounter()
        self._sample_rate = float(cfg.sample_rate)
        self._bucket = (
            TokenBucket(cfg.rate_limit, cfg.rate_burst, clock=clock) if cfg.rate_limit else None
        )
        self._access_control = cfg.access_control or check_history_access
        self._spill_store: SpillStore | None = None
        self._spill: SpillHandler | SpillStore | None = cfg.spill_handler
        if self._spill is None and cfg.spillover_dir is not None:
            key = cfg.spill_key
            if key is None and os.environ.get("AUDIT_SPILL_KEY"):
                key = BusConfig.from_env(
                    {"AUDIT_SPILL_KEY": os.environ["AUDIT_SPILL_KEY"]}
                ).spill_key
            self._spill_store = SpillStore(
                cfg.spillover_dir,
                key=key,
                fsync=cfg.spill_fsync,
                fsync_interval=cfg.spill_fsync_interval,
                max_bytes=cfg.spill_max_bytes,
                clock=clock,
            )
            self._spill = self._spill_store
        self._subs: tuple[Subscription, ...] = ()
        self._by_type: dict[str, tuple[Subscription, ...]] = {}
        self._subs_lock = threading.Lock()
        self._started_event_sent = False
        self._running = False
        self._started_pending = False
        self._async = cfg.asynchronous
        self._pool = WorkerPool(cfg.worker_count, self._deliver_item, self._after_batch)
        self._active: list[None] = []
        self._closing = False
        self._closed = False
        self._close_lock = threading.Lock()
        self._pid = os.getpid()
        self._counts = {"published": 0, "spilled": 0, "replayed": 0}
        self._maint = _Maintenance(self)
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
        _registry.track(self)

    # -- configuration ---------------------------------------------------------------

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
        return self._closing

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """
        The current subscriptions, in subscription order.
        """
        return self._subs

    def set_sample_rate(self, rate: float) -> None:
        """
        Change the fraction of events accepted; audited as ``audit_config_changed``.

        Raises:
            ValueError: ``rate`` outside [0, 1].
        """
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"sample rate must be within [0, 1], got {rate!r}")
        old, self._sample_rate = self._sample_rate, float(rate)
        self._config.sample_rate = float(rate)
        self._lifecycle("audit_config_changed", {"setting": "sample_rate", "old": old, "new": rate})

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
        self._lifecycle("audit_config_changed", {"setting": "history_cap", "old": old, "new": n})

    # -- subscriptions ---------------------------------------------------------------

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
        if self._closing:
            raise BusClosedError("cannot subscribe: the bus is closed")
        with self._subs_lock:
            taken = {s.name for s in self._subs}
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
            breaker = CircuitBreaker(
                self._config.circuit_max_fails,
                self._config.circuit_timeout,
                clock=self._clock,
                on_change=functools.partial(self._on_circuit_change, final),
            )
            sub = Subscription(
                self, event_type, handler, final, breaker, internal=internal, call=call
            )
            set_callback = getattr(handler, "set_failure_callback", None)
            if callable(set_callback):
                set_callback(functools.partial(self._on_sink_failed, sub))
            self._subs = (*self._subs, sub)
            self._by_type = {}
            if not internal and not self._started_event_sent:
                self._started_pending = True
        return sub

    def _send_started(self) -> None:
        """
        Publish ``audit_bus_started`` once, just before the first event, so every
        sink subscribed by then (not only the first) records the start.
        """
        with self._subs_lock:
            if not self._started_pending:
                return
            self._started_pending = False
            self._started_event_sent = True
        self._lifecycle(
            "audit_bus_started",
            {
                "buffer_size": self._config.buffer_size,
                "worker_count": self._config.worker_count,
                "asynchronous": self._async,
                "spill": self._spill is not None,
            },
        )

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._subs_lock:
            if sub in self._subs:
                self._subs = tuple(s for s in self._subs if s is not sub)
                self._by_type = {}
        sub.active = False

    def _matching(self, event_type: str) -> tuple[Subscription, ...]:
        subs = self._by_type.get(event_type)
        if subs is None:
            subs = tuple(s for s in self._subs if s.matches(event_type))
            # Types are caller input: the cache stays bounded in entries and in size.
            if len(self._by_type) < _MATCH_CACHE_MAX and len(event_type) <= 128:
                self._by_type[event_type] = subs
        return subs

    # -- publishing ------------------------------------------------------------------

    def publish(self, evt: Event[Any]) -> Delivery:
        """
        Publish an event; never raises for a delivery problem [Go: Publish].

        Returns QUEUED (async) or DELIVERED (sync) when every copy was accepted,
        SPILLED/DROPPED when a copy was spilled/dropped, SAMPLED_OUT or REJECTED.
        """
        return self._publish(evt, sync=not self._async)[0]

    def publish_sync(self, evt: Event[Any]) -> Delivery:
        """
        Publish and run the handlers in the caller, even on an async bus.
        """
        return self._publish(evt, sync=True)[0]

    def publish_with_timeout(self, evt: Event[Any], timeout: float) -> Delivery:
        """
        Publish, waiting up to ``timeout`` seconds for backlog room.

        The event is spilled (or dropped) exactly as :meth:`publish` would, then
        an error tells the caller it was not queued.

        Raises:
            BusClosedError, RateLimitExceededError, CircuitOpenError, PublishTimeoutError.
        """
        delivery, error = self._publish(evt, sync=not self._async, wait=max(0.0, timeout))
        if error is not None:
            raise error
        return delivery

    def _publish(
        self, evt: Any, *, sync: bool, wait: float | None = None, internal: bool = False
    ) -> tuple[Delivery, Exception | None]:
        if self._closing:
            return self._refuse_closed(evt)
        if not self._running:
            self._start_threads()
        active = self._active
        active.append(None)
        try:
            if self._closing:
                return self._refuse_closed(evt)
            if self._started_pending and not internal:
                self._send_started()
            admitted = self._admit(evt, internal)
            if isinstance(admitted, Delivery):
                return admitted, None
            evt = admitted
            bucket = self._bucket
            if bucket is not None and not internal and not bucket.try_acquire():
                delivery = self._spill_event(evt, None, "rate_limited")
                self._maint.retry_after(bucket.time_until_available())
                return delivery, RateLimitExceededError(f"rate limit exceeded; event {delivery}")
            self._history.add(evt)
            self._metrics.event_published(evt.type)
            self._counts["published"] += 1
            if sync:
                return self._deliver_now(evt)
            return self._enqueue(evt, wait)
        finally:
            active.pop()

    def _start_threads(self) -> None:
        """
        Start the workers and the maintenance thread at the first publish, not at
        subscription: ``dictConfig`` builds handlers (and so subscribes sinks) while
        holding logging's module lock, and a thread started then can deadlock on it
        (a garbage collection in the new thread runs logging's weakref callback,
        which takes that lock while ``Thread.start`` waits for the thread).
        """
        with self._subs_lock:
            if self._running:
                return
            self._running = True
        if self._async:
            self._pool.start()
        self._maint.start()

    def _refuse_closed(self, evt: Any) -> tuple[Delivery, Exception | None]:
        event = evt if isinstance(evt, Event) else None
        self._drop(event, None, "closed")
        return Delivery.DROPPED, BusClosedError("the bus is closed")

    def _admit(self, evt: Any, internal: bool) -> Event[Any] | Delivery:
        if not isinstance(evt, Event):
            self._reporter.report(TypeError(f"cannot publish {type(evt).__name__}: not an Event"))
            self._count_drop("invalid", "invalid")
            return Delivery.REJECTED
        if not evt.id:
            evt = dataclasses.replace(evt, id=uuid7_str())
        try:
            validate(evt)
        except SchemaValidationError as exc:
            self._count_drop(evt.type, "schema")
            self._reporter.report(exc, evt)
            return Delivery.REJECTED
        rate = self._sample_rate
        if rate < 1.0 and not internal and random.random() >= rate:
            self._count_drop(evt.type, "sampled")
            return Delivery.SAMPLED_OUT
        evt = sanitize_payload(evt)
        limit = self._config.max_event_bytes
        if limit is not None:
            size = len(evt.to_json_bytes())
            if size > limit:
                self._count_drop(evt.type, "too_large")
                self._reporter.report(
                    ValueError(f"event is {size} bytes of JSON, over max_event_bytes={limit}"), evt
                )
                return Delivery.REJECTED
        event: Event[Any] = evt
        return event

    def _enqueue(self, evt: Event[Any], wait: float | None) -> tuple[Delivery, Exception | None]:
        worst = Delivery.QUEUED
        error: Exception | None = None
        limit = self._config.buffer_size
        pool = self._pool
        for sub in self._matching(evt.type):
            if sub.breaker.is_open:
                outcome = self._spill_event(evt, sub, "circuit_open")
                error = CircuitOpenError(f"circuit of subscription {sub.name!r} is open")
            else:
                queue = sub.queue
                if len(queue) >= limit and wait:
                    self._wait_for_room(sub, wait)
                if len(queue) >= limit:
                    outcome = self._spill_event(evt, sub, "queue_full")
                    error = PublishTimeoutError(
                        f"no room in the backlog of subscription {sub.name!r}"
                    )
                else:
                    queue.append(evt)
                    if not sub.scheduled:
                        pool.schedule(sub)
                    continue
            if _SEVERITY.get(outcome, 0) > _SEVERITY.get(worst, 0):
                worst = outcome
        return worst, error

    def _wait_for_room(self, sub: Subscription, timeout: float) -> None:
        deadline = self._clock() + timeout
        limit = self._config.buffer_size
        while len(sub.queue) >= limit and self._clock() < deadline and not self._closing:
            time.sleep(0.0005)

    def _deliver_now(self, evt: Event[Any]) -> tuple[Delivery, Exception | None]:
        worst = Delivery.DELIVERED
        error: Exception | None = None
        for sub in self._matching(evt.type):
            if sub.breaker.is_open:
                error = CircuitOpenError(f"circuit of subscription {sub.name!r} is open")
            with sub.lock:
                outcome = self._deliver_one(sub, evt)
            if _SEVERITY.get(outcome, 0) > _SEVERITY.get(worst, 0):
                worst = outcome
        return worst, error

    def _after_batch(self, sub: Subscription) -> None:
        """
        Worker hook after each batch: report the subscription's backlog depth.
        """
        if self._metric_depth is not None:
            self._metric_depth(sub.name, len(sub.queue))

    def _deliver_item(self, sub: Subscription, item: Any) -> None:
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
            self._deliver_one(sub, item)
        except BaseException as exc:  # never let anything kill a worker
            self._reporter.report(exc, item)

    def _deliver_one(self, sub: Subscription, evt: Event[Any]) -> Delivery:
        breaker = sub.breaker
        closed = breaker.is_closed
        if not closed and not breaker.allow():
            return self._spill_event(evt, sub, "circuit_open")
        timed = self._timed
        start = time.perf_counter() if timed else 0.0
        try:
            sub.call(evt)
        except Exception as exc:
            sub.failed += 1
            breaker.record_failure()
            self._reporter.report(exc, evt)
            return self._spill_event(evt, sub, "handler_error")
        if timed:
            self._metrics.handler_latency(evt.type, time.perf_counter() - start)
        # One subscription is delivered to by one thread at a time: ``closed`` still holds.
        if not closed or breaker.consecutive_failures:
            breaker.record_success()
        sub.delivered += 1
        if self._metric_delivered is not None:
            self._metric_delivered(evt.type)
        return Delivery.DELIVERED

    # -- spill and drops -------------------------------------------------------------

    def _spill_event(self, evt: Event[Any], sub: Subscription | None, reason: str) -> Delivery:
        spill = self._spill
        if spill is None:
            return self._drop(evt, sub, reason)
        try:
            if self._spill_store is not None:
                self._spill_store.write(evt, None if sub is None else sub.name)
            else:
                spill.write(evt)
        except SpillFullError as exc:
            return self._drop(evt, sub, "spill_full", exc)
        except Exception as exc:
            return self._drop(evt, sub, "spill_failed", exc)
        self._counts["spilled"] += 1
        if self._metric_spilled is not None:
            self._metric_spilled(evt.type, reason)
        return Delivery.SPILLED

    def _count_drop(self, event_type: str, reason: str) -> None:
        self._metrics.event_dropped(event_type, reason)
        self._drops.add(reason)

    def _drop(
        self,
        evt: Event[Any] | None,
        sub: Subscription | None,
        reason: str,
        cause: BaseException | None = None,
    ) -> Delivery:
        self._count_drop(evt.type if evt is not None else "unknown", reason)
        where = "" if sub is None else f" for subscription {sub.name!r}"

        def make(suppressed: int) -> BaseException:
            more = f" ({suppressed} more since the last report)" if suppressed else ""
            text = f"event dropped{where}: {reason}{more}"
            if cause is not None:
                text += f": {cause}"
            if reason == "closed":
                return BusClosedError(f"the bus is closed; {text}")
            return SpillError(text) if reason.startswith("spill") else _DroppedError(text)

        self._reporter.report_throttled(f"{reason}:{where}", make, evt)
        return Delivery.DROPPED

    def _on_sink_failed(
        self, sub: Subscription, events: Sequence[Event[Any]], exc: BaseException
    ) -> None:
        """
        A batching sink hands back events it could not store: spill them for it.
        """
        sub.breaker.record_failure()
        self._reporter.report(exc, events[0] if events else None)
        for evt in events:
            self._spill_event(evt, sub, "sink_failed")

    def _on_circuit_change(self, name: str, old: CircuitState, new: CircuitState) -> None:
        if new is CircuitState.OPEN and old is CircuitState.CLOSED:
            self._lifecycle("audit_circuit_opened", {"subscription": name})
        elif new is CircuitState.CLOSED:
            self._lifecycle("audit_circuit_closed", {"subscription": name})

    def _lifecycle(self, event_type: str, payload: dict[str, Any]) -> None:
        if self._started_pending and event_type != "audit_bus_started":
            self._send_started()
        if self._config.lifecycle_events and not self._closing:
            self._publish(
                new_event(event_type, LIFECYCLE_SOURCE, payload, context_id=""),
                sync=not self._async,
                internal=True,
            )

    # -- spill recovery --------------------------------------------------------------

    def _circuit_open(self) -> bool:
        """
        True while some subscription's circuit is open (not yet half-open).
        """
        return any(sub.breaker.is_open for sub in self._subs)

    def recover_spillover(self) -> int:
        """
        Replay spilled events through normal delivery; returns how many were replayed.

        Returns after the replayed events were handed to their handlers and those
        handlers were flushed (a batching sink has stored them, or handed them back
        to be spilled again). A copy marked for a subscription this bus does not
        have is kept for a later recovery and reported; corrupt lines are
        quarantined and reported. A crash during replay loses nothing: the replay
        checkpoint only moves past lines whose sinks were flushed (every 500 lines
        and at the end of each file), so a killed replay delivers at most those
        lines again (at-least-once; the database sink ignores duplicate ids and
        history keeps a replayed id once).
        """
        store = self._spill_store
        if store is None:
            return 0
        unknown: set[str] = set()
        touched: set[Subscription] = set()

        def deliver(evt: Event[Any], sub_name: str | None) -> bool:
            if sub_name is None:
                targets = self._matching(evt.type)
                self._history.add(evt)
            else:
                sub = next((s for s in self._subs if s.name == sub_name), None)
                if sub is None:
                    unknown.add(sub_name)
                    return False
                targets = (sub,)
            kept = False
            for sub in targets:
                # A copy that could be neither delivered nor re-spilled keeps the line
                # (targets that succeeded may see it again: at-least-once). A handler
                # stuck in a worker holds the lock: keep the line rather than hang.
                if not sub.lock.acquire(timeout=_REPLAY_LOCK_TIMEOUT):
                    kept = True
                    continue
                try:
                    kept = self._deliver_one(sub, evt) is Delivery.DROPPED or kept
                finally:
                    sub.lock.release()
                touched.add(sub)
            return not kept

        def commit() -> None:
            # Batching sinks hold accepted events in memory: store them (or get them
            # handed back and re-spilled) before the checkpoint moves past them.
            while touched:
                touched.pop().flush_handler()

        def bad_line(path: str, lineno: int, reason: str) -> None:
            self._reporter.report(SpillError(f"{path}:{lineno}: {reason}; line quarantined"))

        result = store.recover(
            deliver, on_bad_line=bad_line, commit=commit, commit_every=_REPLAY_COMMIT_EVERY
        )
        if unknown:
            self._reporter.report(
                SpillError(
                    f"{result.kept} spilled event(s) kept for subscriptions this bus does not "
                    f"have: {', '.join(sorted(unknown))}"
                )
            )
        self._counts["replayed"] += result.replayed
        return result.replayed

    # -- history ---------------------------------------------------------------------

    def history(self, ctx: Mapping[str, Any] | None = None) -> list[Event[Any]]:
        """
        The kept events, oldest first, as copies; guarded by ``access_control``.

        Every call, granted or refused, is audited as ``audit_history_accessed``.

        Raises:
            AccessDeniedError: access control refused ``ctx``.
        """
        effective = ctx if ctx is not None else current_access_context()
        try:
            role = effective.get("role") if isinstance(effective, Mapping) else None
        except Exception:  # an unreadable ctx: access control refuses it, we audit it
            role = None
        try:
            self._access_control(ctx)
        except Exception:
            # Whatever a custom access_control raises is a refusal, and audited as one.
            self._lifecycle(
                "audit_history_accessed", {"granted": False, "role": _safe_role(role), "entries": 0}
            )
            raise
        events = self._history.snapshot()
        self._lifecycle(
            "audit_history_accessed",
            {"granted": True, "role": _safe_role(role), "entries": len(events)},
        )
        return events

    # -- flush and close -------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """
        Wait until everything accepted so far is handled and the sinks flushed.

        Returns:
            False if ``timeout`` seconds passed first (e.g. a handler is stuck).
        """
        deadline = None if timeout is None else self._clock() + timeout
        ok = True
        if self._async and self._pool_started():
            markers = []
            for sub in self._subs:
                marker = Marker(flush_handler=True)
                sub.queue.append(marker)
                self._pool.schedule(sub)
                markers.append(marker)
            for marker in markers:
                remaining = None if deadline is None else max(0.0, deadline - self._clock())
                ok = marker.done.wait(remaining) and ok
        else:
            for sub in self._subs:
                try:
                    with sub.lock:
                        sub.flush_handler()
                except Exception as exc:
                    self._reporter.report(exc, None)
        if self._spill is not None:
            try:
                self._spill.flush()
            except Exception as exc:
                self._reporter.report(exc, None)
        return ok

    def _pool_started(self) -> bool:
        return self._running

    def close(self, timeout: float | None = None) -> None:
        """
        Stop intake, deliver (or spill) everything accepted, then close sinks,
        transport and spill. Idempotent and safe from many threads at once.

        Args:
            timeout: seconds to wait for delivery; what is still queued then is spilled
                (or dropped and reported where no spill is configured).
        """
        with self._close_lock:
            if self._closed:
                return
            self._send_started()
            self._lifecycle("audit_bus_stopped", self._stop_counts())
            self._closing = True
            while self._active:  # publishers past the closed check finish first
                time.sleep(0.0001)
            self._maint.stop()
            drained = self.flush(timeout)
            if not drained:
                self._spill_leftovers()
            self._pool.stop(0.0 if not drained else 5.0)
            self._spill_leftovers()
            self._close_handlers()
            if self._spill is not None:
                try:
                    self._spill.close()
                except Exception as exc:
                    self._reporter.report(exc, None)
            self._closed = True
        _registry.untrack(self)

    def _stop_counts(self) -> dict[str, Any]:
        return {
            "published": self._counts["published"],
            "delivered": sum(s.delivered for s in self._subs),
            "spilled": self._counts["spilled"],
            "dropped": dict(self._drops.total),
        }

    def _spill_leftovers(self) -> None:
        for sub in self._subs:
            queue = sub.queue
            while True:
                try:
                    item = queue.popleft()
                except IndexError:
                    break
                if isinstance(item, Marker):
                    item.done.set()
                else:
                    self._spill_event(item, sub, "closed")

    def _close_handlers(self) -> None:
        for sub in self._subs:
            close = getattr(sub.handler, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    self._reporter.report(exc, None)

    def stats(self) -> dict[str, Any]:
        """
        Counts for dashboards and tests: published, delivered, spilled, replayed, dropped.
        """
        counts = self._stop_counts()
        counts["replayed"] = self._counts["replayed"]
        counts["queued"] = sum(len(s.queue) for s in self._subs)
        return counts

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closing else "open"
        return f"<Bus {state} subscriptions={len(self._subs)}>"

    # -- maintenance and fork --------------------------------------------------------

    def _emit_drop_summary(self, interval: float) -> None:
        window = self._drops.take_window()
        if window:
            self._lifecycle("audit_drops_summary", {"interval_s": interval, "dropped": window})

    def _reinit_after_fork(self) -> None:
        """
        In a forked child: fresh locks and threads; the parent's backlog is not ours.
        """
        self._pid = os.getpid()
        self._subs_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._active = []
        for sub in self._subs:
            sub.lock = threading.RLock()
            sub.queue.clear()
            sub.scheduled = False
        self._history.reinit_after_fork()
        self._reporter.reinit_after_fork()
        self._drops.reinit_after_fork()
        self._pool.reinit_after_fork()
        self._maint = _Maintenance(self)
        if self._running and not self._closing:
            if self._async:
                self._pool.start()
            self._maint.start()


class _DroppedError(RuntimeError):
    """
    Reported to ``error_func`` when an event copy had to be dropped.
    """


def _safe_role(role: object) -> str:
    return role if isinstance(role, str) else ("" if role is None else repr(role)[:64])


class _Maintenance:
    """
    One background thread per bus: periodic spill recovery, the debounced retry
    after rate limiting, and drop summaries.
    """

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._cond = threading.Condition(threading.Lock())
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._retry_at: float | None = None

    def start(self) -> None:
        cfg = self._bus._config
        wanted = cfg.recover_interval is not None or cfg.lifecycle_events
        wanted = wanted or (self._bus._spill_store is not None and cfg.rate_limit is not None)
        with self._cond:
            if self._thread is not None or self._stopping or not wanted:
                return
            self._thread = threading.Thread(
                target=self._run, name="audit-bus-maintenance", daemon=True
            )
        self._thread.start()

    def retry_after(self, delay: float) -> None:
        """
        Ask for one spill recovery once the rate limiter has room again (debounced).
        """
        if self._bus._spill_store is None:
            return
        with self._cond:
            if self._retry_at is None:
                self._retry_at = self._bus._clock() + max(delay, 0.05)
                self._cond.notify()
        self.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)

    def _run(self) -> None:
        bus = self._bus
        cfg = bus._config
        clock = bus._clock
        next_recover = None if cfg.recover_interval is None else clock() + cfg.recover_interval
        summary_every = cfg.drop_summary_interval
        next_summary = clock() + summary_every
        while True:
            with self._cond:
                if self._stopping:
                    return
                due = [t for t in (next_recover, self._retry_at, next_summary) if t is not None]
                wait = max(0.0, min(due) - clock())
                if wait > 0:
                    self._cond.wait(min(wait, 1.0))
                if self._stopping:
                    return
                now = clock()
                retry = self._retry_at is not None and now >= self._retry_at
                if retry:
                    self._retry_at = None
            try:
                periodic = next_recover is not None and now >= next_recover
                # While a circuit is open its copies would only be spilled again (a
                # rewrite of every line per round, competing with publishers for the
                # spill lock): the periodic replay waits until the circuit half-opens.
                if retry or (periodic and not bus._circuit_open()):
                    bus.recover_spillover()
                if periodic:
                    next_recover = now + (cfg.recover_interval or 0.0)
                if now >= next_summary:
                    bus._emit_drop_summary(summary_every)
                    next_summary = now + summary_every
            except Exception as exc:
                bus._reporter.report(exc, None)
