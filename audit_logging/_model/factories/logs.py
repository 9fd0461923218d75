"""
The factories of the log events, which drop the ``log_`` prefix (``new_info``).

Generated from the event catalog (:mod:`audit_logging._model.catalog`) by
``python -m audit_logging._model.codegen``: change the catalog, not this file.

Each factory takes the payload's values after ``source``; the context id and the
OpenTelemetry span come from the current context, and the keyword ``context_id=``
overrides the id. The payload is a fresh dict with exactly the keys of the type's
registered schema, so an event built here passes validation when given the
documented argument types; how durations, errors and maps are converted is said in
:mod:`audit_logging._model.conversions`. A factory runs on every audited action, so
it builds its dict and calls :func:`~audit_logging._model.event.new_event`, nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit_logging._model.conversions import error_text
from audit_logging._model.event import Event, new_event
from audit_logging._model.fieldvalues import field_map

__all__ = [
    "new_assertion_failed",
    "new_debug",
    "new_error",
    "new_fatal",
    "new_info",
    "new_warning",
]


def new_info(
    source: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    An informational log event; ``fields`` keep their JSON types (a copy).
    """
    return new_event(
        "log_info", source, {"message": message, "fields": field_map(fields)}, context_id=context_id
    )


def new_warning(
    source: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    A warning log event; ``fields`` keep their JSON types (a copy).
    """
    return new_event(
        "log_warning",
        source,
        {"message": message, "fields": field_map(fields)},
        context_id=context_id,
    )


def new_error(
    source: str,
    message: str,
    err: BaseException | str | None,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    An error log event; ``err`` is kept as its text.
    """
    return new_event(
        "log_error",
        source,
        {"message": message, "error": error_text(err), "fields": field_map(fields)},
        context_id=context_id,
    )


def new_debug(
    source: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    A debug log event; ``fields`` keep their JSON types (a copy).
    """
    return new_event(
        "log_debug",
        source,
        {"message": message, "fields": field_map(fields)},
        context_id=context_id,
    )


def new_fatal(
    source: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    A fatal log event (the process is about to stop).
    """
    return new_event(
        "log_fatal",
        source,
        {"message": message, "fields": field_map(fields)},
        context_id=context_id,
    )


def new_assertion_failed(
    source: str, message: str, detail: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A runtime assertion failed; ``detail`` says how.
    """
    return new_event(
        "log_assertion_failed",
        source,
        {"message": message, "detail": detail},
        context_id=context_id,
    )
