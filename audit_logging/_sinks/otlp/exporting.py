"""
The OpenTelemetry SDK pipeline of the OTLP sink, and the exporter that reports back.

The SDK's ``BatchLogRecordProcessor`` logs a failed export and drops the batch:
right for telemetry, wrong for an audit trail. :class:`ReportingExporter` wraps
the real exporter (OTLP/HTTP by default) and tells the handler the outcome of
every batch, by event id (the ``log.record.uid`` attribute): exported events are
counted, failed ones are handed back to the bus, which spills them for this
subscription. Imported only when an :class:`~audit_logging._sinks.otlp.handler.OTLPHandler`
is built, because it needs the ``otlp`` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.resources import Resource

from audit_logging._sinks.otlp.records import RECORD_UID
from audit_logging.exceptions import OTLPExportError

__all__ = ["Outcome", "Pipeline", "ReportingExporter", "http_exporter"]

Outcome = Callable[[list[str], BaseException | None], None]
"""``outcome(event_ids, error)``: ``error`` is None when the batch was accepted."""


def http_exporter(
    endpoint: str | None,
    *,
    headers: Mapping[str, str] | None,
    timeout: float,
    compression: str,
) -> LogRecordExporter:
    """
    The SDK's OTLP/HTTP (protobuf) log exporter.

    Raises:
        ImportError: opentelemetry-exporter-otlp-proto-http is not installed.
        ValueError: an unknown compression.
    """
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    return OTLPLogExporter(
        endpoint=endpoint,
        headers=dict(headers) if headers else None,
        timeout=timeout,
        compression=Compression(compression),
    )


class ReportingExporter(LogRecordExporter):
    """
    Exports through ``inner`` and reports each batch's outcome by event id.
    """

    def __init__(self, inner: LogRecordExporter, outcome: Outcome, describe: str) -> None:
        self._inner = inner
        self._outcome = outcome
        self._describe = describe

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        error: BaseException | None = None
        try:
            result = self._inner.export(batch)
        except Exception as exc:  # an exporter that raises instead of returning FAILURE
            result, error = LogRecordExportResult.FAILURE, exc
        ids = [_uid(r) for r in batch]
        if result is not LogRecordExportResult.SUCCESS:
            failure = OTLPExportError(
                f"{self._describe} did not accept a batch of {len(batch)} record(s)"
                + (f": {type(error).__name__}: {error}" if error is not None else "")
            )
            failure.__cause__ = error
            self._outcome(ids, failure)
        else:
            self._outcome(ids, None)
        return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._inner.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._inner.shutdown()  # type: ignore[no-untyped-call]


def _uid(record: ReadableLogRecord) -> str:
    attributes = record.log_record.attributes or {}
    return str(attributes.get(RECORD_UID, ""))


class Pipeline:
    """
    A private ``LoggerProvider`` with one ``BatchLogRecordProcessor`` over a reporting exporter.

    Private, not the global provider: the sink's records, queue and shutdown are
    its own, and an application's telemetry pipeline is left alone.
    """

    def __init__(
        self,
        exporter: LogRecordExporter,
        *,
        resource: Mapping[str, Any],
        schedule_delay: float,
        max_export_batch_size: int,
        max_queue_size: int,
        version: str,
    ) -> None:
        self.provider = LoggerProvider(
            resource=Resource.create(dict(resource)), shutdown_on_exit=False
        )
        self.processor = BatchLogRecordProcessor(
            exporter,
            schedule_delay_millis=schedule_delay * 1000.0,
            max_export_batch_size=max_export_batch_size,
            max_queue_size=max_queue_size,
        )
        self.provider.add_log_record_processor(self.processor)
        self.logger = self.provider.get_logger("audit_logging", version)
