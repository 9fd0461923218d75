"""
The base class of every sink: a ``logging.Handler`` that stores events.

The bus calls :meth:`SinkHandler.write_event` directly (never ``handle``), so a
failure raises into the bus, which counts it for the subscription's circuit
breaker and spills the event. Attached to an ordinary logger, ``emit`` turns the
record into an event first and follows logging's ``handleError`` convention,
so logging never raises into the application.

A sink that stores events later (in batches) calls :meth:`_report_failed` with
what it could not store after its retries: the bus gave it a callback at
subscription (:meth:`set_failure_callback`) and spills those events for that
subscription; without a bus they are reported to the ``audit_logging`` logger
and counted in :attr:`lost_events`, never dropped silently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from audit_logging._model.event import Event
from audit_logging._records.logrecord import record_to_event
from audit_logging._security.sanitize import sanitize_payload
from audit_logging._sinks.deadletter import DeadLetterFile
from audit_logging.typing import FailedEventsCallback

__all__ = ["SinkHandler", "holds_logging_lock", "logged_by", "logged_event"]

_log = logging.getLogger("audit_logging.sinks")


def logged_event(record: logging.LogRecord) -> Event[Any]:
    """
    The event of a record from an ordinary logger, redacted as the bus would.

    A sink attached to a logger directly (no bus in between) is the last stop
    before the artifact, so it runs the redaction engine itself: the bus's
    guarantee that no secret reaches a file, a table or a topic holds either way.
    """
    return sanitize_payload(record_to_event(record))


def holds_logging_lock() -> bool:
    """
    True if this thread holds logging's module lock (``logging.shutdown``, ``dictConfig``),
    where a sink must not wait long on a client thread that may need it to log.
    """
    is_owned = getattr(getattr(logging, "_lock", None), "_is_owned", None)
    return bool(is_owned()) if callable(is_owned) else False


def logged_by(record: logging.LogRecord, prefixes: tuple[str, ...]) -> bool:
    """
    True if the record comes from one of these loggers or their children (a sink's own client).
    """
    name = record.name
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


class SinkHandler(logging.Handler):
    """
    Base class for sinks; subclasses implement :meth:`write_event` (and usually
    ``flush``/``close``).

    ``close()`` is idempotent: ``logging.config.dictConfig`` closes every existing
    handler on reconfiguration and Django configures logging twice.
    """

    def __init__(self, level: int | str = logging.NOTSET) -> None:
        super().__init__(level)
        self._failure_callback: FailedEventsCallback | None = None
        self._closed = False
        self._close_lock = threading.Lock()
        self._dead_letters: DeadLetterFile | None = None
        self.lost_events = 0
        self.dead_lettered = 0

    def write_event(self, evt: Event[Any]) -> None:
        """
        Store one event (or accept it into a batch); raise on failure.
        """
        raise NotImplementedError

    def set_failure_callback(self, callback: FailedEventsCallback | None) -> None:
        """
        Called by the bus at subscription: where to hand back events this sink failed to store.
        """
        self._failure_callback = callback

    def _report_failed(self, events: Sequence[Event[Any]], exc: BaseException) -> None:
        """
        Hand events this sink could not store back to the bus, or report them as lost.
        """
        if not events:
            return
        callback = self._failure_callback
        if callback is not None:
            try:
                callback(events, exc)
                return
            except Exception:  # pragma: no cover - the bus's callback never raises
                _log.exception("failure callback of %s raised", self.name or type(self).__name__)
        self.lost_events += len(events)
        _log.error(
            "%s could not store %d event(s) and has no bus to spill them to: %s",
            self.name or type(self).__name__,
            len(events),
            exc,
        )

    def _dead_letter(self, evt: Event[Any], reason: str, detail: str) -> None:
        """
        Write an event this sink can never store to its dead-letter file, or count
        and report it as lost when no ``dead_letter_dir`` is configured.
        """
        label = str(getattr(self, "_label", "") or self.name or type(self).__name__)
        dead_letters = self._dead_letters
        if dead_letters is None:
            self.lost_events += 1
            _log.error(
                "%s: event %s (type %r) cannot be stored (%s: %s) and no dead_letter_dir "
                "is configured; it is lost",
                label,
                evt.id,
                evt.type,
                reason,
                detail,
            )
            return
        try:
            dead_letters.write(evt, reason, detail)
        except OSError as exc:
            self.lost_events += 1
            _log.error(
                "%s: event %s (%s) could not be dead-lettered to %s: %s",
                label,
                evt.id,
                reason,
                dead_letters.path,
                exc,
            )
            return
        self.dead_lettered += 1
        _log.warning(
            "%s: event %s (type %r) dead-lettered to %s: %s (%s)",
            label,
            evt.id,
            evt.type,
            dead_letters.path,
            reason,
            detail,
        )

    def emit(self, record: logging.LogRecord) -> None:
        """
        Store a record from an ordinary logger as an event.
        """
        try:
            self.write_event(logged_event(record))
        except Exception:
            self.handleError(record)

    @property
    def closed(self) -> bool:
        """
        True once :meth:`close` ran.
        """
        return self._closed

    def close(self) -> None:
        """
        Release resources once; later calls do nothing.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._close()
        finally:
            super().close()

    def _close(self) -> None:
        """
        Subclass hook: write what is pending and release resources (runs once).
        """
        self.flush()
