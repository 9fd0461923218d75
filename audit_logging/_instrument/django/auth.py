"""
Login, logout and failed login from ``django.contrib.auth``'s signals.

Connected by ``AppConfig.ready()`` (setting ``AUDIT_AUTH_EVENTS``, default
``True``):

- ``user_logged_in`` -> ``auth_login`` (``user_id``), and the user becomes the
  actor of the rest of the request (the request's scope is updated, as
  :func:`~audit_logging._model.scope.set_actor` does), auth method the backend
  that authenticated (``ModelBackend``);
- ``user_logged_out`` -> ``auth_logout`` (``user_id``; the actor is still the
  user leaving), then the request's actor is cleared;
- ``user_login_failed`` -> ``auth_login_failed`` with the attempted
  ``username`` and ``reason`` ``"invalid_credentials"`` (Django does not say
  more: a wrong password, an unknown or an inactive user all look the same).

The attempted name is taken from the credentials by the user model's
``USERNAME_FIELD``, else ``"username"``, else ``"email"``; the password is never
read (Django has already masked it in ``credentials``). It is stored under the
payload key ``username``, which the default sanitizer keeps: under ``email`` it
would be masked (``"a****@example.com"``) and the trail would lose who was
attacked.

Each event carries the request's context id, actor and origin, also when the
signal fires outside the middleware's binding (see
:func:`~audit_logging._instrument.django.emit.bound_to`).
"""

from __future__ import annotations

from typing import Any

from audit_logging._instrument.django.actor import actor_of_user
from audit_logging._instrument.django.emit import bound_to, publish, source
from audit_logging._model.factories import (
    new_auth_login,
    new_auth_login_failed,
    new_auth_logout,
)
from audit_logging._model.scope import Scope, bind_actor, current_scope

__all__ = ["attempted_username", "connect", "on_logged_in", "on_logged_out", "on_login_failed"]

_MAX_NAME = 256
FAILED_REASON = "invalid_credentials"


def _user_id(user: Any) -> str:
    pk = getattr(user, "pk", None)
    return "" if pk is None else str(pk)


def on_logged_in(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """
    ``user_logged_in``: the user is the actor from now on; publish ``auth_login``.
    """
    backend = getattr(user, "backend", None)
    method = backend.rsplit(".", 1)[-1] if isinstance(backend, str) and backend else "session"
    actor = actor_of_user(user, method)
    with bound_to(request):
        scope = current_scope()
        if actor is None:
            publish(new_auth_login(source(), _user_id(user)))
            return
        if scope is not None:
            scope.actor = actor  # the rest of the request acts as the user
        # Outside any request scope the actor is bound for this event only.
        with bind_actor(actor):
            publish(new_auth_login(source(), _user_id(user)))


def on_logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """
    ``user_logged_out``: publish ``auth_logout`` as the user, then clear the actor.
    """
    with bound_to(request):
        publish(new_auth_logout(source(), _user_id(user)))
        scope = request.__dict__.get("_audit_scope") if request is not None else None
        if isinstance(scope, Scope):
            scope.actor = None


def attempted_username(credentials: Any) -> str:
    """
    The name a failed login tried: ``USERNAME_FIELD``, ``username`` or ``email``.
    """
    if not isinstance(credentials, dict):
        return ""
    keys = ["username", "email"]
    try:
        from django.contrib.auth import get_user_model  # type: ignore[import-untyped]

        field = getattr(get_user_model(), "USERNAME_FIELD", None)
        if isinstance(field, str):
            keys.insert(0, field)
    except Exception:  # no auth app, a broken AUTH_USER_MODEL: the usual keys
        field = None
    for key in keys:
        value = credentials.get(key)
        if value is not None and value != "":
            return str(value)[:_MAX_NAME]
    return ""


def on_login_failed(
    sender: Any, credentials: Any = None, request: Any = None, **kwargs: Any
) -> None:
    """
    ``user_login_failed``: publish ``auth_login_failed`` with the attempted name.
    """
    with bound_to(request):
        publish(new_auth_login_failed(source(), attempted_username(credentials), FAILED_REASON))


def connect() -> None:
    """
    Connect the three receivers (idempotent: fixed ``dispatch_uid``).
    """
    from django.contrib.auth import signals

    signals.user_logged_in.connect(on_logged_in, dispatch_uid="audit_logging.auth_login")
    signals.user_logged_out.connect(on_logged_out, dispatch_uid="audit_logging.auth_logout")
    signals.user_login_failed.connect(
        on_login_failed, dispatch_uid="audit_logging.auth_login_failed"
    )
