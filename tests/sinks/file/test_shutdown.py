"""
The file sink when the process is stopped mid-write: a batch interrupted by a
signal's exception is never lost, a signal handler that logs while the main
thread writes never deadlocks, and a file rotated by the last write of close()
is still compressed.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from audit_logging._sinks.file import writer as writer_module
from audit_logging.events import new_event
from audit_logging.sinks.file import RotatingJSONFileHandler

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[3]


def _lines(directory: Path) -> list[str]:
    out: list[str] = []
    for path in sorted(directory.iterdir()):
        if path.name.endswith(".gz"):
            out += gzip.decompress(path.read_bytes()).decode().splitlines()
        elif ".jsonl" in path.name:
            out += path.read_text().splitlines()
    return out


def test_a_write_interrupted_by_a_signal_keeps_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KeyboardInterrupt inside os.write (Ctrl-C, SIGTERM -> SystemExit): the next flush
    writes the batch, each line once."""
    handler = RotatingJSONFileHandler(tmp_path / "audit.jsonl", flush_interval=3600)
    events = [new_event("order_placed", "t", {"n": i}) for i in range(50)]
    for evt in events:
        handler.write_event(evt)
    real_write = os.write
    calls = {"n": 0}

    def interrupted(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return real_write(fd, data)

    monkeypatch.setattr(writer_module.os, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        handler.flush()
    monkeypatch.setattr(writer_module.os, "write", real_write)
    handler.close()
    ids = [line.split('"id":"')[1][:36] for line in _lines(tmp_path)]
    assert sorted(ids) == sorted(e.id for e in events)


SIGNAL_CHILD = textwrap.dedent(
    """
    import logging, signal, sys
    from audit_logging.sinks.file import RotatingJSONFileHandler

    path = sys.argv[1]
    handler = RotatingJSONFileHandler(path, flush_interval=0, batch_bytes=1)
    log = logging.getLogger("child")
    log.propagate = False
    log.addHandler(handler)
    fired = []

    def on_alarm(signum, frame):
        fired.append(1)
        log.warning("from the signal handler")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
    for i in range(int(sys.argv[2])):
        log.warning("main %d", i)
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    handler.close()
    print(len(fired))
    """
)


def test_a_signal_handler_logging_during_a_write_never_deadlocks(tmp_path: Path) -> None:
    """SIGALRM every 0.2 ms logs to the same file sink the main thread writes: no hang."""
    n = 3000
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_CHILD, str(tmp_path / "audit.jsonl"), str(n)],
        capture_output=True,
        text=True,
        timeout=50,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    fired = int(done.stdout)
    assert fired > 10
    assert len(_lines(tmp_path)) == n + fired


def test_a_file_rotated_by_the_last_write_of_close_is_compressed(tmp_path: Path) -> None:
    """close() writes the batch, which rotates; the rotated file is gzipped before close returns."""
    handler = RotatingJSONFileHandler(tmp_path / "audit.jsonl", max_bytes=2000, flush_interval=3600)
    for i in range(40):
        handler.write_event(new_event("order_placed", "t", {"n": i}))
    handler.close()
    backups = [p.name for p in tmp_path.iterdir() if p.name.startswith("audit.jsonl.")]
    assert backups
    assert all(name.endswith(".gz") for name in backups), backups
    assert len(_lines(tmp_path)) == 40
