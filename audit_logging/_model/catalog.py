"""
The event catalog: one entry per predefined event type, the one place a type is added.

Each member of :class:`EventType` carries its :class:`Entry`: the payload fields in
payload order (key, the factory argument each comes from and how that argument
becomes the value), the factory's argument order where it differs, the factory's
docstring and, where a typed ``*_t`` variant exists, its payload dataclass.
Everything else about a predefined type is derived from the entry:

- :class:`EventType` is the table itself, so a type cannot be listed without its payload;
- the schema registered for each type (:mod:`audit_logging._model.schemas`) requires
  exactly the entry's keys, with the types their conversions produce;
- the ``new_*`` and ``*_t`` factories (the package :mod:`audit_logging._model.factories`)
  are source code written from the entries by :mod:`audit_logging._model.codegen`.

Why the factories are generated source, checked in, rather than functions built
from the entries at import (as :mod:`dataclasses` builds ``__init__``) with a
``.pyi`` stub for type checkers: users rely on each factory's exact signature
(``mypy --strict`` flags ``new_auth_login("api", 1)``, IDEs and
``inspect.signature`` show the arguments), and the factories run on every audited
action, so they must cost no more than a hand-written function. Generated source
is a hand-written function in every way that matters: mypy checks the bodies
(functions built from strings at import are never checked, and a stub would hide
the module), a traceback points at a real line, "go to definition" lands on the
function and its docstring, and nothing is compiled at import. Its one cost,
files that must be regenerated, is made safe by ``tests/model/test_catalog.py``,
which fails, naming the command, when a module is not what this table generates.

The entry machinery (:class:`Kind`, :class:`Field`, :class:`Entry`, :func:`define`) lives in
:mod:`audit_logging._model.entries` and is re-exported here.

Adding an event type: add a member below, run ``python -m audit_logging._model.codegen``,
and pin the new factory's payload in ``tests/model/test_factories.py``.
"""

from __future__ import annotations

import enum
from typing import Any, Self

from audit_logging._model.entries import (
    ANY,
    BOOL,
    ERROR_TEXT,
    FIELD_MAP,
    INT,
    MILLISECONDS,
    SECONDS,
    SHALLOW_COPY,
    STR,
    STRING_MAP,
    Entry,
    Field,
    Kind,
    define,
)
from audit_logging._model.payloads import (
    AuthRegisterPayload,
    HTTPRequestPayload,
    HTTPResponsePayload,
    LogPayload,
)

__all__ = [
    "ANY",
    "BOOL",
    "ERROR_TEXT",
    "FIELD_MAP",
    "INT",
    "MILLISECONDS",
    "SECONDS",
    "SHALLOW_COPY",
    "STR",
    "STRING_MAP",
    "Entry",
    "EventType",
    "Field",
    "Kind",
    "define",
]


# The record_* payload: model ("shop.Product" or a table), record_id (the primary key as
# text), changes (each field -> [old, new]; old is None on create, new on delete).
_RECORD_FIELDS = (Field("model", STR), Field("record_id", STR), Field("changes", SHALLOW_COPY))


class EventType(enum.StrEnum):
    """
    The predefined event types; any other string is a valid type too.

    Each member is the type's string (``EventType.AUTH_LOGIN == "auth_login"``)
    and carries its catalog :class:`Entry` as ``entry``.
    """

    _value_: str
    entry: Entry

    def __new__(cls, *parts: Any) -> Self:
        """
        A member whose value is its entry's type string.

        Enum hands a tuple value (an :class:`Entry` is one) to ``__new__`` as its
        items, so the entry is put back together from them.
        """
        made = Entry(*parts)
        member = str.__new__(cls, made.event_type)
        member._value_ = made.event_type
        member.entry = made
        return member

    HTTP_REQUEST_RECEIVED = define(
        "http_request_received",
        "An HTTP request arrived.",
        Field("method", STR),
        Field("path", STR),
        typed=HTTPRequestPayload,
    )
    HTTP_RESPONSE_SENT = define(
        "http_response_sent",
        "An HTTP response was sent; ``duration`` becomes whole ``duration_ms``.",
        Field("status", INT),
        Field("duration_ms", MILLISECONDS, arg="duration"),
        typed=HTTPResponsePayload,
    )
    HTTP_ROUTE_NOT_FOUND = define(
        "http_route_not_found", "No route matched the request path.", Field("path", STR)
    )
    HTTP_METHOD_NOT_ALLOWED = define(
        "http_method_not_allowed",
        "The route does not allow the request method.",
        Field("method", STR),
    )

    AUTH_REGISTER = define(
        "auth_register",
        "A user registered.",
        Field("user_id", STR),
        Field("email", STR),
        typed=AuthRegisterPayload,
    )
    AUTH_LOGIN = define("auth_login", "A user logged in.", Field("user_id", STR))
    AUTH_LOGOUT = define("auth_logout", "A user logged out.", Field("user_id", STR))
    AUTH_TOKEN_ISSUED = define(
        "auth_token_issued",
        "A token was issued; ``expires_in`` becomes whole ``expires_in_s``.",
        Field("user_id", STR),
        Field("expires_in_s", SECONDS, arg="expires_in"),
    )
    AUTH_TOKEN_REVOKED = define(
        "auth_token_revoked", "A token was revoked.", Field("token_id", STR)
    )
    AUTH_CREDENTIALS_CHECKED = define(
        "auth_credentials_checked",
        "Credentials were verified, successfully or not.",
        Field("email", STR),
        Field("success", BOOL),
    )
    AUTH_LOGIN_FAILED = define(
        "auth_login_failed",
        "A login failed; ``username`` is the name tried (never the password).",
        Field("username", STR),
        Field("reason", STR),
    )

    DB_CONNECTED = define(
        "db_connected",
        "A database connection was opened.",
        Field("driver", STR),
        Field("dsn", STR),
    )
    DB_INIT = define("db_init", "The database schema was initialised.", Field("schema", STR))
    DB_ERROR = define(
        "db_error",
        "A database operation failed; ``err`` is kept as its text.",
        Field("error", ERROR_TEXT, arg="err"),
        Field("query", STR),
        order=("query", "err"),
    )
    DB_QUERY = define(
        "db_query",
        "A query ran; ``duration`` becomes whole ``duration_ms``.",
        Field("query", STR),
        Field("duration_ms", MILLISECONDS, arg="duration"),
    )
    DB_EXEC = define(
        "db_exec",
        "A statement ran and changed ``rows_affected`` rows.",
        Field("statement", STR, arg="stmt"),
        Field("rows_affected", INT),
    )
    DB_TX_STARTED = define("db_tx_started", "A transaction began.", Field("tx_id", STR))
    DB_TX_COMMITTED = define("db_tx_committed", "A transaction committed.", Field("tx_id", STR))
    DB_TX_ROLLED_BACK = define(
        "db_tx_rolled_back", "A transaction rolled back.", Field("tx_id", STR), Field("reason", STR)
    )

    WORK_ITEM_CREATED = define(
        "work_item_created",
        "A work item was created; ``metadata`` is copied with string values.",
        Field("work_item_id", STR, arg="id"),
        Field("metadata", STRING_MAP),
    )
    WORK_ITEM_UPDATED = define(
        "work_item_updated",
        "A work item changed; ``changes`` is copied.",
        Field("work_item_id", STR, arg="id"),
        Field("changes", SHALLOW_COPY),
    )
    WORK_ITEM_DELETED = define(
        "work_item_deleted", "A work item was deleted.", Field("work_item_id", STR, arg="id")
    )
    WORK_ITEM_ASSIGNED = define(
        "work_item_assigned",
        "A work item was assigned.",
        Field("work_item_id", STR, arg="item_id"),
        Field("assignee_id", STR),
    )
    WORK_ITEM_UNASSIGNED = define(
        "work_item_unassigned",
        "A work item was unassigned.",
        Field("work_item_id", STR, arg="item_id"),
        Field("assignee_id", STR),
    )
    CUSTOM_FIELD_SET = define(
        "custom_field_set",
        "A custom field of a work item was set to any value.",
        Field("work_item_id", STR, arg="item_id"),
        Field("field", STR),
        Field("value", ANY),
    )

    COMMENT_ADDED = define(
        "comment_added",
        "A comment was added to a work item.",
        Field("comment_id", STR),
        Field("work_item_id", STR, arg="item_id"),
        Field("comment", STR, arg="content"),
    )
    COMMENT_DELETED = define(
        "comment_deleted",
        "A comment was deleted.",
        Field("comment_id", STR),
        Field("work_item_id", STR, arg="item_id"),
    )
    ATTACHMENT_ADDED = define(
        "attachment_added",
        "A file was attached to a work item.",
        Field("attachment_id", STR),
        Field("work_item_id", STR, arg="item_id"),
        Field("filename", STR),
    )
    ATTACHMENT_REMOVED = define(
        "attachment_removed",
        "An attachment was removed.",
        Field("attachment_id", STR),
        Field("work_item_id", STR, arg="item_id"),
    )

    USER_CREATED = define(
        "user_created", "A user was created.", Field("user_id", STR), Field("email", STR)
    )
    USER_UPDATED = define(
        "user_updated",
        "A user changed; ``changes`` is copied.",
        Field("user_id", STR),
        Field("changes", SHALLOW_COPY),
    )
    USER_DELETED = define("user_deleted", "A user was deleted.", Field("user_id", STR))
    USER_LOGGED_IN = define(
        "user_logged_in", "A user logged in (user domain).", Field("user_id", STR)
    )
    USER_LOGGED_OUT = define(
        "user_logged_out", "A user logged out (user domain).", Field("user_id", STR)
    )

    RECORD_CREATED = define(
        "record_created",
        "A record was created; ``changes`` maps each field to ``[None, value]``.",
        *_RECORD_FIELDS,
    )
    RECORD_UPDATED = define(
        "record_updated",
        "A record changed; ``changes`` maps fields to ``[old, new]``.",
        *_RECORD_FIELDS,
    )
    RECORD_DELETED = define(
        "record_deleted",
        "A record was deleted; ``changes`` maps fields to ``[old, None]``.",
        *_RECORD_FIELDS,
    )
    ADMIN_ACTION = define(
        "admin_action",
        "An admin action (``add``, ``change``, ``delete``) as the admin's own log entry says it.",
        Field("action", STR),
        Field("model", STR),
        Field("record_id", STR),
        Field("change_message", STR),
    )

    TEAM_CREATED = define(
        "team_created", "A team was created.", Field("team_id", STR), Field("name", STR)
    )
    TEAM_UPDATED = define(
        "team_updated",
        "A team changed; ``changes`` is copied.",
        Field("team_id", STR),
        Field("changes", SHALLOW_COPY),
    )
    TEAM_DELETED = define("team_deleted", "A team was deleted.", Field("team_id", STR))
    TEAM_MEMBER_ADDED = define(
        "team_member_added", "A user joined a team.", Field("team_id", STR), Field("user_id", STR)
    )
    TEAM_MEMBER_REMOVED = define(
        "team_member_removed", "A user left a team.", Field("team_id", STR), Field("user_id", STR)
    )

    LOG_INFO = define(
        "log_info",
        "An informational log event; ``fields`` keep their JSON types (a copy).",
        Field("message", STR),
        Field("fields", FIELD_MAP, optional=True),
        typed=LogPayload,
    )
    LOG_WARNING = define(
        "log_warning",
        "A warning log event; ``fields`` keep their JSON types (a copy).",
        Field("message", STR),
        Field("fields", FIELD_MAP, optional=True),
        typed=LogPayload,
    )
    LOG_ERROR = define(
        "log_error",
        "An error log event; ``err`` is kept as its text.",
        Field("message", STR),
        Field("error", ERROR_TEXT, arg="err"),
        Field("fields", FIELD_MAP, optional=True),
        typed=LogPayload,
    )
    LOG_DEBUG = define(
        "log_debug",
        "A debug log event; ``fields`` keep their JSON types (a copy).",
        Field("message", STR),
        Field("fields", FIELD_MAP, optional=True),
        typed=LogPayload,
    )
    LOG_FATAL = define(
        "log_fatal",
        "A fatal log event (the process is about to stop).",
        Field("message", STR),
        Field("fields", FIELD_MAP, optional=True),
        typed=LogPayload,
    )
    LOG_ASSERTION_FAILED = define(
        "log_assertion_failed",
        "A runtime assertion failed; ``detail`` says how.",
        Field("message", STR),
        Field("detail", STR),
        typed=LogPayload,
    )
