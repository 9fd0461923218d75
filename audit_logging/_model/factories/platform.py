"""
The factories of the HTTP, auth and database events.

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

from typing import Any

from audit_logging._model.conversions import Duration, error_text, milliseconds, seconds
from audit_logging._model.event import Event, new_event

__all__ = [
    "new_auth_credentials_checked",
    "new_auth_login",
    "new_auth_login_failed",
    "new_auth_logout",
    "new_auth_register",
    "new_auth_token_issued",
    "new_auth_token_revoked",
    "new_db_connected",
    "new_db_error",
    "new_db_exec",
    "new_db_init",
    "new_db_query",
    "new_db_tx_committed",
    "new_db_tx_rolled_back",
    "new_db_tx_started",
    "new_http_method_not_allowed",
    "new_http_request_received",
    "new_http_response_sent",
    "new_http_route_not_found",
]


def new_http_request_received(
    source: str, method: str, path: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    An HTTP request arrived.
    """
    return new_event(
        "http_request_received", source, {"method": method, "path": path}, context_id=context_id
    )


def new_http_response_sent(
    source: str, status: int, duration: Duration, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    An HTTP response was sent; ``duration`` becomes whole ``duration_ms``.
    """
    return new_event(
        "http_response_sent",
        source,
        {"status": status, "duration_ms": milliseconds(duration, "duration")},
        context_id=context_id,
    )


def new_http_route_not_found(
    source: str, path: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    No route matched the request path.
    """
    return new_event("http_route_not_found", source, {"path": path}, context_id=context_id)


def new_http_method_not_allowed(
    source: str, method: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    The route does not allow the request method.
    """
    return new_event("http_method_not_allowed", source, {"method": method}, context_id=context_id)


def new_auth_register(
    source: str, user_id: str, email: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user registered.
    """
    return new_event(
        "auth_register", source, {"user_id": user_id, "email": email}, context_id=context_id
    )


def new_auth_login(
    source: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user logged in.
    """
    return new_event("auth_login", source, {"user_id": user_id}, context_id=context_id)


def new_auth_logout(
    source: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user logged out.
    """
    return new_event("auth_logout", source, {"user_id": user_id}, context_id=context_id)


def new_auth_token_issued(
    source: str, user_id: str, expires_in: Duration, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A token was issued; ``expires_in`` becomes whole ``expires_in_s``.
    """
    return new_event(
        "auth_token_issued",
        source,
        {"user_id": user_id, "expires_in_s": seconds(expires_in, "expires_in")},
        context_id=context_id,
    )


def new_auth_token_revoked(
    source: str, token_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A token was revoked.
    """
    return new_event("auth_token_revoked", source, {"token_id": token_id}, context_id=context_id)


def new_auth_credentials_checked(
    source: str, email: str, success: bool, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    Credentials were verified, successfully or not.
    """
    return new_event(
        "auth_credentials_checked",
        source,
        {"email": email, "success": success},
        context_id=context_id,
    )


def new_auth_login_failed(
    source: str, username: str, reason: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A login failed; ``username`` is the name tried (never the password).
    """
    return new_event(
        "auth_login_failed", source, {"username": username, "reason": reason}, context_id=context_id
    )


def new_db_connected(
    source: str, driver: str, dsn: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A database connection was opened.
    """
    return new_event("db_connected", source, {"driver": driver, "dsn": dsn}, context_id=context_id)


def new_db_init(
    source: str, schema: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    The database schema was initialised.
    """
    return new_event("db_init", source, {"schema": schema}, context_id=context_id)


def new_db_error(
    source: str, query: str, err: BaseException | str | None, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A database operation failed; ``err`` is kept as its text.
    """
    return new_event(
        "db_error", source, {"error": error_text(err), "query": query}, context_id=context_id
    )


def new_db_query(
    source: str, query: str, duration: Duration, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A query ran; ``duration`` becomes whole ``duration_ms``.
    """
    return new_event(
        "db_query",
        source,
        {"query": query, "duration_ms": milliseconds(duration, "duration")},
        context_id=context_id,
    )


def new_db_exec(
    source: str, stmt: str, rows_affected: int, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A statement ran and changed ``rows_affected`` rows.
    """
    return new_event(
        "db_exec",
        source,
        {"statement": stmt, "rows_affected": rows_affected},
        context_id=context_id,
    )


def new_db_tx_started(
    source: str, tx_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A transaction began.
    """
    return new_event("db_tx_started", source, {"tx_id": tx_id}, context_id=context_id)


def new_db_tx_committed(
    source: str, tx_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A transaction committed.
    """
    return new_event("db_tx_committed", source, {"tx_id": tx_id}, context_id=context_id)


def new_db_tx_rolled_back(
    source: str, tx_id: str, reason: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A transaction rolled back.
    """
    return new_event(
        "db_tx_rolled_back", source, {"tx_id": tx_id, "reason": reason}, context_id=context_id
    )
