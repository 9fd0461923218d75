"""
Tests for audit_logging._sinks.file.pending: a batch stays in the handler until it reached
the file, whatever a signal does meanwhile, and a signal handler that logs while the sink
is busy in the same thread neither deadlocks nor loses its line. Real signals, delivered
inside the sink (tests/sinks/_signals.py), real files.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from audit_logging.events import new_event
from tests.sinks._signals import exit_on_signal, on_call, on_return, signal_at
from tests.sinks.file._support import all_ids, events

FAR = 1_000_000.0

INTERRUPTS = [
    pytest.param(signal.SIGINT, signal.default_int_handler, KeyboardInterrupt, id="ctrl-c"),
    pytest.param(signal.SIGTERM, exit_on_signal, SystemExit, id="sigterm"),
]


@pytest.mark.parametrize(("signum", "handler", "raised"), INTERRUPTS)
def test_a_write_interrupted_before_os_write_keeps_its_batch(
    make: Any, tmp_path: Path, signum: int, handler: Any, raised: type[BaseException]
) -> None:
    """The signal strikes after the batch was prepared, before a byte reached the file:
    the next flush writes the whole batch (it used to be taken out of the handler first)."""
    sink = make(flush_interval=FAR)
    evts = events(20)
    for evt in evts:
        sink.write_event(evt)
    with signal_at(signum, on_return(os.fstat), handler) as sent, pytest.raises(raised):
        sink.flush()
    assert sent
    assert (tmp_path / "audit.jsonl").read_bytes() == b""  # it struck before the write
    sink.flush()
    assert all_ids(tmp_path) == [e.id for e in evts]


@pytest.mark.parametrize(("signum", "handler", "raised"), INTERRUPTS)
def test_a_write_interrupted_after_os_write_duplicates_nothing(
    make: Any, tmp_path: Path, signum: int, handler: Any, raised: type[BaseException]
) -> None:
    """The signal strikes once os.write returned, before the sink counted what it wrote:
    what reached the file leaves the batch, so close() writes nothing twice."""
    sink = make(flush_interval=FAR)
    evts = events(20)
    for evt in evts:
        sink.write_event(evt)
    with signal_at(signum, on_return(os.write), handler), pytest.raises(raised):
        sink.flush()
    sink.close()
    assert all_ids(tmp_path) == [e.id for e in evts]


@pytest.mark.timeout(30)
def test_a_signal_handler_logging_during_a_write_does_not_deadlock(
    make: Any, tmp_path: Path
) -> None:
    """SIGUSR1's handler logs to the sink while the main thread is inside the sink's
    os.write (the I/O lock held): its line is written by that same write call."""
    sink = make(flush_interval=0)
    logger = logging.getLogger("tests.sinks.file.pending.signal")
    logger.addHandler(sink)
    logger.propagate = False
    first = new_event("user_login", "tests", {"n": 1})

    def log_from_signal(_signum: int, _frame: Any) -> None:
        logger.warning("from the signal handler")

    try:
        with signal_at(signal.SIGUSR1, on_call(os.write), log_from_signal) as sent:
            sink.write_event(first)
        assert sent
    finally:
        logger.removeHandler(sink)
    sink.flush()
    lines = all_ids(tmp_path)
    assert len(lines) == 2
    assert lines[0] == first.id


@pytest.mark.timeout(30)
def test_a_signal_handler_logging_while_the_batch_is_updated_does_not_deadlock(
    make: Any, tmp_path: Path
) -> None:
    """The signal strikes while the main thread holds the batch lock (appending a line):
    the handler's line is set aside, never waited for, and written with the batch."""
    sink = make(flush_interval=FAR)
    logger = logging.getLogger("tests.sinks.file.pending.batch")
    logger.addHandler(sink)
    logger.propagate = False

    def inside_the_batch(frame: Any, event: str, arg: Any) -> bool:
        name = frame.f_code.co_filename
        in_sink = name.endswith((os.path.join("file", "handler.py"), "pending.py"))
        return event == "c_call" and getattr(arg, "__name__", "") == "append" and in_sink

    def log_from_signal(_signum: int, _frame: Any) -> None:
        logger.warning("from the signal handler")

    first = new_event("user_login", "tests", {"n": 1})
    try:
        with signal_at(signal.SIGUSR1, inside_the_batch, log_from_signal) as sent:
            sink.write_event(first)
        assert sent
    finally:
        logger.removeHandler(sink)
    sink.flush()
    ids = all_ids(tmp_path)
    assert len(ids) == 2
    assert first.id in ids


def test_abandon_returns_what_is_not_written_without_waiting(make: Any, tmp_path: Path) -> None:
    """abandon() hands back every accepted event not yet written, at once even while a
    write holds the I/O lock, and the handler accepts nothing more."""
    sink = make(flush_interval=FAR)
    written, pending = events(3), events(4)
    for evt in written:
        sink.write_event(evt)
    sink.flush()
    for evt in pending:
        sink.write_event(evt)
    held, release = threading.Event(), threading.Event()

    def stuck_writer() -> None:
        with sink._io_lock:
            held.set()
            release.wait(10)

    thread = threading.Thread(target=stuck_writer)
    thread.start()
    try:
        assert held.wait(10)
        assert [e.id for e in sink.abandon()] == [e.id for e in pending]
        assert sink.abandon() == []
        with pytest.raises(ValueError, match="closed"):
            sink.write_event(new_event("user_login", "tests", {}))
    finally:
        release.set()
        thread.join()
    sink.close()
    assert all_ids(tmp_path) == [e.id for e in written]
