"""
Tests for the WSGI and ASGI middleware and the request-id rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_logging.bus import Bus
from audit_logging.context import get_context_id
from audit_logging.middleware import ASGIAuditMiddleware, AuditMiddleware, request_id_from
from tests._helpers import FakeClock, Recorder


def _wsgi_app(status: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(get_context_id())
        start_response(status, [("Content-Type", "text/plain"), ("X-Request-ID", "app")])
        return [b"ok"]

    seen: list[str] = []
    app.seen = seen  # type: ignore[attr-defined]
    return app


def _call_wsgi(app: Any, path: str = "/items", method: str = "GET", **headers: str) -> Any:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "token=s3cr3t"}
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        got["status"], got["headers"] = status, headers
        return lambda data: None

    body = app(environ, start_response)
    got["body"] = b"".join(body)
    body.close()
    return got


def test_wsgi_publishes_received_and_sent(bus: Bus, rec: Recorder) -> None:
    """A request gives http_request_received then http_response_sent with duration."""
    clock = FakeClock()
    inner = _wsgi_app("200 OK")

    def timed(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        clock.advance(0.25)
        return inner(environ, start_response)  # type: ignore[no-any-return]

    _call_wsgi(AuditMiddleware(timed, bus, source="api", clock=clock))
    assert [e.type for e in rec.events] == ["http_request_received", "http_response_sent"]
    assert rec.events[0].payload == {"method": "GET", "path": "/items"}
    assert rec.events[1].payload == {"status": 200, "duration_ms": 250}
    assert {e.source for e in rec.events} == {"api"}


def test_wsgi_404_and_405_events(bus: Bus, rec: Recorder) -> None:
    """404 adds http_route_not_found; 405 adds http_method_not_allowed."""
    _call_wsgi(AuditMiddleware(_wsgi_app("404 Not Found"), bus), path="/nope")
    _call_wsgi(AuditMiddleware(_wsgi_app("405 Method Not Allowed"), bus), method="DELETE")
    types = [e.type for e in rec.events]
    assert types == [
        "http_request_received",
        "http_route_not_found",
        "http_response_sent",
        "http_request_received",
        "http_method_not_allowed",
        "http_response_sent",
    ]
    assert rec.events[1].payload == {"path": "/nope"}
    assert rec.events[4].payload == {"method": "DELETE"}


def test_wsgi_request_id_is_bound_and_echoed(bus: Bus, rec: Recorder) -> None:
    """A valid X-Request-ID is the context id of all events and echoed once."""
    app = _wsgi_app("200 OK")
    got = _call_wsgi(AuditMiddleware(app, bus), x_request_id="abc-123")
    assert app.seen == ["abc-123"]
    assert {e.context_id for e in rec.events} == {"abc-123"}
    assert [v for k, v in got["headers"] if k.lower() == "x-request-id"] == ["abc-123"]


def test_wsgi_invalid_request_id_is_replaced(bus: Bus, rec: Recorder) -> None:
    """An injected header value is not trusted: a fresh UUIDv7 is used."""
    got = _call_wsgi(AuditMiddleware(_wsgi_app("200 OK"), bus), x_request_id="x\r\nforged: 1")
    echoed = dict(got["headers"])["X-Request-ID"]
    assert len(echoed) == 36
    assert echoed[14] == "7"
    assert {e.context_id for e in rec.events} == {echoed}


def test_wsgi_exception_reports_500_and_reraises(bus: Bus, rec: Recorder) -> None:
    """An application exception is published as status 500 and propagates."""

    def broken(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        _call_wsgi(AuditMiddleware(broken, bus))
    assert rec.events[-1].payload["status"] == 500


def test_wsgi_query_string_is_not_in_events(bus: Bus, rec: Recorder) -> None:
    """Only the path is published, never the query string."""
    _call_wsgi(AuditMiddleware(_wsgi_app("200 OK"), bus))
    assert all(b"s3cr3t" not in e.to_json_bytes() for e in rec.events)


def _call_asgi(app: Any, scope_extra: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "method": "GET", "path": "/a", "headers": [], **scope_extra}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _asgi_app(status: int, seen: list[str]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(get_context_id())
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def test_asgi_publishes_events_and_echoes_id(bus: Bus, rec: Recorder) -> None:
    """The ASGI middleware publishes the same events and echoes the id."""
    seen: list[str] = []
    sent = _call_asgi(
        ASGIAuditMiddleware(_asgi_app(404, seen), bus),
        {"headers": [(b"x-request-id", b"rid-1")]},
    )
    assert seen == ["rid-1"]
    assert (b"x-request-id", b"rid-1") in sent[0]["headers"]
    assert [e.type for e in rec.events] == [
        "http_request_received",
        "http_route_not_found",
        "http_response_sent",
    ]
    assert {e.context_id for e in rec.events} == {"rid-1"}


def test_asgi_exception_reports_500(bus: Bus, rec: Recorder) -> None:
    """An ASGI app raising before responding is reported as 500."""

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        _call_asgi(ASGIAuditMiddleware(broken, bus), {})
    assert rec.events[-1].payload["status"] == 500
    assert len(rec.of_type("http_response_sent")) == 1


def test_asgi_non_http_scope_passes_through(bus: Bus, rec: Recorder) -> None:
    """Lifespan and websocket scopes are not audited."""
    called: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope["type"])

    _call_asgi(ASGIAuditMiddleware(app, bus), {"type": "lifespan"})
    assert called == ["lifespan"]
    assert rec.events == []


@given(st.text(max_size=200))
def test_request_id_is_always_safe(value: str) -> None:
    """Whatever the header, the id is 1-128 safe characters."""
    rid = request_id_from(value)
    assert 1 <= len(rid) <= 128
    assert all(c.isascii() and (c.isalnum() or c in "._:-") for c in rid)
