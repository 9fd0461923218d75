"""
The typed payloads: the dataclasses the ``*_t`` factories put in ``Event[<dataclass>]``.

The payloads are frozen, slotted dataclasses so an ``Event[HTTPRequestPayload]`` is as immutable as
the event holding it and a type checker knows every field. Their field names are the keys of
the matching dict payloads, which is what lets the registered schemas validate them and the
JSON encoder write the same object either way.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = [
    "AuthRegisterPayload",
    "HTTPRequestPayload",
    "HTTPResponsePayload",
    "LogPayload",
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
    ``log_assertion_failed``; both default to ``""``, so one class types every log event.
    ``fields`` hold JSON values (strings, numbers, booleans, ``None``, lists and
    nested dicts), as :func:`audit_logging._model.fieldvalues.field_map` copies them.
    """

    message: str
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str = ""
    detail: str = ""
