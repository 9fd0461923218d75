"""
The canonical event as an Open Cybersecurity Schema Framework (OCSF 1.3.0) event.

Classes, by the event type's kind (:mod:`~audit_logging._model.formats.kinds`):

==============================  ==================  ======================================
kind                            OCSF class          ``activity_id``
==============================  ==================  ======================================
authentication                  Authentication      1 Logon (login, login failed, credentials
                                3002 (IAM, 3)       checked), 2 Logoff, 3 Authentication
                                                    Ticket (token issued), 99 Other (revoked)
account (user) changes          Account Change      1 Create (register, user created),
                                3001 (IAM, 3)       6 Delete, 99 Other (updated)
HTTP request/response           HTTP Activity       the method: 1 Connect, 2 Delete, 3 Get,
                                4002 (Network, 4)   4 Head, 5 Options, 6 Post, 7 Put, 8 Trace,
                                                    9 Patch; 99 Other
resources (work items, teams,   API Activity        1 Create, 2 Read, 3 Update, 4 Delete,
records, comments, ``*_created``  6003 (Application,  99 Other
...)                            6)
everything else (log, database  Base Event 0        99 Other; ``category_uid`` 0
events, other types)            (generic)           (Uncategorized)
==============================  ==================  ======================================

Every event has the base attributes: ``class_uid``, ``class_name``, ``category_uid``,
``category_name``, ``activity_id``, ``activity_name``, ``type_uid`` (``class_uid * 100 +
activity_id``), ``type_name``, ``time`` (epoch ms), ``severity_id`` / ``severity`` (1
Informational; log warning 3 Medium, error 4 High, fatal 6 Fatal), ``status_id`` /
``status`` (1 Success, 2 Failure, 0 Unknown), ``message``, and ``metadata``: ``uid``
(the event id), ``correlation_uid`` (the context id), ``version`` and ``product``
(``name``/``vendor_name`` ``audit_logging``, with the event's ``source`` as
``feature.name``). The actor becomes ``actor.user`` (and ``user`` for the IAM classes),
the origin ``src_endpoint.ip``, ``http_request`` (``http_method``, ``url.path``,
``url.query_string``, ``user_agent``) and ``http_response.code``; Authentication
names the event's source as ``service.name`` (the class asks for at least one of
``service`` and ``dst_endpoint``); the API class
names the operation (``api.operation`` = the type, ``api.service.name`` = the
source); the Base Event has no actor or endpoint attributes, so there the actor
and origin are kept whole under ``unmapped``. ``src_endpoint`` (and
``dst_endpoint``, ``http_request`` and ``http_response`` for HTTP, which 1.3.0
requires, and ``service`` for Authentication) is written where the class asks for
it even when nothing is known (``{}``: no origin bound, no status, no source).
What OCSF has no attribute for (the payload, trace and span ids) is kept under
``unmapped``, OCSF's place for it.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from audit_logging._model.event import Event
from audit_logging._model.formats.kinds import kind_of, outcome_of

__all__ = ["OCSF_VERSION", "to_ocsf"]

OCSF_VERSION = "1.3.0"

_CLASSES = {
    # kind group -> (class_uid, class_name, category_uid, category_name)
    "auth": (3002, "Authentication", 3, "Identity & Access Management"),
    "account": (3001, "Account Change", 3, "Identity & Access Management"),
    "http": (4002, "HTTP Activity", 4, "Network Activity"),
    "crud": (6003, "API Activity", 6, "Application Activity"),
    "group": (6003, "API Activity", 6, "Application Activity"),
}
_BASE = (0, "Base Event", 0, "Uncategorized")
_AUTH_ACTIVITY = {"logon": (1, "Logon"), "check": (1, "Logon"), "logoff": (2, "Logoff")}
_AUTH_ACTIVITY["ticket"] = (3, "Authentication Ticket")
_ACCOUNT_ACTIVITY = {"create": (1, "Create"), "delete": (6, "Delete")}
_API_ACTIVITY = {"create": (1, "Create"), "read": (2, "Read"), "update": (3, "Update")}
_API_ACTIVITY["delete"] = (4, "Delete")
_HTTP_ACTIVITY = {
    "CONNECT": (1, "Connect"),
    "DELETE": (2, "Delete"),
    "GET": (3, "Get"),
    "HEAD": (4, "Head"),
    "OPTIONS": (5, "Options"),
    "POST": (6, "Post"),
    "PUT": (7, "Put"),
    "TRACE": (8, "Trace"),
    "PATCH": (9, "Patch"),
}
_OTHER = (99, "Other")
_SEVERITIES = {
    "log_warning": (3, "Medium"),
    "log_error": (4, "High"),
    "log_assertion_failed": (4, "High"),
    "log_fatal": (6, "Fatal"),
}
_STATUSES: dict[bool | None, tuple[int, str]] = {
    None: (0, "Unknown"),
    True: (1, "Success"),
    False: (2, "Failure"),
}
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _activity(group: str, verb: str, method: str) -> tuple[int, str]:
    if group == "auth":
        return _AUTH_ACTIVITY.get(verb, _OTHER)
    if group == "account":
        return _ACCOUNT_ACTIVITY.get(verb, _OTHER)
    if group == "http":
        return _HTTP_ACTIVITY.get(method.upper(), _OTHER)
    if group in ("crud", "group"):
        return _API_ACTIVITY.get(verb, _OTHER)
    return _OTHER


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def to_ocsf(evt: Event[Any]) -> dict[str, Any]:
    """
    The OCSF event of one event (plain JSON types; see the module docstring for the mapping).
    """
    canonical = evt.to_dict()
    payload = canonical["payload"]
    body = payload if isinstance(payload, dict) else {}
    kind = kind_of(evt.type)
    class_uid, class_name, category_uid, category_name = _CLASSES.get(kind.group, _BASE)
    actor = canonical.get("actor") or {}
    origin = canonical.get("origin") or {}
    method = _text(origin.get("method")) or _text(body.get("method"))
    activity_id, activity_name = _activity(kind.group, kind.verb, method)
    severity_id, severity = _SEVERITIES.get(evt.type, (1, "Informational"))
    outcome = outcome_of(evt.type, payload)
    status_id, status = (
        (0, "Unknown") if outcome is None else (1, "Success") if outcome else (2, "Failure")
    )
    message = body.get("message")
    out: dict[str, Any] = {
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity_name}",
        "time": (evt.time - _EPOCH) // _dt.timedelta(milliseconds=1),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "message": message if isinstance(message, str) and message else canonical["type"],
        "metadata": _metadata(canonical),
    }
    user = {"uid": _text(actor.get("user_id")) or _text(body.get("user_id"))}
    if actor.get("username"):
        user["name"] = actor["username"]
    if isinstance(body.get("email"), str):
        user["email_addr"] = body["email"]
    user = {k: v for k, v in user.items() if v}
    classified = class_uid != 0  # the Base Event defines no actor or endpoint
    if classified and (user or kind.group in ("auth", "account", "crud", "group")):
        out["actor"] = {"user": user}
    if kind.group in ("auth", "account"):
        out["user"] = user
    if kind.group == "auth":  # Authentication asks for at least one of service, dst_endpoint
        out["service"] = {"name": canonical["source"]} if canonical["source"] else {}
    if classified and (origin.get("client_ip") or kind.group in ("http", "crud", "group")):
        out["src_endpoint"] = {"ip": origin["client_ip"]} if origin.get("client_ip") else {}
    if kind.group == "http":
        _http(out, canonical, origin, body, method)
    elif kind.group in ("crud", "group"):
        out["api"] = {"operation": canonical["type"], "service": {"name": canonical["source"]}}
    if isinstance(body.get("duration_ms"), int) and not isinstance(body["duration_ms"], bool):
        out["duration"] = body["duration_ms"]
    unmapped: dict[str, Any] = {"payload": payload}
    for key in ("trace_id", "span_id", "trace_flags"):
        if canonical.get(key):
            unmapped[key] = canonical[key]
    if not classified:
        unmapped.update((k, canonical[k]) for k in ("actor", "origin") if canonical.get(k))
    else:
        if actor.get("auth_method"):
            unmapped["auth_method"] = actor["auth_method"]
        if origin.get("route"):
            unmapped["route"] = origin["route"]
    out["unmapped"] = unmapped
    return out


def _metadata(canonical: dict[str, Any]) -> dict[str, Any]:
    product: dict[str, Any] = {"name": "audit_logging", "vendor_name": "audit_logging"}
    if canonical["source"]:
        product["feature"] = {"name": canonical["source"]}
    metadata: dict[str, Any] = {"version": OCSF_VERSION, "product": product, "uid": canonical["id"]}
    if canonical["context_id"]:
        metadata["correlation_uid"] = canonical["context_id"]
    return metadata


def _http(
    out: dict[str, Any],
    canonical: dict[str, Any],
    origin: dict[str, Any],
    body: dict[str, Any],
    method: str,
) -> None:
    request: dict[str, Any] = {}
    if method:
        request["http_method"] = method.upper()
    url: dict[str, Any] = {}
    path = _text(origin.get("path")) or _text(body.get("path"))
    if path:
        url["path"] = path
    if origin.get("query"):
        url["query_string"] = origin["query"]
    if url:
        request["url"] = url
    if origin.get("user_agent"):
        request["user_agent"] = origin["user_agent"]
    out["http_request"] = request
    status = body.get("status")
    known = isinstance(status, int) and not isinstance(status, bool)
    out["http_response"] = {"code": status} if known else {}  # required in 1.3.0
    out["dst_endpoint"] = {"svc_name": canonical["source"]} if canonical["source"] else {}
