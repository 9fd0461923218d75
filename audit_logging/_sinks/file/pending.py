"""
The file sink's batch: lines accepted but not yet written, kept until they are.

Two promises the handler could not keep while it took the batch out of itself
before writing it:

- A batch is never detached before it is written. A write takes a *snapshot* of
  the first ``n`` lines and removes them only once they reached the file
  (:meth:`PendingBatch.forget`); a ``SystemExit`` or ``KeyboardInterrupt`` raised by
  a signal handler in the middle of the write leaves the rest in the batch for
  the next flush or ``close()``. So an interrupted write loses nothing and, since
  only what reached the file is removed, duplicates nothing.
- Accepting from a signal handler never deadlocks. A Python signal handler runs
  in the main thread between two bytecodes, possibly while that same thread is
  inside :meth:`PendingBatch.accept` holding the batch lock. The lock is
  re-entrant and a depth counter, raised as the first statement inside it and
  lowered as the last, tells whether this thread was interrupted in the middle of
  changing the batch: then the line goes to a side list (one ``list.append``,
  atomic), moved into the batch by the next call. A signal that arrives between
  taking the lock and raising the counter finds the batch untouched, so the nested
  call may change it safely.

:meth:`PendingBatch.abandon` hands every accepted line's event back without
waiting for a write in progress (the bus calls it when its ``close(timeout)`` runs
out); a write still running then removes nothing (a generation number changed),
so what it writes is at worst a duplicate of what the bus spilled.
"""

from __future__ import annotations

import threading
from typing import Any

from audit_logging._model.event import Event

__all__ = ["PendingBatch", "Snapshot"]

Item = tuple[Event[Any], bytes]


class Snapshot:
    """
    The first ``count`` lines of the batch, taken for one write.
    """

    __slots__ = ("count", "events", "generation", "lines", "total")

    def __init__(self, items: list[Item], generation: int) -> None:
        self.count = len(items)
        self.events = [evt for evt, _ in items]
        self.lines = [line for _, line in items]
        self.total = sum(len(line) for line in self.lines)
        self.generation = generation


class PendingBatch:
    """
    Accepted lines in order, safe against re-entry from a signal handler.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._depth = 0
        self._items: list[Item] = []
        self._nested: list[Item] = []
        self._generation = 0
        self.pending_bytes = 0
        self.accepting = True

    def __len__(self) -> int:
        return len(self._items) + len(self._nested)

    def accept(self, evt: Event[Any], line: bytes) -> int | None:
        """
        Add one line; the bytes now pending, or ``None`` when it was set aside
        (this thread was interrupted inside the batch: the next call moves it in).

        Raises:
            ValueError: the batch no longer accepts (the handler is closed).
        """
        with self.lock:
            if not self.accepting:
                raise ValueError("closed")
            if self._depth:
                self._nested.append((evt, line))
                return None
            self._depth += 1
            try:
                self._take_nested()
                self._items.append((evt, line))
                self.pending_bytes += len(line)
                return self.pending_bytes
            finally:
                self._depth -= 1

    def _take_nested(self) -> None:
        # Lock held. Copied before deleting: an interruption in between repeats a
        # line (written twice), it never drops one.
        nested = self._nested
        n = len(nested)
        if n:
            taken = nested[:n]
            self._items.extend(taken)
            self.pending_bytes += sum(len(line) for _, line in taken)
            del nested[:n]

    def snapshot(self) -> Snapshot:
        """
        The lines pending now (they stay in the batch until :meth:`forget`).
        """
        with self.lock:
            if self._depth:  # interrupted inside accept(): take what is settled
                return Snapshot(list(self._items), self._generation)
            self._depth += 1
            try:
                self._take_nested()
                return Snapshot(list(self._items), self._generation)
            finally:
                self._depth -= 1

    def forget(self, snap: Snapshot, count: int) -> None:
        """
        Remove the first ``count`` lines of ``snap``: they reached the file, or were reported.

        Only one writer removes at a time (the handler's I/O lock) and lines are only
        ever added at the end, so the first lines of the batch are still the snapshot's;
        unless :meth:`abandon` ran since, and then nothing is removed.
        """
        if count <= 0:
            return
        with self.lock:
            if snap.generation != self._generation:
                return
            removed = sum(len(line) for _, line in self._items[:count])
            del self._items[:count]
            self.pending_bytes -= removed

    def abandon(self, *, wait: float = 0.05) -> list[Event[Any]]:
        """
        Every event accepted and not yet removed, forgotten; refuse new lines from now on.

        Waits at most ``wait`` seconds for the lock (held only for list operations;
        a signal handler of the thread holding it gets it at once, being re-entrant).
        """
        acquired = self.lock.acquire(timeout=wait)
        try:
            self.accepting = False
            self._generation += 1
            items, self._items = self._items, []
            nested, self._nested = self._nested, []
            self.pending_bytes = 0
        finally:
            if acquired:
                self.lock.release()
        return [evt for evt, _ in items + nested]
