"""
Django middleware publishing the HTTP events of every request.

Add ``"audit_logging.contrib.django.AuditMiddleware"`` to ``MIDDLEWARE``,
**first**: it then sees the responses every other middleware produces (404s,
405s, CSRF failures), its binding covers everything they log, and it can log
Django's own "Not Found" warning inside the request (below). The actor does not
need it after ``AuthenticationMiddleware``: it is resolved in ``process_view``,
which Django calls after every middleware's request phase (see
:mod:`~audit_logging._instrument.django.actor`).

Settings: ``AUDIT_BUS`` (registry name, default ``"default"``), ``AUDIT_SOURCE``
(default ``"django"``) and ``AUDIT_TRUSTED_PROXIES`` (addresses/networks of the
proxies whose ``X-Forwarded-For``/``Forwarded`` are believed; none by default).
The bus is looked up at the first request, not at import or construction:
Django builds middleware and ``LOGGING`` handlers before the app registry is
ready, and nothing here needs models.

Sync and async: the middleware is both (``sync_capable = async_capable = True``),
so under ASGI Django does not wrap it in a thread; in async mode the actor is
resolved with ``await request.auser()``.

The 4xx/5xx warning after the middleware: Django logs ``"Not Found: /x"`` (and
every other response of status >= 400 nobody logged yet) in
``BaseHandler.get_response`` *after* the whole middleware chain returned, so no
middleware's binding covers it and the record had an empty context id. When
this middleware is the first of ``MIDDLEWARE`` (nothing outside it can change
the response any more), it logs that record itself, with Django's own
``log_response`` and arguments, just before its binding ends; ``log_response``
marks the response as logged, so Django's later call is a no-op. Placed
elsewhere it does not (an outer middleware could still turn the 404 into a
redirect), and that one record keeps Django's empty context.

Django answers unknown URLs (404) and wrong methods on class-based views (405)
with responses, and turns view exceptions into 500 responses before they reach
this middleware, so the status of the response is what is reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from audit_logging._instrument.django.actor import aresolve_actor, django_actor
from audit_logging._instrument.http import REQUEST_ID_HEADER, HTTPAuditor, request_id_from
from audit_logging._instrument.origin import wsgi_origin
from audit_logging._model.context import bind_context_id
from audit_logging._model.scope import Scope, bind_scope

__all__ = ["AuditMiddleware", "django_actor"]


def _is_first_middleware(cls: type) -> bool:
    from django.conf import settings  # type: ignore[import-untyped]
    from django.utils.module_loading import import_string  # type: ignore[import-untyped]

    chain = list(getattr(settings, "MIDDLEWARE", None) or ())
    try:
        return bool(chain) and import_string(chain[0]) is cls
    except ImportError:
        return False


def _log_response(request: Any, response: Any) -> None:
    """Django's own post-chain record, logged now (see the module docstring)."""
    from django.utils.log import log_response  # type: ignore[import-untyped]

    if int(response.status_code) >= 400:
        log_response(
            "%s: %s", response.reason_phrase, request.path, response=response, request=request
        )


class AuditMiddleware:
    """
    New-style Django middleware, sync and async: ``AuditMiddleware(get_response)``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction
        from django.conf import settings

        self.get_response = get_response
        self.auditor = HTTPAuditor(
            getattr(settings, "AUDIT_BUS", "default"),
            source=getattr(settings, "AUDIT_SOURCE", "django"),
            trusted_proxies=getattr(settings, "AUDIT_TRUSTED_PROXIES", None),
        )
        self.logs_response = _is_first_middleware(type(self))
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
            # Django adapts process_view to the handler's mode: a coroutine here
            # keeps the async path free of a thread hop per request.
            self.process_view = self._aprocess_view  # type: ignore[method-assign,assignment]

    def _begin(self, request: Any) -> tuple[str, str, str, Scope]:
        context_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        method, path = str(request.method), str(request.path)
        auditor = self.auditor
        scope = auditor.scope_for(wsgi_origin(request.META, path, auditor.trusted))
        if scope.actor is None:
            scope = Scope(None, scope.origin, resolve_actor=lambda: django_actor(request))
        request._audit_scope = scope
        request._audit_context_id = context_id
        return context_id, method, path, scope

    def __call__(self, request: Any) -> Any:
        """
        Serve one request inside its context id and echo it in ``X-Request-ID``.
        """
        if self.is_async:
            return self.__acall__(request)
        context_id, method, path, scope = self._begin(request)
        auditor = self.auditor
        with bind_context_id(context_id), bind_scope(scope):
            started = auditor.received(method, path, context_id)
            try:
                response = self.get_response(request)
            except BaseException:
                auditor.finished(method, path, 500, started, context_id)
                raise
            auditor.finished(method, path, int(response.status_code), started, context_id)
            if self.logs_response:
                _log_response(request, response)
        response[REQUEST_ID_HEADER] = context_id
        return response

    async def __acall__(self, request: Any) -> Any:
        """
        The async path of :meth:`__call__` (an ASGI handler).
        """
        from asgiref.sync import sync_to_async

        context_id, method, path, scope = self._begin(request)
        auditor = self.auditor
        with bind_context_id(context_id), bind_scope(scope):
            started = auditor.received(method, path, context_id)
            try:
                response = await self.get_response(request)
            except BaseException:
                auditor.finished(method, path, 500, started, context_id)
                raise
            auditor.finished(method, path, int(response.status_code), started, context_id)
            if self.logs_response and int(response.status_code) >= 400:
                # As Django does: handlers may block (mail), so not on the event loop.
                await sync_to_async(_log_response, thread_sensitive=False)(request, response)
        response[REQUEST_ID_HEADER] = context_id
        return response

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> None:
        """
        Resolve the user and the matched route before the view runs.
        """
        scope = _route(request)
        if scope is not None and scope.actor is None:
            actor = django_actor(request, force=True)
            if actor is not None:
                scope.actor = actor

    async def _aprocess_view(
        self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> None:
        """
        :meth:`process_view` in async mode: the user through ``await request.auser()``.
        """
        scope = _route(request)
        if scope is not None and scope.actor is None:
            actor = await aresolve_actor(request)
            if actor is not None:
                scope.actor = actor


def _route(request: Any) -> Scope | None:
    """
    The request's scope, with the matched route put into its origin.
    """
    scope = request.__dict__.get("_audit_scope")
    if not isinstance(scope, Scope):
        return None
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    origin = scope.origin
    if isinstance(route, str) and route and origin is not None and not origin.route:
        scope.origin = dataclasses.replace(origin, route="/" + route.lstrip("/"))
    return scope
