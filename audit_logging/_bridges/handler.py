"""
The bus as a standard ``logging.Handler``: :class:`AuditHandler`.

Why a handler rather than a ``QueueHandler`` recipe: ``QueueHandler.prepare``
flattens records (``msg`` rendered, ``exc_info`` dropped), which loses the
structlog event dict and the exception. :class:`AuditHandler` reads the whole
record in the caller's thread (context id, OpenTelemetry span, structlog dict,
exception) and hands an :class:`~audit_logging._model.event.Event` to the bus, whose
own bounded, spilling backlog replaces the stdlib queue.

Lifecycle under ``logging.config.dictConfig`` (which closes every existing
handler on each non-incremental call, and Django calls it twice):

- the bus is shared, not owned: ``AuditHandler.close()`` never closes it. A bus
  named in the config lives in the registry (:func:`audit_logging.get_bus`) and
  is closed by the registry's ``atexit`` hook (or explicitly with
  ``bus.close()``), after delivering what it accepted;
- the sinks a handler builds belong to the bus: they are subscribed under their
  names, closed when the bus closes, and withdrawn from ``logging.shutdown``'s
  list so a later ``dictConfig`` cannot close them under the bus. Configuring
  again with the same sink name and the same settings keeps the existing
  subscription (nothing is subscribed twice); different settings replace it
  (the old subscription is withdrawn and its handler closed).

Re-entrancy: records emitted while an event is being handled never come back
to the bus. :class:`AuditHandler` ignores records from the ``audit_logging``
loggers (our own diagnostics), from ``kafka`` (kafka-python logs every send
problem) and any ``ignore_loggers`` given, records logged from the package's own
threads (bus workers, sink flushers, where driver logs such as SQLAlchemy's
are emitted; known by identity, see :mod:`audit_logging._threads`, so an
application thread named ``audit-*`` is published like any other) and records
logged while an :class:`AuditHandler` is publishing in the same context (a
synchronous bus running a sink inline).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from audit_logging._bridges.reentry import PUBLISHING
from audit_logging._bridges.wiring import attach_sinks, plain, resolve_bus
from audit_logging._model import options
from audit_logging._model.event import Event
from audit_logging._records.logrecord import (
    event_dict_to_event,
    level_event_type,
    record_to_event,
)
from audit_logging._threads import is_own_thread

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus
    from audit_logging._engine.subscription import Subscription

__all__ = ["AuditHandler"]

_IGNORED_PREFIXES = ("audit_logging.", "kafka.")


class AuditHandler(logging.Handler):
    """
    A ``logging.Handler`` that publishes records as audit events.

    Args:
        bus: a :class:`~audit_logging._engine.bus.Bus`, a registry name for
            :func:`~audit_logging.get_bus`, or a mapping of BusConfig fields plus
            ``"name"`` (default ``"default"``); the config applies when the
            registry creates that bus.
        sinks: name -> handler or dictConfig-style dict, subscribed on the bus
            (see :func:`attach_sinks`).
        source: the event source; ``None`` = each record's logger name.
        level: the handler level.
        include_traceback: add the masked traceback (never locals) of
            ``exc_info`` to error and fatal events.
        ignore_loggers: more logger names (and their children) whose records
            are not published; ``audit_logging`` and ``kafka`` always are ignored.

    Mapping: DEBUG -> ``log_debug``, INFO -> ``log_info``, WARNING ->
    ``log_warning``, ERROR -> ``log_error``, CRITICAL -> ``log_fatal``; ``extra``
    keys -> ``fields`` keeping their JSON types (copied in the caller's thread; see
    :mod:`audit_logging._model.fieldvalues`); ``extra={"audit_event": evt}`` publishes ``evt``;
    ``extra={"event_type": t, "payload": {...}}`` publishes a domain event; a
    structlog event dict in ``record.msg`` (``ProcessorFormatter.wrap_for_formatter``)
    is mapped as :class:`audit_logging._bridges.processor.AuditProcessor` maps it.

    ``emit`` never raises into the application: failures go to ``handleError``
    and the bus reports delivery problems itself. ``close()`` is idempotent and
    leaves the bus and its sinks running (see the module docstring).
    """

    def __init__(
        self,
        bus: Bus | str | Mapping[str, Any] = "default",
        *,
        sinks: Mapping[str, Any] | None = None,
        source: str | None = None,
        level: int | str = logging.NOTSET,
        include_traceback: bool = False,
        ignore_loggers: Iterable[str] = (),
    ) -> None:
        super().__init__(level)
        self.source: str | None = options.text("source", source, none=True, empty=True)
        self.include_traceback = options.flag("include_traceback", include_traceback)
        extra = tuple(f"{name}." for name in options.names("ignore_loggers", ignore_loggers))
        self.bus: Bus = resolve_bus(bus)
        self._ignored: tuple[str, ...] = _IGNORED_PREFIXES + extra
        self.subscriptions: dict[str, list[Subscription]] = (
            attach_sinks(self.bus, plain(sinks) if isinstance(sinks, Mapping) else sinks)
            if sinks
            else {}
        )
        self._closed = False

    def handle(self, record: logging.LogRecord) -> Any:
        """
        Filter, then emit without the handler lock (the bus is thread-safe).
        """
        # No filters (the usual case): logging's own ``filter`` would only say True.
        rv: Any = self.filter(record) if self.filters else True
        if isinstance(rv, logging.LogRecord):
            record = rv
        if rv:
            self.emit(record)
        return rv

    def ignores(self, record: logging.LogRecord) -> bool:
        """
        True for records that must not reach the bus (see the module docstring).
        """
        if PUBLISHING.get():
            return True
        if f"{record.name}.".startswith(self._ignored):
            return True
        return is_own_thread()

    def emit(self, record: logging.LogRecord) -> None:
        """
        Publish the record's event; never raises.
        """
        if self.ignores(record):
            return
        try:
            if isinstance(record.msg, dict):
                evt = self._from_structlog(record)
            else:
                evt = record_to_event(record, self.source, include_traceback=self.include_traceback)
            bus = self.bus
            if bus.config.asynchronous:
                # Handlers run in the bus's ``audit-*`` threads: no guard needed here.
                bus.publish(evt)
                return
            token = PUBLISHING.set(True)
            try:
                bus.publish(evt)  # handlers run inline: their own records must not loop
            finally:
                PUBLISHING.reset(token)
        except Exception:
            self.handleError(record)

    def _from_structlog(self, record: logging.LogRecord) -> Event[Any]:
        event_dict: dict[str, Any] = record.msg  # type: ignore[assignment]
        exc = record.exc_info[1] if record.exc_info else None
        return event_dict_to_event(
            event_dict,
            record.levelname.lower(),
            self.source if self.source is not None else record.name,
            exc=exc,
            include_traceback=self.include_traceback,
            log_type=level_event_type(record.levelno),
        )

    def close(self) -> None:
        """
        Idempotent; the bus and the sinks stay open (they are shared).
        """
        self._closed = True
        super().close()

    def __repr__(self) -> str:
        return f"<AuditHandler {self.bus!r} ({logging.getLevelName(self.level)})>"
