"""
The compiled accelerator (``audit_logging/_speedups.c``) against the pure-Python reference.

The accelerator takes the common case of a hot function and answers None for the rest,
so the property that matters is: whenever it answers, it answers what the Python code
would have, field for field and in the same order. Hypothesis generates log records of
every shape (levels, messages and arguments, extra keys and values, bound context id and
scope) and compares the two. The whole suite also runs with ``AUDIT_LOGGING_PURE=1``
(README, "Development"), so each path passes every other test as well.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit_logging import _accel
from audit_logging._model.context import bind_context_id
from audit_logging._model.event import Event
from audit_logging._model.scope import Actor, Origin, Scope, bind_scope
from audit_logging._records import logrecord

accelerator = _accel.accelerator
needs_accelerator = pytest.mark.skipif(
    accelerator is None,
    reason="the accelerator is not built here (no C compiler at install) "
    "or AUDIT_LOGGING_PURE is set",
)

_LOGGER = logging.getLogger("tests.speedups")


def _pure(record: logging.LogRecord, source: str | None = None) -> Event[Any]:
    """
    record_to_event on the Python path.
    """
    saved = logrecord._fast_record_to_event
    logrecord._fast_record_to_event = None
    try:
        return logrecord.record_to_event(record, source)
    finally:
        logrecord._fast_record_to_event = saved


def _record(level: int, msg: Any, args: Any, extra: dict[str, Any] | None) -> logging.LogRecord:
    return _LOGGER.makeRecord(_LOGGER.name, level, "f.py", 1, msg, args, None, extra=extra)


def _shape(evt: Event[Any]) -> tuple[Any, ...]:
    """
    Everything but the id; ``repr`` tells ``1`` from ``True`` and ``1.0`` and keeps order.
    """
    return (
        type(evt),
        evt.type,
        evt.source,
        repr(evt.payload),
        evt.context_id,
        evt.time,
        evt.span_context,
        evt.actor,
        evt.origin,
    )


def test_path_name_says_which_path_runs() -> None:
    assert _accel.path_name() == ("pure-python" if accelerator is None else "compiled")


def test_pure_env_keeps_the_python_path() -> None:
    code = (
        "from audit_logging import _accel; from audit_logging._records import logrecord as L;"
        "print(_accel.path_name(), L._fast_record_to_event)"
    )
    env = {**os.environ, _accel.PURE_ENV: "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == ["pure-python", "None"]


_MESSAGES = st.one_of(
    st.sampled_from(
        ["plain", "user %s logged in", "%d items", "%(a)s", "héllo %s", "bad %d", "100%", ""]
    ),
    st.text(max_size=20),
    st.integers(),
    st.none(),
)
_LEAVES = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.binary(max_size=4),
)
_VALUES = st.one_of(_LEAVES, st.lists(_LEAVES, max_size=3), st.dictionaries(st.text(), _LEAVES))
_ARGS = st.one_of(
    st.just(()),
    st.tuples(_LEAVES),
    st.tuples(_LEAVES, _LEAVES),
    st.tuples(st.fixed_dictionaries({"a": _LEAVES})),  # log.info("%(a)s", {"a": ...})
)
_KEYS = st.one_of(
    st.sampled_from(
        ["ip", "plan", "attempt", "error", "user_id", "password", *sorted(logrecord._SPECIAL_EXTRA)]
    ),
    st.text(min_size=1, max_size=8).filter(lambda k: k not in logrecord._STANDARD_ATTRS),
)
_LEVELS = st.one_of(st.sampled_from([1, 10, 19, 20, 29, 30, 39, 40, 50, 60]), st.integers(0, 99))


def _bindings(context_id: str | None, actor: str | None) -> AbstractContextManager[Any]:
    stack = ExitStack()
    if context_id is not None:
        stack.enter_context(bind_context_id(context_id))
    if actor is not None:
        scope = Scope(actor=Actor(user_id=actor), origin=Origin(client_ip="127.0.0.1"))
        stack.enter_context(bind_scope(scope))
    return stack


@needs_accelerator
@settings(max_examples=400, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    level=_LEVELS,
    msg=_MESSAGES,
    args=_ARGS,
    extra=st.dictionaries(_KEYS, _VALUES, max_size=5),
    source=st.sampled_from([None, "api"]),
    context_id=st.sampled_from([None, "req-1"]),
    actor=st.sampled_from([None, "u42"]),
)
def test_record_to_event_answers_what_python_does(
    level: int,
    msg: Any,
    args: Any,
    extra: dict[str, Any],
    source: str | None,
    context_id: str | None,
    actor: str | None,
) -> None:
    assert accelerator is not None
    record = _record(level, msg, args, extra)
    with _bindings(context_id, actor):
        fast = accelerator.record_to_event(record, source)
        try:
            slow = _pure(record, source)
        except Exception:
            assert fast is None  # the Python path raises: the accelerator never answers
            return
    if fast is not None:
        assert _shape(fast) == _shape(slow)
        assert list(fast.payload["fields"]) == list(slow.payload["fields"])
        assert fast.id < slow.id  # a fresh UUIDv7 each, in order


@needs_accelerator
def test_the_common_record_takes_the_compiled_path() -> None:
    assert accelerator is not None
    extra = {"ip": "10.0.0.1", "plan": "pro", "attempt": 1, "took": 0.25, "ok": True}
    for level in (logging.DEBUG, logging.INFO, logging.WARNING):
        record = _record(level, "user %s logged in", ("u1",), extra)
        fast = accelerator.record_to_event(record, None)
        assert fast is not None
        assert _shape(fast) == _shape(_pure(record))
        assert list(fast.payload["fields"]) == list(extra)
    record = _record(logging.INFO, "non-finite", (), {"a": math.inf, "b": math.nan})
    fast = accelerator.record_to_event(record, None)
    assert fast is not None
    assert fast.payload["fields"] == {"a": None, "b": None}


class _Subclass(logging.LogRecord):
    def getMessage(self) -> str:
        return "overridden"


@needs_accelerator
@pytest.mark.parametrize(
    "record",
    [
        pytest.param(_record(logging.ERROR, "boom", (), None), id="error-level"),
        pytest.param(_record(logging.CRITICAL, "boom", (), None), id="fatal-level"),
        pytest.param(_record(logging.INFO, "x", (), {"context_id": "c"}), id="context-id"),
        pytest.param(_record(logging.INFO, "x", (), {"event_type": "t"}), id="domain-event"),
        pytest.param(_record(logging.INFO, "x", (), {"audit_event": 1}), id="audit-event"),
        pytest.param(_record(logging.INFO, "x", (), {"otelTraceID": "1"}), id="otel-ids"),
        pytest.param(_record(logging.INFO, "x", (), {"v": [1]}), id="list-value"),
        pytest.param(_record(logging.INFO, "x", (), {"v": "é"}), id="non-ascii-value"),
        pytest.param(_record(logging.INFO, "x", (), {"é": 1}), id="non-ascii-key"),
        pytest.param(_record(logging.INFO, 5, (), None), id="non-str-msg"),
        pytest.param(_record(logging.INFO, "%d", ("x",), None), id="format-error"),
        pytest.param(_Subclass("n", 20, "f", 1, "m", None, None), id="record-subclass"),
    ],
)
def test_everything_else_is_left_to_python(record: logging.LogRecord) -> None:
    assert accelerator is not None
    assert accelerator.record_to_event(record, None) is None


@needs_accelerator
def test_more_fields_than_the_bound_are_left_to_python() -> None:
    assert accelerator is not None
    extra = {f"k{i}": i for i in range(logrecord.MAX_FIELD_ITEMS + 1)}
    assert accelerator.record_to_event(_record(logging.INFO, "x", (), extra), None) is None
    extra.pop("k0")
    assert accelerator.record_to_event(_record(logging.INFO, "x", (), extra), None) is not None


@needs_accelerator
def test_new_event_is_the_event_python_builds() -> None:
    assert accelerator is not None
    built = Event("t", "s", {"a": 1}, "c", "id-1", None, actor=Actor(user_id="u"))
    fast = accelerator.new_event(
        "t", "s", {"a": 1}, "c", "id-1", built.time, built.span_context, built.actor, None
    )
    assert type(fast) is Event
    assert fast == built
    with pytest.raises(TypeError, match="9 arguments"):
        accelerator.new_event("t")


def _records() -> Iterator[logging.LogRecord]:
    extra = {"ip": "10.0.0.1", "plan": "pro", "attempt": 1}
    while True:
        yield _record(logging.INFO, "user %s logged in", ("u1",), extra)
        yield _record(logging.ERROR, "boom", (), extra)  # the Python path
        yield _record(logging.INFO, "%d", ("x",), None)  # a format error, handed back


@needs_accelerator
def test_no_reference_leaks() -> None:
    """
    50 000 calls over each branch leave no memory behind (a leaked dict per call is 10 MB).
    """
    assert accelerator is not None
    records = _records()
    batch = [next(records) for _ in range(300)]

    def run() -> None:
        for _ in range(50_000 // len(batch)):
            for record in batch:
                accelerator.record_to_event(record, None)

    run()  # caches and free lists warm up
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 200_000, f"{grown} bytes kept by 50 000 calls"
