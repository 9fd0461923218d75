"""
Child processes for tests/reliability/test_crash.py (tests/reliability/SCENARIOS.md S1, S2, S13).

A crash test needs a process it may kill, and the parent needs its own copy of what
the child promised before the kill: so every ``publish`` here prints one flushed ack
line, ``<event id>\\t<delivery>``, and the parent's copy is the ground truth.

Run as ``python -m tests.reliability._child <mode> <json settings>`` from the repository
root. Modes:

- ``publish`` (S1): an async bus (``buffer_size=1000``, one worker, spill on) with a
  sink that blocks forever on its first event, so the one worker is stuck and every
  backlog fills; the PostgreSQL and file sinks then get only the events published with
  ``publish_sync`` (every ``sync_every``-th one). Publishes up to ``count`` events,
  then waits to be killed.
- ``recover`` (S1, S2, S13): a fresh bus on the same spill directory and the same sinks
  (a stand-in, under the same name, for the blocked or slow sink) calls
  ``recover_spillover()``, closes, and prints a ``done`` line; bad spill lines come as
  ``error`` lines. With ``pause_at`` the stand-in stops at its n-th event and prints
  ``paused``, so the parent can kill the replay at a known line.
- ``exit`` / ``sigterm`` (S13): PostgreSQL and a batching file sink next to a slow sink
  whose backlog spills. ``exit`` returns from main without ``close()``; ``sigterm``
  installs :func:`install_sigterm_handler`, publishes, then gets SIGTERM between two
  publishes or from inside one.

A hung child dumps its threads' stacks to stderr on SIGUSR1 (``faulthandler``).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from audit_logging._engine.process import install_sigterm_handler
from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.file import RotatingJSONFileHandler

MAIN_TYPE = "crash_main"
SYNC_TYPE = "crash_sync"
SIGNAL_TYPE = "crash_signal"
BUFFER_SIZE = 1000
DB_BATCH_SIZE = 100
DB_FLUSH_INTERVAL = 0.05


def _ack(out: TextIO, evt: Event[Any], delivery: str) -> None:
    out.write(f"{evt.id}\t{delivery}\n")
    out.flush()


def _db(cfg: dict[str, Any]) -> DatabaseHandler:
    return DatabaseHandler(
        cfg["pg_url"],
        table=cfg["table"],
        batch_size=cfg.get("db_batch_size", DB_BATCH_SIZE),
        flush_interval=cfg.get("db_flush_interval", DB_FLUSH_INTERVAL),
        retry_delay=0.05,
    )


def _file(cfg: dict[str, Any], **options: Any) -> RotatingJSONFileHandler:
    options.setdefault("flush_interval", 0)  # write-through: a synchronous, unbatched sink
    return RotatingJSONFileHandler(cfg["file"], compress=False, max_bytes=0, **options)


def _errors(out: TextIO) -> Any:
    lock = threading.Lock()

    def error_func(exc: BaseException, evt: Event[Any] | None) -> None:
        # One line per report, so the parent can count bad spill lines.
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        with lock:
            out.write(f"error\t{text}\n")
            out.flush()

    return error_func


def _spilling_bus(
    cfg: dict[str, Any],
    *,
    worker_count: int = 1,
    error_func: Callable[[BaseException, Event[Any] | None], None] | None = None,
) -> Bus:
    """
    An async bus spilling to the parent's directory, with small backlogs (errors ignored
    unless ``error_func`` is given).
    """
    return Bus(
        spillover_dir=cfg["spill"],
        buffer_size=BUFFER_SIZE,
        worker_count=worker_count,
        asynchronous=True,
        lifecycle_events=False,
        error_func=error_func or (lambda exc, evt: None),
    )


def publish(cfg: dict[str, Any], out: TextIO) -> None:
    """
    S1: publish into full backlogs until killed; ack every publish.
    """
    bus = _spilling_bus(cfg)
    never = threading.Event()
    bus.subscribe(MAIN_TYPE, lambda evt: never.wait(), name="blocked")
    bus.subscribe(EVENT_ANY, _db(cfg), name="db")
    bus.subscribe(EVENT_ANY, _file(cfg), name="file")
    sync_every = cfg["sync_every"]
    for i in range(cfg["count"]):
        if i % sync_every == sync_every - 1:
            evt = new_event(SYNC_TYPE, "child", {"n": i})
            delivery = bus.publish_sync(evt)
        else:
            evt = new_event(MAIN_TYPE, "child", {"n": i})
            delivery = bus.publish(evt)
        _ack(out, evt, delivery.value)
    out.write("end\n")
    out.flush()
    never.wait()  # the worker is stuck anyway: wait for the parent's SIGKILL


def recover(cfg: dict[str, Any], out: TextIO) -> None:
    """
    S1/S2/S13: a fresh bus with the same sinks replays the spill directory.

    A stand-in takes the place of the blocked (or slow) sink under the same name, so
    its spilled copies are replayed too. With ``pause_at`` it stops at its n-th event
    and prints ``paused``: the parent then kills the replay at a known line.
    """
    pause_at = cfg.get("pause_at")
    bus = _spilling_bus(cfg, error_func=_errors(out))
    seen = 0

    def stand_in(evt: Event[Any]) -> None:
        nonlocal seen
        seen += 1
        if seen == pause_at:
            out.write(f"paused\t{evt.id}\n")
            out.flush()
            threading.Event().wait()  # until the parent's SIGKILL

    bus.subscribe(
        cfg.get("stand_in_type", MAIN_TYPE), stand_in, name=cfg.get("stand_in", "blocked")
    )
    bus.subscribe(EVENT_ANY, _db(cfg), name="db")
    bus.subscribe(EVENT_ANY, _file(cfg), name="file")
    replayed = bus.recover_spillover()
    bus.close()
    out.write("done\t" + json.dumps({"replayed": replayed, "stand_in": seen}) + "\n")
    out.flush()


def _exit_bus(cfg: dict[str, Any]) -> Bus:
    bus = _spilling_bus(cfg, worker_count=2)
    # Slower than the publisher, so its backlog fills and later copies are spilled.
    bus.subscribe(EVENT_ANY, lambda evt: time.sleep(0.0002), name="slow")
    bus.subscribe(EVENT_ANY, _db(cfg), name="db")
    bus.subscribe(EVENT_ANY, _file(cfg, flush_interval=0.2), name="file")  # batching
    return bus


def exit_without_close(cfg: dict[str, Any], out: TextIO) -> None:
    """
    S13: publish, then return from main without close(); atexit must drain or spill.
    """
    bus = _exit_bus(cfg)
    for i in range(cfg["count"]):
        evt = new_event(MAIN_TYPE, "child", {"n": i})
        _ack(out, evt, bus.publish(evt).value)


def sigterm(cfg: dict[str, Any], out: TextIO) -> None:
    """
    S13: with the documented SIGTERM recipe, publish ``count`` events, then get SIGTERM.

    ``signal_at="between"`` sends it between two publishes; ``"inside"`` sends it from a
    handler run by ``publish_sync``, so it lands while the main thread is inside
    ``publish`` (as an external SIGTERM usually does: that is where a publishing
    thread spends its time).
    """
    install_sigterm_handler()
    bus = _exit_bus(cfg)

    def raise_sigterm(evt: Event[Any]) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    bus.subscribe(SIGNAL_TYPE, raise_sigterm, name="signal")
    for i in range(cfg["count"]):
        evt = new_event(MAIN_TYPE, "child", {"n": i})
        _ack(out, evt, bus.publish(evt).value)
    if cfg["signal_at"] == "inside":
        bus.publish_sync(new_event(SIGNAL_TYPE, "child", {}))
    else:
        os.kill(os.getpid(), signal.SIGTERM)
    out.write("survived SIGTERM\n")
    out.flush()


MODES = {
    "publish": publish,
    "recover": recover,
    "exit": exit_without_close,
    "sigterm": sigterm,
}


def main(argv: list[str]) -> None:
    """
    Run the mode named in ``argv[1]`` with the JSON settings in ``argv[2]``.
    """
    # A hung child dumps every thread's stack on SIGUSR1, for the parent's failure message.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    MODES[argv[1]](json.loads(argv[2]), sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
