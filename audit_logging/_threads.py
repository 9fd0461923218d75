"""
The package's own threads, known by identity.

Records logged from our threads (bus workers, sink flushers, where a driver
such as SQLAlchemy logs) must never come back to the bus, or one failing sink
would feed itself. Recognising them by name (``audit-*``) also swallowed every
record of an application thread that happened to be named that way, silently;
so each thread the package starts is created here and remembered by its
identity, and :func:`is_own_thread` asks about the current one.

A thread-local flag rather than a set of idents: idents are reused once a
thread ends, a flag dies with its thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["is_own_thread", "new_thread"]

_local = threading.local()


def is_own_thread() -> bool:
    """
    True in a thread the package started (with :func:`new_thread`).
    """
    return getattr(_local, "own", False)


def new_thread(target: Callable[..., object], name: str, *args: Any) -> threading.Thread:
    """
    A daemon thread (not started) that :func:`is_own_thread` recognises.
    """

    def run() -> None:
        _local.own = True
        target(*args)

    return threading.Thread(target=run, name=name, daemon=True)
