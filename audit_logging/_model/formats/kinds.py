"""
What an event type *is*, once, for every SIEM rendering: a :class:`Kind`.

ECS and OCSF both ask the same questions of an event (is it an authentication,
a change to an account, an HTTP exchange, a create/read/update/delete of a
resource? did it succeed?), each with its own vocabulary. The answers for the
predefined types are written here once; both renderings translate a kind into
their own names. A type of the application's own is classified by its name:
``*_created``/``*_added`` is a create, ``*_read``/``*_viewed`` a read,
``*_updated``/``*_changed``/``*_set`` an update, ``*_deleted``/``*_removed`` a
delete (resource changes); anything else is ``other``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

__all__ = ["Kind", "kind_of", "outcome_of"]

Group = Literal["auth", "account", "group", "http", "crud", "db", "log", "other"]
Verb = Literal[
    "logon", "logoff", "ticket", "revoke", "check",
    "create", "read", "update", "delete", "error", "other",
]  # fmt: skip


@dataclasses.dataclass(frozen=True, slots=True)
class Kind:
    """
    The family of an event type and what it did.

    Attributes:
        group: ``auth`` (authentication), ``account`` (a user account changed),
            ``group`` (a team or group changed), ``http`` (a request or response),
            ``crud`` (an application resource), ``db`` (the database), ``log`` (a
            log event), ``other``.
        verb: what happened (``logon``, ``create``, ``delete``...).
        failed: the type itself says it failed (``auth_login_failed``, ``db_error``).
    """

    group: Group
    verb: Verb
    failed: bool = False


_KINDS: dict[str, Kind] = {
    "auth_login": Kind("auth", "logon"),
    "user_logged_in": Kind("auth", "logon"),
    "auth_login_failed": Kind("auth", "logon", failed=True),
    "auth_credentials_checked": Kind("auth", "check"),
    "auth_logout": Kind("auth", "logoff"),
    "user_logged_out": Kind("auth", "logoff"),
    "auth_token_issued": Kind("auth", "ticket"),
    "auth_token_revoked": Kind("auth", "revoke"),
    "auth_register": Kind("account", "create"),
    "user_created": Kind("account", "create"),
    "user_updated": Kind("account", "update"),
    "user_deleted": Kind("account", "delete"),
    "team_created": Kind("group", "create"),
    "team_updated": Kind("group", "update"),
    "team_deleted": Kind("group", "delete"),
    "team_member_added": Kind("group", "update"),
    "team_member_removed": Kind("group", "update"),
    "http_request_received": Kind("http", "other"),
    "http_response_sent": Kind("http", "other"),
    "http_route_not_found": Kind("http", "other", failed=True),
    "http_method_not_allowed": Kind("http", "other", failed=True),
    "db_connected": Kind("db", "other"),
    "db_init": Kind("db", "other"),
    "db_error": Kind("db", "error", failed=True),
    "db_query": Kind("db", "read"),
    "db_exec": Kind("db", "update"),
    "db_tx_started": Kind("db", "other"),
    "db_tx_committed": Kind("db", "other"),
    "db_tx_rolled_back": Kind("db", "other", failed=True),
    "work_item_assigned": Kind("crud", "update"),
    "work_item_unassigned": Kind("crud", "update"),
    "admin_action": Kind("crud", "other"),
    "log_debug": Kind("log", "other"),
    "log_info": Kind("log", "other"),
    "log_warning": Kind("log", "other"),
    "log_error": Kind("log", "error", failed=True),
    "log_fatal": Kind("log", "error", failed=True),
    "log_assertion_failed": Kind("log", "error", failed=True),
}

_SUFFIXES: tuple[tuple[str, Verb], ...] = (
    ("_created", "create"),
    ("_added", "create"),
    ("_read", "read"),
    ("_viewed", "read"),
    ("_updated", "update"),
    ("_changed", "update"),
    ("_set", "update"),
    ("_deleted", "delete"),
    ("_removed", "delete"),
)


def kind_of(event_type: str) -> Kind:
    """
    The kind of an event type (predefined types by table, others by their name's suffix).
    """
    kind = _KINDS.get(event_type)
    if kind is not None:
        return kind
    for suffix, verb in _SUFFIXES:
        if event_type.endswith(suffix):
            return Kind("crud", verb)
    return Kind("other", "other")


def outcome_of(event_type: str, payload: Any) -> bool | None:
    """
    Whether the event reports a success (True), a failure (False) or does not say (None).

    From the type (:attr:`Kind.failed`), then the payload: ``success`` (a bool),
    ``status`` (an HTTP status: < 400 succeeded), an ``error`` text.
    """
    if kind_of(event_type).failed:
        return False
    if not isinstance(payload, dict):
        return None
    success = payload.get("success")
    if isinstance(success, bool):
        return success
    status = payload.get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        return status < 400
    if payload.get("error"):
        return False
    return None
