"""
Publishing from a signal handler, which runs between two bytecodes of whatever
the main thread was doing.

If the main thread was inside the bus at that moment it may hold a lock the
publish path takes again: the spill store's, a Prometheus counter's, a sink's
(none of them re-entrant, and making every one re-entrant would let the handler
see half-updated state). So the bus notes when the main thread is inside it and
a publish that re-enters it there is *deferred*: the event is put in a deque (an
append takes no lock) and published by the outer call on its way out, once it
holds nothing; a deferral during ``close`` is spilled by ``close`` itself. The
caller gets ``QUEUED``: the event is accepted and in memory, as any queued one.
One call drains the deferred events, in a loop: a publish made while draining
leaves new deferrals to that loop rather than draining them itself, so a storm
of signals (each publish slower than the timer's interval) cannot nest publish
inside publish until the stack overflows.

Only the main thread runs Python signal handlers, so only it is watched: other
threads pay one identity check per publish.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

__all__ = ["MainThreadGuard"]


class MainThreadGuard:
    """
    Whether the main thread is inside the bus, and what re-entered it there.
    """

    def __init__(self) -> None:
        self.main = threading.main_thread().ident
        """The ident of the thread that runs signal handlers."""
        self.inside = False
        """True while the main thread runs a bus call that may hold locks."""
        self.deferred: collections.deque[tuple[Any, bool, bool]] = collections.deque()
        """(event, sync, internal) published while the main thread was inside."""
        self.draining = False
        """True while a call publishes :attr:`deferred` (the only one that may)."""

    def enter(self) -> bool:
        """
        At the start of a call that may take locks: True if this call entered
        (the main thread, not already inside) and so must, on its way out, reset
        :attr:`inside` and publish what was deferred (``Admission.leave``).
        """
        if threading.get_ident() != self.main or self.inside:
            return False
        self.inside = True
        return True

    def reinit_after_fork(self) -> None:
        """
        In a forked child the forking thread is the main thread.
        """
        self.main = threading.main_thread().ident
        self.inside = False
        self.deferred = collections.deque()
        self.draining = False
