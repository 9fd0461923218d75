"""
A structlog processor that publishes every log entry on the bus.

Why a processor and not only the stdlib handler: structlog users who do not
route through ``logging`` still get audit events, and the processor sees the
event dict before any renderer flattens it. Put it after
``structlog.contextvars.merge_contextvars`` (so a bound ``request_id`` or
``context_id`` is in the dict) and before the renderer; it returns the dict
unchanged, so it also works inside structlog's stdlib integration
(``structlog.stdlib.ProcessorFormatter``) and with ``wrap_for_formatter``.

Exceptions become ``"Type: message"`` with secrets masked: a traceback rendered
by ``format_exc_info`` is cut to its last line and the frames (and locals) of
``dict_tracebacks`` are never read, because structlog shows locals by default.

This module's name shadows the structlog library inside the package, so it uses
absolute imports only and imports the library lazily (for
``structlog.contextvars``), never at import time.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from audit_logging._bridges.reentry import PUBLISHING
from audit_logging._model import options
from audit_logging._records.logrecord import event_dict_to_event

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus

__all__ = ["AuditProcessor"]

_log = logging.getLogger("audit_logging.structlog")


def _bound_context_id() -> str | None:
    """
    A ``context_id``/``request_id`` bound with ``structlog.contextvars``, if any.
    """
    try:
        import structlog.contextvars as scv
    except ImportError:  # pragma: no cover - structlog is not installed
        return None
    bound = scv.get_contextvars()
    for key in ("context_id", "request_id"):
        value = bound.get(key)
        if isinstance(value, str) and value:
            return value
    return None


class AuditProcessor:
    """
    ``(logger, method_name, event_dict) -> event_dict``: publish, pass the dict on.

    Args:
        bus: the bus to publish on.
        source: the event source; ``None`` = the dict's ``logger`` key, else the
            bound logger's ``name``, else ``""``.
        include_traceback: add the masked traceback (no locals) of ``exc_info``.

    Mapping: the method name picks the log event (``debug``, ``info``,
    ``warning``/``warn``, ``error``/``exception``, ``critical``/``fatal`` ->
    ``log_fatal``); ``event`` is the message and the other keys become ``fields``
    keeping their JSON types (copied here, in the caller's thread, so the bus
    redacts nested keys and later changes to the values do not reach the event).
    With ``event_type`` in the dict a domain event is published
    instead, whose payload is ``event_dict["payload"]`` or else the other
    non-metadata keys. Publishing never raises into the caller: a failure is
    logged to the ``audit_logging._bridges.processor`` logger.
    """

    def __init__(
        self, bus: Bus, *, source: str | None = None, include_traceback: bool = False
    ) -> None:
        self.bus = bus
        self.source: str | None = options.text("source", source, none=True, empty=True)
        self.include_traceback = options.flag("include_traceback", include_traceback)

    def _source(self, logger: Any, event_dict: MutableMapping[str, Any]) -> str:
        if self.source is not None:
            return self.source
        name = event_dict.get("logger")
        if isinstance(name, str):
            return name
        name = getattr(logger, "name", None)
        return name if isinstance(name, str) else ""

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """
        Publish the entry's event and return ``event_dict`` unchanged.
        """
        token = PUBLISHING.set(True)
        try:
            exc_info = event_dict.get("exc_info")
            exc = exc_info if isinstance(exc_info, BaseException) else None
            evt = event_dict_to_event(
                dict(event_dict),
                method_name,
                self._source(logger, event_dict),
                exc=exc,
                context_id=_bound_context_id(),
                include_traceback=self.include_traceback,
            )
            self.bus.publish(evt)
        except Exception:
            _log.exception("AuditProcessor could not publish a log entry")
        finally:
            PUBLISHING.reset(token)
        return event_dict
