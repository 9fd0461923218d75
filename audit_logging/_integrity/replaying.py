"""
Whether the events being delivered now are replays of spilled events.

Spill recovery (:mod:`audit_logging._engine.replay`) delivers inside
:func:`replaying`; a sink with integrity reads :func:`is_replaying` when it accepts
an event and marks that record a replay (``"replay": true``), so a verifier can
tell an event delivered late from one inserted late. A context variable, so only
the recovering thread is affected.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = ["is_replaying", "replaying"]

_replaying: contextvars.ContextVar[bool] = contextvars.ContextVar("audit_replaying", default=False)


def is_replaying() -> bool:
    """
    True while spilled events are being replayed by this thread.
    """
    return _replaying.get()


@contextlib.contextmanager
def replaying() -> Iterator[None]:
    """
    Mark the deliveries inside the block as replays.
    """
    token = _replaying.set(True)
    try:
        yield
    finally:
        _replaying.reset(token)
