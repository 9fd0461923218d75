"""
Tests for audit_logging._sinks.file.locking: several processes share one rotating file
through the cross-process lock without losing or mixing a line.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from audit_logging.sinks.file import RotatingJSONFileHandler
from tests.sinks.file._support import backups, file_bytes, log_files, strict_loads

MP_CHILD = textwrap.dedent(
    """
    import os, sys
    from audit_logging.events import new_event
    from audit_logging.sinks.file import RotatingJSONFileHandler

    path, n = sys.argv[1], int(sys.argv[2])
    h = RotatingJSONFileHandler(path, max_bytes=64 * 1024, compress=True, flush_interval=0.05,
                                batch_bytes=8 * 1024)
    pid = os.getpid()
    for i in range(n):
        h.write_event(new_event("mp", "child", {"pid": pid, "seq": i, "text": "こんにちは"}))
    h.close()
    print(pid)
    """
)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("per_process", [5_000, pytest.param(25_000, marks=pytest.mark.slow)])
def test_four_processes_share_one_rotating_file_without_loss(
    tmp_path: Path, per_process: int
) -> None:
    """4 processes, 64 KiB files, gzip: every line present once, valid, 0640."""
    path = tmp_path / "audit.jsonl"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MP_CHILD, str(path), str(per_process)],
            stdout=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    pids = [int(p.communicate(timeout=170)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    sweeper = RotatingJSONFileHandler(path, max_bytes=64 * 1024)
    sweeper.run_maintenance()
    sweeper.close()
    seen: dict[int, list[int]] = {pid: [] for pid in pids}
    for p in log_files(tmp_path):
        data = file_bytes(p)
        assert len(data) <= 64 * 1024
        for line in data.splitlines():
            payload = strict_loads(line)["payload"]
            seen[payload["pid"]].append(payload["seq"])
    assert all(sorted(s) == list(range(per_process)) for s in seen.values())
    assert all(p.suffix == ".gz" for p in backups(tmp_path))
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o640}
