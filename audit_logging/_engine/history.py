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

The history keeps its own copy of every payload, taken at publish, and hands
out copies of that: the event object the bus delivers is shared with the
publisher and every handler, so without the copy a publisher reusing its dict
for the next event, or a handler editing the payload it was given, would rewrite
the evidence. Plain JSON-like payloads (dicts, lists, str, numbers) are copied
by a small walk (about a microsecond for a typical payload, a fraction of
:func:`copy.deepcopy`); immutable values are shared; anything else goes through
:func:`copy.deepcopy`, and a payload that cannot be copied at all (a lock, a
socket, nesting deeper than the interpreter's recursion limit) is kept in its
canonical JSON form (:func:`audit_logging._model.encoding.make_safe`), so one odd
payload can never make :meth:`History.snapshot` fail for every reader.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import decimal
import enum
import logging
import threading
import uuid
from collections import OrderedDict, deque
from typing import Any, Final

from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext, TraceFlags

from audit_logging._accel import accelerator as _compiled
from audit_logging._model.encoding import dumps, make_safe
from audit_logging._model.event import Event
from audit_logging._model.scope import Actor, Origin

__all__ = ["History", "estimate_size", "private_copy"]

_log = logging.getLogger("audit_logging")

_EVENT_OVERHEAD = 600
_OBJECT_OVERHEAD = 56
_MAX_WALK = 10_000


_SCALARS = (int, float, bool, type(None))
_FAST_DEPTH = 8


_ATOMS = frozenset(
    {
        str, int, float, bool, type(None), bytes, complex,
        decimal.Decimal, uuid.UUID, _dt.datetime, _dt.date, _dt.time, _dt.timedelta,
    }
)  # fmt: skip
"""Immutable types whose values are shared, never copied."""
_COPY_DEPTH = 32
_FOLD_BATCH = 64
"""Pending adds folded into the ordered map at once (amortises the lock and the eviction)."""
_UNKNOWN: Any = object()
_ID: Final = 4
"""Index of the event id in an entry's fields."""

_Entry = tuple[str, str, Any, str, str, Any, Any, Any, Any, int]
"""
(type, source, payload copy, context id, id, time, span, actor, origin, estimated size).

One flat tuple of atoms and the payload copy per event, so a full history adds one
object per event for the garbage collector to traverse (see :func:`_flat_span`).
"""
_SIZE: Final = 9
"""Index of the estimated size in an entry."""


def _fast_copy(obj: Any, depth: int) -> Any:
    """
    A deep copy of plain JSON-like data; ``_UNKNOWN`` when something else is met.
    """
    kind = type(obj)
    if kind in _ATOMS:
        return obj
    if depth >= _COPY_DEPTH:
        return _UNKNOWN
    if kind is dict:
        out = {}
        for key, value in obj.items():
            if type(value) in _ATOMS:
                out[key] = value
            else:
                copied = _fast_copy(value, depth + 1)
                if copied is _UNKNOWN:
                    return _UNKNOWN
                out[key] = copied
        return out
    if kind is list or kind is tuple:
        items = []
        for value in obj:
            copied = _fast_copy(value, depth + 1)
            if copied is _UNKNOWN:
                return _UNKNOWN
            items.append(copied)
        return items if kind is list else tuple(items)
    if isinstance(obj, enum.Enum):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        params = getattr(kind, "__dataclass_params__", None)
        if params is not None and params.frozen:
            # The typed payloads: frozen, usually all scalars, so shareable as they are.
            for f in dataclasses.fields(obj):
                if type(getattr(obj, f.name, None)) not in _ATOMS:
                    return _UNKNOWN
            return obj
    return _UNKNOWN


def _copy_and_size(obj: Any, depth: int) -> tuple[Any, int]:
    """
    A copy of plain JSON-like data and its estimated size, in one walk.

    Strings count by length with a per-object overhead; ``(_UNKNOWN, -1)`` for
    anything else (or nesting past ``_FAST_DEPTH``), which needs the careful walk.
    This is the path of every publish.
    """
    kind = type(obj)
    if kind is str:
        return obj, _OBJECT_OVERHEAD + len(obj)
    if kind in _SCALARS:
        return obj, _OBJECT_OVERHEAD
    if depth >= _FAST_DEPTH:
        return _UNKNOWN, -1
    if kind is dict:
        size = _OBJECT_OVERHEAD * 2 + 16 * len(obj)
        out = {}
        for key, value in obj.items():
            if type(key) is not str:
                return _UNKNOWN, -1
            vkind = type(value)
            if vkind is str:
                size += _OBJECT_OVERHEAD * 2 + len(key) + len(value)
                out[key] = value
            elif vkind in _SCALARS:
                size += _OBJECT_OVERHEAD * 2 + len(key)
                out[key] = value
            else:
                copied, inner = _copy_and_size(value, depth + 1)
                if inner < 0:
                    return _UNKNOWN, -1
                size += _OBJECT_OVERHEAD + len(key) + inner
                out[key] = copied
        return out, size
    if kind is list:
        size = _OBJECT_OVERHEAD + 8 * len(obj)
        items = []
        for value in obj:
            copied, inner = _copy_and_size(value, depth + 1)
            if inner < 0:
                return _UNKNOWN, -1
            size += inner
            items.append(copied)
        return items, size
    return _UNKNOWN, -1


if _compiled is None:

    def _copy_and_size_top(obj: Any) -> tuple[Any, int]:
        return _copy_and_size(obj, 0)

else:  # the same walk, compiled (tests/test_speedups_payload.py compares them)
    _copy_sized = _compiled.copy_and_size

    def _copy_and_size_top(obj: Any) -> tuple[Any, int]:
        return _copy_sized(obj, _UNKNOWN, _FAST_DEPTH)  # type: ignore[no-any-return]


def private_copy(payload: Any) -> Any:
    """
    A copy of ``payload`` that shares nothing mutable with it; never raises.

    Plain data is copied by a fast walk, other objects by :func:`copy.deepcopy`;
    what cannot be copied comes back in its canonical JSON form (or, if even
    that fails, as a marker string naming its type).
    """
    result = _fast_copy(payload, 0)
    if result is not _UNKNOWN:
        return result
    try:
        return copy.deepcopy(payload)
    except Exception as exc:  # uncopyable objects, RecursionError on very deep nesting
        _log.debug("history keeps a %s payload in its JSON form (%s)", type(payload).__name__, exc)
    try:
        return make_safe(payload)
    except Exception:  # a hostile container whose iteration raises
        return f"<uncopyable {type(payload).__name__}>"


def estimate_size(evt: Event[Any]) -> int:
    """
    Estimated bytes an event holds in memory (strings by length, containers walked).
    """
    size = _EVENT_OVERHEAD + len(evt.source) + len(evt.type) + len(evt.context_id)
    payload = evt.payload
    if payload is None:
        return size
    fast = _copy_and_size_top(payload)[1]
    return size + (fast if fast >= 0 else _careful_size(payload))


def _careful_size(payload: Any) -> int:
    """
    The size of a payload the fast walk gave up on: any object, cycles, hostile containers.
    """
    try:
        return _walk_size(payload)
    except Exception:  # a container subclass whose len() or iteration raises
        return _fallback_size(payload)


def _fallback_size(payload: Any) -> int:
    """
    The size of what cannot be walked: its canonical JSON, else the walk's ceiling.
    """
    try:
        return _OBJECT_OVERHEAD + len(dumps(payload))
    except Exception:
        return _OBJECT_OVERHEAD * _MAX_WALK


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


def _flat_span(span: SpanContext) -> Any:
    """
    The span as the history keeps it: ``None`` or a tuple of ints when it can be.

    Why not the object: every object the history holds is one more for each full
    garbage collection to traverse, and a full history in an ASGI server made its
    full collection take 72-78 ms instead of 24-36 ms (PERFORMANCE.md). A tuple of
    ints, like a string or a datetime, is not a collector object at all; the
    ``SpanContext`` (and an ``Actor``/``Origin``) would be, once per event.
    """
    if span is INVALID_SPAN_CONTEXT:
        return None
    if len(span.trace_state):
        return span  # rare: keep the trace state as it is
    return (span.trace_id, span.span_id, span.is_remote, int(span.trace_flags))


def _span_of(kept: Any) -> SpanContext:
    if kept is None:
        return INVALID_SPAN_CONTEXT
    if isinstance(kept, SpanContext):
        return kept
    trace_id, span_id, is_remote, flags = kept
    return SpanContext(trace_id, span_id, is_remote, TraceFlags(flags))


def _flat_origin(origin: Origin) -> tuple[str, ...]:
    return (
        origin.client_ip,
        origin.user_agent,
        origin.method,
        origin.path,
        origin.route,
        origin.query,
    )


class History:
    """
    Thread-safe bounded history of events.
    """

    def __init__(self, cap: int, max_bytes: int) -> None:
        self._cap = cap
        self._max_bytes = max_bytes
        # Entries hold an event's fields (Event's positional order, with the private
        # payload copy) rather than an Event: building a tuple costs a tenth of an
        # Event, and the event is only rebuilt when someone reads the history.
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._pending: deque[_Entry] = deque()
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
        Keep a private copy of an event; False if it is too large or already kept.

        Adds are folded into the history in batches (and before every read), so the
        cap and the byte budget may be exceeded by up to ``_FOLD_BATCH`` events
        between folds; a duplicate of an event still pending returns True and is
        dropped when folded.
        """
        if self._cap == 0 or evt.id in self._entries:
            return False  # off, or kept already (a pending duplicate is dropped at the fold)
        payload = evt.payload
        size = _EVENT_OVERHEAD + len(evt.source) + len(evt.type) + len(evt.context_id)
        kept, payload_size = (None, 0) if payload is None else _copy_and_size_top(payload)
        if payload_size < 0:  # not plain data: the careful walk, then (if kept) a deep copy
            payload_size = _careful_size(payload)
            kept = _UNKNOWN
        size += payload_size
        if size > self._max_bytes:
            return False
        if kept is _UNKNOWN:
            kept = private_copy(payload)
        event_id = evt.id
        actor, origin = evt.actor, evt.origin
        span = evt.span_context
        entry = (
            evt.type,
            evt.source,
            kept,
            evt.context_id,
            event_id,
            evt.time,
            None if span is INVALID_SPAN_CONTEXT else _flat_span(span),
            None if actor is None else (actor.user_id, actor.username, actor.auth_method),
            None if origin is None else _flat_origin(origin),
            size,
        )
        pending = self._pending
        pending.append(entry)  # atomic: publishers never wait on each other here
        n = len(pending)
        lock = self._lock
        if n > self._cap:
            lock.acquire()  # far behind: catch up now, bounding the pending queue
        elif n < _FOLD_BATCH or not lock.acquire(blocking=False):
            # Folding is amortised over _FOLD_BATCH adds (every read folds first). If
            # another thread is folding, it (or the next add or read) takes ours too:
            # a blocking lock here convoys under the GIL (four publishing threads ran
            # at a third of one thread's rate).
            return True
        try:
            self._fold_pending()
        finally:
            lock.release()
        return True

    def _fold_pending(self) -> None:
        """
        Move pending events into the ordered map, in arrival order (lock held).
        """
        pending = self._pending
        entries = self._entries
        while pending:
            entry = pending.popleft()
            event_id = entry[_ID]
            if event_id in entries:
                continue
            entries[event_id] = entry
            self._bytes += entry[_SIZE]
        self._evict()

    def _evict(self) -> None:
        entries = self._entries
        while len(entries) > self._cap or self._bytes > self._max_bytes:
            self._bytes -= entries.popitem(last=False)[1][_SIZE]

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
            kept = list(self._entries.values())
        return [
            Event(
                kind,
                source,
                private_copy(payload),
                context_id,
                event_id,
                time,
                _span_of(span),
                None if a is None else Actor(*a),
                None if o is None else Origin(*o),
            )
            for kind, source, payload, context_id, event_id, time, span, a, o, _ in kept
        ]

    def reinit_after_fork(self) -> None:
        """
        Give a forked child a fresh lock.
        """
        self._lock = threading.Lock()
