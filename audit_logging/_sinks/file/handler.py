"""
``RotatingJSONFileHandler``: audit events as JSON lines in size-rotated, gzipped files
that several processes can share.

Every line is the canonical JSON of one event (:meth:`Event.to_json_bytes`), UTF-8,
written as bytes: the encoder escapes control characters and the line separators
U+2028/U+2029/U+0085 and has a documented fallback for values JSON cannot hold,
so no payload can start a new line and no character is dropped (there is no text
layer with an error policy). python-json-logger is not used: its encoder would
only duplicate that fallback. Formatters set on the handler are ignored.

Why not ``ConcurrentRotatingFileHandler``. The issue asked to build on
concurrent-log-handler; reading its 0.9.31 source, its design fights every hard
requirement here, so this module reuses its *lock protocol* (an exclusive
``flock`` on a lock file next to the log, taken by every writer process around
"check size, maybe rotate, write") and implements the rest:

- CLH locks and writes per record through a text stream; we buffer encoded lines
  and write a whole batch with one ``os.write`` under one lock acquisition;
- ``backupCount=0`` reopens the log with ``"w"`` (truncation) and a large count
  renames every backup on each rollover; ``namer`` only maps the numbered names,
  and a collision is resolved by deleting the existing file. We rename the full
  file once, to ``<name>.<UTC timestamp>-<pid>[-n]`` after checking under the lock
  that neither that name nor its ``.gz`` exists: a backup is never renamed again
  or overwritten, and retention is a separate, explicit step;
- CLH gzips inside the rollover while holding the lock, stalling every writer in
  every process for the whole compression (``benchmarks/bench_file.py``: one
  ``emit`` took 0.13 s at an 8 MiB rollover and 0.36 s at 16 MiB here, so
  seconds at the 100 MiB default). Here the rollover is a rename and an ``open``;
  a background thread compresses under a *second* lock file, so no writer ever
  waits for gzip;
- CLH's text stream drops characters by default (``unicode_error_policy="ignore"``),
  creates files through the umask and follows symlinks.

portalocker (CLH's lock library) is used only where ``fcntl`` is missing: on
POSIX its wrapper costs ~33 us per lock/unlock here against ~4 us for
``fcntl.flock``, the call it makes anyway.

Batching and failures (the ``BatchingSink`` contract). ``write_event`` encodes
the event and appends the line to an in-memory batch; the batch is written when it
reaches ``batch_bytes`` (by the thread that filled it), every ``flush_interval``
seconds (by a flusher thread that exists only while lines are pending), on
:meth:`flush` and on :meth:`close`. When a write fails, the lines that did not
fully reach the file are reported: the event whose ``write_event`` triggered the
write makes that call raise (the bus counts it and spills it), the others go to
the failure callback the bus set (:meth:`set_failure_callback`), or are logged and
counted in ``lost_events`` without a bus. ``flush_interval=0`` writes every event
before ``write_event`` returns. ``flush()`` means "reached the operating system";
``fsync=True`` also fsyncs each batch (and the directory after a rotation).
Accepted is not durable: until its batch is written an event lives only in
memory, so ``kill -9`` loses at most ``flush_interval`` seconds or ``batch_bytes``
of events (``flush_interval=0`` trades throughput for none).

After a short write (disk full, ``RLIMIT_FSIZE``) the torn fragment is isolated:
before writing, a file whose last byte is not a newline (and which we did not just
write ourselves) gets a newline first, so a later line is never glued to it.

Retention: keep everything by default. ``backup_count`` keeps the newest N
backups (a raw file and its ``.gz`` are one backup); ``max_age_days`` removes
backups whose name time *and* modification time are both older (so a wrong clock
at one moment never deletes a new file); ``0`` means "no limit" for both, as in
Go's lumberjack, and the stdlib's ``backupCount=0`` keeps everything instead of
truncating. The current file is never deleted. A process never gives a backup a
time earlier than its previous one, so a clock stepped back does not reorder names.
"Now" for age retention is the wall clock capped by the monotonic time elapsed
since the handler started: a wall clock stepped forward (NTP after a boot with a
wrong clock, VM resume; RELIABILITY.md S12) would otherwise make backups written
seconds ago look hours or years old and delete them. A clock stepped back, or
time spent suspended (which the monotonic clock does not count), only delays
deletion until the next restart. Retention and compression run in the
background after each rotation and at start-up, and on demand with
:meth:`run_maintenance` (e.g. from cron). The start-up sweep compresses raw
backups an interrupted compression left behind, deletes its temporary files and
applies retention; it is started only when a scan of the directory finds such
work, so a handler on a fresh directory leaves no thread behind that could
create the lock file later.

Files and paths. New files (log, backups, ``.gz``, lock files) get exactly
``mode`` (default ``0o640``) whatever the umask: ``os.open`` with the mode,
then ``fchmod``. Existing files keep their mode. A missing directory is created
(``0o750`` for the default mode). The path is made absolute and its directory
resolved (``..`` and symlinked directories) once, at construction, so a later
``chdir`` or directory swap does not move the log; the file itself must not be a
symbolic link: it is refused at construction and opened with ``O_NOFOLLOW``
thereafter (``OSError`` ``ELOOP`` with a message saying so). The lock files are
``.<name>.lock`` and ``.<name>.maint.lock`` next to the log.

Processes. Every process builds its own handler (gunicorn workers, or a handler
inherited through ``fork``: ``os.register_at_fork`` gives the child fresh thread
locks, its own descriptors and an empty batch, since the parent writes the
events it had buffered). All processes writing one file must use the same
settings. Between batches each writer compares the inode behind its descriptor
with the one at the path, so it follows a rotation done by another process and
never writes to a deleted file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from audit_logging._model.event import Event
from audit_logging._sinks.base import SinkHandler
from audit_logging._sinks.file import rotation as _rot
from audit_logging._sinks.file.options import DEFAULT_MAX_BYTES, DEFAULT_MODE, file_options

__all__ = ["RotatingJSONFileHandler"]

_log = logging.getLogger("audit_logging.sinks.file")

DEFAULT_BATCH_BYTES = 64 * 1024
DEFAULT_FLUSH_INTERVAL = 0.2
_MAINTENANCE_RETRY = 0.5

_live: weakref.WeakSet[RotatingJSONFileHandler] = weakref.WeakSet()


def _reinit_in_child() -> None:
    for handler in list(_live):
        handler._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_in_child)


class _WriteFailed(Exception):
    """
    A batch write stopped after ``written`` complete lines.
    """

    def __init__(self, written: int, cause: BaseException) -> None:
        super().__init__(written, cause)
        self.written = written
        self.cause = cause


class RotatingJSONFileHandler(SinkHandler):
    """
    Store events as canonical JSON lines in a size-rotated file shared by processes.

    Args:
        filename: The log file (``..`` and symlinked directories are resolved now;
            the file itself must not be a symlink).
        max_bytes: Rotate before a file would exceed this size (a single larger
            line gets a file of its own); 0 never rotates.
        backup_count: Keep the newest N backups; None or 0 keeps all (the default).
        max_age_days: Delete backups older than this; None or 0 keeps all (the default).
        compress: Gzip backups in the background.
        mode: Permission bits of the files this handler creates (umask-independent).
        fsync: Fsync every batch, and the directory after a rotation.
        flush_interval: Most seconds a line waits in memory; 0 writes in ``write_event``.
        batch_bytes: Write as soon as this many bytes are pending.
        maxBytes: The stdlib name of ``max_bytes`` (``LOGGING`` dicts carry over).
        backupCount: The stdlib name of ``backup_count``; ``0`` keeps everything.
        encoding: Accepted for stdlib compatibility; only UTF-8 is allowed.
        delay: Open the file at the first write instead of now.
        level: The handler level.
        clock: POSIX time for rotated names and age retention (injected in tests).
        monotonic: Seconds that never jump, capping how far ``clock`` may run ahead
            for age retention (injected in tests together with ``clock``).

    Raises:
        ValueError: An option is out of range or two spellings of one option disagree.
        OSError: The file is a symlink (``ELOOP``) or cannot be created or opened.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backup_count: int | None = None,
        max_age_days: float | None = None,
        compress: bool = True,
        mode: int | str = DEFAULT_MODE,
        fsync: bool = False,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        maxBytes: int | None = None,
        backupCount: int | None = None,
        encoding: str | None = None,
        delay: bool = False,
        level: int | str = logging.NOTSET,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if flush_interval < 0:
            raise ValueError(f"flush_interval must be >= 0, not {flush_interval!r}")
        if batch_bytes < 1:
            raise ValueError(f"batch_bytes must be >= 1, not {batch_bytes!r}")
        opts = file_options(
            filename,
            max_bytes=max_bytes,
            backup_count=backup_count,
            max_age_days=max_age_days,
            mode=mode,
            max_bytes_alias=maxBytes,
            backup_count_alias=backupCount,
            encoding=encoding,
        )
        super().__init__(level)
        self._dir, self._base, self._mode = opts.directory, opts.basename, opts.mode
        self.baseFilename = opts.path
        self._max_bytes = opts.max_bytes
        self._backup_count = opts.backup_count
        self._max_age_days = opts.max_age_days
        self._compress = bool(compress)
        self._fsync = bool(fsync)
        self._flush_interval = float(flush_interval)
        self._write_through = flush_interval == 0
        self._batch_bytes = int(batch_bytes)
        self._clock = clock
        self._monotonic = monotonic
        self._started_wall = clock()
        self._started_mono = monotonic()
        self._maintains = (
            self._compress or self._backup_count is not None or self._max_age_days is not None
        )
        self.rotations = 0
        """Rotations this handler performed (other processes rotate too)."""

        self._lock_file = _rot.FileLock(os.path.join(self._dir, f".{self._base}.lock"), self._mode)
        self._maint_lock_file = _rot.FileLock(
            os.path.join(self._dir, f".{self._base}.maint.lock"), self._mode
        )
        self._fd: int | None = None
        self._expected_end = -1
        self._last_stamp = float("-inf")
        self._deferred: list[tuple[str, tuple[object, ...]]] = []
        self._reporting = threading.local()
        self._init_runtime_state()
        self._stopping = False
        if os.path.islink(self.baseFilename):
            raise _rot._symlink_error(self.baseFilename)
        self._ensure_directory()
        if not delay:
            self._fd, created = _rot.open_log_file(self.baseFilename, self._mode)
            self._expected_end = 0 if created else -1
        _live.add(self)
        if self._maintains and self._startup_sweep_needed():
            self._request_maintenance()

    def _init_runtime_state(self) -> None:
        self._buf_lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._events: list[Event[Any]] = []
        self._lines: list[bytes] = []
        self._pending = 0
        self._accepting = True
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._maint_cv = threading.Condition()
        self._maint_wanted = False
        self._maint_thread: threading.Thread | None = None

    def _ensure_directory(self) -> None:
        if os.path.isdir(self._dir):
            return
        dir_mode = 0o700 | (self._mode & 0o077) | ((self._mode & 0o044) >> 2)
        os.makedirs(self._dir, mode=dir_mode, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self._dir, dir_mode)

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<{type(self).__name__} {self.baseFilename} ({level})>"

    def write_event(self, evt: Event[Any]) -> None:
        """
        Accept one event into the batch (writing the batch when it is due).

        Raises:
            ValueError: The handler is closed.
            OSError: Writing the due batch failed for this event (the other
                events of that batch went to the failure callback).
        """
        line = evt.to_json_bytes() + b"\n"
        with self._buf_lock:
            if not self._accepting:
                raise ValueError(f"{self!r} is closed")
            self._events.append(evt)
            self._lines.append(line)
            self._pending += len(line)
            due = self._write_through or self._pending >= self._batch_bytes
            if not due and self._flusher is None:
                self._start_flusher()
        if due:
            self._write_pending(current=evt, only_if_due=True)

    def emit(self, record: logging.LogRecord) -> None:
        """
        Store a record as an event, except our own failure reports about this handler.

        Attached to the root logger, a report that this file cannot be written
        would otherwise come back here and fail again, recursively.
        """
        if getattr(self._reporting, "active", False):
            return
        super().emit(record)

    def _report_failed(self, events: Sequence[Event[Any]], exc: BaseException) -> None:
        self._reporting.active = True
        try:
            super()._report_failed(events, exc)
        finally:
            self._reporting.active = False

    def flush(self) -> None:
        """
        Write every pending line to the operating system (failures go to the callback).
        """
        self._write_pending()

    def _start_flusher(self) -> None:
        thread = threading.Thread(target=self._flush_loop, name="audit-file-flush", daemon=True)
        self._flusher = thread
        try:
            thread.start()
        except RuntimeError:  # no thread available: the next event, flush() or close() writes
            self._flusher = None

    def _flush_loop(self) -> None:
        stop = self._stop
        while True:
            stopped = stop.wait(self._flush_interval)
            try:
                wrote = self._write_pending()
            except Exception:  # pragma: no cover - failures are reported inside
                _log.exception("flushing %s failed", self.baseFilename)
                wrote = False
            with self._buf_lock:
                if stopped or (not wrote and not self._lines):
                    if self._flusher is threading.current_thread():
                        self._flusher = None
                    return

    def _write_pending(self, current: Event[Any] | None = None, only_if_due: bool = False) -> bool:
        failed: list[Event[Any]] = []
        error: BaseException | None = None
        with self._io_lock:
            with self._buf_lock:
                if only_if_due and not self._write_through and self._pending < self._batch_bytes:
                    return False
                events, lines, total = self._events, self._lines, self._pending
                self._events, self._lines, self._pending = [], [], 0
            if lines:
                try:
                    self._write_lines(lines, total)
                except _WriteFailed as exc:
                    failed, error = events[exc.written :], exc.cause
            deferred, self._deferred = self._deferred, []
        if deferred:
            self._reporting.active = True
            try:
                for msg, args in deferred:
                    _log.warning(msg, *args)
            finally:
                self._reporting.active = False
        if error is not None:
            if current is not None and any(e is current for e in failed):
                self._report_failed([e for e in failed if e is not current], error)
                raise error
            self._report_failed(failed, error)
        return bool(lines)

    def _write_lines(self, lines: list[bytes], total: int) -> None:
        """
        Write whole lines under the cross-process lock, rotating as needed (io lock held).
        """
        done = 0
        try:
            self._lock_file.acquire()
        except Exception as exc:
            raise _WriteFailed(0, exc) from exc
        try:
            fd, size = self._current()
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
                            raise OSError(errno.EIO, "write made no progress", self.baseFilename)
                        written += count
                except OSError as exc:
                    self._expected_end = -1
                    complete, acc = done, prefix
                    for i in range(done, end):
                        acc += len(lines[i])
                        if acc > written:
                            break
                        complete = i + 1
                    raise _WriteFailed(complete, exc) from exc
                size += len(data)
                self._expected_end = size
                done = end
            if self._fsync:
                os.fsync(fd)
        except _WriteFailed:
            raise
        except Exception as exc:
            # fsync failing means written data may be lost: report the batch (at least once).
            self._expected_end = -1
            raise _WriteFailed(0 if self._fsync and done == len(lines) else done, exc) from exc
        finally:
            self._lock_file.release()

    def _current(self) -> tuple[int, int]:
        """
        The descriptor of the file now at the path and its size (lock held).
        """
        fd = self._fd
        if fd is not None:
            try:
                at_path = os.stat(self.baseFilename, follow_symlinks=False)
                st = os.fstat(fd)
                if at_path.st_ino == st.st_ino and at_path.st_dev == st.st_dev:
                    return fd, st.st_size
            except FileNotFoundError:
                pass
            self._fd = None
            self._expected_end = -1
            os.close(fd)
        fd, created = _rot.open_log_file(self.baseFilename, self._mode)
        self._fd = fd
        self._expected_end = 0 if created else -1
        return fd, os.fstat(fd).st_size

    def _rotate(self, fd: int) -> bool:
        """
        Rename the full file to a fresh time-stamped backup name (lock held).

        Returns False, and the caller keeps writing to the full file, when the
        rename fails: an oversized file is better than refused events.
        """
        # Never let this process's backup names go back in time (a clock stepped back).
        self._last_stamp = max(self._clock(), self._last_stamp + 1e-6)
        stem = _rot.rotated_stem(self._dir, self._base, self._last_stamp, os.getpid())
        try:
            os.rename(self.baseFilename, os.path.join(self._dir, stem))
        except OSError as exc:
            self._deferred.append(("cannot rotate %s: %s", (self.baseFilename, exc)))
            return False
        self._fd = None
        try:
            if self._fsync:
                os.fsync(fd)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._fsync:
            _rot.fsync_dir(self._dir)
        self.rotations += 1
        self._request_maintenance()
        return True

    def _startup_sweep_needed(self) -> bool:
        """
        Whether the directory holds work for a start-up sweep (checked in the caller).
        """
        retention = self._backup_count is not None or self._max_age_days is not None
        try:
            return _rot.needs_maintenance(
                self._dir, self._base, compress=self._compress, retention=retention
            )
        except OSError:
            return True  # let the sweep report what is wrong with the directory

    def _retention_now(self) -> float:
        """
        The wall clock, but never further ahead of the start than the monotonic time elapsed.
        """
        elapsed = self._monotonic() - self._started_mono
        return min(self._clock(), self._started_wall + max(elapsed, 0.0))

    def _request_maintenance(self) -> None:
        if not self._maintains:
            return
        with self._maint_cv:
            self._maint_wanted = True
            if self._maint_thread is None and not self._stopping:
                thread = threading.Thread(
                    target=self._maintenance_loop, name="audit-file-maintenance", daemon=True
                )
                self._maint_thread = thread
                try:
                    thread.start()
                except RuntimeError:  # no thread available: the next rotation tries again
                    self._maint_thread = None
            self._maint_cv.notify_all()

    def _maintenance_loop(self) -> None:
        while True:
            with self._maint_cv:
                if self._stopping or not self._maint_wanted:
                    self._maint_thread = None
                    self._maint_cv.notify_all()
                    return
                self._maint_wanted = False
            try:
                done = self._maintain(blocking=False, should_stop=lambda: self._stopping)
            except Exception as exc:
                _log.warning("maintenance of %s failed: %s", self.baseFilename, exc)
                done = True
            if not done:  # another process is compressing: try again shortly
                with self._maint_cv:
                    self._maint_wanted = True
                    self._maint_cv.wait_for(lambda: self._stopping, _MAINTENANCE_RETRY)

    def _maintain(self, *, blocking: bool, should_stop: Callable[[], bool]) -> bool:
        """
        Sweep temp files, apply retention, compress raw backups (under the maintenance lock).
        """
        if not self._maint_lock_file.acquire(blocking=blocking):
            return False
        try:
            _rot.maintain(
                self._dir,
                self._base,
                mode=self._mode,
                compress=self._compress,
                backup_count=self._backup_count,
                max_age_days=self._max_age_days,
                now=self._retention_now(),
                should_stop=should_stop,
                log=_log,
            )
        finally:
            self._maint_lock_file.release()
        return True

    def run_maintenance(self) -> None:
        """
        Apply retention and compress raw backups now, in the calling thread.

        Waits for another process's maintenance to finish first. Useful from a
        cron job or a command-line tool, and to wait for background compression.
        """
        self._maintain(blocking=True, should_stop=lambda: False)

    def wait_maintenance(self, timeout: float | None = None) -> bool:
        """
        Wait until the background maintenance thread is idle; False on timeout.
        """
        with self._maint_cv:
            return self._maint_cv.wait_for(lambda: self._maint_thread is None, timeout)

    def _close(self) -> None:
        with self._buf_lock:
            self._accepting = False
        self._stop.set()
        me = threading.current_thread()
        flusher = self._flusher
        if flusher is not None and flusher is not me:
            flusher.join()
        try:
            self._write_pending()
        finally:
            with self._maint_cv:
                self._stopping = True
                self._maint_cv.notify_all()
                maint = self._maint_thread
            if maint is not None and maint is not me:
                maint.join()
            with self._io_lock:
                fd, self._fd = self._fd, None
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                self._lock_file.close()
                self._maint_lock_file.close()
            _live.discard(self)

    def _after_fork_in_child(self) -> None:
        """
        Give a forked child its own locks, descriptors and an empty batch.
        """
        self._close_lock = threading.Lock()
        self._init_runtime_state()
        self._accepting = not self._closed
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._expected_end = -1
        self._deferred = []
        self._reporting = threading.local()
        self._lock_file.forget_after_fork()
        self._maint_lock_file.forget_after_fork()
