"""
The bus history: cap, byte budget, duplicates, copies and access control.
"""

from __future__ import annotations

import threading

import pytest

from audit_logging._engine.history import History, estimate_size
from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, new_event
from audit_logging.exceptions import AccessDeniedError
from tests._helpers import Recorder


def ev(i: int = 0, text: str = ""):
    return new_event("custom", "s", {"i": i, "text": text})


def test_cap_keeps_the_newest():
    """Only the last `cap` events are kept, oldest evicted first."""
    h = History(3, 10**9)
    events = [ev(i) for i in range(5)]
    for e in events:
        h.add(e)
    assert [e.id for e in h.snapshot()] == [e.id for e in events[2:]]


def test_duplicate_ids_are_kept_once():
    """Adding an event whose id is already kept does nothing."""
    h = History(10, 10**9)
    e = ev()
    assert h.add(e)
    h.add(e)  # a duplicate of a still pending add is dropped when folded
    assert len(h) == 1
    assert not h.add(e)  # once kept, a duplicate is refused at once
    assert len(h) == 1


def test_byte_budget_is_honest_for_large_strings():
    """A 1 MB string counts as about 1 MB against the budget."""
    big = ev(text="x" * 1_000_000)
    assert estimate_size(big) >= 1_000_000
    h = History(100, 2_500_000)
    for _ in range(5):
        h.add(ev(text="x" * 1_000_000))
    assert len(h) == 2
    assert h.bytes <= 2_500_000


def test_event_bigger_than_budget_is_delivered_not_kept():
    """An event larger than the whole budget is delivered but not kept."""
    rec = Recorder()
    with Bus(max_memory_mb=1, asynchronous=False, lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, rec)
        bus.publish(ev(text="y" * 2_000_000))
        assert len(rec.events) == 1
        assert bus.history({"role": "admin"}) == []


def test_returned_history_is_a_copy():
    """Mutating a returned payload does not alter the stored history."""
    with Bus(asynchronous=False, lifecycle_events=False) as bus:
        bus.publish(new_event("custom", "s", {"k": {"nested": "v"}}))
        first = bus.history({"role": "admin"})
        first[0].payload["k"]["nested"] = "changed"
        assert bus.history({"role": "admin"})[0].payload["k"]["nested"] == "v"


@pytest.mark.parametrize(
    "ctx", [None, {"role": "Admin"}, {"role": " admin"}, {"role": ["admin"]}, {}]
)
def test_history_denied_unless_exact_admin(ctx):
    """history() refuses everything but role == 'admin'."""
    with Bus(lifecycle_events=False) as bus, pytest.raises(AccessDeniedError):
        bus.history(ctx)


def test_custom_access_control():
    """A custom access_control decides instead of the default."""

    def allow_all(ctx):
        return None

    with Bus(access_control=allow_all, asynchronous=False, lifecycle_events=False) as bus:
        bus.publish(ev())
        assert len(bus.history(None)) == 1


def test_set_history_cap_shrinks():
    """set_history_cap evicts down to the new cap."""
    with Bus(asynchronous=False, lifecycle_events=False) as bus:
        for i in range(10):
            bus.publish(ev(i))
        bus.set_history_cap(4)
        assert [e.payload["i"] for e in bus.history({"role": "admin"})] == [6, 7, 8, 9]
        with pytest.raises(ValueError):
            bus.set_history_cap(-1)


def test_concurrent_adds_respect_cap():
    """Many threads adding keep the history within its cap."""
    h = History(100, 10**9)

    def add() -> None:
        for i in range(1000):
            h.add(ev(i))

    threads = [threading.Thread(target=add) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(h) == 100


def test_kept_entries_leave_the_garbage_collector_and_come_back_whole():
    """A full history adds one object per event for a full GC collection to traverse (no
    span, actor or origin objects), and snapshots rebuild span, actor and origin exactly."""
    import gc

    from opentelemetry.trace import SpanContext, TraceFlags

    from audit_logging.context import bind_actor, bind_origin

    history = History(cap=2000, max_bytes=1 << 30)
    span = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    with bind_origin(client_ip="10.0.0.1", path="/p"), bind_actor(user_id="u1"):
        events = [
            new_event("t", "s", {"i": i, "ok": True, "tags": ["a"]}, span_context=span)
            for i in range(1000)
        ]
    events += [new_event("t", "s", {"i": i}) for i in range(1000)]
    for evt in events:
        history.add(evt)
    assert history.snapshot() == events  # folds; equal, with the flags and scope rebuilt
    del events
    gc.collect()
    gc.collect()
    # One collector object per event (the entry; its payload copy is untracked by the
    # full collections): no span, actor or origin objects, no nested tuples.
    entries = list(history._entries.values())
    assert all(type(entry) is tuple and len(entry) == 10 for entry in entries)
    assert not any(
        gc.is_tracked(part) for entry in entries for part in entry if part is not entry[2]
    )
    assert not any(gc.is_tracked(entry[2]) for entry in entries[1000:])  # flat payloads
    back = history.snapshot()
    assert not back[0].span_context.trace_flags.sampled
    assert back[0].actor is not None
    assert back[0].actor.user_id == "u1"
    assert back[-1].origin is None
