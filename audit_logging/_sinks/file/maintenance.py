"""
The background thread that compresses and expires backups, so no writer waits for gzip.

concurrent-log-handler gzips inside the rollover while holding the log's lock,
stalling every writer in every process for the whole compression
(``benchmarks/bench_file.py``: one ``emit`` took 0.13 s at an 8 MiB rollover and
0.36 s at 16 MiB here, so seconds at the 100 MiB default). Here a rotation only
asks for maintenance; :class:`Maintenance` runs it on a thread of its own under a
*second* lock file (``.<name>.maint.lock``), so writers never wait for it and two
processes never compress the same file.

It runs after each rotation, at start-up when a scan of the directory finds work
(raw backups an interrupted compression left behind, its temporary files, backups
for retention to judge: so a handler on a fresh directory leaves no thread behind
that could create the lock file later), and on demand (:meth:`Maintenance.run_now`,
e.g. from cron).

"Now" for age retention is the wall clock capped by the monotonic time elapsed
since the handler started. A wall clock stepped forward (NTP correcting a machine
that booted with a wrong clock, a VM resumed from a snapshot) would otherwise make
backups written seconds ago look hours or years old and delete them. A clock
stepped back, or time spent suspended (which the monotonic clock does not count),
only delays deletion until the next restart.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from audit_logging._sinks.file import retention as _retention
from audit_logging._sinks.file.locking import FileLock
from audit_logging._threads import new_thread

__all__ = ["Maintenance"]

_RETRY = 0.5


class Maintenance:
    """
    Retention and compression of one log's backups, on a thread started when needed.

    Args:
        directory: The resolved directory of the log.
        basename: The file name of the log.
        mode: Permission bits of the files created (``.gz`` files, the lock file).
        compress: Gzip raw backups.
        backup_count: Keep the newest N backups; None keeps all.
        max_age_days: Delete backups older than this; None keeps all.
        clock: POSIX time for age retention.
        monotonic: Seconds that never jump, capping how far ``clock`` may run ahead.
        log: Where retention and compression problems are reported.
    """

    def __init__(
        self,
        directory: str,
        basename: str,
        *,
        mode: int,
        compress: bool,
        backup_count: int | None,
        max_age_days: float | None,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        log: logging.Logger,
    ) -> None:
        self._dir, self._base, self._mode = directory, basename, mode
        self._compress = compress
        self._backup_count = backup_count
        self._max_age_days = max_age_days
        self._clock = clock
        self._monotonic = monotonic
        self._log = log
        self._started_wall = clock()
        self._started_mono = monotonic()
        self.enabled = compress or backup_count is not None or max_age_days is not None
        """Whether there is anything to maintain (compression or a retention limit)."""
        self._lock_file = FileLock(os.path.join(directory, f".{basename}.maint.lock"), mode)
        self.reset_threads()
        self._stopping = False

    def reset_threads(self) -> None:
        """
        Fresh thread state (at construction, and in a forked child).
        """
        self._cv = threading.Condition()
        self._wanted = False
        self._thread: threading.Thread | None = None

    def startup_sweep_needed(self) -> bool:
        """
        Whether the directory holds work for a start-up sweep.
        """
        retention = self._backup_count is not None or self._max_age_days is not None
        try:
            return _retention.needs_maintenance(
                self._dir, self._base, compress=self._compress, retention=retention
            )
        except OSError:
            return True  # let the sweep report what is wrong with the directory

    def retention_now(self) -> float:
        """
        The wall clock, but never further ahead of the start than the monotonic time elapsed.
        """
        elapsed = self._monotonic() - self._started_mono
        return min(self._clock(), self._started_wall + max(elapsed, 0.0))

    def request(self) -> None:
        """
        Ask for a maintenance pass in the background (starts the thread if needed).
        """
        if not self.enabled:
            return
        with self._cv:
            self._wanted = True
            if self._thread is None and not self._stopping:
                thread = new_thread(self._loop, "audit-file-maintenance")
                self._thread = thread
                try:
                    thread.start()
                except RuntimeError:  # no thread available: the next rotation tries again
                    self._thread = None
            self._cv.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cv:
                if self._stopping or not self._wanted:
                    self._thread = None
                    self._cv.notify_all()
                    return
                self._wanted = False
            try:
                done = self._run(blocking=False, should_stop=lambda: self._stopping)
            except Exception as exc:
                self._log.warning("maintenance of %s failed: %s", self._path, exc)
                done = True
            if not done:  # another process is compressing: try again shortly
                with self._cv:
                    self._wanted = True
                    self._cv.wait_for(lambda: self._stopping, _RETRY)

    @property
    def _path(self) -> str:
        return os.path.join(self._dir, self._base)

    def _run(self, *, blocking: bool, should_stop: Callable[[], bool]) -> bool:
        """
        Sweep temp files, apply retention, compress raw backups (under the maintenance lock).
        """
        if not self._lock_file.acquire(blocking=blocking):
            return False
        try:
            _retention.maintain(
                self._dir,
                self._base,
                mode=self._mode,
                compress=self._compress,
                backup_count=self._backup_count,
                max_age_days=self._max_age_days,
                now=self.retention_now(),
                should_stop=should_stop,
                log=self._log,
            )
        finally:
            self._lock_file.release()
        return True

    def run_now(self) -> None:
        """
        Run a pass in the calling thread, waiting for another process's pass to finish first.
        """
        self._run(blocking=True, should_stop=lambda: False)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """
        Wait until the background thread is idle; False on timeout.
        """
        with self._cv:
            return self._cv.wait_for(lambda: self._thread is None, timeout)

    def stop(self) -> None:
        """
        Stop the thread (an interrupted compression keeps its raw file) and wait for it.
        """
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def close(self) -> None:
        """
        Close the maintenance lock file.
        """
        self._lock_file.close()

    def after_fork_in_child(self) -> None:
        """
        In a forked child: no thread yet, and the parent's lock descriptor dropped.
        """
        self.reset_threads()
        self._lock_file.forget_after_fork()
