"""
WSGI and ASGI middleware publishing the HTTP events of every request.

Why middleware and not framework signals: a WSGI/ASGI wrapper sees every
request the server hands over, including the 404s and 405s a framework answers
before any view (and without a route to hang a signal on), and it can bind the
request's context id around the whole application call, so every event and log
record produced while serving the request carries the same id.

Per request: ``http_request_received`` (method, path without the query string),
then ``http_response_sent`` (status, duration in ms) once the response is
finished, plus ``http_route_not_found`` for a 404 and ``http_method_not_allowed``
for a 405. An unhandled exception is reported as status 500 and re-raised.

The request's origin (client IP behind the configured ``trusted_proxies``, user
agent, method, path, masked query string; see
:mod:`~audit_logging._instrument.origin`) is bound in a
:class:`~audit_logging._model.scope.Scope` for the whole call, so every event of
the request carries it as ``origin``; an integration that learns the user sets the
scope's actor (:func:`~audit_logging._model.scope.set_actor`). ASGI frameworks
route inside the application, so the matched route (Starlette/FastAPI's
``scope["route"]``) is added to the origin when the response starts: the
``http_response_sent`` event and everything after carry it.

The context id is the ``X-Request-ID`` header when it is a plausible id (1-128
characters of ``A-Z a-z 0-9 . _ : -``; anything else could forge or inject into
log lines), else a new UUIDv7; it is bound with
:func:`~audit_logging._model.context.bind_context_id` while the application runs and
echoed in the response's ``X-Request-ID`` header.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from audit_logging._instrument.busref import BusRef
from audit_logging._instrument.lifespan import ATEXIT_TIMEOUT, serve_lifespan
from audit_logging._instrument.origin import asgi_origin, trusted_networks, wsgi_origin, wsgi_text
from audit_logging._model.context import bind_context_id
from audit_logging._model.factories import (
    new_http_method_not_allowed,
    new_http_request_received,
    new_http_response_sent,
    new_http_route_not_found,
)
from audit_logging._model.ids import uuid7_str
from audit_logging._model.scope import Actor, Origin, Scope, bind_scope, current_scope

if TYPE_CHECKING:
    from audit_logging._engine.bus import Bus

__all__ = [
    "REQUEST_ID_HEADER",
    "ASGIAuditMiddleware",
    "AuditMiddleware",
    "HTTPAuditor",
    "request_id_from",
]

REQUEST_ID_HEADER = "X-Request-ID"
"""The header read for, and echoing, the request's context id."""

_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_MAX_PATH = 2048

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ASGIApp = Callable[..., Awaitable[None]]


def request_id_from(value: str | bytes | None) -> str:
    """
    The incoming request id when it is valid, else a new UUIDv7 string.
    """
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            value = None
    if value is not None and _REQUEST_ID_RE.fullmatch(value):
        return value
    return uuid7_str()


class HTTPAuditor:
    """
    Publishes the HTTP events of one request; shared by every adapter.

    Args:
        bus: a bus or a registry name (resolved at the first request).
        source: the events' source.
        clock: monotonic clock for durations (tests).
        trusted_proxies: addresses/networks of the proxies whose forwarding
            headers are believed (none by default: the peer address is the client).
    """

    def __init__(
        self,
        bus: Bus | str = "default",
        *,
        source: str = "http",
        clock: Callable[[], float] = time.perf_counter,
        trusted_proxies: str | Iterable[str] | None = None,
    ) -> None:
        self._bus = BusRef(bus)
        self.source = source
        self.clock = clock
        self.trusted = trusted_networks(trusted_proxies)

    @staticmethod
    def scope_for(origin: Origin) -> Scope:
        """
        The request's scope: its origin, and the actor bound outside (if any).
        """
        outer = current_scope()
        return Scope(outer.actor if outer is not None else None, origin)

    @property
    def bus(self) -> Bus:
        """
        The bus, resolved from the registry on first use (a closed one is replaced).
        """
        return self._bus.get()

    def received(self, method: str, path: str, context_id: str) -> float:
        """
        Publish ``http_request_received``; returns the start time.
        """
        self.bus.publish(
            new_http_request_received(self.source, method, path[:_MAX_PATH], context_id=context_id)
        )
        return self.clock()

    def finished(
        self, method: str, path: str, status: int, started: float, context_id: str
    ) -> None:
        """
        Publish ``http_response_sent`` (and the 404/405 events).
        """
        bus = self.bus
        duration = max(0.0, self.clock() - started)
        if status == 404:
            bus.publish(
                new_http_route_not_found(self.source, path[:_MAX_PATH], context_id=context_id)
            )
        elif status == 405:
            bus.publish(new_http_method_not_allowed(self.source, method, context_id=context_id))
        bus.publish(new_http_response_sent(self.source, status, duration, context_id=context_id))


def _wsgi_path(environ: dict[str, Any]) -> str:
    return wsgi_text(f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}" or "/")


class _ResponseBody:
    """
    Wraps the application's iterable to publish ``http_response_sent`` when the
    body is exhausted or closed, whichever comes first (once).
    """

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self._body = body
        self._on_close = on_close
        self._closed = False
        self._finished = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self._body
        self._finish()  # servers that never call close() still get the event

    def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            self._on_close()

    def close(self) -> None:
        """
        Close the application's iterable, then publish (once).
        """
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._body, "close", None)
            if callable(close):
                close()
        finally:
            self._finish()


class AuditMiddleware:
    """
    WSGI middleware: ``app = AuditMiddleware(app, bus)``.

    Args:
        app: the WSGI application.
        bus: a bus or a registry name.
        source: the events' source.
        clock: monotonic clock for durations (tests).
        trusted_proxies: see :class:`HTTPAuditor`.
        resolve_actor: asked for the actor while the request's scope has none
            (see :class:`~audit_logging._model.scope.Scope`): how a framework
            adapter follows a user it learns after the request started (the Flask
            adapter reads flask-login's user).
    """

    def __init__(
        self,
        app: WSGIApp,
        bus: Bus | str = "default",
        *,
        source: str = "http",
        clock: Callable[[], float] = time.perf_counter,
        close_on_shutdown: bool = True,
        shutdown_timeout: float = ATEXIT_TIMEOUT,
        trusted_proxies: str | Iterable[str] | None = None,
        resolve_actor: Callable[[], Actor | None] | None = None,
    ) -> None:
        self.app = app
        self.auditor = HTTPAuditor(bus, source=source, clock=clock, trusted_proxies=trusted_proxies)
        self.close_on_shutdown = close_on_shutdown
        self.shutdown_timeout = shutdown_timeout
        self.resolve_actor = resolve_actor

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """
        Serve one request inside its context id.
        """
        context_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = _wsgi_path(environ)
        auditor = self.auditor
        status = [500]

        def audited_start_response(
            status_line: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            try:
                status[0] = int(status_line.split(" ", 1)[0])
            except ValueError:
                status[0] = 500
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((REQUEST_ID_HEADER, context_id))
            if exc_info is not None:
                return start_response(status_line, headers, exc_info)
            return start_response(status_line, headers)

        scope = auditor.scope_for(wsgi_origin(environ, path, auditor.trusted))
        if self.resolve_actor is not None and scope.actor is None:
            scope = Scope(None, scope.origin, resolve_actor=self.resolve_actor)

        def finish() -> None:
            # The body may be exhausted outside the application call (the server
            # iterates it): bind the request's scope again for the last events.
            with bind_context_id(context_id), bind_scope(scope):
                auditor.finished(method, path, status[0], started, context_id)

        with bind_context_id(context_id), bind_scope(scope):
            started = auditor.received(method, path, context_id)
            try:
                body = self.app(environ, audited_start_response)
            except BaseException:
                auditor.finished(method, path, 500, started, context_id)
                raise
        return _ResponseBody(body, finish)


class ASGIAuditMiddleware:
    """
    ASGI middleware for HTTP scopes; the lifespan scope closes the buses at
    shutdown (see :mod:`~audit_logging._instrument.lifespan`); other scopes pass
    through untouched.

    Args:
        app: the ASGI application.
        bus: a bus or a registry name; publishing on an asynchronous bus only
            appends to a backlog, so it does not block the event loop.
        source: the events' source.
        clock: monotonic clock for durations (tests).
        close_on_shutdown: close every open bus at ``lifespan.shutdown`` (the
            one moment uvicorn-style servers give before the process dies of
            the re-raised SIGTERM); False leaves it to the application.
        shutdown_timeout: seconds each bus gets to deliver at shutdown.
        trusted_proxies: see :class:`HTTPAuditor`.
    """

    def __init__(
        self,
        app: ASGIApp,
        bus: Bus | str = "default",
        *,
        source: str = "http",
        clock: Callable[[], float] = time.perf_counter,
        close_on_shutdown: bool = True,
        shutdown_timeout: float = ATEXIT_TIMEOUT,
        trusted_proxies: str | Iterable[str] | None = None,
    ) -> None:
        self.app = app
        self.auditor = HTTPAuditor(bus, source=source, clock=clock, trusted_proxies=trusted_proxies)
        self.close_on_shutdown = close_on_shutdown
        self.shutdown_timeout = shutdown_timeout

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        """
        Serve one request inside its context id.
        """
        kind = scope.get("type")
        if kind != "http":
            if kind == "lifespan" and self.close_on_shutdown:
                await serve_lifespan(self.app, scope, receive, send, timeout=self.shutdown_timeout)
            else:
                await self.app(scope, receive, send)
            return
        header: bytes | None = None
        for key, value in scope.get("headers") or ():
            if key.lower() == b"x-request-id":
                header = value
                break
        context_id = request_id_from(header)
        method = str(scope.get("method", "GET"))
        path = f"{scope.get('root_path', '')}{scope.get('path', '')}" or "/"
        auditor = self.auditor
        state = {"status": 500, "done": False}
        request_scope = auditor.scope_for(asgi_origin(scope, path, auditor.trusted))
        with bind_context_id(context_id), bind_scope(request_scope):
            started = auditor.received(method, path, context_id)

            def finish() -> None:
                if not state["done"]:
                    state["done"] = True
                    auditor.finished(method, path, int(state["status"]), started, context_id)

            async def audited_send(message: MutableMapping[str, Any]) -> None:
                kind = message.get("type")
                if kind == "http.response.start":
                    state["status"] = int(message.get("status", 500))
                    _add_route(request_scope, scope)
                    headers = [
                        (k, v)
                        for k, v in message.get("headers") or ()
                        if bytes(k).lower() != b"x-request-id"
                    ]
                    headers.append((b"x-request-id", context_id.encode("ascii")))
                    message = {**message, "headers": headers}
                await send(message)
                if kind == "http.response.body" and not message.get("more_body", False):
                    finish()

            try:
                await self.app(scope, receive, audited_send)
            finally:
                finish()


def _add_route(request_scope: Scope, asgi_scope: MutableMapping[str, Any]) -> None:
    """
    Put the route the framework matched (``scope["route"].path``) into the origin.
    """
    route = getattr(asgi_scope.get("route"), "path", None)
    origin = request_scope.origin
    if isinstance(route, str) and route and origin is not None and not origin.route:
        request_scope.origin = dataclasses.replace(origin, route=route)
