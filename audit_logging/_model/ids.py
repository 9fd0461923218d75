"""
UUIDv7 event ids that are strictly increasing within a process.

The ids come from ``uuid-utils`` (Rust; stdlib ``uuid.uuid7`` only exists from
Python 3.14 and a pure-Python generator costs about four times as much here).
An audit trail needs more than a library promises when the wall clock steps
backwards (NTP, VM resume): ids that stay unique *and* keep sorting in creation
order. So every id is compared with the last one handed out; an id that does not
sort after it is replaced by the last id plus a random 1 .. 2**32 in its random
low bits (RFC 9562 §6.2, "monotonic random" with a random increment), which keeps
the previous millisecond until the clock catches up. The increment is random, not
1, because a forked child starts from its parent's last id: within that
millisecond (or with the clock behind it) both would otherwise make the same id.
The comparison is on the canonical strings, which sort exactly as the UUIDs do.

The result is a 36-character lower-case string; later ids compare greater, both
as strings and as UUIDs, which keeps database primary-key indexes append-only.

Where the compiled accelerator is built, :func:`uuid7_str` is its ``uuid7``
(``audit_logging/_speedups_ids.c``): the same layout and rule under the GIL, with
random bits from ``os.urandom`` drawn 4 KiB at a time, at about a tenth of the
instructions (the Rust call, its ``str()`` and this module's comparison cost ~3 300
per id). This module's functions stay the reference and the pure-Python path.
"""

from __future__ import annotations

import os
import random
import threading

import uuid_utils

from audit_logging._accel import accelerator as _compiled

__all__ = ["uuid7_str"]

_LOW_BITS = (1 << 62) - 1

_lock = threading.Lock()
_last = ""


def _reset_after_fork() -> None:
    """
    Give a forked child a fresh lock (the parent's may be held mid-call).
    """
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _format(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _successor(last: str) -> str:
    value = int(last.replace("-", ""), 16)
    step = 1 + random.getrandbits(32)  # random reseeds in a forked child
    if (value & _LOW_BITS) > _LOW_BITS - step:  # pragma: no cover - 2**30 steps in one ms
        raise OverflowError("UUIDv7 random bits exhausted within one millisecond")
    return _format(value + step)


def _from_time(now_ns: int) -> str:
    ms = now_ns // 1_000_000
    rand = random.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & _LOW_BITS)
    return _format(value)


def uuid7_str(now_ns: int | None = None) -> str:
    """
    Return a new UUIDv7 as a canonical 36-character string, greater than any before it.

    Args:
        now_ns: the wall-clock time in nanoseconds (tests inject it to step the
            clock); defaults to the system clock.
    """
    global _last
    candidate = str(uuid_utils.uuid7()) if now_ns is None else _from_time(now_ns)
    if candidate > _last:
        # Lock-free fast path: uuid-utils is itself monotonic within the process,
        # so a racing thread can only leave ``_last`` a little behind, never let a
        # smaller id through the check below once the clock has moved back.
        _last = candidate
        return candidate
    with _lock:
        if candidate <= _last:
            candidate = _successor(_last)
        _last = candidate
    return candidate


if _compiled is not None:
    uuid7_str = _compiled.uuid7  # the compiled twin of the function above
