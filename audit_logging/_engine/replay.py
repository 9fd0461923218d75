"""
Spill replay: spilled events back through normal delivery.

:meth:`SpillStore.recover <audit_logging._engine.spill.store.SpillStore.recover>`
reads the spill files and hands over each good line; this module decides where
each one goes. A copy marked for a subscription goes to that subscription alone
(the others already had theirs); an unmarked one (spilled before fan-out, by
the rate limit) goes to every matching subscription and into the history. A copy
marked for a subscription this bus does not have is kept in the spill for a
later recovery, and reported.

A crash during replay loses nothing: the store's checkpoint only moves past
lines whose sinks were flushed (every :data:`COMMIT_EVERY` lines and at the end
of each file), so batching sinks have stored what they accepted, or handed it
back to be spilled again, before its line is forgotten. A killed replay
delivers at most those lines again (at-least-once; the database sink ignores
duplicate ids and history keeps a replayed id once).
"""

from __future__ import annotations

from typing import Any

from audit_logging._engine.delivery import Deliverer, Delivery
from audit_logging._engine.history import History
from audit_logging._engine.reporting import ErrorReporter
from audit_logging._engine.spill.store import SpillStore
from audit_logging._engine.subscription import Subscription, Subscriptions
from audit_logging._integrity.replaying import replaying
from audit_logging._model.event import Event
from audit_logging.exceptions import SpillError

__all__ = ["COMMIT_EVERY", "LOCK_TIMEOUT", "replay_spill"]

COMMIT_EVERY = 500
"""Lines replayed between sink flushes and checkpoints."""
LOCK_TIMEOUT = 5.0
"""Seconds to wait for a subscription a worker is delivering to before keeping the line."""


def replay_spill(
    store: SpillStore,
    subscriptions: Subscriptions,
    deliverer: Deliverer,
    history: History,
    reporter: ErrorReporter,
) -> int:
    """
    Replay every spill file no live writer holds; returns how many events were replayed.

    Returns after the replayed events were handed to their handlers and those
    handlers were flushed. Corrupt lines are quarantined by the store and
    reported here.
    """
    unknown: set[str] = set()
    touched: set[Subscription] = set()

    def deliver(evt: Event[Any], sub_name: str | None) -> bool:
        if sub_name is None:
            targets = subscriptions.matching(evt.type)
            history.add(evt)
        else:
            sub = subscriptions.named(sub_name)
            if sub is None:
                unknown.add(sub_name)
                return False
            targets = (sub,)
        kept = False
        for sub in targets:
            # A copy that could be neither delivered nor re-spilled keeps the line
            # (targets that succeeded may see it again: at-least-once). A handler
            # stuck in a worker holds the lock: keep the line rather than hang.
            if not sub.lock.acquire(timeout=LOCK_TIMEOUT):
                kept = True
                continue
            try:
                kept = deliverer.deliver_one(sub, evt) is Delivery.DROPPED or kept
            finally:
                sub.lock.release()
            touched.add(sub)
        return not kept

    def commit() -> None:
        # Batching sinks hold accepted events in memory: store them (or get them
        # handed back and re-spilled) before the checkpoint moves past them.
        while touched:
            touched.pop().flush_handler()

    def bad_line(path: str, lineno: int, reason: str) -> None:
        reporter.report(SpillError(f"{path}:{lineno}: {reason}; line quarantined"))

    # Sinks with integrity mark what they store now as replays (new seq, "replay": true).
    with replaying():
        result = store.recover(
            deliver, on_bad_line=bad_line, commit=commit, commit_every=COMMIT_EVERY
        )
    if unknown:
        reporter.report(
            SpillError(
                f"{result.kept} spilled event(s) kept for subscriptions this bus does not "
                f"have: {', '.join(sorted(unknown))}"
            )
        )
    return result.replayed
