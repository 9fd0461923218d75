"""
Time-based rotation: which period (UTC day or hour) the current log file belongs to,
agreed on by every process that writes it.

With ``when="midnight"`` (or ``"hourly"``) the log is rotated at the first write of
a later period, to a name carrying the period it holds (``audit.jsonl.2026-12-03``,
``audit.jsonl.2026-12-03T14`` for hours; size rotations within a period add ``.1``,
``.2``..., see :mod:`~audit_logging._sinks.file.rotation`). Auditors ask for one
file per day; the name says which day, not when the rotation happened to run.

Why a small state file, ``.<name>.period`` next to the log. The stdlib and
concurrent-log-handler keep the next rollover time in each process and derive it
from the file's modification time at start-up: one process rotating at midnight
leaves the others with a stale rollover time, and a file touched by anything else
(a backup tool, a copy) is misdated. Here the period of the current file is
written once, under the log's lock, keyed by the file's device and inode, by
whichever writer first writes to an empty file (or follows a file nobody dated,
e.g. one from before time rotation was turned on: then its modification time,
never later than now, dates it). Every writer reads it under the same lock (once
per file, then from memory), so each file is rotated exactly once, by one
process, whatever their clocks say at the boundary. A state file that is missing
or unreadable falls back to the modification time, never to refusing events.

Times come from the handler's injected ``clock`` (POSIX seconds, UTC), so a test
can cross a boundary without sleeping. Rotation happens at a write: a period
with no events after its end stays the current file until the next event (as
with the stdlib's ``TimedRotatingFileHandler``).
"""

from __future__ import annotations

import contextlib
import os
import time

from audit_logging._sinks.file.files import O_CLOEXEC, O_NOFOLLOW, open_log_file

__all__ = ["WHEN", "Periods", "period_label", "period_length"]

WHEN = {"midnight": 86_400, "daily": 86_400, "d": 86_400, "hourly": 3_600, "h": 3_600}
"""Accepted ``when`` values and the length of their period in seconds."""


def period_length(when: str) -> int:
    """
    Seconds in one period of ``when``.

    Raises:
        ValueError: an unknown ``when``.
    """
    length = WHEN.get(when.lower()) if isinstance(when, str) else None
    if length is None:
        raise ValueError(f"when must be 'midnight' or 'hourly' (or 'D'/'H'), not {when!r}")
    return length


def period_label(start: float, length: int) -> str:
    """
    ``2026-12-03`` for a day, ``2026-12-03T14`` for an hour (UTC).
    """
    fmt = "%Y-%m-%d" if length == 86_400 else "%Y-%m-%dT%H"
    return time.strftime(fmt, time.gmtime(start))


class Periods:
    """
    The period bookkeeping of one writer (its handler's I/O lock serialises the calls).

    Args:
        directory: the log's directory.
        basename: the log's file name.
        when: ``"midnight"``/``"daily"``/``"D"`` or ``"hourly"``/``"H"``.
        mode: permission bits of the state file.
    """

    def __init__(self, directory: str, basename: str, when: str, mode: int) -> None:
        self.length = period_length(when)
        self.path = os.path.join(directory, f".{basename}.period")
        self._mode = mode
        self._known: tuple[int, int, int] | None = None  # (dev, ino, period start)

    def start_of(self, t: float) -> int:
        """
        The start of the period holding POSIX time ``t``.
        """
        return int(t // self.length) * self.length

    def label(self, start: float) -> str:
        """
        The name part of the period starting at ``start``.
        """
        return period_label(start, self.length)

    def of_file(self, fd: int, now: float) -> int:
        """
        The period the open log ``fd`` belongs to (callers hold the log's lock).

        Known for this inode: from memory. Else from the state file when it names
        this inode; else the file is dated now (empty file) or by its modification
        time (never later than ``now``), and the state file is written.
        """
        st = os.fstat(fd)
        known = self._known
        if known is not None and known[:2] == (st.st_dev, st.st_ino):
            return known[2]
        stored = self._read()
        if stored is not None and stored[:2] == (st.st_dev, st.st_ino):
            self._known = stored
            return stored[2]
        start = self.start_of(now if st.st_size == 0 else min(st.st_mtime, now))
        self.set(fd, start)
        return start

    def set(self, fd: int, start: int) -> None:
        """
        Record that the log ``fd`` holds the period starting at ``start``.
        """
        st = os.fstat(fd)
        self._known = (st.st_dev, st.st_ino, start)
        data = f"{st.st_dev} {st.st_ino} {start}\n".encode("ascii")
        with contextlib.suppress(OSError):  # unwritable: the mtime fallback still dates it
            state, _ = open_log_file(self.path, self._mode, append=False)
            try:
                os.ftruncate(state, 0)
                os.pwrite(state, data, 0)
            finally:
                os.close(state)

    def _read(self) -> tuple[int, int, int] | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        except OSError:
            return None
        try:
            dev, ino, start = os.read(fd, 128).split()
            return int(dev), int(ino), int(start)
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)

    def forget(self) -> None:
        """
        Drop what is known in memory (after a fork, or when the file was replaced).
        """
        self._known = None
