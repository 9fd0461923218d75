"""
The ASGI lifespan: close the buses when the server shuts the application down.

Why here: uvicorn (and every server built like it) handles SIGTERM itself,
shuts down gracefully, then restores the previous handler and raises the signal
again, so the process dies of it and ``atexit`` never runs: whatever the buses
still hold in memory (backlogs, a database batch) would be lost. The lifespan's
``shutdown`` message is the last thing such a server tells the application,
after the last request was answered; closing there delivers (or spills)
everything.

The close runs in a worker thread (``asyncio.to_thread``), so the event loop
is never blocked, and within ``timeout`` seconds per bus (``Bus.close`` is a
hard bound). It happens before the application's own
``lifespan.shutdown.complete`` reaches the server, so the server waits for it.

An application that does not speak lifespan (it raises on the scope before
sending anything, as many plain ASGI apps and test doubles do) gets the
protocol answered for it: startup is acknowledged, and shutdown closes the buses
and is acknowledged. An application that does speak it keeps its own
messages, including a reported startup failure.

Two other ways in, for apps that publish their HTTP events otherwise (the
Django middleware, a framework's own hooks): :class:`ASGILifespanMiddleware`
handles only the lifespan scope of any ASGI app (Django's ``ASGIHandler``
raises on it), and :func:`audit_lifespan` is the one-liner for frameworks that
take a lifespan context manager: ``FastAPI(lifespan=audit_lifespan)``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from audit_logging._engine.process import ATEXIT_TIMEOUT, close_all

__all__ = [
    "ATEXIT_TIMEOUT",
    "ASGILifespanMiddleware",
    "audit_lifespan",
    "close_buses",
    "serve_lifespan",
]

Receive = Callable[[], Awaitable[Any]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]

_SHUTDOWN_REPLIES = ("lifespan.shutdown.complete", "lifespan.shutdown.failed")


async def close_buses(timeout: float = ATEXIT_TIMEOUT) -> None:
    """
    Close every open bus off the event loop (``timeout`` seconds each at most).
    """
    await asyncio.to_thread(close_all, timeout)


@contextlib.asynccontextmanager
async def audit_lifespan(
    app: Any = None, *, timeout: float = ATEXIT_TIMEOUT
) -> AsyncIterator[None]:
    """
    ``FastAPI(lifespan=audit_lifespan)`` / ``Starlette(lifespan=audit_lifespan)``.

    Closes every open bus when the server shuts the app down; inside an
    application's own lifespan: ``async with audit_lifespan(app): yield``.
    """
    try:
        yield
    finally:
        await close_buses(timeout)


class ASGILifespanMiddleware:
    """
    Wrap any ASGI app so its lifespan shutdown closes the buses; nothing else changes.

    For apps whose HTTP events come from elsewhere (Django's ``AuditMiddleware``):
    ``application = ASGILifespanMiddleware(get_asgi_application())``.
    """

    def __init__(self, app: ASGIApp, *, timeout: float = ATEXIT_TIMEOUT) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        """
        Serve the lifespan scope (see :func:`serve_lifespan`); pass every other through.
        """
        if scope.get("type") == "lifespan":
            await serve_lifespan(self.app, scope, receive, send, timeout=self.timeout)
        else:
            await self.app(scope, receive, send)


async def serve_lifespan(
    app: ASGIApp,
    scope: MutableMapping[str, Any],
    receive: Receive,
    send: Send,
    *,
    timeout: float = ATEXIT_TIMEOUT,
) -> None:
    """
    Run ``app``'s lifespan, closing the buses before shutdown is acknowledged.
    """
    received: list[MutableMapping[str, Any]] = []
    replied = False
    closed = False

    async def tracked_receive() -> Any:
        message = await receive()
        received.append(message)
        return message

    async def closing_send(message: MutableMapping[str, Any]) -> None:
        nonlocal replied, closed
        replied = True
        if message.get("type") in _SHUTDOWN_REPLIES and not closed:
            closed = True
            await close_buses(timeout)
        await send(message)

    try:
        await app(scope, tracked_receive, closing_send)
    except Exception:
        if replied:
            raise
        await _answer_lifespan(receive, send, received, timeout)
        return
    if any(m.get("type") == "lifespan.shutdown" for m in received) and not closed:
        # The app returned from shutdown without replying: still close before the end.
        await close_buses(timeout)


async def _answer_lifespan(
    receive: Receive,
    send: Send,
    pending: list[MutableMapping[str, Any]],
    timeout: float,
) -> None:
    """
    Speak the lifespan protocol for an application that does not.
    """
    while True:
        message = pending.pop(0) if pending else await receive()
        kind = message.get("type")
        if kind == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif kind == "lifespan.shutdown":
            await close_buses(timeout)
            await send({"type": "lifespan.shutdown.complete"})
            return
