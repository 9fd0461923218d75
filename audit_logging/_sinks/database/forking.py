"""
The SQL sinks alive in this process, re-initialised in a forked child.

A pre-fork server (gunicorn) forks after the handlers were built: the child must
not use the parent's pooled connections, locks or flusher thread.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["forget", "track"]


class _Forkable(Protocol):
    def _reinit_after_fork(self) -> None: ...


_LIVE: weakref.WeakSet[_Forkable] = weakref.WeakSet()


def track(handler: _Forkable) -> None:
    """
    Re-initialise ``handler`` in every forked child from now on.
    """
    _LIVE.add(handler)


def forget(handler: _Forkable) -> None:
    """
    A closed handler needs nothing in a child.
    """
    _LIVE.discard(handler)


def _after_fork_in_child() -> None:
    for handler in list(_LIVE):
        handler._reinit_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
