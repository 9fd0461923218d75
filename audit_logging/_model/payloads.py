"""
Typed events: the payload dataclasses [Go: HTTPRequestPayload, HTTPResponsePayload,
AuthRegisterPayload, LogPayload] and the ``*_t`` factories returning ``Event[<dataclass>]``.

The payloads are frozen, slotted dataclasses so an ``Event[HTTPRequestPayload]`` is as immutable as
the event holding it and a type checker knows every field. Their field names are the keys of
the matching dict payloads, which is what lets the registered schemas validate them and the
JSON encoder write the same object either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from audit_logging._model.event import Event, new_event
from audit_logging._model.factories import Duration, _error_text, _milliseconds, _string_map

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


@dataclasses.dataclass(frozen=True, slots=True)
class HTTPRequestPayload:
    """
    An incoming HTTP request (``http_request_received``).
    """

    method: str
    path: str


@dataclasses.dataclass(frozen=True, slots=True)
class HTTPResponsePayload:
    """
    An HTTP response that was sent (``http_response_sent``); the duration in whole milliseconds.
    """

    status: int
    duration_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class AuthRegisterPayload:
    """
    A user registration (``auth_register``).
    """

    user_id: str
    email: str


@dataclasses.dataclass(frozen=True, slots=True)
class LogPayload:
    """
    A log event (``log_info`` ... ``log_assertion_failed``).

    ``error`` is only meaningful for ``log_error`` and ``detail`` for
    ``log_assertion_failed``; both default to ``""`` as the Go struct's zero values do.
    """

    message: str
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    error: str = ""
    detail: str = ""


def new_http_request_received_t(
    source: str, method: str, path: str, *, context_id: str | None = None
) -> Event[HTTPRequestPayload]:
    """
    Typed :func:`new_http_request_received` [Go: NewHTTPRequestReceivedT].
    """
    return new_event(
        "http_request_received", source, HTTPRequestPayload(method, path), context_id=context_id
    )


def new_http_response_sent_t(
    source: str, status: int, duration: Duration, *, context_id: str | None = None
) -> Event[HTTPResponsePayload]:
    """
    Typed :func:`new_http_response_sent` [Go: NewHTTPResponseSentT].
    """
    return new_event(
        "http_response_sent",
        source,
        HTTPResponsePayload(status, _milliseconds(duration, "duration")),
        context_id=context_id,
    )


def new_auth_register_t(
    source: str, user_id: str, email: str, *, context_id: str | None = None
) -> Event[AuthRegisterPayload]:
    """
    Typed :func:`new_auth_register` [Go: NewAuthRegisterT].
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
        "log_info", source, LogPayload(message, _string_map(fields)), context_id=context_id
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
        "log_warning", source, LogPayload(message, _string_map(fields)), context_id=context_id
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
        "log_debug", source, LogPayload(message, _string_map(fields)), context_id=context_id
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
        "log_fatal", source, LogPayload(message, _string_map(fields)), context_id=context_id
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
        LogPayload(message, _string_map(fields), error=_error_text(err)),
        context_id=context_id,
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
