"""
The writing side of the spill store: one append-only file per writer, and the
full and fsync policies.

**Files.** Each store writes its own file ``spill-<pid>-<uuid7>.jsonl`` (0600,
``O_EXCL|O_NOFOLLOW|O_APPEND``), opened on the first write and held with an
exclusive ``flock`` while open, so recoverers skip files that a live writer
(this process or another) still appends to. A line reaches the OS with
``os.write`` before :meth:`SpillWriter.write` returns, so it survives
``kill -9``. After a write error that left bytes behind (a torn line) or hit a
file that already holds lines (``RLIMIT_FSIZE`` limits each file), the file is
closed and the next write starts a new one, so a torn line never has a good
line glued to it. A write refused before its first byte on a still-empty file
keeps that file: on a full disk a burst of refused events would otherwise leave
one empty file (and one directory fsync) per event.

**Full policy.** ``max_bytes`` bounds the bytes in the directory's spill files
(rescanned at start and after each recovery, tracked incrementally between).
When a new line would exceed it, :meth:`SpillWriter.write` raises
:class:`SpillFullError` and counts the refusal in :attr:`SpillWriter.refused`;
what is already spilled is never dropped. Lines moved by recovery (kept lines)
do not count against the limit, and a line being replayed stops counting when it
is handed to ``deliver`` (:meth:`SpillWriter.release`), so a deliver that
re-spills the same event fits.

**fsync policy** (:class:`SpillFsync`): ``"always"`` fsyncs (``fdatasync``)
after each line; ``"interval"`` (default) fsyncs on a write when
``fsync_interval`` seconds of the injected clock have passed since the last one,
and on :meth:`SpillWriter.flush` and :meth:`SpillWriter.close`; ``"never"``
leaves it to the OS (except an explicit flush). With ``"interval"`` the lines
of the last interval are at risk on a power loss, and after a quiet period until
the next write, flush or close (the bus's flush timer bounds that). Every
policy survives a process crash; only fsync survives a power loss. Creating a
spill file also fsyncs the directory (except with ``"never"``).

Measured per write of a ~250-byte event on the project's VM (2 slow cores, ext4
on virtio, 20,000 writes into a tmp dir; about 12 us of each write is encoding
the event, 2 us the ``os.write``):

==========  =======================================================
policy      mean cost per write
==========  =======================================================
never       ~20 us
interval    ~21 us (one ~0.2 ms fdatasync per second, amortised)
always      ~220 us (about 10x: one fdatasync per line)
==========  =======================================================

An HMAC key adds about 3 us per write.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import hmac
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit_logging._engine.spill.files import (
    NAME_RE,
    SPILL_FLAGS,
    fdatasync,
    listdir,
    new_spill_name,
    oserror,
    write_all,
)
from audit_logging._engine.spill.lines import encode_line
from audit_logging._model.event import Event
from audit_logging.exceptions import SpillError, SpillFullError

__all__ = ["SpillFsync", "SpillWriter"]

_NEW_FILE_ATTEMPTS = 8


class SpillFsync(enum.StrEnum):
    """
    When spill lines are forced to disk (see the module docstring for measured costs).
    """

    NEVER = "never"
    INTERVAL = "interval"
    ALWAYS = "always"


class SpillWriter:
    """
    Appends lines to this store's current spill file, under the full and fsync policies.

    It also owns the spill directory's descriptor (shared with recovery) and
    closes it once the store is closed and no recovery runs any more.

    Args:
        dir_fd: the spill directory, opened by
            :func:`~audit_logging._engine.spill.files.open_directory`.
        directory: its path (for messages and :attr:`current_file`).
        mac: the signing state for lines; None = CRC-32 only.
        fsync: the fsync policy.
        fsync_interval: seconds of ``clock`` between fsyncs for ``"interval"``.
        max_bytes: cap on the bytes in the directory's spill files; None = unbounded.
        clock: monotonic seconds for the fsync interval.
    """

    def __init__(
        self,
        dir_fd: int,
        directory: Path,
        *,
        mac: hmac.HMAC | None,
        fsync: SpillFsync,
        fsync_interval: float,
        max_bytes: int | None,
        clock: Callable[[], float],
    ) -> None:
        self.dir_fd = dir_fd
        self.directory = directory
        self._mac = mac
        self.fsync = fsync
        self._fsync_interval = fsync_interval
        self._max_bytes = max_bytes
        self._clock = clock
        self.lock = threading.Lock()
        self._fd: int | None = None
        self._file: str | None = None
        self._file_bytes = 0  # bytes this store wrote to its current file
        self._dirty = False
        self._last_sync = clock()
        self.closed = False
        self._recovering = False
        self.refused = 0
        """Events refused with :class:`SpillFullError` because ``max_bytes`` was reached."""
        self.write_errors = 0
        """Writes, file creations and fsyncs that failed with an OS error."""
        self.fsyncs = 0
        """fsyncs of spill files done by this writer."""
        self.bytes = 0
        """Bytes of spilled lines not yet replayed in the directory's spill files."""
        self.bytes = self.scan_bytes()

    @property
    def current_file(self) -> Path | None:
        """
        The file this writer appends to now (None before the first write or after rotation).
        """
        name = self._file
        return None if name is None else self.directory / name

    def scan_bytes(self) -> int:
        """
        The bytes in the directory's spill files now (the last count if unreadable).
        """
        total = 0
        try:
            names = listdir(self.dir_fd)
        except OSError:
            return self.bytes
        for name in names:
            if NAME_RE.fullmatch(name) is None:
                continue
            try:
                st = os.stat(name, dir_fd=self.dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
        return total

    def write(self, evt: Event[Any], subscription: str | None) -> None:
        """
        Append one event (for ``subscription``, or all when None); it is at the OS on return.

        Raises:
            SpillFullError: ``max_bytes`` reached; the event was not written (counted).
            SpillError: the write failed or the store is closed.
            TypeError: ``subscription`` is neither a str nor None.
        """
        self.write_line(encode_line(evt, subscription, self._mac), enforce_limit=True)

    def write_line(self, data: bytes, *, enforce_limit: bool) -> None:
        """
        Append one encoded line; ``enforce_limit=False`` for lines a recovery keeps.

        Raises:
            SpillFullError: ``max_bytes`` reached (only with ``enforce_limit``).
            SpillError: the write failed or the store is closed.
        """
        with self.lock:
            if self.closed:
                raise SpillError(errno.EBADF, "spill store is closed", str(self.directory))
            if (
                enforce_limit
                and self._max_bytes is not None
                and self.bytes + len(data) > self._max_bytes
            ):
                self.refused += 1
                raise SpillFullError(
                    f"spill directory {str(self.directory)!r} is full: {self.bytes} bytes "
                    f"pending, max_bytes={self._max_bytes}; event refused"
                )
            fd = self._fd if self._fd is not None else self._open_new_file()
            try:
                written = write_all(fd, data)
            except OSError as exc:
                written = getattr(exc, "written", 0)
                self.bytes += written
                self.write_errors += 1
                path = self.current_file or self.directory
                if written or self._file_bytes:
                    self._drop_file()
                raise oserror(exc, "spill write failed", path) from exc
            self.bytes += written
            self._file_bytes += written
            self._dirty = True
            if self.fsync is SpillFsync.ALWAYS or (
                self.fsync is SpillFsync.INTERVAL
                and self._clock() - self._last_sync >= self._fsync_interval
            ):
                self._sync_locked()

    def release(self, n: int) -> None:
        """
        ``n`` bytes of a spill file are being replayed: they no longer count as pending.
        """
        with self.lock:
            self.bytes = max(0, self.bytes - n)

    def _open_new_file(self) -> int:
        for _ in range(_NEW_FILE_ATTEMPTS):
            name = new_spill_name()
            try:
                fd = os.open(name, SPILL_FLAGS, 0o600, dir_fd=self.dir_fd)
            except FileExistsError:
                continue
            except OSError as exc:
                self.write_errors += 1
                raise oserror(exc, "cannot create a spill file", self.directory / name) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # A recoverer may have claimed the empty file between creation and lock.
                st = os.fstat(fd)
                cur = os.stat(name, dir_fd=self.dir_fd, follow_symlinks=False)
                if st.st_nlink == 0 or (cur.st_dev, cur.st_ino) != (st.st_dev, st.st_ino):
                    os.close(fd)
                    continue
                os.fchmod(fd, 0o600)
                if self.fsync is not SpillFsync.NEVER:
                    os.fsync(self.dir_fd)
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)
                continue
            except OSError as exc:
                os.close(fd)
                self.write_errors += 1
                raise oserror(exc, "cannot prepare a spill file", self.directory / name) from exc
            self._fd = fd
            self._file = name
            self._file_bytes = 0
            self._last_sync = self._clock()
            return fd
        raise SpillError(errno.EAGAIN, "could not create a spill file", str(self.directory))

    def _drop_file(self) -> None:
        fd, self._fd, self._file = self._fd, None, None
        self._dirty = False
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _sync_locked(self) -> None:
        fd = self._fd
        if fd is None or not self._dirty:
            return
        try:
            fdatasync(fd)
        except OSError as exc:
            self.write_errors += 1
            path = self.current_file or self.directory
            self._drop_file()
            raise oserror(exc, "spill fsync failed", path) from exc
        self._dirty = False
        self._last_sync = self._clock()
        self.fsyncs += 1

    def flush(self) -> None:
        """
        fsync the current spill file now (whatever the policy).

        Raises:
            SpillError: the fsync failed; the next write uses a new file.
        """
        with self.lock:
            self._sync_locked()

    def close(self) -> None:
        """
        fsync (unless the policy is ``"never"``) and close; idempotent.

        Raises:
            SpillError: the final fsync failed (the writer is closed anyway).
        """
        error: SpillError | None = None
        with self.lock:
            if self.closed:
                return
            self.closed = True
            if self.fsync is not SpillFsync.NEVER:
                try:
                    self._sync_locked()
                except SpillError as exc:
                    error = exc
            self._drop_file()
            if not self._recovering:
                self._close_dir()
        if error is not None:
            raise error

    def begin_recovery(self) -> None:
        """
        A recovery starts: close the current file, so its lines become recoverable.

        Raises:
            SpillError: the store is closed.
        """
        with self.lock:
            if self.closed:
                raise SpillError(errno.EBADF, "spill store is closed", str(self.directory))
            self._recovering = True
            self._drop_file()

    def end_recovery(self) -> None:
        """
        A recovery ended: recount the pending bytes, or close the directory if the
        store was closed meanwhile.
        """
        with self.lock:
            self._recovering = False
            if self.closed:
                self._close_dir()
            else:
                self.bytes = self.scan_bytes()

    def _close_dir(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.dir_fd)

    def after_fork_in_child(self) -> list[int]:
        """
        In a forked child: a fresh lock and no file; returns the descriptors to close.

        The inherited descriptors are closed, never unlocked: ``flock`` belongs to
        the open file description shared with the parent, which still holds it.
        """
        self.lock = threading.Lock()
        fds = [] if self._fd is None else [self._fd]
        self._fd = None
        self._file = None
        self._dirty = False
        if self._recovering:
            self._recovering = False
            if self.closed:
                fds.append(self.dir_fd)
        return fds
