"""
Django middleware publishing the HTTP events of every request.

Add ``"audit_logging.contrib.django.AuditMiddleware"`` to ``MIDDLEWARE`` (first,
so it also sees the responses other middleware produce). Settings:
``AUDIT_BUS`` (registry name, default ``"default"``) and ``AUDIT_SOURCE``
(default ``"django"``). The bus is looked up at the first request, not at
import or construction: Django builds middleware and ``LOGGING`` handlers before
the app registry is ready, and nothing here needs models.

Settings ``AUDIT_TRUSTED_PROXIES`` (addresses/networks of the proxies whose
``X-Forwarded-For``/``Forwarded`` are believed; none by default) and the request
give each request's origin; the actor is ``request.user`` (see
:func:`django_actor`): read when Django's authentication has resolved it, and
resolved on purpose just before the view runs (``process_view``), so the
view's events, the response event and the log records after carry it. A user
set later (DRF and token authentication set ``request.user`` inside the view) is
picked up from then on.

Django answers unknown URLs (404) and wrong methods on class-based views (405)
with responses, and turns view exceptions into 500 responses before they reach
this middleware, so the status of the response is what is reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from audit_logging._instrument.http import REQUEST_ID_HEADER, HTTPAuditor, request_id_from
from audit_logging._instrument.origin import wsgi_origin
from audit_logging._model.context import bind_context_id
from audit_logging._model.scope import Actor, Scope, bind_scope

__all__ = ["AuditMiddleware", "django_actor"]


def django_actor(request: Any, *, force: bool = False) -> Actor | None:
    """
    The actor of ``request.user``, or ``None`` for anonymous or not yet resolved users.

    Django sets ``request.user`` as a lazy object whose first read queries the
    session and user tables: it is read here only once something else resolved
    it, unless ``force`` (then it is resolved now, in a sync context). The auth
    method is the authentication backend recorded in the session (its class
    name), ``"token"``-like names from DRF's authenticator when DRF set the
    user, else ``"session"``.
    """
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)
    if not force and wrapped is not user and _is_empty(wrapped):
        return None
    try:
        if not user.is_authenticated:
            return None
        pk = user.pk
        username = user.get_username()
    except Exception:  # a broken user model must not break the request
        return None
    return Actor(
        user_id="" if pk is None else str(pk),
        username=str(username),
        auth_method=_auth_method(request),
    )


def _is_empty(wrapped: object) -> bool:
    from django.utils.functional import empty  # type: ignore[import-untyped]

    return wrapped is empty


def _auth_method(request: Any) -> str:
    authenticator = request.__dict__.get("_audit_authenticator")
    if isinstance(authenticator, str) and authenticator:
        return authenticator
    session = getattr(request, "session", None)
    backend = None
    try:
        backend = session.get("_auth_user_backend") if session is not None else None
    except Exception:
        backend = None
    if isinstance(backend, str) and backend:
        return backend.rsplit(".", 1)[-1]
    return "session"


class AuditMiddleware:
    """
    New-style Django middleware: ``AuditMiddleware(get_response)``.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from django.conf import settings  # type: ignore[import-untyped]

        self.get_response = get_response
        self.auditor = HTTPAuditor(
            getattr(settings, "AUDIT_BUS", "default"),
            source=getattr(settings, "AUDIT_SOURCE", "django"),
            trusted_proxies=getattr(settings, "AUDIT_TRUSTED_PROXIES", None),
        )

    def __call__(self, request: Any) -> Any:
        """
        Serve one request inside its context id and echo it in ``X-Request-ID``.
        """
        context_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        method, path = str(request.method), str(request.path)
        auditor = self.auditor
        scope = auditor.scope_for(wsgi_origin(request.META, path, auditor.trusted))
        if scope.actor is None:
            scope = Scope(None, scope.origin, resolve_actor=lambda: django_actor(request))
        request._audit_scope = scope
        with bind_context_id(context_id), bind_scope(scope):
            started = auditor.received(method, path, context_id)
            try:
                response = self.get_response(request)
            except BaseException:
                auditor.finished(method, path, 500, started, context_id)
                raise
            auditor.finished(method, path, int(response.status_code), started, context_id)
        response[REQUEST_ID_HEADER] = context_id
        return response

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        """
        Resolve the user and the matched route before the view runs.
        """
        scope = request.__dict__.get("_audit_scope")
        if not isinstance(scope, Scope):
            return
        match = getattr(request, "resolver_match", None)
        route = getattr(match, "route", None)
        origin = scope.origin
        if isinstance(route, str) and route and origin is not None and not origin.route:
            scope.origin = dataclasses.replace(origin, route="/" + route.lstrip("/"))
        if scope.actor is None:
            actor = django_actor(request, force=True)
            if actor is not None:
                scope.actor = actor
