"""
The bus's in-memory history: the last N accepted events within a byte budget.

An ``OrderedDict`` keyed by event id gives O(1) append, O(1) eviction of the
oldest entry (``popitem(last=False)``; a plain dict degrades to a linear scan
over deleted slots when popped from the front) and O(1) duplicate suppression
(a replayed spill line whose event is still in history is not kept twice).

Sizes are estimates, but honest ones for what actually costs memory in audit
payloads: the length of every string (recursively, with a per-object overhead),
so one event with a 10 MB string counts as 10 MB, not as a small dict. An event
larger than the whole budget is not kept at all (it is still delivered).
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections import OrderedDict, deque
from typing import Any

from audit_logging.events import Event

__all__ = ["History", "estimate_size"]

_EVENT_OVERHEAD = 600
_OBJECT_OVERHEAD = 56
_MAX_WALK = 10_000


_SCALARS = (int, float, bool, type(None))
_FAST_DEPTH = 8


def _fast_size(obj: Any, depth: int) -> int:
    """
    Size of plain JSON-like data (str keys, str/number/None leaves, dicts and lists);
    -1 when something else (or deep nesting) needs the careful walk.
    """
    kind = type(obj)
    if kind is str:
        return _OBJECT_OVERHEAD + len(obj)
    if kind in _SCALARS:
        return _OBJECT_OVERHEAD
    if depth >= _FAST_DEPTH:
        return -1
    if kind is dict:
        size = _OBJECT_OVERHEAD * 2 + 16 * len(obj)
        for key, value in obj.items():
            vkind = type(value)
            if type(key) is not str:
                return -1
            if vkind is str:
                size += _OBJECT_OVERHEAD * 2 + len(key) + len(value)
            elif vkind in _SCALARS:
                size += _OBJECT_OVERHEAD * 2 + len(key)
            else:
                inner = _fast_size(value, depth + 1)
                if inner < 0:
                    return -1
                size += _OBJECT_OVERHEAD + len(key) + inner
        return size
    if kind is list:
        size = _OBJECT_OVERHEAD + 8 * len(obj)
        for value in obj:
            inner = _fast_size(value, depth + 1)
            if inner < 0:
                return -1
            size += inner
        return size
    return -1


def estimate_size(evt: Event[Any]) -> int:
    """
    Estimated bytes an event holds in memory (strings by length, containers walked).
    """
    size = _EVENT_OVERHEAD + len(evt.source) + len(evt.type) + len(evt.context_id)
    payload = evt.payload
    if payload is None:
        return size
    fast = _fast_size(payload, 0)
    if fast >= 0:
        return size + fast
    return size + _walk_size(payload)


def _walk_size(payload: Any) -> int:
    """
    The careful walk: any object, cycles and depth bounded by the visit budget.
    """
    size = 0
    stack: list[Any] = [payload]
    seen = 0
    while stack and seen < _MAX_WALK:
        obj = stack.pop()
        seen += 1
        if isinstance(obj, str | bytes | bytearray):
            size += _OBJECT_OVERHEAD + len(obj)
        elif isinstance(obj, dict):
            size += _OBJECT_OVERHEAD * 2 + 16 * len(obj)
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            size += _OBJECT_OVERHEAD + 8 * len(obj)
            stack.extend(obj)
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            size += _OBJECT_OVERHEAD
            stack.extend(getattr(obj, f.name) for f in dataclasses.fields(obj))
        else:
            size += _OBJECT_OVERHEAD
    if stack:  # more objects than we walk: charge them at the minimum
        size += _OBJECT_OVERHEAD * len(stack)
    return size


class History:
    """
    Thread-safe bounded history of events.
    """

    def __init__(self, cap: int, max_bytes: int) -> None:
        self._cap = cap
        self._max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[Event[Any], int]] = OrderedDict()
        self._pending: deque[tuple[Event[Any], int]] = deque()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def cap(self) -> int:
        """
        The maximum number of events kept.
        """
        return self._cap

    @property
    def bytes(self) -> int:
        """
        The estimated bytes held now.
        """
        self._settle()
        return self._bytes

    def _settle(self) -> None:
        with self._lock:
            self._fold_pending()

    def __len__(self) -> int:
        self._settle()
        return len(self._entries)

    def __contains__(self, event_id: object) -> bool:
        self._settle()
        return event_id in self._entries

    def add(self, evt: Event[Any]) -> bool:
        """
        Keep an event; returns False if it was a duplicate or too large to keep.
        """
        if self._cap == 0:
            return False
        size = estimate_size(evt)
        if size > self._max_bytes:
            return False
        entry = (evt, size)
        self._pending.append(entry)  # atomic: publishers never wait on each other here
        lock = self._lock
        if len(self._pending) > self._cap:
            lock.acquire()  # far behind: catch up now, bounding the pending queue
        elif not lock.acquire(blocking=False):
            # Another thread is folding the pending events in; it (or the next add,
            # len() or snapshot()) takes ours too. A blocking lock here convoys under
            # the GIL: four publishing threads ran at a third of one thread's rate.
            return True
        try:
            self._fold_pending()
        finally:
            lock.release()
        return self._entries.get(evt.id) is entry

    def _fold_pending(self) -> None:
        """
        Move pending events into the ordered map, in arrival order (lock held).
        """
        pending = self._pending
        entries = self._entries
        while pending:
            evt, size = entry = pending.popleft()
            if evt.id in entries:
                continue
            entries[evt.id] = entry
            self._bytes += size
        self._evict()

    def _evict(self) -> None:
        entries = self._entries
        while len(entries) > self._cap or self._bytes > self._max_bytes:
            self._bytes -= entries.popitem(last=False)[1][1]

    def set_cap(self, cap: int) -> None:
        """
        Change the cap, evicting the oldest events if it shrinks.
        """
        if cap < 0:
            raise ValueError(f"history cap must be >= 0, got {cap}")
        with self._lock:
            self._fold_pending()
            self._cap = cap
            if cap == 0:
                self._entries.clear()
                self._bytes = 0
            self._evict()

    def snapshot(self) -> list[Event[Any]]:
        """
        Deep copies of the kept events, oldest first (mutating them changes nothing here).
        """
        with self._lock:
            self._fold_pending()
            events = [evt for evt, _ in self._entries.values()]
        return [dataclasses.replace(e, payload=copy.deepcopy(e.payload)) for e in events]

    def reinit_after_fork(self) -> None:
        """
        Give a forked child a fresh lock.
        """
        self._lock = threading.Lock()
