"""
Flask adapter: wraps ``app.wsgi_app`` in :class:`~audit_logging._instrument.http.AuditMiddleware`.

Flask has no ``LOGGING`` setting: call ``logging.config.dictConfig`` (with an
:class:`~audit_logging._bridges.handler.AuditHandler`) *before* creating the app, then
``FlaskAudit(app, bus="default")`` or ``FlaskAudit().init_app(app)`` (the usual
extension pattern). Wrapping the WSGI callable rather than using
``before_request`` hooks also covers the 404/405 responses Flask produces
before any view runs.

Who and from where: the middleware binds each request's origin (client IP
behind ``trusted_proxies`` / ``AUDIT_TRUSTED_PROXIES``, user agent, method,
path, masked query). When flask-login is installed and the app has a
``LoginManager``, the actor is flask-login's user (see
:mod:`~audit_logging._instrument.flask_login`): loaded before the view
(``load_user``), followed through logins and logouts, and its signals become
``auth_login`` / ``auth_logout`` events. Without flask-login, or for what it
does not signal (a failed login), the helpers :func:`audit_login`,
:func:`audit_logout` and :func:`audit_login_failed` publish the same events on
the current app's bus.

The matched route (``request.url_rule``) is put into the origin before the view
runs, so the view's events and the response event say ``/items/<item_id>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from audit_logging._instrument.flask_login import (
    USERNAME_ATTRS,
    LoginSignals,
    flask_login_installed,
)
from audit_logging._instrument.http import AuditMiddleware, HTTPAuditor
from audit_logging._model.factories import new_auth_login, new_auth_login_failed, new_auth_logout
from audit_logging._model.scope import Actor, current_scope, get_actor, set_actor

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus

__all__ = ["FlaskAudit", "audit_login", "audit_login_failed", "audit_logout"]

_EXTENSION = "audit_logging"


class FlaskAudit:
    """
    Flask extension publishing the HTTP events of every request, with actor and origin.

    Each keyword has an app config key that wins over it, so a deployment can set
    them without code.

    Args:
        app: the Flask app (or ``None`` and :meth:`init_app` later).
        bus: a bus or a registry name (``AUDIT_BUS``).
        source: the events' source, default the app's name (``AUDIT_SOURCE``).
        trusted_proxies: addresses/networks of the proxies whose
            ``X-Forwarded-For``/``Forwarded`` are believed; none by default, so the
            client IP is the peer's (``AUDIT_TRUSTED_PROXIES``, a list or a
            comma-separated string).
        load_user: with flask-login, load the user before each view so every
            event of the request carries the actor, as the Django integration
            does; False only follows a user the app loads itself (``AUDIT_LOAD_USER``).
        login_method: the ``auth_method`` of the actor a flask-login login makes
            known, since flask-login does not say how the app checked the user
            (``AUDIT_LOGIN_METHOD``).
        username_attrs: the user attributes tried for the actor's username
            (``AUDIT_USERNAME_ATTRS``).
    """

    def __init__(
        self,
        app: Any = None,
        *,
        bus: Bus | str = "default",
        source: str | None = None,
        trusted_proxies: str | Iterable[str] | None = None,
        load_user: bool = True,
        login_method: str = "password",
        username_attrs: Sequence[str] = USERNAME_ATTRS,
    ) -> None:
        self.bus = bus
        self.source = source
        self.trusted_proxies = trusted_proxies
        self.load_user = load_user
        self.login_method = login_method
        self.username_attrs = tuple(username_attrs)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        """
        Wrap ``app.wsgi_app`` once, connect flask-login if the app uses it, register the extension.
        """
        if isinstance(app.wsgi_app, AuditMiddleware):
            return
        config = app.config
        bus = config.get("AUDIT_BUS", self.bus)
        source = config.get("AUDIT_SOURCE", self.source) or app.name
        middleware = AuditMiddleware(
            app.wsgi_app,
            bus,
            source=source,
            trusted_proxies=config.get("AUDIT_TRUSTED_PROXIES", self.trusted_proxies),
        )
        state = _AppState(middleware.auditor, source)
        if flask_login_installed():
            state.login = LoginSignals(
                lambda: middleware.auditor.bus,
                source,
                login_method=config.get("AUDIT_LOGIN_METHOD", self.login_method),
                username_attrs=config.get("AUDIT_USERNAME_ATTRS", self.username_attrs),
            )
            state.login.connect(app)
            middleware.resolve_actor = state.login.resolve
            state.load_user = bool(config.get("AUDIT_LOAD_USER", self.load_user))
        app.wsgi_app = middleware
        app.before_request(state.before_view)
        app.teardown_request(state.settle)
        app.extensions[_EXTENSION] = self
        app.extensions[_EXTENSION + ".state"] = state


class _AppState:
    """
    What one app's requests need: its auditor (bus, source) and the flask-login receivers.
    """

    def __init__(self, auditor: HTTPAuditor, source: str) -> None:
        self.auditor = auditor
        self.source = source
        self.login: LoginSignals | None = None
        self.load_user = False

    def before_view(self) -> None:
        """
        Put the matched route into the origin; load flask-login's user when asked.
        """
        from flask import current_app, request

        scope = current_scope()
        if scope is None:
            return
        rule = request.url_rule
        origin = scope.origin
        if rule is not None and origin is not None and not origin.route:
            scope.origin = dataclasses.replace(origin, route=str(rule.rule))
        if self.load_user and getattr(current_app, "login_manager", None) is not None:
            from flask_login import current_user

            try:
                current_user._get_current_object()  # the user_loader runs once, as a view would
            except Exception:  # the app's own loader failing is the app's to report
                return

    def settle(self, exc: BaseException | None = None) -> None:
        """
        Read the actor before the app context goes, so the response event still has it.
        """
        scope = current_scope()
        if scope is not None:
            _ = scope.actor


def _target(bus: Bus | str | None) -> tuple[Bus, str]:
    """
    The bus and source of the helpers: the given bus, else the current app's, else ``default``.
    """
    state = None
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            state = current_app.extensions.get(_EXTENSION + ".state")
    except ImportError:  # the helpers also serve code that is not a Flask app
        state = None
    source = state.source if isinstance(state, _AppState) else "flask"
    if bus is None:
        if isinstance(state, _AppState):
            return state.auditor.bus, source
        bus = "default"
    if isinstance(bus, str):
        from audit_logging._engine.registry import get_bus

        return get_bus(bus), source
    return bus, source


def audit_login(
    user_id: str | int,
    *,
    username: str = "",
    method: str = "password",
    bus: Bus | str | None = None,
) -> Actor:
    """
    Record a login made without flask-login: the user is the actor from now on, then ``auth_login``.

    Do not call it as well as flask-login's ``login_user`` (its signal already records
    the login). Returns the actor set.
    """
    actor = set_actor(user_id=user_id, username=username, auth_method=method)
    target, source = _target(bus)
    target.publish(new_auth_login(source, actor.user_id))
    return actor


def audit_logout(*, bus: Bus | str | None = None) -> Actor | None:
    """
    Record a logout made without flask-login: ``auth_logout`` as the current actor, then clear it.

    Returns the actor that left, or ``None`` (and publishes nothing) when none was bound.
    """
    actor = get_actor()
    if actor is None:
        return None
    target, source = _target(bus)
    target.publish(new_auth_logout(source, actor.user_id))
    scope = current_scope()
    if scope is not None:
        scope.actor = None
    return actor


def audit_login_failed(
    username: str, reason: str = "invalid credentials", *, bus: Bus | str | None = None
) -> None:
    """
    Record a failed login: the name that was tried (never the password) and why it failed.

    flask-login has no signal for it: call this where the login view rejects the
    credentials. The username is kept as given, since it is what tells whom an
    attack targets.
    """
    target, source = _target(bus)
    target.publish(new_auth_login_failed(source, str(username), str(reason)))
