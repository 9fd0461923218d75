"""
The typed factories: ``new_<type>_t`` returns ``Event[<payload dataclass>]``.

Generated from the event catalog (:mod:`audit_logging._model.catalog`) by
``python -m audit_logging._model.codegen``: change the catalog, not this file.

Each takes the same arguments as its ``new_<type>`` and converts them the same way;
the payload is the frozen dataclass of :mod:`audit_logging._model.payloads`, whose
fields are the dict payload's keys, so the registered schema validates it and the
JSON line is the same. The dataclasses are exported from here too, so that this
module is all that :mod:`audit_logging.payloads` shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit_logging._model.conversions import Duration, error_text, milliseconds
from audit_logging._model.event import Event, new_event
from audit_logging._model.fieldvalues import field_map
from audit_logging._model.payloads import (
    AuthRegisterPayload,
    HTTPRequestPayload,
    HTTPResponsePayload,
    LogPayload,
)

__all__ = [
    "AuthRegisterPayload",
    "HTTPRequestPayload",
    "HTTPResponsePayload",
    "LogPayload",
    "new_assertion_failed_t",
    "new_auth_register_t",
    "new_debug_t",
    "new_error_t",
    "new_fatal_t",
    "new_http_request_received_t",
    "new_http_response_sent_t",
    "new_info_t",
    "new_warning_t",
]


def new_http_request_received_t(
    source: str, method: str, path: str, *, context_id: str | None = None
) -> Event[HTTPRequestPayload]:
    """
    Typed :func:`new_http_request_received`.
    """
    return new_event(
        "http_request_received", source, HTTPRequestPayload(method, path), context_id=context_id
    )


def new_http_response_sent_t(
    source: str, status: int, duration: Duration, *, context_id: str | None = None
) -> Event[HTTPResponsePayload]:
    """
    Typed :func:`new_http_response_sent`.
    """
    return new_event(
        "http_response_sent",
        source,
        HTTPResponsePayload(status, milliseconds(duration, "duration")),
        context_id=context_id,
    )


def new_auth_register_t(
    source: str, user_id: str, email: str, *, context_id: str | None = None
) -> Event[AuthRegisterPayload]:
    """
    Typed :func:`new_auth_register`.
    """
    return new_event(
        "auth_register", source, AuthRegisterPayload(user_id, email), context_id=context_id
    )


def new_info_t(
    source: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[LogPayload]:
    """
    Typed :func:`new_info`.
    """
    return new_event(
        "log_info", source, LogPayload(message, field_map(fields)), context_id=context_id
    )


def new_warning_t(
    source: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[LogPayload]:
    """
    Typed :func:`new_warning`.
    """
    return new_event(
        "log_warning", source, LogPayload(message, field_map(fields)), context_id=context_id
    )


def new_error_t(
    source: str,
    message: str,
    err: BaseException | str | None,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[LogPayload]:
    """
    Typed :func:`new_error`.
    """
    return new_event(
        "log_error",
        source,
        LogPayload(message, field_map(fields), error_text(err)),
        context_id=context_id,
    )


def new_debug_t(
    source: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[LogPayload]:
    """
    Typed :func:`new_debug`.
    """
    return new_event(
        "log_debug", source, LogPayload(message, field_map(fields)), context_id=context_id
    )


def new_fatal_t(
    source: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[LogPayload]:
    """
    Typed :func:`new_fatal`.
    """
    return new_event(
        "log_fatal", source, LogPayload(message, field_map(fields)), context_id=context_id
    )


def new_assertion_failed_t(
    source: str, message: str, detail: str, *, context_id: str | None = None
) -> Event[LogPayload]:
    """
    Typed :func:`new_assertion_failed`.
    """
    return new_event(
        "log_assertion_failed", source, LogPayload(message, detail=detail), context_id=context_id
    )
