"""
Helpers of the spill store tests: events, a deliver callback, raw lines, children.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest

from audit_logging._model import encoding as _encoding
from audit_logging._model.ids import uuid7_str
from audit_logging.events import Event, new_event

KEY = b"k" * 32


class Collector:
    """A deliver callback that records (event, subscription) and returns a fixed answer."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.got: list[tuple[Event[Any], str | None]] = []
        self.lock = threading.Lock()

    def __call__(self, evt: Event[Any], subscription: str | None) -> bool:
        with self.lock:
            self.got.append((evt, subscription))
        return self.answer

    @property
    def ids(self) -> list[str]:
        return [e.id for e, _ in self.got]


def ev(n: int, **extra: Any) -> Event[Any]:
    return new_event("user_created", "test", {"n": n, **extra})


def spill_name(pid: int = 99999) -> str:
    return f"spill-{pid}-{uuid7_str()}.jsonl"


def crc_line(record: dict[str, Any]) -> bytes:
    body = _encoding.dumps(record)
    return body[:-1] + b',"crc32":"%08x"}\n' % zlib.crc32(body)


def spill_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.startswith("spill-"))


def quarantine_records(directory: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted((directory / "quarantine").glob("quarantine-*.jsonl")):
        records += [json.loads(line) for line in path.read_bytes().splitlines()]
    return records


def run_child(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_pid(pid: int, timeout: float) -> int:
    """Wait for a forked child without sleeping; kill it and fail if it hangs."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail(f"child {pid} did not finish within {timeout} s (deadlock?)")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
