"""
flask-login as the source of the Flask actor, and its signals as audit events.

Why read flask-login's user rather than wrap ``current_user``: flask-login keeps
the user of the request in ``flask.g._login_user`` once it loaded it (from the
session, the remember-me cookie or a ``request_loader``); reading that slot never
calls the application's ``user_loader``, so resolving the actor costs nothing and
cannot run a query at an awkward moment (inside a flush, after the response).
:class:`~audit_logging._instrument.flask.FlaskAudit` loads the user once before
the view when asked (``load_user``, the default, like the Django integration's
``process_view``), so every event of the view and the response carries the actor.

The signals (flask-login 0.6 sends them with the app as sender):

- ``user_logged_in`` -> the actor is set for the rest of the request, then
  ``auth_login`` is published (so it carries the new actor);
- ``user_logged_out`` -> ``auth_logout`` is published with the leaving actor, then
  the actor is cleared (later events of the request are anonymous);
- ``user_loaded_from_cookie`` / ``user_loaded_from_request`` only record the
  authentication method of the request (``"remember_cookie"``,
  ``"request_loader"``; ``"session"`` otherwise).

flask-login has no failed-login signal (0.6.3, the current release, has none:
``login_user`` is only called after the application checked the password), so a
failed login is recorded with :func:`~audit_logging._instrument.flask.audit_login_failed`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from audit_logging._model.factories import new_auth_login, new_auth_logout
from audit_logging._model.scope import Actor, current_scope, get_actor, set_actor

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus

__all__ = ["METHOD_SLOT", "LoginSignals", "flask_login_installed", "user_actor"]

METHOD_SLOT = "_audit_auth_method"
"""The ``flask.g`` attribute holding how the request's user was authenticated."""

USERNAME_ATTRS = ("username", "email", "name")
"""The user attributes tried, in order, for the actor's username."""


def flask_login_installed() -> bool:
    """
    Whether flask-login can be imported (the integration is optional).
    """
    try:
        import flask_login  # noqa: F401
    except ImportError:
        return False
    return True


def user_actor(user: Any, auth_method: str, username_attrs: Sequence[str]) -> Actor | None:
    """
    The actor of a flask-login user, or ``None`` for an anonymous or broken one.

    The user id is ``user.get_id()`` (what flask-login stores in the session);
    the username is the first of ``username_attrs`` that is a non-empty string.
    """
    try:
        if user is None or not user.is_authenticated:
            return None
        user_id = user.get_id()
        username = ""
        for attr in username_attrs:
            value = getattr(user, attr, None)
            if isinstance(value, str) and value:
                username = value
                break
    except Exception:  # a broken user class must not break the request
        return None
    user_id = "" if user_id is None else str(user_id)
    return Actor(user_id=user_id, username=username, auth_method=auth_method)


class LoginSignals:
    """
    The flask-login receivers of one app: the actor resolver and the login/logout events.

    Args:
        bus: returns the app's bus (resolved lazily, like the middleware's).
        source: the events' source.
        login_method: the ``auth_method`` of the actor a login makes known
            (flask-login does not say how the application checked the user).
        username_attrs: see :func:`user_actor`.
    """

    def __init__(
        self,
        bus: Callable[[], Bus],
        source: str,
        *,
        login_method: str,
        username_attrs: Sequence[str],
    ) -> None:
        self.bus = bus
        self.source = source
        self.login_method = login_method
        self.username_attrs = tuple(username_attrs)

    def connect(self, app: Any) -> None:
        """
        Connect the receivers for ``app`` only (blinker keeps weak references).
        """
        from flask_login import signals

        signals.user_logged_in.connect(self.logged_in, sender=app)
        signals.user_logged_out.connect(self.logged_out, sender=app)
        signals.user_loaded_from_cookie.connect(self.from_cookie, sender=app)
        signals.user_loaded_from_request.connect(self.from_request, sender=app)

    def resolve(self) -> Actor | None:
        """
        The actor of the user flask-login already loaded in this app context, else ``None``.
        """
        from flask import g, has_app_context

        if not has_app_context():
            return None
        user = g.get("_login_user")
        if user is None:
            return None
        return user_actor(user, g.get(METHOD_SLOT, "session"), self.username_attrs)

    def logged_in(self, sender: Any, user: Any = None, **extra: Any) -> None:
        """
        ``user_logged_in``: the user is the actor from now on; publish ``auth_login``.
        """
        from flask import g

        g.pop(METHOD_SLOT, None)
        actor = user_actor(user, self.login_method, self.username_attrs)
        if actor is None:
            return
        set_actor(actor)
        self.bus().publish(new_auth_login(self.source, actor.user_id))

    def logged_out(self, sender: Any, user: Any = None, **extra: Any) -> None:
        """
        ``user_logged_out``: publish ``auth_logout`` as the leaving user, then forget them.
        """
        actor = user_actor(user, "session", self.username_attrs) or get_actor()
        if actor is None:
            return
        scope = current_scope()
        if scope is not None and scope.actor is None:
            scope.actor = actor
        self.bus().publish(new_auth_logout(self.source, actor.user_id))
        if scope is not None:
            scope.actor = None

    @staticmethod
    def from_cookie(sender: Any, user: Any = None, **extra: Any) -> None:
        """
        ``user_loaded_from_cookie``: the request authenticated with the remember-me cookie.
        """
        from flask import g

        setattr(g, METHOD_SLOT, "remember_cookie")

    @staticmethod
    def from_request(sender: Any, user: Any = None, **extra: Any) -> None:
        """
        ``user_loaded_from_request``: the request authenticated through a ``request_loader``.
        """
        from flask import g

        setattr(g, METHOD_SLOT, "request_loader")
