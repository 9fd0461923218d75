"""
Writing a batch of lines to the shared log: under the cross-process lock, rotating
as needed, following rotations done by other processes, isolating torn lines.

:class:`LogWriter` is the part of
:class:`~audit_logging._sinks.file.handler.RotatingJSONFileHandler` that touches the
log file; the handler keeps the batching, the threads and the failure reporting.
The handler serialises calls (its I/O lock), so a writer is never used by two
threads at once.

- A whole batch is written with one ``os.write`` under one lock acquisition
  (concurrent-log-handler locks and writes once per record, through a text stream).
- Rotation is a rename of the full file to a fresh time-stamped name (with
  ``periods``, time rotation: to the name of the period it holds, and also when a
  write finds the file's period over; :mod:`~audit_logging._sinks.file.periods`) and an
  ``open``; compression and retention happen later, elsewhere, so no writer in any
  process waits for gzip.
- Between batches the inode behind the descriptor is compared with the one at the
  path, so a writer follows a rotation another process did and never writes to a
  deleted file.
- After a short write (disk full, ``RLIMIT_FSIZE``) the torn fragment is isolated:
  before writing, a file whose last byte is not a newline (and which this writer
  did not just write itself) gets a newline first, so a later line is never glued
  to it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable

from audit_logging._sinks.file import rotation as _rotation
from audit_logging._sinks.file.files import fsync_dir, open_log_file
from audit_logging._sinks.file.locking import FileLock
from audit_logging._sinks.file.periods import Periods

__all__ = ["LogWriter", "WriteFailed"]


class WriteFailed(Exception):
    """
    A batch write stopped after ``written`` complete lines.
    """

    def __init__(self, written: int, cause: BaseException) -> None:
        super().__init__(written, cause)
        self.written = written
        self.cause = cause


class LogWriter:
    """
    Appends whole lines to one log file shared by processes, and rotates it.

    Args:
        directory: The resolved directory of the log.
        basename: The file name of the log.
        mode: Permission bits of the files created (log and lock file).
        max_bytes: Rotate before the file would exceed this size; 0 never rotates.
        fsync: Fsync each batch, and the directory after a rotation.
        clock: POSIX time for the rotated names.
        on_rotate: Called after each rotation this writer did (starts maintenance).
        periods: Time rotation (``when=``): the period bookkeeping; None rotates by size only.
    """

    def __init__(
        self,
        directory: str,
        basename: str,
        *,
        mode: int,
        max_bytes: int,
        fsync: bool,
        clock: Callable[[], float],
        on_rotate: Callable[[], None],
        periods: Periods | None = None,
    ) -> None:
        self._dir, self._base, self._mode = directory, basename, mode
        self.path = os.path.join(directory, basename)
        self._max_bytes = max_bytes
        self._fsync = fsync
        self._clock = clock
        self._on_rotate = on_rotate
        self._periods = periods
        self._lock_file = FileLock(os.path.join(directory, f".{basename}.lock"), mode)
        self._fd: int | None = None
        self._expected_end = -1
        self._last_stamp = float("-inf")
        self._deferred: list[tuple[str, tuple[object, ...]]] = []
        self.rotations = 0
        """Rotations this writer performed (other processes rotate too)."""
        self.new_files: list[int] = []
        """Positions in the last :meth:`write_lines` batch where a new file was started
        (this writer's rotation, or another process's followed): integrity checkpoints."""
        self._switched = False
        self.completed = 0
        """Lines of the last :meth:`write_lines` known to be whole in the file, also when
        it was interrupted by an exception that is not an ``Exception``."""

    def open(self) -> None:
        """
        Open (or create) the log now rather than at the first write.

        Raises:
            OSError: the file is a symlink or cannot be created or opened.
        """
        self._fd, created = open_log_file(self.path, self._mode)
        self._expected_end = 0 if created else -1

    def take_deferred(self) -> list[tuple[str, tuple[object, ...]]]:
        """
        The warnings collected while the lock was held (logged by the caller, outside it).
        """
        deferred, self._deferred = self._deferred, []
        return deferred

    def write_lines(self, lines: list[bytes], total: int) -> None:
        """
        Write whole lines under the cross-process lock, rotating as needed.

        Raises:
            WriteFailed: with the number of lines that reached the file completely.
        """
        done = self.completed = 0
        self.new_files = []
        try:
            self._lock_file.acquire()
        except Exception as exc:
            raise WriteFailed(0, exc) from exc
        try:
            fd, size = self._current()
            if self._periods is not None:
                fd, size = self._rotate_if_period_over(fd, size)
            if self._switched:
                self._switched = False
                self.new_files.append(0)
            limit, n = self._max_bytes, len(lines)
            while done < n:
                if not limit or (done == 0 and size + total <= limit):
                    end = n
                else:
                    room, end, acc = limit - size, done, 0
                    while end < n and acc + len(lines[end]) <= room:
                        acc += len(lines[end])
                        end += 1
                    if end == done:
                        if size > 0 and self._rotate(fd):
                            fd, size = self._current()
                            self._switched = False
                            self.new_files.append(done)
                            continue
                        end = n if size > 0 else done + 1
                data = lines[done] if end - done == 1 else b"".join(lines[done:end])
                prefix = 0
                if size and size != self._expected_end and os.pread(fd, 1, size - 1) != b"\n":
                    data, prefix = b"\n" + data, 1
                written = 0
                try:
                    view = memoryview(data)
                    while written < len(data):
                        count = os.write(fd, view[written:])
                        if count <= 0:  # pragma: no cover - regular files raise instead
                            raise OSError(errno.EIO, "write made no progress", self.path)
                        written += count
                except OSError as exc:
                    self._expected_end = -1
                    raise WriteFailed(_complete(lines, done, end, prefix, written), exc) from exc
                except BaseException:
                    # Interrupted (a signal handler raised SystemExit or KeyboardInterrupt),
                    # possibly after os.write returned but before ``written`` was counted:
                    # the file's size says what reached it.
                    self._expected_end = -1
                    with contextlib.suppress(OSError):
                        reached = os.fstat(fd).st_size - size
                        self.completed = _complete(lines, done, end, prefix, reached)
                    raise
                size += len(data)
                self._expected_end = size
                done = self.completed = end
            if self._fsync:
                os.fsync(fd)
        except WriteFailed:
            raise
        except Exception as exc:
            # fsync failing means written data may be lost: report the batch (at least once).
            self._expected_end = -1
            raise WriteFailed(0 if self._fsync and done == len(lines) else done, exc) from exc
        finally:
            self._lock_file.release()

    def _current(self) -> tuple[int, int]:
        """
        The descriptor of the file now at the path and its size (lock held).
        """
        fd = self._fd
        if fd is not None:
            try:
                at_path = os.stat(self.path, follow_symlinks=False)
                st = os.fstat(fd)
                if at_path.st_ino == st.st_ino and at_path.st_dev == st.st_dev:
                    return fd, st.st_size
            except FileNotFoundError:
                pass
            self._fd = None
            self._expected_end = -1
            self._switched = True
            os.close(fd)
        fd, created = open_log_file(self.path, self._mode)
        self._fd = fd
        self._expected_end = 0 if created else -1
        if created and self._periods is not None:
            self._periods.set(fd, self._periods.start_of(self._clock()))
        return fd, os.fstat(fd).st_size

    def _rotate_if_period_over(self, fd: int, size: int) -> tuple[int, int]:
        """
        With time rotation: rotate a non-empty file whose period is over (lock held).
        """
        periods = self._periods
        assert periods is not None
        now = self._clock()
        start = periods.of_file(fd, now)
        if size and periods.start_of(now) > start and self._rotate(fd):
            fd, size = self._current()
        return fd, size

    def _rotate(self, fd: int) -> bool:
        """
        Rename the full file to a fresh time-stamped backup name (lock held).

        Returns False, and the caller keeps writing to the full file, when the
        rename fails: an oversized file is better than refused events.
        """
        periods = self._periods
        if periods is not None:
            label = periods.label(periods.of_file(fd, self._clock()))
            stem = _rotation.dated_stem(self._dir, self._base, label)
        else:
            # Never let this process's backup names go back in time (a clock stepped back).
            self._last_stamp = max(self._clock(), self._last_stamp + 1e-6)
            stem = _rotation.rotated_stem(self._dir, self._base, self._last_stamp, os.getpid())
        try:
            os.rename(self.path, os.path.join(self._dir, stem))
        except OSError as exc:
            self._deferred.append(("cannot rotate %s: %s", (self.path, exc)))
            return False
        self._fd = None
        try:
            if self._fsync:
                os.fsync(fd)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._fsync:
            fsync_dir(self._dir)
        self.rotations += 1
        self._on_rotate()
        return True

    def close(self) -> None:
        """
        Close the log and the lock file (the caller holds its I/O lock).
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._lock_file.close()

    def after_fork_in_child(self) -> None:
        """
        In a forked child: drop the parent's descriptors without unlocking its lock.
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._expected_end = -1
        self._deferred = []
        self._lock_file.forget_after_fork()
        if self._periods is not None:
            self._periods.forget()


def _complete(lines: list[bytes], done: int, end: int, prefix: int, reached: int) -> int:
    """
    How many lines are whole in the file when ``reached`` bytes of ``lines[done:end]``
    (after a ``prefix`` of 0 or 1 newline) were written.
    """
    complete, acc = done, prefix
    for i in range(done, end):
        acc += len(lines[i])
        if acc > reached:
            break
        complete = i + 1
    return complete
