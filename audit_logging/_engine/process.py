"""
What the process does with its open buses: close them at interpreter exit,
re-initialise them in a forked child, and (on request) on SIGTERM.

Why ``atexit``: delivery threads are daemons (a stuck handler must not hang
exit), so without a hook a short script would exit with events still queued;
the stdlib ``QueueListener`` loses records exactly this way. CPython runs no
``atexit`` hook when the process dies of an unhandled SIGTERM, which is how
containers and process managers stop services; :func:`install_sigterm_handler`
is the documented recipe, installed only when the application asks for it.

This module sits below the bus: a bus registers itself here when it is built
and forgets itself when it is closed, and nothing here needs to know what a bus
is beyond :class:`Tracked`.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from collections.abc import Iterable
from types import FrameType
from typing import Protocol

__all__ = [
    "ATEXIT_TIMEOUT",
    "Tracked",
    "close_all",
    "install_sigterm_handler",
    "track",
    "untrack",
]

ATEXIT_TIMEOUT = 10.0
"""Seconds each bus gets at interpreter exit to deliver; the rest is spilled."""


class Tracked(Protocol):
    """
    What the process bookkeeping needs from a bus.
    """

    def close(self, timeout: float | None = None) -> None: ...

    def _reinit_after_fork(self) -> None: ...


_live: weakref.WeakSet[Tracked] = weakref.WeakSet()
_lock = threading.Lock()


def track(bus: Tracked) -> None:
    """
    Remember an open bus so it is closed at exit and re-initialised after fork.
    """
    with _lock:
        _live.add(bus)


def untrack(bus: Tracked) -> None:
    """
    Forget a closed bus.
    """
    with _lock:
        _live.discard(bus)


def close_all(timeout: float | None = ATEXIT_TIMEOUT) -> None:
    """
    Close every open bus (what runs at interpreter exit).
    """
    with _lock:
        buses = list(_live)
    for bus in buses:
        bus.close(timeout)


def install_sigterm_handler(
    buses: Iterable[Tracked] | None = None, timeout: float = ATEXIT_TIMEOUT
) -> None:
    """
    Make SIGTERM close buses on the way out, as a normal exit does.

    Opt-in, from the main thread: the package never installs signal handlers by
    itself. On SIGTERM without a previous Python handler, the handler raises
    ``SystemExit(143)`` (128 + SIGTERM) in the main thread; the stack unwinds
    and the exit-time close (``atexit``) closes ``buses`` (every open bus with
    ``None``) within ``timeout`` seconds each.

    With a previous Python handler (a server's, when the application is
    imported inside the server, as uvicorn and gunicorn workers do), that
    handler is called and the server shuts down gracefully in its own time. Such
    a server may then restore the handler it found (the default action) and
    raise the signal again so that the process dies of it (uvicorn does): no
    ``atexit`` would run. So once a previous handler has taken over, SIGTERM is
    blocked in the main thread: the re-raised signal stays pending, the server
    returns, and the interpreter exits normally (exit status 0 rather than
    death by the signal), closing the buses. A SIGTERM sent to the process
    later still reaches any thread that does not block it.

    Why not close inside the handler: a signal handler runs between two
    bytecodes of whatever the main thread was doing, possibly in the middle of
    ``publish`` (holding the spill store's lock, counted as an active publisher
    that ``close`` waits for): closing there could wait forever on itself; and
    a server still answering requests would publish to closed buses.
    """
    chosen = None if buses is None else list(buses)
    previous = signal.getsignal(signal.SIGTERM)
    if chosen is None:
        atexit.register(close_all, timeout)
    else:
        atexit.register(_close_each, chosen, timeout)

    def handler(signum: int, frame: FrameType | None) -> None:
        if callable(previous):
            previous(signum, frame)
            _hold_reraised(signum)
        else:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _hold_reraised(signum: int) -> None:
    """
    Keep a signal the main thread raises again pending instead of fatal.

    Called in the main thread (signal handlers run there), after a previous
    handler returned: that handler's owner shuts down by itself and may raise
    the signal again with the default action restored. Blocked, ``raise`` only
    marks it pending in this thread and the exit stays a normal one.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signum})


def _close_each(buses: list[Tracked], timeout: float) -> None:
    for bus in buses:
        bus.close(timeout)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for bus in list(_live):
        bus._reinit_after_fork()


atexit.register(close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
