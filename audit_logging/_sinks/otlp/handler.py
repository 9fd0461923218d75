"""
The OTLP logs sink: :class:`OTLPHandler`, each audit event an OpenTelemetry log record.

Built on the OpenTelemetry SDK, not beside it: a private ``LoggerProvider``, the
SDK's ``BatchLogRecordProcessor`` (a bounded queue, a worker thread, batches of
``max_export_batch_size``, fork-safe) and its OTLP/HTTP protobuf exporter, so
the wire format, retries (429/502/503/504 and connection errors, with backoff,
within ``timeout``), TLS and the ``OTEL_EXPORTER_OTLP_*`` environment variables
are the SDK's. What each event becomes is in :mod:`~audit_logging._sinks.otlp.records`.

Delivery promise (the ``BatchingSink`` contract, as the Kafka sink's async mode):

- ``write_event`` hands the record to the processor and returns; the event is
  *pending* until its batch was exported.
- A batch the collector did not accept (unreachable, 5xx, timed out after the
  exporter's retries) goes back to the bus through the failure callback
  (:meth:`SinkHandler._report_failed`), which spills it for this subscription and
  counts the failure for its circuit breaker; ``recover_spillover`` replays it
  later. Nothing is dropped: the SDK processor drops the oldest record when its
  queue is full, so this handler never lets more than ``max_queue_size`` events
  be pending: ``write_event`` waits up to ``max_block`` seconds for room, then
  raises :class:`~audit_logging.exceptions.OTLPExportError` (the bus spills that
  event).
- ``flush`` exports everything pending and returns when the collector answered
  (each export is bounded by ``timeout``); ``close`` shuts the pipeline down
  within ``close_timeout`` and hands back what is still pending (counted in
  :attr:`OTLPHandler.undelivered`). :meth:`abandon` does the same at once, for a
  bus whose ``close(timeout)`` ran out.
- At least once: an export that succeeds after ``close`` gave up on it makes a
  duplicate on replay; a backend de-duplicates on ``log.record.uid`` (the event id).

Never feeding on itself: attached to a logger, the handler drops the records of
``opentelemetry.*``, ``urllib3.*``, ``requests.*`` (the exporter's HTTP stack) and
``audit_logging.*``.

The ``_logs`` API and SDK are still marked experimental by OpenTelemetry, so the
``otlp`` extra pins the minor versions this module is tested with.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from audit_logging._model.event import Event
from audit_logging._sinks.base import SinkHandler, holds_logging_lock, logged_by
from audit_logging._sinks.otlp.records import SpanContexts, to_log_record
from audit_logging._threads import new_thread
from audit_logging.exceptions import MissingDependencyError, OTLPExportError, OTLPSinkError

__all__ = ["OTLPHandler"]

_log = logging.getLogger("audit_logging.sinks")
_IGNORED_LOGGERS = ("opentelemetry", "urllib3", "requests", "audit_logging")
_COMPRESSIONS = ("none", "gzip", "deflate")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("audit-logging")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return ""


class OTLPHandler(SinkHandler):
    """
    Sends audit events as OpenTelemetry log records over OTLP/HTTP.

    Args:
        endpoint: the collector's logs URL (``http://collector:4318/v1/logs``); None
            follows ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``
            and defaults to ``http://localhost:4318/v1/logs``.
        headers: extra HTTP headers (authentication).
        timeout: seconds one export may take, its retries included.
        compression: ``"none"``, ``"gzip"`` or ``"deflate"``.
        service_name: the resource's ``service.name`` (None: ``OTEL_SERVICE_NAME``
            or the SDK's default).
        resource_attributes: more resource attributes (``deployment.environment.name``...).
        max_queue_size: most events pending at once (the SDK queue's size).
        max_export_batch_size: records per export request.
        schedule_delay: seconds between scheduled exports.
        max_block: seconds ``write_event`` waits for room when ``max_queue_size``
            events are pending, before it raises (the bus then spills the event).
        close_timeout: seconds ``close`` waits for pending exports.
        exporter: any SDK ``LogRecordExporter`` instead of OTLP/HTTP (gRPC, a
            console exporter); its failures are handed back the same way.
        level: the handler level (for records from ordinary loggers).

    Raises:
        ValueError: an option out of range.
        MissingDependencyError: the ``otlp`` extra is not installed.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        compression: str = "none",
        service_name: str | None = None,
        resource_attributes: Mapping[str, Any] | None = None,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        schedule_delay: float = 1.0,
        max_block: float = 5.0,
        close_timeout: float = 10.0,
        exporter: Any = None,
        level: int | str = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        if compression not in _COMPRESSIONS:
            raise ValueError(f"compression must be one of {_COMPRESSIONS}, got {compression!r}")
        if max_queue_size < 1 or not 1 <= max_export_batch_size <= max_queue_size:
            raise ValueError("need max_queue_size >= 1 and 1 <= max_export_batch_size <= it")
        if min(timeout, schedule_delay, max_block, close_timeout) < 0:
            raise ValueError("timeout, schedule_delay, max_block and close_timeout must be >= 0")
        try:
            from audit_logging._sinks.otlp import exporting
        except ImportError as exc:
            raise MissingDependencyError("opentelemetry-sdk", "otlp") from exc
        if exporter is None:
            try:
                exporter = exporting.http_exporter(
                    endpoint, headers=headers, timeout=timeout, compression=compression
                )
            except ImportError as exc:
                raise MissingDependencyError(
                    "opentelemetry-exporter-otlp-proto-http", "otlp"
                ) from exc
        self.endpoint = endpoint or str(
            getattr(exporter, "_endpoint", "") or type(exporter).__name__
        )
        resource: dict[str, Any] = dict(resource_attributes or {})
        if service_name:
            resource["service.name"] = service_name
        self._capacity = int(max_queue_size)
        self._max_block = float(max_block)
        self._close_timeout = float(close_timeout)
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._pending: dict[str, list[Event[Any]]] = {}
        self._count = 0
        self._contexts = SpanContexts()
        self._abandoned = False
        self.sent = 0
        self.failed = 0
        self.undelivered = 0
        self._pipeline = exporting.Pipeline(
            exporting.ReportingExporter(exporter, self._outcome, f"{self._label}"),
            resource=resource,
            schedule_delay=float(schedule_delay),
            max_export_batch_size=int(max_export_batch_size),
            max_queue_size=self._capacity,
            version=_version(),
        )
        self._logger = self._pipeline.logger

    @property
    def _label(self) -> str:
        return self.name or f"OTLPHandler({self.endpoint})"

    def __repr__(self) -> str:
        return f"<OTLPHandler endpoint={self.endpoint}>"

    @property
    def pending(self) -> int:
        """
        Events handed to the SDK and not yet exported or handed back.
        """
        return self._count

    def filter(self, record: logging.LogRecord) -> bool:
        """
        Drop the exporter stack's own records (and ours) before any other filter.
        """
        return not logged_by(record, _IGNORED_LOGGERS) and bool(super().filter(record))

    def write_event(self, evt: Event[Any]) -> None:
        """
        Hand one event to the batch processor (waiting up to ``max_block`` for room).

        Raises:
            OTLPExportError: ``max_queue_size`` events stayed pending for ``max_block`` seconds.
            OTLPSinkError: the handler is closed, or the SDK refused the record.
        """
        if self._closed or self._abandoned:
            raise OTLPSinkError(f"{self._label} is closed")
        record = to_log_record(evt, self._contexts)
        with self._lock:
            if self._count >= self._capacity and not self._room.wait_for(
                lambda: self._count < self._capacity or self._closed, self._max_block
            ):
                raise OTLPExportError(
                    f"{self._label}: {self._count} events pending for {self._max_block}s "
                    "(collector slow or down)"
                )
            if self._closed:
                raise OTLPSinkError(f"{self._label} is closed")
            same = self._pending.get(evt.id)
            if same is None:
                self._pending[evt.id] = [evt]
            else:
                same.append(evt)
            self._count += 1
        try:
            self._logger.emit(record)
        except Exception as exc:
            self._take([evt.id])
            raise OTLPSinkError(f"{self._label}: the SDK refused event {evt.id}: {exc}") from exc

    def _take(self, ids: Sequence[str]) -> list[Event[Any]]:
        """
        Remove these events from the pending set (one per id) and return them.
        """
        taken: list[Event[Any]] = []
        with self._lock:
            pending = self._pending
            for event_id in ids:
                same = pending.get(event_id)
                if not same:
                    continue  # handed back already (close, abandon)
                taken.append(same.pop(0))
                if not same:
                    del pending[event_id]
            self._count -= len(taken)
            if taken:
                self._room.notify_all()
        return taken

    def _outcome(self, ids: list[str], error: BaseException | None) -> None:
        """
        A batch was exported (``error`` None) or failed: count it, hand failures back.
        """
        events = self._take(ids)
        if error is None:
            self.sent += len(events)
            return
        self.failed += len(events)
        self._report_failed(events, error)

    def _take_all(self) -> list[Event[Any]]:
        with self._lock:
            left = [evt for same in self._pending.values() for evt in same]
            self._pending.clear()
            self._count = 0
            self._room.notify_all()
        left.sort(key=lambda e: e.id)  # UUIDv7: send order within a process
        return left

    def flush(self) -> None:
        """
        Export everything pending now; failures are handed back.

        Under logging's module lock (``logging.shutdown``, ``dictConfig``) the export
        runs in a helper thread and is waited for ``close_timeout`` at most: the
        SDK's worker may need that lock to log.
        """
        if self._closed or self._abandoned:
            return
        flush = self._pipeline.provider.force_flush
        if holds_logging_lock():
            thread = new_thread(flush, "audit-otlp-flush")
            thread.start()
            thread.join(self._close_timeout)
            return
        flush()

    def abandon(self) -> list[Event[Any]]:
        """
        Give up at once: return every pending event (the bus spills them) and stop the SDK.

        An export still running may succeed later: a duplicate on replay, never a loss.
        """
        self._abandoned = True
        left = self._take_all()
        self.undelivered += len(left)
        new_thread(self._pipeline.provider.shutdown, "audit-otlp-abandon").start()
        return left

    def _close(self) -> None:
        """
        Shut the pipeline down within ``close_timeout``, then hand back what is left.
        """
        if not self._abandoned:
            thread = new_thread(self._pipeline.provider.shutdown, "audit-otlp-close")
            thread.start()
            thread.join(self._close_timeout)
        left = self._take_all()
        if left:
            self.undelivered += len(left)
            self._report_failed(
                left,
                OTLPExportError(
                    f"{self._label}: {len(left)} event(s) still not exported after "
                    f"close_timeout={self._close_timeout}s"
                ),
            )
