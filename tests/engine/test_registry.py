"""
Process-wide behaviour: the named registry, closing at exit, the SIGTERM recipe.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from audit_logging._engine.registry import default_bus, get_bus

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parent.parent


def test_get_bus_returns_the_same_bus_per_name():
    """get_bus(name) creates a bus once and returns it again; a closed one is replaced."""
    bus = get_bus("test-registry", lifecycle_events=False)
    try:
        assert get_bus("test-registry") is bus
        assert get_bus("test-registry-other", lifecycle_events=False) is not bus
    finally:
        get_bus("test-registry-other").close()
        bus.close()
    fresh = get_bus("test-registry", lifecycle_events=False)
    assert fresh is not bus
    fresh.close()


def test_default_bus_is_the_default_entry(monkeypatch):
    """default_bus() is get_bus('default') and reads AUDIT_* variables."""
    monkeypatch.setenv("AUDIT_BUFFER_SIZE", "77")
    existing = get_bus("default")
    existing.close()
    bus = default_bus()
    try:
        assert bus is get_bus("default")
        assert bus.config.buffer_size == 77
    finally:
        bus.close()


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
