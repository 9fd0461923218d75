"""
Tests for the request origin: client address behind trusted proxies, the masked query
string, and the middlewares binding it (with the actor bound outside) on every event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from audit_logging._instrument.origin import (
    client_address,
    masked_query,
    parse_forwarded_for,
    trusted_networks,
)
from audit_logging.bus import Bus
from audit_logging.context import Actor, Origin, bind_actor, get_origin, set_actor
from audit_logging.middleware import ASGIAuditMiddleware, AuditMiddleware
from tests._helpers import Recorder

PROXIES = trusted_networks("10.0.0.0/8, 127.0.0.1")


def test_the_header_is_never_believed_by_default() -> None:
    assert client_address("203.0.113.9", x_forwarded_for=["1.2.3.4"]) == "203.0.113.9"
    assert client_address("203.0.113.9", forwarded=["for=1.2.3.4"]) == "203.0.113.9"


def test_an_untrusted_peer_is_the_client_even_with_trusted_proxies_configured() -> None:
    assert client_address("198.51.100.7", x_forwarded_for=["1.2.3.4"], trusted=PROXIES) == (
        "198.51.100.7"
    )


def test_rightmost_untrusted_hop_is_the_client() -> None:
    # the client claims 6.6.6.6; its real address 198.51.100.7 was appended by our proxy
    xff = ["6.6.6.6, 198.51.100.7, 10.0.0.2"]
    assert client_address("10.0.0.1", x_forwarded_for=xff, trusted=PROXIES) == "198.51.100.7"


def test_all_hops_trusted_gives_the_leftmost_and_lines_are_joined() -> None:
    xff = ["10.1.1.1", "10.0.0.2"]
    assert client_address("127.0.0.1", x_forwarded_for=xff, trusted=PROXIES) == "10.1.1.1"


def test_garbage_stops_the_walk_at_the_hop_that_forwarded_it() -> None:
    xff = ["198.51.100.7, unknown, 10.0.0.2"]
    assert client_address("10.0.0.1", x_forwarded_for=xff, trusted=PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.1", x_forwarded_for=["x\r\nforged"], trusted=PROXIES) == (
        "10.0.0.1"
    )


def test_forwarded_header_wins_and_its_forms_are_parsed() -> None:
    fwd = ['for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.3;by=10.0.0.1']
    assert parse_forwarded_for(fwd) == ['"[2001:db8:cafe::17]:4711"', "10.0.0.3"]
    got = client_address("10.0.0.1", forwarded=fwd, x_forwarded_for=["9.9.9.9"], trusted=PROXIES)
    assert got == "2001:db8:cafe::17"
    assert client_address("10.0.0.1", forwarded=["for=192.0.2.1:8080"], trusted=PROXIES) == (
        "192.0.2.1"
    )


def test_peer_forms_ipv4_mapped_and_invalid() -> None:
    assert client_address("::ffff:192.0.2.5") == "192.0.2.5"
    assert client_address("not-an-ip") == ""
    assert client_address(None) == ""


def test_trusted_proxies_are_checked_with_a_clear_error() -> None:
    assert trusted_networks(["::1", "192.168.0.0/16"])[1].prefixlen == 16
    assert trusted_networks(None) == ()
    with pytest.raises(ValueError, match=r"'proxy\.local' is not an IP address"):
        trusted_networks("10.0.0.1,proxy.local")


def test_query_masks_secret_parameters_and_tokens() -> None:
    q = masked_query("page=2&token=s3cr3t&api_key=k&q=hello+world&password=")
    assert "s3cr3t" not in q
    assert "api_key=****" in q
    assert "token=****" in q
    assert "page=2" in q
    assert "q=hello%20world" in q
    assert "password=" in q
    assert masked_query(b"") == ""
    assert "eyJ" not in masked_query("next=Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc")


def _wsgi_call(app: Any, **environ: str) -> None:
    env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/pay", "QUERY_STRING": "token=s3cr3t&x=1"}
    env.update(environ)

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return lambda data: None

    body = app(env, start_response)
    b"".join(body)
    body.close()


def test_wsgi_binds_the_origin_on_every_event_and_log_of_the_request(
    bus: Bus, rec: Recorder
) -> None:
    seen: list[Origin | None] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(get_origin())
        set_actor(user_id="u1", username="alice", auth_method="session")
        start_response("200 OK", [])
        return [b"ok"]

    mw = AuditMiddleware(app, bus, trusted_proxies=["127.0.0.1"])
    _wsgi_call(
        mw,
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
        HTTP_USER_AGENT="pytest-agent/1",
    )
    want = Origin("198.51.100.7", "pytest-agent/1", "POST", "/pay", "", "token=****&x=1")
    assert seen == [want]
    received, sent = rec.events
    assert received.origin == sent.origin == want
    assert received.actor is None  # the user was not known yet
    assert sent.actor == Actor("u1", "alice", "session")  # known from the login on
    assert get_origin() is None  # nothing leaks out of the request


def test_wsgi_without_trusted_proxies_reports_the_peer(bus: Bus, rec: Recorder) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    _wsgi_call(AuditMiddleware(app, bus), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert {e.origin.client_ip for e in rec.events if e.origin} == {"127.0.0.1"}


def test_wsgi_keeps_an_actor_bound_outside(bus: Bus, rec: Recorder) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    with bind_actor(user_id="cron"):
        _wsgi_call(AuditMiddleware(app, bus), REMOTE_ADDR="127.0.0.1")
    assert {e.actor for e in rec.events} == {Actor("cron")}


def test_asgi_binds_origin_and_adds_the_framework_route(bus: Bus, rec: Recorder) -> None:
    class Route:
        path = "/items/{item_id}"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["route"] = Route()  # what Starlette's router does
        assert get_origin() is not None
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def run() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/items/7",
            "query_string": b"sig=abc&page=1",
            "client": ("10.0.0.5", 5555),
            "headers": [
                (b"user-agent", b"httpx/0.27"),
                (b"forwarded", b"for=203.0.113.4"),
            ],
        }
        await ASGIAuditMiddleware(app, bus, trusted_proxies="10.0.0.0/8")(scope, receive, send)

    asyncio.run(run())
    received, sent = rec.events
    assert received.origin == Origin(
        "203.0.113.4", "httpx/0.27", "GET", "/items/7", "", sent.origin.query
    )
    assert "abc" not in sent.origin.query
    assert "page=1" in sent.origin.query
    assert sent.origin.route == "/items/{item_id}"
