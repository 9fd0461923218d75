"""
The bus's own audit trail, and the background thread that keeps it going.

An audit trail has to show when it started, stopped, was reconfigured or lost
something (PCI DSS 10.2.1.6), so with ``lifecycle_events`` on the bus publishes,
with source :data:`LIFECYCLE_SOURCE`:

=========================  ============================================================
type                       payload
=========================  ============================================================
``audit_bus_started``      buffer_size, worker_count, asynchronous, spill (built when
                           the bus is, so its id and time come before any event made
                           after the bus; published just before the first event, so
                           every sink subscribed by then sees it)
``audit_bus_stopped``      published, delivered, spilled, dropped (by reason): the
                           last event, published by ``close`` after the drain, so the
                           counts are final
``audit_config_changed``   setting, old, new (``set_sample_rate``, ``set_history_cap``)
``audit_circuit_opened``   subscription
``audit_circuit_closed``   subscription
``audit_drops_summary``    interval_s, dropped (reason -> count since the last summary)
``audit_history_accessed`` granted, role, entries
=========================  ============================================================

These bypass sampling and rate limiting: a sampled-out or rate-limited record
of a circuit opening would hide exactly what the trail is for.

:class:`Maintenance` is one background thread per bus for what no publisher
waits for: the periodic spill recovery (``recover_interval``), one recovery
soon after rate limiting spilled events (debounced), and the drop summaries.
"""

from __future__ import annotations

import _thread
import threading
from collections.abc import Callable
from typing import Any

from audit_logging._engine.reporting import DropCounter, ErrorReporter
from audit_logging._engine.resilience import CircuitState
from audit_logging._engine.settings import BusConfig
from audit_logging._model.event import Event, new_event
from audit_logging._threads import new_thread

__all__ = ["LIFECYCLE_SOURCE", "Lifecycle", "Maintenance"]

LIFECYCLE_SOURCE = "audit_logging.bus"
"""The ``source`` of every lifecycle event."""

_RETRY_MIN_DELAY = 0.05
_MAX_WAIT = 1.0


class Lifecycle:
    """
    Publishes the lifecycle events of one bus (see the module docstring).

    Args:
        config: the bus's settings (``lifecycle_events`` off: nothing is published).
        spill: the bus has somewhere to spill (reported in ``audit_bus_started``).
        drops: the bus's drop counts, for the summaries.

    The bus sets :attr:`publish` once its admission pipeline exists.
    """

    def __init__(self, config: BusConfig, *, spill: bool, drops: DropCounter) -> None:
        self._config = config
        self._spill = spill
        self._drops = drops
        self._lock = threading.Lock()
        self._started_sent = False
        self._stopped = False
        # Built now so that its id (a UUIDv7) and time sort before every event
        # built after the bus, whenever the first event is published.
        self._started_event: Event[Any] | None = (
            new_event(
                "audit_bus_started",
                LIFECYCLE_SOURCE,
                {
                    "buffer_size": config.buffer_size,
                    "worker_count": config.worker_count,
                    "asynchronous": config.asynchronous,
                    "spill": spill,
                },
                context_id="",
            )
            if config.lifecycle_events
            else None
        )
        self.started_pending = False
        """True once a sink subscribed and ``audit_bus_started`` is still to be sent."""
        self.publish: Callable[[Event[Any]], object] | None = None
        """Publishes one lifecycle event, bypassing sampling and rate limiting."""
        self.publish_final: Callable[[Event[Any]], object] | None = None
        """Publishes ``audit_bus_stopped`` after intake closed (the bus sets it)."""

    def note_subscriber(self) -> None:
        """
        A sink subscribed: the start is published before the next event.
        """
        with self._lock:
            if not self._started_sent:
                self.started_pending = True

    def send_started(self) -> None:
        """
        Publish ``audit_bus_started`` once, just before the first event, so every
        sink subscribed by then (not only the first) records the start.
        """
        with self._lock:
            if not self.started_pending:
                return
            self.started_pending = False
            self._started_sent = True
            evt, self._started_event = self._started_event, None
        publish = self.publish
        quiet = not self._config.lifecycle_events  # turned off after the bus was built
        if evt is not None and not quiet and not self._stopped and publish is not None:
            publish(evt)

    def emit(self, event_type: str, payload: dict[str, Any]) -> None:
        """
        Publish one lifecycle event (after the start, if that is still pending).
        """
        if self.started_pending and event_type != "audit_bus_started":
            self.send_started()
        publish = self.publish
        if self._config.lifecycle_events and not self._stopped and publish is not None:
            publish(new_event(event_type, LIFECYCLE_SOURCE, payload, context_id=""))

    def stop(self) -> None:
        """
        The bus is closing: publish nothing more (but :meth:`emit_stopped`).
        """
        self._stopped = True

    def emit_stopped(self, counts: dict[str, Any]) -> bool:
        """
        Publish ``audit_bus_stopped`` with the final counts, through
        :attr:`publish_final` (intake is closed by then); True if it was published.
        """
        self._stopped = True
        publish = self.publish_final
        if not self._config.lifecycle_events or publish is None:
            return False
        publish(new_event("audit_bus_stopped", LIFECYCLE_SOURCE, counts, context_id=""))
        return True

    def on_circuit_change(self, name: str, old: CircuitState, new: CircuitState) -> None:
        """
        A subscription's breaker changed state: record openings and closings.
        """
        if new is CircuitState.OPEN and old is CircuitState.CLOSED:
            self.emit("audit_circuit_opened", {"subscription": name})
        elif new is CircuitState.CLOSED:
            self.emit("audit_circuit_closed", {"subscription": name})

    def emit_drop_summary(self, interval: float) -> None:
        """
        Publish the drops since the last summary, if there were any.
        """
        window = self._drops.take_window()
        if window:
            self.emit("audit_drops_summary", {"interval_s": interval, "dropped": window})

    def reinit_after_fork(self) -> None:
        """
        Give a forked child a fresh lock.
        """
        self._lock = threading.Lock()


class Maintenance:
    """
    One background thread per bus: periodic spill recovery, the debounced retry
    after rate limiting, and drop summaries.

    Started at construction when there is a ``recover_interval``, else lazily
    (at the first publish), and only when there is something to do: a
    ``recover_interval``, lifecycle events (the drop summaries), or a spill store
    with a rate limit (the retry).

    Args:
        config: the bus's settings.
        has_store: the bus spills to its own store (the only thing it can recover).
        recover: replays the spill; returns how many events it replayed.
        circuit_open: True while some subscription's circuit is open.
        lifecycle: publishes the drop summaries.
        reporter: where a failing round is reported.
        clock: monotonic clock for every timer.
    """

    def __init__(
        self,
        config: BusConfig,
        *,
        has_store: bool,
        recover: Callable[[], int],
        circuit_open: Callable[[], bool],
        lifecycle: Lifecycle,
        reporter: ErrorReporter,
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._has_store = has_store
        self._recover = recover
        self._circuit_open = circuit_open
        self._lifecycle = lifecycle
        self._reporter = reporter
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._retry_at: float | None = None

    def start(self) -> None:
        """
        Start the thread if there is something to do (once).
        """
        cfg = self._config
        wanted = cfg.recover_interval is not None or cfg.lifecycle_events
        wanted = wanted or (self._has_store and cfg.rate_limit is not None)
        with self._cond:
            if self._thread is not None or self._stopping or not wanted:
                return
            self._thread = new_thread(self._run, "audit-bus-maintenance")
        self._thread.start()

    def retry_after(self, delay: float) -> None:
        """
        Ask for one spill recovery once the rate limiter has room again (debounced).
        """
        if not self._has_store:
            return
        with self._cond:
            if self._retry_at is None:
                self._retry_at = self._clock() + max(delay, _RETRY_MIN_DELAY)
                self._cond.notify()
        self.start()

    def start_soon(self) -> None:
        """
        Start the thread without waiting for it (``recover_interval`` runs from
        construction: a restarted service that only needs to recover must not
        wait for a first publish).

        ``Thread.start`` waits for the new thread, and a bus is often built by
        ``dictConfig`` under logging's module lock, which the new thread can need
        (a garbage collection there runs logging's weakref callback): so a
        low-level thread, which nobody waits for, does the starting.
        """
        if self._config.recover_interval is None:
            return
        _thread.start_new_thread(self._start_quietly, ())

    def _start_quietly(self) -> None:
        try:
            self.start()
        except Exception as exc:  # no thread to be had: the first publish tries again
            self._reporter.report(exc, None)

    def stop(self, timeout: float | None = 5.0) -> None:
        """
        Stop the thread and wait for it (up to ``timeout`` s); it is not restarted.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0 if timeout is None else min(timeout, 5.0))

    def reinit_after_fork(self) -> None:
        """
        The child has none of the parent's threads: forget the thread, start anew lazily.
        """
        self._cond = threading.Condition(threading.Lock())
        self._stopping = False
        self._thread = None
        self._retry_at = None

    def _run(self) -> None:
        cfg = self._config
        clock = self._clock
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
                    self._cond.wait(min(wait, _MAX_WAIT))
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
                if retry or (periodic and not self._circuit_open()):
                    self._recover()
                if periodic:
                    next_recover = now + (cfg.recover_interval or 0.0)
                if now >= next_summary:
                    self._lifecycle.emit_drop_summary(summary_every)
                    next_summary = now + summary_every
            except Exception as exc:
                self._reporter.report(exc, None)
