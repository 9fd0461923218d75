"""
One factory per predefined event type [Go: NewHTTPRequestReceived, ..., NewAssertionFailed].

Each ``new_<type>`` takes the Go arguments minus ``ctx``: the context id and the
OpenTelemetry span come from the current context (see :mod:`audit_logging._model.context`),
and the keyword ``context_id=`` overrides the id. The payload is a fresh ``dict``
with exactly the keys registered as the type's schema in :mod:`audit_logging._model.schemas`,
so an event built here always passes validation when given the documented argument
types. The log types drop the ``log_`` prefix (``new_info`` builds ``log_info``).

Conversions, chosen to give the same payload the Go library writes:

- durations (``timedelta`` or seconds as a number) become whole milliseconds,
  truncated toward zero like ``time.Duration.Milliseconds()``; ``expires_in``
  becomes whole seconds the same way. A float is first rounded to nanoseconds
  (Go's resolution), so ``0.57`` is 570 ms rather than 569;
- an error (exception or text) becomes its text, ``None`` becomes ``""``;
- ``fields`` and ``metadata`` (Go ``map[string]string``) are copied with string
  keys and values, ``None`` becomes ``{}``; ``changes`` is copied as it is.

The typed ``*_t`` variants, returning ``Event[<payload dataclass>]``, live in
:mod:`audit_logging._model.payloads`.

Factories run on every audited action, so each one builds a dict and calls
:func:`~audit_logging._model.event.new_event`, nothing more; argument types are checked
by the schema at publish time, not here.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
from collections.abc import Mapping
from typing import Any, TypeAlias

from audit_logging._model.encoding import _safe_str
from audit_logging._model.event import Event, new_event

__all__ = [
    "Duration",
    "new_assertion_failed",
    "new_attachment_added",
    "new_attachment_removed",
    "new_auth_credentials_checked",
    "new_auth_login",
    "new_auth_logout",
    "new_auth_register",
    "new_auth_token_issued",
    "new_auth_token_revoked",
    "new_comment_added",
    "new_comment_deleted",
    "new_custom_field_set",
    "new_db_connected",
    "new_db_error",
    "new_db_exec",
    "new_db_init",
    "new_db_query",
    "new_db_tx_committed",
    "new_db_tx_rolled_back",
    "new_db_tx_started",
    "new_debug",
    "new_error",
    "new_fatal",
    "new_http_method_not_allowed",
    "new_http_request_received",
    "new_http_response_sent",
    "new_http_route_not_found",
    "new_info",
    "new_team_created",
    "new_team_deleted",
    "new_team_member_added",
    "new_team_member_removed",
    "new_team_updated",
    "new_user_created",
    "new_user_deleted",
    "new_user_logged_in",
    "new_user_logged_out",
    "new_user_updated",
    "new_warning",
    "new_work_item_assigned",
    "new_work_item_created",
    "new_work_item_deleted",
    "new_work_item_unassigned",
    "new_work_item_updated",
]

Duration: TypeAlias = "_dt.timedelta | float"
"""A duration: a ``timedelta`` or a number of seconds."""

_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000


def _nanoseconds(value: Duration, name: str) -> int:
    """
    A duration as whole nanoseconds (Go's ``time.Duration`` resolution).

    Raises:
        TypeError: not a timedelta or a real number (``bool`` included).
        ValueError: a NaN or infinite number of seconds.
    """
    if isinstance(value, _dt.timedelta):
        return (value.days * 86_400 + value.seconds) * _NS_PER_S + value.microseconds * 1_000
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a timedelta or a number of seconds, not {type(value).__name__}"
        )
    if isinstance(value, int):
        return value * _NS_PER_S
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{name} must be finite, got {seconds!r}")
    return round(seconds * 1e9)


def _truncated(numerator: int, denominator: int) -> int:
    """
    Integer division rounding toward zero, as Go's integer division does.
    """
    if numerator >= 0:
        return numerator // denominator
    return -(-numerator // denominator)


def _milliseconds(value: Duration, name: str) -> int:
    return _truncated(_nanoseconds(value, name), _NS_PER_MS)


def _seconds(value: Duration, name: str) -> int:
    return _truncated(_nanoseconds(value, name), _NS_PER_S)


def _error_text(err: BaseException | str | None) -> str:
    """
    The text of an error, as Go's ``err.Error()``; ``None`` is ``""``.
    """
    if err is None:
        return ""
    if isinstance(err, str):
        return err
    return _safe_str(err)


def _string_map(values: Mapping[Any, Any] | None) -> dict[str, str]:
    """
    A copy with string keys and values (Go ``map[string]string``); ``None`` is ``{}``.
    """
    if not values:
        return {}
    return {
        k if type(k) is str else _safe_str(k): v if type(v) is str else _safe_str(v)
        for k, v in values.items()
    }


def _copy_map(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """
    A shallow copy, so a caller mutating its dict later cannot change the event.
    """
    return {} if values is None else dict(values)


def new_http_request_received(
    source: str, method: str, path: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    An HTTP request arrived [Go: NewHTTPRequestReceived].
    """
    return new_event(
        "http_request_received", source, {"method": method, "path": path}, context_id=context_id
    )


def new_http_response_sent(
    source: str, status: int, duration: Duration, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    An HTTP response was sent; ``duration`` becomes whole ``duration_ms`` [Go: NewHTTPResponseSent].
    """
    return new_event(
        "http_response_sent",
        source,
        {"status": status, "duration_ms": _milliseconds(duration, "duration")},
        context_id=context_id,
    )


def new_http_route_not_found(
    source: str, path: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    No route matched the request path [Go: NewHTTPRouteNotFound].
    """
    return new_event("http_route_not_found", source, {"path": path}, context_id=context_id)


def new_http_method_not_allowed(
    source: str, method: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    The route does not allow the request method [Go: NewHTTPMethodNotAllowed].
    """
    return new_event("http_method_not_allowed", source, {"method": method}, context_id=context_id)


def new_auth_register(
    source: str, user_id: str, email: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user registered [Go: NewAuthRegister].
    """
    return new_event(
        "auth_register", source, {"user_id": user_id, "email": email}, context_id=context_id
    )


def new_auth_login(
    source: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user logged in [Go: NewAuthLogin].
    """
    return new_event("auth_login", source, {"user_id": user_id}, context_id=context_id)


def new_auth_logout(
    source: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user logged out [Go: NewAuthLogout].
    """
    return new_event("auth_logout", source, {"user_id": user_id}, context_id=context_id)


def new_auth_token_issued(
    source: str, user_id: str, expires_in: Duration, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A token was issued; ``expires_in`` becomes whole ``expires_in_s`` [Go: NewAuthTokenIssued].
    """
    return new_event(
        "auth_token_issued",
        source,
        {"user_id": user_id, "expires_in_s": _seconds(expires_in, "expires_in")},
        context_id=context_id,
    )


def new_auth_token_revoked(
    source: str, token_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A token was revoked [Go: NewAuthTokenRevoked].
    """
    return new_event("auth_token_revoked", source, {"token_id": token_id}, context_id=context_id)


def new_auth_credentials_checked(
    source: str, email: str, success: bool, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    Credentials were verified, successfully or not [Go: NewAuthCredentialsChecked].
    """
    return new_event(
        "auth_credentials_checked",
        source,
        {"email": email, "success": success},
        context_id=context_id,
    )


def new_db_connected(
    source: str, driver: str, dsn: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A database connection was opened [Go: NewDBConnected].
    """
    return new_event("db_connected", source, {"driver": driver, "dsn": dsn}, context_id=context_id)


def new_db_init(
    source: str, schema: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    The database schema was initialised [Go: NewDBInit].
    """
    return new_event("db_init", source, {"schema": schema}, context_id=context_id)


def new_db_error(
    source: str, query: str, err: BaseException | str | None, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A database operation failed; ``err`` is kept as its text [Go: NewDBError].
    """
    return new_event(
        "db_error", source, {"error": _error_text(err), "query": query}, context_id=context_id
    )


def new_db_query(
    source: str, query: str, duration: Duration, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A query ran; ``duration`` becomes whole ``duration_ms`` [Go: NewDBQuery].
    """
    return new_event(
        "db_query",
        source,
        {"query": query, "duration_ms": _milliseconds(duration, "duration")},
        context_id=context_id,
    )


def new_db_exec(
    source: str, stmt: str, rows_affected: int, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A statement ran and changed ``rows_affected`` rows [Go: NewDBExec].
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
    A transaction began [Go: NewDBTxStarted].
    """
    return new_event("db_tx_started", source, {"tx_id": tx_id}, context_id=context_id)


def new_db_tx_committed(
    source: str, tx_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A transaction committed [Go: NewDBTxCommitted].
    """
    return new_event("db_tx_committed", source, {"tx_id": tx_id}, context_id=context_id)


def new_db_tx_rolled_back(
    source: str, tx_id: str, reason: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A transaction rolled back [Go: NewDBTxRolledBack].
    """
    return new_event(
        "db_tx_rolled_back", source, {"tx_id": tx_id, "reason": reason}, context_id=context_id
    )


def new_work_item_created(
    source: str, id: str, metadata: Mapping[str, Any] | None, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A work item was created; ``metadata`` is copied with string values [Go: NewWorkItemCreated].
    """
    return new_event(
        "work_item_created",
        source,
        {"work_item_id": id, "metadata": _string_map(metadata)},
        context_id=context_id,
    )


def new_work_item_updated(
    source: str, id: str, changes: Mapping[str, Any] | None, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A work item changed; ``changes`` is copied [Go: NewWorkItemUpdated].
    """
    return new_event(
        "work_item_updated",
        source,
        {"work_item_id": id, "changes": _copy_map(changes)},
        context_id=context_id,
    )


def new_work_item_deleted(
    source: str, id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A work item was deleted [Go: NewWorkItemDeleted].
    """
    return new_event("work_item_deleted", source, {"work_item_id": id}, context_id=context_id)


def new_work_item_assigned(
    source: str, item_id: str, assignee_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A work item was assigned [Go: NewWorkItemAssigned].
    """
    return new_event(
        "work_item_assigned",
        source,
        {"work_item_id": item_id, "assignee_id": assignee_id},
        context_id=context_id,
    )


def new_work_item_unassigned(
    source: str, item_id: str, assignee_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A work item was unassigned [Go: NewWorkItemUnassigned].
    """
    return new_event(
        "work_item_unassigned",
        source,
        {"work_item_id": item_id, "assignee_id": assignee_id},
        context_id=context_id,
    )


def new_custom_field_set(
    source: str, item_id: str, field: str, value: Any, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A custom field of a work item was set to any value [Go: NewCustomFieldSet].
    """
    return new_event(
        "custom_field_set",
        source,
        {"work_item_id": item_id, "field": field, "value": value},
        context_id=context_id,
    )


def new_comment_added(
    source: str, comment_id: str, item_id: str, content: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A comment was added to a work item [Go: NewCommentAdded].
    """
    return new_event(
        "comment_added",
        source,
        {"comment_id": comment_id, "work_item_id": item_id, "comment": content},
        context_id=context_id,
    )


def new_comment_deleted(
    source: str, comment_id: str, item_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A comment was deleted [Go: NewCommentDeleted].
    """
    return new_event(
        "comment_deleted",
        source,
        {"comment_id": comment_id, "work_item_id": item_id},
        context_id=context_id,
    )


def new_attachment_added(
    source: str, attachment_id: str, item_id: str, filename: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A file was attached to a work item [Go: NewAttachmentAdded].
    """
    return new_event(
        "attachment_added",
        source,
        {"attachment_id": attachment_id, "work_item_id": item_id, "filename": filename},
        context_id=context_id,
    )


def new_attachment_removed(
    source: str, attachment_id: str, item_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    An attachment was removed [Go: NewAttachmentRemoved].
    """
    return new_event(
        "attachment_removed",
        source,
        {"attachment_id": attachment_id, "work_item_id": item_id},
        context_id=context_id,
    )


def new_user_created(
    source: str, user_id: str, email: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user was created [Go: NewUserCreated].
    """
    return new_event(
        "user_created", source, {"user_id": user_id, "email": email}, context_id=context_id
    )


def new_user_updated(
    source: str, user_id: str, changes: Mapping[str, Any] | None, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user changed; ``changes`` is copied [Go: NewUserUpdated].
    """
    return new_event(
        "user_updated",
        source,
        {"user_id": user_id, "changes": _copy_map(changes)},
        context_id=context_id,
    )


def new_user_deleted(
    source: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user was deleted [Go: NewUserDeleted].
    """
    return new_event("user_deleted", source, {"user_id": user_id}, context_id=context_id)


def new_user_logged_in(
    source: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user logged in (user domain) [Go: NewUserLoggedIn].
    """
    return new_event("user_logged_in", source, {"user_id": user_id}, context_id=context_id)


def new_user_logged_out(
    source: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user logged out (user domain) [Go: NewUserLoggedOut].
    """
    return new_event("user_logged_out", source, {"user_id": user_id}, context_id=context_id)


def new_team_created(
    source: str, team_id: str, name: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A team was created [Go: NewTeamCreated].
    """
    return new_event(
        "team_created", source, {"team_id": team_id, "name": name}, context_id=context_id
    )


def new_team_updated(
    source: str, team_id: str, changes: Mapping[str, Any] | None, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A team changed; ``changes`` is copied [Go: NewTeamUpdated].
    """
    return new_event(
        "team_updated",
        source,
        {"team_id": team_id, "changes": _copy_map(changes)},
        context_id=context_id,
    )


def new_team_deleted(
    source: str, team_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A team was deleted [Go: NewTeamDeleted].
    """
    return new_event("team_deleted", source, {"team_id": team_id}, context_id=context_id)


def new_team_member_added(
    source: str, team_id: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user joined a team [Go: NewTeamMemberAdded].
    """
    return new_event(
        "team_member_added", source, {"team_id": team_id, "user_id": user_id}, context_id=context_id
    )


def new_team_member_removed(
    source: str, team_id: str, user_id: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A user left a team [Go: NewTeamMemberRemoved].
    """
    return new_event(
        "team_member_removed",
        source,
        {"team_id": team_id, "user_id": user_id},
        context_id=context_id,
    )


def new_info(
    source: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    An informational log event; ``fields`` values become strings [Go: NewInfo].
    """
    return new_event(
        "log_info",
        source,
        {"message": message, "fields": _string_map(fields)},
        context_id=context_id,
    )


def new_warning(
    source: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    *,
    context_id: str | None = None,
) -> Event[dict[str, Any]]:
    """
    A warning log event; ``fields`` values become strings [Go: NewWarning].
    """
    return new_event(
        "log_warning",
        source,
        {"message": message, "fields": _string_map(fields)},
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
    An error log event; ``err`` is kept as its text [Go: NewError].
    """
    return new_event(
        "log_error",
        source,
        {"message": message, "error": _error_text(err), "fields": _string_map(fields)},
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
    A debug log event; ``fields`` values become strings [Go: NewDebug].
    """
    return new_event(
        "log_debug",
        source,
        {"message": message, "fields": _string_map(fields)},
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
    A fatal log event (the process is about to stop) [Go: NewFatal].
    """
    return new_event(
        "log_fatal",
        source,
        {"message": message, "fields": _string_map(fields)},
        context_id=context_id,
    )


def new_assertion_failed(
    source: str, message: str, detail: str, *, context_id: str | None = None
) -> Event[dict[str, Any]]:
    """
    A runtime assertion failed; ``detail`` says how [Go: NewAssertionFailed].
    """
    return new_event(
        "log_assertion_failed",
        source,
        {"message": message, "detail": detail},
        context_id=context_id,
    )
