"""
The ASGI lifespan of ``ASGIAuditMiddleware``: buses closed before shutdown is
acknowledged, for apps that speak lifespan and apps that do not; a startup
failure the app reports is passed through.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import MutableMapping
from typing import Any
from unittest import mock

import pytest

from audit_logging._engine import process
from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY
from audit_logging.middleware import ASGIAuditMiddleware
from tests._helpers import Recorder

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def only_this_tests_buses(monkeypatch: pytest.MonkeyPatch) -> None:
    """The middleware closes every open bus of the process: in the test process, only
    the buses this test builds (other modules keep buses open for their own tests)."""
    monkeypatch.setattr(process, "_live", weakref.WeakSet())


def _run(app: Any, incoming: list[str], bus: Bus) -> list[tuple[str, bool]]:
    """Drive the lifespan; each reply is recorded with whether the bus was closed by then."""
    replies: list[tuple[str, bool]] = []

    async def main() -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for kind in incoming:
            queue.put_nowait({"type": kind})

        async def send(message: MutableMapping[str, Any]) -> None:
            replies.append((message["type"], bus.closed))

        await ASGIAuditMiddleware(app, bus)({"type": "lifespan"}, queue.get, send)

    # The middleware closes every open bus of the process; here only the test's own, so buses
    # other test modules built at import (tests/test_dictconfig.py's EXT_BUS) stay open.
    with mock.patch("audit_logging._instrument.lifespan.close_all", bus.close):
        asyncio.run(main())
    return replies


def test_an_app_without_lifespan_gets_it_answered_and_the_bus_closed() -> None:
    """A plain HTTP-only app: startup acknowledged, the bus closed before shutdown.complete."""

    async def http_only(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"

    rec = Recorder()
    bus = Bus()
    bus.subscribe(EVENT_ANY, rec)
    replies = _run(http_only, ["lifespan.startup", "lifespan.shutdown"], bus)
    assert replies == [("lifespan.startup.complete", False), ("lifespan.shutdown.complete", True)]
    assert rec.events[-1].type == "audit_bus_stopped"


def test_an_app_with_lifespan_keeps_its_messages_and_the_bus_closes_first() -> None:
    """The app's own replies reach the server; shutdown.complete only after the close."""
    seen: list[str] = []

    async def with_lifespan(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    bus = Bus(lifecycle_events=False)
    replies = _run(with_lifespan, ["lifespan.startup", "lifespan.shutdown"], bus)
    assert seen == ["lifespan.startup", "lifespan.shutdown"]
    assert replies == [("lifespan.startup.complete", False), ("lifespan.shutdown.complete", True)]


def test_a_startup_failure_the_app_reports_is_passed_through() -> None:
    """An app that reports startup.failed and raises: the failure reaches the server."""

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
        raise RuntimeError("no database")

    bus = Bus(lifecycle_events=False)
    with pytest.raises(RuntimeError, match="no database"):
        _run(failing, ["lifespan.startup"], bus)
    bus.close()


def test_close_on_shutdown_false_leaves_the_bus_open() -> None:
    """Opting out: lifespan passes straight through to the app."""

    async def with_lifespan(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    bus = Bus(lifecycle_events=False)

    async def main() -> None:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        queue.put_nowait({"type": "lifespan.shutdown"})
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        middleware = ASGIAuditMiddleware(with_lifespan, bus, close_on_shutdown=False)
        await middleware({"type": "lifespan"}, queue.get, send)
        assert sent == [{"type": "lifespan.shutdown.complete"}]

    asyncio.run(main())
    assert not bus.closed
    bus.close()
