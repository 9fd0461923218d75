"""
The canonical event as an Elastic Common Schema (ECS 8.11) document.

=====================================  ===========================================
canonical                              ECS
=====================================  ===========================================
``time``                               ``@timestamp``
``id`` / ``type`` / ``source``         ``event.id`` / ``event.action`` / ``event.provider``
(the type's kind)                      ``event.kind`` (``event``), ``event.category``/``type``
(success, status, error)               ``event.outcome`` (``success``/``failure``/``unknown``)
payload ``duration_ms``                ``event.duration`` (nanoseconds)
``trace_id`` / ``span_id``             ``trace.id`` / ``span.id``
``context_id``                         ``labels.context_id``
``actor.user_id`` / ``username``       ``user.id`` / ``user.name``
payload ``user_id`` / ``email``        ``user.id`` (no actor bound) / ``user.email``
``origin.client_ip``                   ``client.ip`` (``client.address`` when not an IP)
``origin.user_agent``                  ``user_agent.original``
``origin.method`` / payload ``method`` ``http.request.method``
``origin.path`` / payload ``path``     ``url.path``
``origin.query``                       ``url.query``
payload ``status``                     ``http.response.status_code``
payload ``error``                      ``error.message``
log types                              ``log.level``; payload ``message`` -> ``message``
everything, as it is                   ``audit_logging``: ``payload``, ``actor``, ``origin``...
=====================================  ===========================================

``event.category`` / ``event.type`` by kind: authentication logon/logoff ->
``[authentication, session]`` / ``[start]``, ``[end]``; other authentication ->
``[authentication]`` / ``[info]``; accounts -> ``[iam]`` / ``[user, creation|change|deletion]``;
teams -> ``[iam]`` / ``[group, ...]``; HTTP -> ``[web]`` / ``[access]``; database ->
``[database]`` / ``[access]``, ``[change]``, ``[error]`` or ``[info]``; resources ->
``[configuration]`` / ``[creation|access|change|deletion]``; log and other types have
no category and ``[info]`` (``[error]`` for errors). Only the allowed values of
ECS's categorization fields are used. The whole canonical event stays under the
custom ``audit_logging`` object (ECS reserves no such field set), so nothing is lost.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from audit_logging._model.event import Event
from audit_logging._model.formats.kinds import Kind, kind_of, outcome_of

__all__ = ["ECS_VERSION", "to_ecs"]

ECS_VERSION = "8.11.0"

_CHANGE = {"create": "creation", "update": "change", "delete": "deletion", "read": "access"}
_DB_TYPES = {"read": "access", "update": "change", "error": "error"}
_LOG_LEVELS = {
    "log_debug": "debug",
    "log_info": "info",
    "log_warning": "warning",
    "log_error": "error",
    "log_fatal": "critical",
    "log_assertion_failed": "error",
}


def _categorize(kind: Kind) -> tuple[list[str], list[str]]:
    group, verb = kind.group, kind.verb
    if group == "auth":
        if verb == "logon":
            return ["authentication", "session"], ["start"]
        if verb == "logoff":
            return ["authentication", "session"], ["end"]
        return ["authentication"], ["info"]
    if group in ("account", "group"):
        entity = "user" if group == "account" else "group"
        return ["iam"], [entity, _CHANGE.get(verb, "change")]
    if group == "http":
        return ["web"], ["access"]
    if group == "db":
        return ["database"], [_DB_TYPES.get(verb, "info")]
    if group == "crud":
        return ["configuration"], [_CHANGE.get(verb, "info")]
    return [], ["error" if verb == "error" else "info"]


def _client(ip: str) -> dict[str, str]:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return {"address": ip}
    return {"address": ip, "ip": ip}


def _put(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    if value is None or value == "":
        return
    node = doc
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node.setdefault(path[-1], value)


def to_ecs(evt: Event[Any]) -> dict[str, Any]:
    """
    The ECS document of one event (plain JSON types; see the module docstring for the mapping).
    """
    canonical = evt.to_dict()
    payload = canonical["payload"]
    body = payload if isinstance(payload, dict) else {}
    kind = kind_of(evt.type)
    category, types = _categorize(kind)
    outcome = outcome_of(evt.type, payload)
    event: dict[str, Any] = {
        "id": canonical["id"],
        "kind": "event",
        "action": canonical["type"],
        "type": types,
        "outcome": "unknown" if outcome is None else ("success" if outcome else "failure"),
    }
    if category:
        event["category"] = category
    if canonical["source"]:
        event["provider"] = canonical["source"]
    duration = body.get("duration_ms")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        event["duration"] = int(duration * 1_000_000)
    doc: dict[str, Any] = {"@timestamp": canonical["time"], "ecs": {"version": ECS_VERSION}}
    doc["event"] = event
    message = body.get("message")
    doc["message"] = message if isinstance(message, str) and message else canonical["type"]
    level = _LOG_LEVELS.get(evt.type)
    if level is not None:
        doc["log"] = {"level": level}
    _put(doc, ("trace", "id"), canonical["trace_id"])
    _put(doc, ("span", "id"), canonical["span_id"])
    _put(doc, ("labels", "context_id"), canonical["context_id"])
    actor = canonical.get("actor") or {}
    _put(doc, ("user", "id"), actor.get("user_id"))
    _put(doc, ("user", "name"), actor.get("username"))
    for key in ("user_id", "email"):
        value = body.get(key)
        if isinstance(value, str):
            _put(doc, ("user", "id" if key == "user_id" else "email"), value)
    origin = canonical.get("origin") or {}
    if origin.get("client_ip"):
        doc["client"] = _client(origin["client_ip"])
    _put(doc, ("user_agent", "original"), origin.get("user_agent"))
    _put(doc, ("http", "request", "method"), origin.get("method"))
    _put(doc, ("url", "path"), origin.get("path"))
    _put(doc, ("url", "query"), origin.get("query"))
    if kind.group == "http":
        for key, path in (("method", ("http", "request", "method")), ("path", ("url", "path"))):
            if isinstance(body.get(key), str):
                _put(doc, path, body[key])
    status = body.get("status")
    if kind.group == "http" and isinstance(status, int) and not isinstance(status, bool):
        _put(doc, ("http", "response", "status_code"), status)
    error = body.get("error")
    if isinstance(error, str):
        _put(doc, ("error", "message"), error)
    custom: dict[str, Any] = {"payload": payload}
    for key in ("context_id", "actor", "origin"):
        if canonical.get(key):
            custom[key] = canonical[key]
    doc["audit_logging"] = custom
    return doc
