"""
Tests for time rotation of the file sink (``when=``, audit_logging._sinks.file.periods):
a simulated clock crossing midnight and an hour (injected, no sleeps), size rotation
within a period, a restarted writer and a file from before time rotation, retention and
gzip with dated names, the command line reading them, and two processes sharing one log.
"""

from __future__ import annotations

import calendar
import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from audit_logging._sinks.file import scan_rotated
from audit_logging._sinks.file.rotation import format_stamp
from audit_logging.events import new_event
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests.cli._support import cli

DAY1 = calendar.timegm((2026, 12, 3, 23, 59, 58))
DAY2 = calendar.timegm((2026, 12, 4, 0, 0, 1))
ROOT = Path(__file__).resolve().parents[3]


class Clock:
    """The time the test says it is."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _write(handler: RotatingJSONFileHandler, marks: list[str]) -> None:
    for mark in marks:
        handler.write_event(new_event("log_info", "tests", {"message": mark, "fields": {}}))
    handler.flush()


def _marks(path: Path) -> list[str]:
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line)["payload"]["message"] for line in f]


def _handler(path: Path, clock: Clock, **options: Any) -> RotatingJSONFileHandler:
    options.setdefault("compress", False)
    return RotatingJSONFileHandler(path, when="midnight", clock=clock, **options)


def test_midnight_rotates_once_to_the_name_of_the_day(tmp_path: Path) -> None:
    """Events before midnight UTC end up in audit.jsonl.<that day>, later ones in the log."""
    log, clock = tmp_path / "audit.jsonl", Clock(DAY1)
    handler = _handler(log, clock)
    try:
        _write(handler, ["a", "b"])
        clock.now = DAY2
        _write(handler, ["c"])
        _write(handler, ["d"])
    finally:
        handler.close()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "audit.jsonl",
        "audit.jsonl.2026-12-03",
    ]
    assert _marks(tmp_path / "audit.jsonl.2026-12-03") == ["a", "b"]
    assert _marks(log) == ["c", "d"]
    assert handler.rotations == 1


def test_size_within_a_day_continues_in_numbered_parts_in_order(tmp_path: Path) -> None:
    """max_bytes still applies: .2026-12-03, .2026-12-03.1, ... in rotation order."""
    log, clock = tmp_path / "audit.jsonl", Clock(DAY1 - 3600)
    handler = _handler(log, clock, max_bytes=400, flush_interval=0)
    marks = [f"m{i:03d}" for i in range(12)]
    try:
        _write(handler, marks)
        clock.now = DAY2
        _write(handler, ["next-day"])
    finally:
        handler.close()
    backups = scan_rotated(str(tmp_path), "audit.jsonl")
    names = [Path(b.path).name for b in backups]
    assert names[0] == "audit.jsonl.2026-12-03"
    assert names[1:] == [f"audit.jsonl.2026-12-03.{n}" for n in range(1, len(names))]
    assert [m for b in backups for m in _marks(Path(b.path))] == marks
    assert _marks(log) == ["next-day"]


def test_hourly_names_carry_the_hour(tmp_path: Path) -> None:
    """when="hourly": audit.jsonl.2026-12-03T23."""
    log, clock = tmp_path / "audit.jsonl", Clock(DAY1)
    handler = RotatingJSONFileHandler(log, when="hourly", clock=clock, compress=False)
    try:
        _write(handler, ["late"])
        clock.now = DAY2
        _write(handler, ["early"])
    finally:
        handler.close()
    assert _marks(tmp_path / "audit.jsonl.2026-12-03T23") == ["late"]


def test_a_restarted_writer_rotates_the_file_of_a_past_day(tmp_path: Path) -> None:
    """The period is recorded beside the log: a new handler (a restart) still rotates it."""
    log = tmp_path / "audit.jsonl"
    first = _handler(log, Clock(DAY1))
    _write(first, ["before"])
    first.close()
    second = _handler(log, Clock(DAY2 + 7200))
    try:
        _write(second, ["after"])
    finally:
        second.close()
    assert _marks(tmp_path / "audit.jsonl.2026-12-03") == ["before"]
    assert _marks(log) == ["after"]


def test_a_file_from_before_time_rotation_is_dated_by_its_mtime(tmp_path: Path) -> None:
    """A log without the period record is dated by its modification time (not in the future)."""
    log = tmp_path / "audit.jsonl"
    log.write_text(new_event("log_info", "t", {"message": "old", "fields": {}}).to_json() + "\n")
    os.utime(log, (DAY1, DAY1))
    handler = _handler(log, Clock(DAY2))
    try:
        _write(handler, ["new"])
    finally:
        handler.close()
    assert _marks(tmp_path / "audit.jsonl.2026-12-03") == ["old"]
    assert _marks(log) == ["new"]


def test_no_rotation_within_the_day_and_clock_stepped_back(tmp_path: Path) -> None:
    """Writes later the same day, or with the clock stepped back, keep the current file."""
    log, clock = tmp_path / "audit.jsonl", Clock(DAY2)
    handler = _handler(log, clock)
    try:
        _write(handler, ["x"])
        clock.now = DAY2 + 3600
        _write(handler, ["y"])
        clock.now = DAY1
        _write(handler, ["z"])
    finally:
        handler.close()
    assert handler.rotations == 0
    assert _marks(log) == ["x", "y", "z"]


def test_gzip_and_retention_work_with_dated_names(tmp_path: Path) -> None:
    """Dated backups are gzipped; backup_count keeps the newest; the period's end dates age."""
    log, clock = tmp_path / "audit.jsonl", Clock(DAY1)
    handler = _handler(log, clock, compress=True, backup_count=2)
    try:
        for day in range(4):
            clock.now = DAY1 + day * 86_400
            _write(handler, [f"day{day}"])
        handler.run_maintenance()
    finally:
        handler.close()
    backups = scan_rotated(str(tmp_path), "audit.jsonl")
    assert [Path(b.path).name for b in backups] == [
        "audit.jsonl.2026-12-04.gz",
        "audit.jsonl.2026-12-05.gz",
    ]
    assert [m for b in backups for m in _marks(Path(b.path))] == ["day1", "day2"]
    assert backups[0].stamp == calendar.timegm((2026, 12, 5, 0, 0, 0))


def test_scan_orders_stamped_and_dated_backups_together(tmp_path: Path) -> None:
    """Backups of a log that switched from size to time rotation sort oldest first."""
    stamped = f"audit.jsonl.{format_stamp(DAY1 - 5 * 86_400)}-7"
    names = [stamped, "audit.jsonl.2026-12-03.1", "audit.jsonl.2026-12-03", "audit.jsonl.x"]
    for name in names:
        (tmp_path / name).write_text("")
    found = [Path(b.path).name for b in scan_rotated(str(tmp_path), "audit.jsonl")]
    assert found == [stamped, "audit.jsonl.2026-12-03", "audit.jsonl.2026-12-03.1"]


@pytest.mark.timeout(60)
def test_tail_reads_dated_backups_then_the_current_file(tmp_path: Path) -> None:
    """`audit-logging tail` prints the dated (and gzipped) backups in order, then the log."""
    log, clock = tmp_path / "audit.jsonl", Clock(DAY1)
    handler = _handler(log, clock, compress=True)
    try:
        for day, mark in enumerate(["one", "two", "three"]):
            clock.now = DAY1 + day * 86_400
            _write(handler, [mark])
        handler.run_maintenance()
    finally:
        handler.close()
    done = cli(tmp_path, "tail", "--file", "audit.jsonl")
    assert done.returncode == 0, done.stderr
    order = [done.stdout.index(m) for m in ("one", "two", "three")]
    assert order == sorted(order)


def test_unknown_when_is_refused(tmp_path: Path) -> None:
    """when= other than midnight/hourly raises ValueError."""
    with pytest.raises(ValueError, match="when"):
        RotatingJSONFileHandler(tmp_path / "a.jsonl", when="weekly")


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from audit_logging.events import new_event
    from audit_logging.sinks.file import RotatingJSONFileHandler

    log, clock_file, name = sys.argv[1:4]
    clock = lambda: float(Path(clock_file).read_text())
    handler = RotatingJSONFileHandler(log, when="midnight", clock=clock, compress=False)
    for command in sys.stdin:
        count = int(command)
        if count < 0:
            break
        for i in range(count):
            mark = f"{name}-{clock():.0f}-{i}"
            handler.write_event(new_event("log_info", name, {"message": mark}))
        handler.flush()
        print("ok", flush=True)
    handler.close()
    """
)


@pytest.mark.timeout(60)
def test_two_processes_cross_midnight_with_one_rotation_and_no_lost_line(
    tmp_path: Path,
) -> None:
    """Two writer processes on one log, a shared clock past midnight: one dated file, all lines."""
    log, clock_file = tmp_path / "audit.jsonl", tmp_path / "clock"
    clock_file.write_text(str(DAY1))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(log), str(clock_file), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for name in ("p1", "p2")
    ]

    def burst(count: int) -> None:
        for child in children:
            assert child.stdin is not None
            child.stdin.write(f"{count}\n")
            child.stdin.flush()
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ok"

    try:
        burst(500)
        clock_file.write_text(str(DAY2))
        burst(300)
        burst(200)
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.write("-1\n")
            child.stdin.close()
            child.wait(30)
            assert child.stdout is not None
            child.stdout.close()
    assert [c.returncode for c in children] == [0, 0]
    day1 = _marks(tmp_path / "audit.jsonl.2026-12-03")
    day2 = _marks(log)
    assert len(day1) == 1000
    assert all(f"-{DAY1}-" in m for m in day1)
    assert len(day2) == 1000
    assert all(f"-{DAY2}-" in m for m in day2)
    assert [Path(b.path).name for b in scan_rotated(str(tmp_path), "audit.jsonl")] == [
        "audit.jsonl.2026-12-03"
    ]
