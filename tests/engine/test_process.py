"""
Process-wide behaviour: closing at exit, the SIGTERM recipe, fork.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, Event, new_event
from tests._helpers import Recorder

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(60)

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    from audit_logging._engine import process as _process
    from audit_logging.bus import Bus
    from audit_logging.events import new_event
    if sys.argv[2] == "recipe":
        _process.install_sigterm_handler()
    out = open(sys.argv[1], "a")
    bus = Bus(lifecycle_events=False, buffer_size=100_000)
    bus.subscribe("*", lambda e: out.write(e.id + "\\n"), name="file")
    for i in range(10_000):
        bus.publish(new_event("x", "script", None))
    if sys.argv[2] != "exit":
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    """
)


def run(out: Path, mode: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), mode], cwd=ROOT, timeout=60, check=False
    )
    return proc.returncode


def test_script_exiting_without_close_loses_nothing(tmp_path):
    """A script that returns without close() still delivers every accepted event (atexit)."""
    out = tmp_path / "out.txt"
    assert run(out, "exit") == 0
    assert len(out.read_text().splitlines()) == 10_000


def test_sigterm_recipe_closes_the_bus(tmp_path):
    """With install_sigterm_handler, SIGTERM drains the bus before the process exits."""
    out = tmp_path / "out.txt"
    assert run(out, "recipe") == 128 + signal.SIGTERM
    assert len(out.read_text().splitlines()) == 10_000


def test_without_the_recipe_sigterm_kills_at_once(tmp_path):
    """Documented behaviour: an unhandled SIGTERM ends the process with no atexit hooks."""
    assert run(tmp_path / "out.txt", "plain") == -signal.SIGTERM


def test_fork_child_publishes_without_deadlock(tmp_path):
    """A forked child can publish on the parent's bus without deadlock; the parent is unaffected."""
    rec = Recorder()
    out = tmp_path / "child.txt"
    with Bus(spillover_dir=tmp_path / "s", lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, rec, name="rec")
        bus.publish(new_event("x", "parent", None))

        def child_handler(evt: Event[Any]) -> None:
            with out.open("a") as f:
                f.write(evt.source + "\n")

        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                bus.subscribe(EVENT_ANY, child_handler, name="child-file")
                bus.publish(new_event("x", "child", None))
                bus.close(5)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        bus.publish(new_event("x", "parent2", None))
        assert bus.flush(10)
    assert "child" in out.read_text().split()
    assert [e.source for e in rec.events] == ["parent", "parent2"]


RERAISE = textwrap.dedent(
    """
    import os, signal, sys
    from audit_logging._engine import process as _process
    from audit_logging.bus import Bus
    from audit_logging.events import new_event
    out = open(sys.argv[1], "a")
    stopping = []
    # A server in the style of uvicorn: its own handler, the recipe installed after it
    # (the application is imported inside the server), the original restored and the
    # signal raised again once the graceful shutdown is over.
    original = signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    _process.install_sigterm_handler()
    bus = Bus(lifecycle_events=False, buffer_size=100_000)
    bus.subscribe("*", lambda e: out.write(e.id + "\\n"), name="file")
    os.kill(os.getpid(), signal.SIGTERM)
    for i in range(10_000):
        bus.publish(new_event("x", "script", None))
    assert stopping == [signal.SIGTERM]
    signal.signal(signal.SIGTERM, original)
    signal.raise_signal(signal.SIGTERM)
    """
)


def test_recipe_survives_a_server_that_restores_the_default_and_reraises(tmp_path):
    """Chained to a server's handler, the re-raised SIGTERM ends in a normal exit that closes."""
    out = tmp_path / "out.txt"
    proc = subprocess.run(
        [sys.executable, "-c", RERAISE, str(out)], cwd=ROOT, timeout=60, check=False
    )
    assert proc.returncode == 0
    assert len(out.read_text().splitlines()) == 10_000
