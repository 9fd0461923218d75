"""
An event's compiled id and time (``audit_logging/_speedups_ids.c``) against the reference.

``uuid7`` must give what ``ids.uuid7_str`` promises (tests/model/test_ids.py runs those
promises on whichever path is built; with the accelerator, ``uuid7_str`` *is* ``uuid7``),
reject bad arguments with a clear error, and never let a forked child repeat its parent's
random bits. ``utc_from_timestamp`` must equal ``datetime.fromtimestamp(t, UTC)`` to the
microsecond, rounding included. The suite also runs on the pure path
(``AUDIT_LOGGING_PURE=1``), where these skip.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_logging import _accel
from audit_logging._model import ids

accelerator = _accel.accelerator
pytestmark = pytest.mark.skipif(
    accelerator is None,
    reason="the accelerator is not built here (no C compiler at install) "
    "or AUDIT_LOGGING_PURE is set",
)
UTC = dt.UTC
LAST_SECOND = 253402300799.0  # 9999-12-31T23:59:59Z


def test_uuid7_str_is_the_compiled_function() -> None:
    """One generator per process: the Python name is the compiled function itself."""
    assert ids.uuid7_str is accelerator.uuid7


def _next_ms_ns() -> int:
    """A clock one millisecond after the last id: no successor step, hardly any future."""
    return ((uuid.UUID(accelerator.uuid7()).int >> 80) + 1) * 10**6


def test_layout_matches_the_reference() -> None:
    """Version 7, RFC variant, the injected millisecond: the fields ``_from_time`` sets."""
    now_ns = _next_ms_ns()
    compiled = uuid.UUID(accelerator.uuid7(now_ns=now_ns))
    reference = uuid.UUID(ids._from_time(now_ns))
    for value in (compiled, reference):
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert value.int >> 80 == now_ns // 1_000_000


def test_an_id_behind_the_last_is_a_random_step_after_it() -> None:
    """A clock behind the last id gives the last id plus 1 .. 2**32 (RFC 9562 6.2)."""
    steps = set()
    for _ in range(200):
        last = uuid.UUID(accelerator.uuid7()).int
        behind = uuid.UUID(accelerator.uuid7(time.time_ns() - 3600 * 10**9))
        assert (behind.version, behind.variant) == (7, uuid.RFC_4122)
        assert 1 <= behind.int - last <= 2**32
        steps.add(behind.int - last)
    assert len(steps) > 190  # random, not always 1


def test_random_bits_vary() -> None:
    """Ids of one millisecond each do not share their random bits (74 of them per id)."""
    first = _next_ms_ns() // 10**6
    made = {accelerator.uuid7(now_ns=(first + i) * 10**6)[15:] for i in range(300)}
    assert len(made) == 300


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        (("1",), {}, TypeError, "now_ns must be an int, not str"),
        ((1.5,), {}, TypeError, "now_ns must be an int, not float"),
        ((), {"when": 1}, TypeError, "unexpected keyword argument 'when'"),
        ((1, 2), {}, TypeError, "at most one argument"),
        ((-1,), {}, ValueError, "before 1970"),
        ((2**70,), {}, OverflowError, "too big"),
    ],
)
def test_bad_arguments_are_refused_clearly(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        accelerator.uuid7(*args, **kwargs)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_draws_its_own_random_bits() -> None:
    """Parent and child, right after a fork, do not hand out the same id.

    Both start from the same last id and (without the reset at fork) the same unused
    random bytes; with the clock behind the last id both take the successor step, which
    is where a shared pool or a fixed step of 1 would make them equal.
    """
    accelerator.uuid7(now_ns=time.time_ns() + 10**9)  # last id: a second ahead
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.write(write, accelerator.uuid7().encode())
        finally:
            os._exit(0)
    os.close(write)
    parent_id = accelerator.uuid7()
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child_id) == 36
    assert parent_id != child_id


timestamps = (
    st.floats(min_value=0.0, max_value=LAST_SECOND, allow_nan=False)
    | st.integers(min_value=0, max_value=2**40).map(lambda us: us / 1e6)
    | st.integers(min_value=0, max_value=2**36).map(lambda us: us / 1e6 + 0.0000005)
    | st.integers(min_value=1_600_000_000, max_value=1_900_000_000).map(float)
)


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(timestamps)
def test_utc_from_timestamp_equals_fromtimestamp(t: float) -> None:
    """The same datetime, microseconds and rounding included, as the stdlib's."""
    compiled = accelerator.utc_from_timestamp(t, UTC)
    reference = dt.datetime.fromtimestamp(t, UTC)
    assert compiled == reference
    assert (compiled.microsecond, compiled.tzinfo, type(compiled)) == (
        reference.microsecond,
        reference.tzinfo,
        dt.datetime,
    )


@pytest.mark.parametrize("t", [-1.5, 1e20, float("inf"), float("nan"), 5, LAST_SECOND + 0.9])
def test_other_timestamps_take_the_stdlib_path(t: float) -> None:
    """Outside the fast range the answer (or the error) is datetime.fromtimestamp's own."""
    try:
        expected = dt.datetime.fromtimestamp(t, UTC)
    except (OverflowError, ValueError, OSError) as exc:
        with pytest.raises(type(exc)):
            accelerator.utc_from_timestamp(t, UTC)
    else:
        assert accelerator.utc_from_timestamp(t, UTC) == expected
