"""
The cross-process lock of the JSON-lines sink: an exclusive ``flock`` on a lock file.

Several processes (gunicorn workers, cron jobs) write one log. Each takes this
lock around "check the size, maybe rotate, write", so two of them never rotate
the same file or interleave a line with a rotation. It is the lock protocol of
concurrent-log-handler (a ``flock`` on a separate lock file next to the log),
called directly: portalocker, the library concurrent-log-handler locks with, costs
~33 us per lock/unlock here against ~4 us for ``fcntl.flock``, the call it makes
anyway on POSIX. portalocker is therefore only the fallback where ``fcntl`` does
not exist.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading

from audit_logging._sinks.file.files import open_log_file

__all__ = ["FileLock"]

if sys.platform != "win32":
    import fcntl

    def _lock(fd: int, *, blocking: bool) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

else:  # pragma: no cover - POSIX is the tested platform
    import portalocker

    def _lock(fd: int, *, blocking: bool) -> bool:
        flags = portalocker.LOCK_EX if blocking else portalocker.LOCK_EX | portalocker.LOCK_NB
        try:
            portalocker.lock(fd, flags)
        except portalocker.AlreadyLocked:
            return False
        return True

    def _unlock(fd: int) -> None:
        portalocker.unlock(fd)


class FileLock:
    """
    An exclusive ``flock`` on a lock file, shared by every process that writes one log.

    A thread lock is taken first: ``flock`` belongs to the open file description,
    so two threads sharing the descriptor would otherwise both "hold" it.
    """

    def __init__(self, path: str, mode: int) -> None:
        self.path = path
        self.mode = mode
        self._fd: int | None = None
        self._mutex = threading.Lock()

    def _open(self) -> int:
        if self._fd is None:
            self._fd = open_log_file(self.path, self.mode, append=False)[0]
        return self._fd

    def acquire(self, *, blocking: bool = True) -> bool:
        """
        Take the lock (waiting for other processes when ``blocking``); False if busy.

        If the lock file was replaced while we waited (someone deleted it), the
        new one is locked instead, so every process locks the same inode.
        """
        if not self._mutex.acquire(blocking):
            return False
        try:
            for _ in range(10):
                fd = self._open()
                if not _lock(fd, blocking=blocking):
                    self._mutex.release()
                    return False
                try:
                    same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    return True
                self.close()
            raise OSError(errno.EAGAIN, "lock file keeps being replaced", self.path)
        except BaseException:
            self._mutex.release()
            raise

    def release(self) -> None:
        """
        Release the lock (keeps the lock file open for the next acquire).
        """
        try:
            if self._fd is not None:
                try:
                    _unlock(self._fd)
                except OSError:
                    self.close()  # closing the last descriptor releases the lock too
        finally:
            self._mutex.release()

    def close(self) -> None:
        """
        Close the lock file descriptor (which releases a lock held through it).
        """
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def forget_after_fork(self) -> None:
        """
        In a forked child: drop the inherited descriptor without unlocking.

        ``flock`` locks belong to the open file description the parent shares,
        so an unlock here would release the parent's lock; closing our copy does not.
        """
        self._mutex = threading.Lock()
        self.close()
