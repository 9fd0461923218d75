"""
Application logs beside the audit trail: a python-json-logger formatter that adds the join keys.

A service's ordinary logs (``logger.info("cache miss")``) and its audit events
are two streams; an investigator follows one request through both. The
:class:`AuditJsonFormatter` writes, on every JSON log line, the same keys the
canonical audit event carries, with the same values:

- ``context_id``: the bound context id (:func:`~audit_logging.bind_context_id`,
  the middlewares), ``""`` outside one; an ``extra={"context_id": ...}`` wins,
  as for :class:`~audit_logging.AuditHandler`;
- ``trace_id`` / ``span_id``: lower-case hex of the current OpenTelemetry span
  (or of ``otelTraceID``/``otelSpanID`` set by opentelemetry-instrumentation-logging),
  ``""`` without a valid span;
- ``actor``: ``{"user_id", "username", "auth_method"}`` when an actor is bound
  (absent otherwise, as in the canonical form); ``origin`` too with ``origin=True``.

So ``context_id`` (or ``trace_id``) joins a log line to the audit events of its
request. Everything else is python-json-logger's own: ``fmt``, ``rename_fields``,
``static_fields``, ``timestamp``, ``json_default``... A key the record already has
(an ``extra`` of the same name) is left as the caller set it.

The values are read in the thread that formats. That is the logging thread,
except behind a ``QueueHandler``/``QueueListener``, where the listener's thread
has none of the request's context: put :class:`AuditContextFilter` on the
``QueueHandler`` (filters run in the logging thread) and it stamps the values on
the record, which the formatter then uses.
"""

from __future__ import annotations

import logging
from typing import Any

from audit_logging._model.context import get_context_id
from audit_logging._model.event import current_span_context
from audit_logging._model.scope import current_scope
from audit_logging._records.logrecord import span_from_record
from audit_logging.exceptions import MissingDependencyError

try:
    from pythonjsonlogger.json import JsonFormatter
except ImportError as exc:  # pragma: no cover - exercised by the minimal-install test
    raise MissingDependencyError("python-json-logger", "json-formatter") from exc

__all__ = ["AuditContextFilter", "AuditJsonFormatter", "join_fields"]

_STAMP = "_audit_join"


def join_fields(record: logging.LogRecord, *, origin: bool = False) -> dict[str, Any]:
    """
    The join keys of a record: stamped by :class:`AuditContextFilter` (with its own
    ``origin`` choice), else read now.
    """
    stamped = record.__dict__.get(_STAMP)
    if stamped is not None:
        return dict(stamped)
    context_id = record.__dict__.get("context_id")
    fields: dict[str, Any] = {
        "context_id": context_id if isinstance(context_id, str) else get_context_id()
    }
    sc = span_from_record(record)
    if sc is None:
        sc = current_span_context()
    if sc.is_valid:
        fields["trace_id"] = format(sc.trace_id, "032x")
        fields["span_id"] = format(sc.span_id, "016x")
    else:
        fields["trace_id"] = fields["span_id"] = ""
    scope = current_scope()
    if scope is not None:
        actor = scope.actor
        if actor is not None:
            fields["actor"] = actor.to_dict()
        if origin and scope.origin is not None:
            fields["origin"] = scope.origin.to_dict()
    return fields


class AuditContextFilter(logging.Filter):
    """
    Stamps the join keys on each record in the logging thread (never filters anything out).

    Args:
        name: as for :class:`logging.Filter` (records of other loggers pass unstamped).
        origin: stamp the bound origin too.
    """

    def __init__(self, name: str = "", *, origin: bool = False) -> None:
        super().__init__(name)
        self.origin = origin

    def filter(self, record: logging.LogRecord) -> bool:
        """
        Stamp the record (once) and let it through.
        """
        if _STAMP not in record.__dict__ and super().filter(record):
            record.__dict__[_STAMP] = join_fields(record, origin=self.origin)
        return True


class AuditJsonFormatter(JsonFormatter):
    """
    python-json-logger's ``JsonFormatter`` plus the audit trail's join keys.

    Usable from ``dictConfig`` as ``"()": "audit_logging.formatters.AuditJsonFormatter"``
    (every python-json-logger option, plus ``origin``) or ``"class": ...`` (``format``,
    ``datefmt``, ``style`` only, as dictConfig passes them).

    Args:
        *args: python-json-logger's (``fmt``, ``datefmt``, ``style``).
        origin: also write the bound origin (client address, user agent, method,
            path, route, query) as ``origin``.
        **kwargs: python-json-logger's keyword options.
    """

    def __init__(self, *args: Any, origin: bool = False, **kwargs: Any) -> None:
        reserved = set(kwargs.pop("reserved_attrs", None) or _default_reserved())
        reserved.add(_STAMP)
        super().__init__(*args, reserved_attrs=reserved, **kwargs)
        self.origin = origin

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        """
        python-json-logger's fields, then the join keys the record does not already carry.
        """
        super().add_fields(log_data, record, message_dict)
        for key, value in join_fields(record, origin=self.origin).items():
            log_data.setdefault(self.rename_fields.get(key, key), value)


def _default_reserved() -> list[str]:
    from pythonjsonlogger.core import RESERVED_ATTRS

    return list(RESERVED_ATTRS)
