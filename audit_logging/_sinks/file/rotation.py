"""
File-system helpers of the rotating JSON file sink: safe opening, the cross-process
lock, rotated-file names, retention and crash-safe gzip.

Kept apart from :mod:`audit_logging._sinks.file.handler` so the handler module reads as
"batching and rotation policy" while this one holds the POSIX details that make
the promises hold:

- files are created with an explicit mode and ``fchmod`` (the umask cannot widen
  or narrow it) and opened with ``O_NOFOLLOW`` (a symlink planted at the log path
  is refused, never followed);
- the lock is ``flock`` on a separate lock file, the same primitive
  concurrent-log-handler uses through portalocker on POSIX, called directly
  because portalocker's wrapper costs ~33 us per lock/unlock here against ~4 us
  (portalocker is the fallback where ``fcntl`` does not exist);
- rotated names carry a UTC timestamp and the pid (``audit.jsonl.20261127T215900.123456Z-4242``),
  so a rotation never renames or overwrites an older backup;
- gzip writes to a ``mkstemp`` file in the same directory, fsyncs, renames it to
  ``<rotated>.gz`` and only then unlinks the raw file: a crash leaves the raw file,
  the ``.gz`` or both (the sweep then removes the raw one), never neither.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import errno
import gzip
import logging
import os
import re
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable

__all__ = [
    "CompressionAborted",
    "FileLock",
    "RotatedFile",
    "compress_file",
    "expired",
    "format_stamp",
    "fsync_dir",
    "maintain",
    "needs_maintenance",
    "open_log_file",
    "orphan_temp_files",
    "rotated_stem",
    "scan_rotated",
]

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_GZIP_LEVEL = 6
_CHUNK = 1 << 20
_TEMP_SUFFIX = ".gz.tmp"

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


def _symlink_error(path: str) -> OSError:
    return OSError(
        errno.ELOOP,
        "refusing to open an audit log file through a symbolic link "
        "(configure the real path instead)",
        path,
    )


def open_log_file(path: str, mode: int, *, append: bool = True) -> tuple[int, bool]:
    """
    Open (or create with exactly ``mode``) a regular file without following symlinks.

    Returns:
        The descriptor (``O_RDWR``, plus ``O_APPEND`` when ``append``) and whether
        this call created the file.

    Raises:
        OSError: ``ELOOP`` when ``path`` is a symbolic link, ``EINVAL`` when it is
            not a regular file, or whatever ``open`` raised.
    """
    flags = os.O_RDWR | _O_NOFOLLOW | _O_CLOEXEC | (os.O_APPEND if append else 0)
    for _ in range(5):
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            pass
        else:
            try:
                os.fchmod(fd, mode)
            except BaseException:
                os.close(fd)
                raise
            return fd, True
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            continue  # removed between the two opens: create it
        except OSError as exc:
            if exc.errno == errno.ELOOP or os.path.islink(path):
                raise _symlink_error(path) from exc
            raise
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "audit log path is not a regular file", path)
        return fd, False
    raise OSError(errno.EAGAIN, "audit log file keeps disappearing while being opened", path)


def fsync_dir(directory: str) -> None:
    """
    Make renames and unlinks in ``directory`` durable (no-op where directories cannot be opened).
    """
    try:
        fd = os.open(directory, os.O_RDONLY | _O_CLOEXEC)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


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


def format_stamp(t: float) -> str:
    """
    ``20261127T215900.123456Z`` for a POSIX time (UTC, microseconds).
    """
    micros = round(t * 1_000_000)
    secs, us = divmod(micros, 1_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(secs)) + f".{us:06d}Z"


def _parse_stamp(day: str, us: str) -> float:
    return calendar.timegm(time.strptime(day, "%Y%m%dT%H%M%S")) + int(us) / 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class RotatedFile:
    """
    One rotated file of a log: ``<base>.<stamp>-<pid>[-<n>][.gz]``.
    """

    path: str
    stem: str
    """The name without ``.gz``: a raw file and its gzip share it."""
    stamp: float
    """The rotation time from the name (POSIX seconds)."""
    order: tuple[str, int, int]
    """Sort key: timestamp text, collision counter, pid."""
    compressed: bool


def _name_pattern(basename: str) -> re.Pattern[str]:
    return re.compile(re.escape(basename) + r"\.(\d{8}T\d{6})\.(\d{6})Z-(\d+)(?:-(\d+))?(\.gz)?\Z")


def rotated_stem(directory: str, basename: str, t: float, pid: int) -> str:
    """
    A rotated-file name for time ``t`` that no raw or gzipped file uses yet.

    Callers hold the log's lock, so no cooperating process can take the name
    between this check and the rename.
    """
    base = f"{basename}.{format_stamp(t)}-{pid}"
    name, n = base, 0
    while os.path.lexists(os.path.join(directory, name)) or os.path.lexists(
        os.path.join(directory, name + ".gz")
    ):
        n += 1
        name = f"{base}-{n}"
    return name


def scan_rotated(directory: str, basename: str) -> list[RotatedFile]:
    """
    The rotated files of ``basename`` in ``directory``, oldest first.

    Only regular files whose name matches our pattern count: symlinks, the
    current file, lock and temp files and anything else are never touched.
    """
    pattern = _name_pattern(basename)
    found: list[RotatedFile] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            m = pattern.match(entry.name)
            if m is None or not entry.is_file(follow_symlinks=False):
                continue
            day, us, pid, counter, gz = m.groups()
            try:
                stamp = _parse_stamp(day, us)
            except (ValueError, OverflowError):
                continue
            found.append(
                RotatedFile(
                    path=entry.path,
                    stem=entry.name[:-3] if gz else entry.name,
                    stamp=stamp,
                    order=(f"{day}.{us}", int(counter or 0), int(pid)),
                    compressed=bool(gz),
                )
            )
    found.sort(key=lambda f: (f.order, f.compressed))
    return found


def orphan_temp_files(directory: str, basename: str) -> list[str]:
    """
    Temporary gzip files left by an interrupted compression (callers hold the gzip lock).
    """
    prefix = f".{basename}."
    with os.scandir(directory) as entries:
        return [
            e.path
            for e in entries
            if e.name.startswith(prefix)
            and e.name.endswith(_TEMP_SUFFIX)
            and e.is_file(follow_symlinks=False)
        ]


def needs_maintenance(directory: str, basename: str, *, compress: bool, retention: bool) -> bool:
    """
    Whether :func:`maintain` has anything to do: orphan temp files, raw backups
    to compress, or backups for retention to judge.

    Cheap (one directory scan, no lock), so a handler can decide at start-up
    whether a background sweep is needed at all.
    """
    if orphan_temp_files(directory, basename):
        return True
    files = scan_rotated(directory, basename)
    if retention and files:
        return True
    return compress and any(not f.compressed for f in files)


def expired(
    files: Iterable[RotatedFile],
    *,
    backup_count: int | None,
    max_age_days: float | None,
    now: float,
) -> list[RotatedFile]:
    """
    The rotated files that retention removes (a raw file and its gzip count as one backup).

    ``backup_count`` keeps the newest N backups. ``max_age_days`` removes a backup
    only when both its name and its modification time are older than the limit,
    so a clock that was wrong at one of the two moments never deletes a new file.
    """
    by_stem: dict[str, list[RotatedFile]] = {}
    for f in files:
        by_stem.setdefault(f.stem, []).append(f)
    stems = sorted(by_stem, key=lambda s: by_stem[s][0].order)
    doomed: set[str] = set()
    if backup_count is not None and len(stems) > backup_count:
        doomed.update(stems[: len(stems) - backup_count])
    if max_age_days is not None:
        cutoff = now - max_age_days * 86400.0
        for s in stems:
            group = by_stem[s]
            if group[0].stamp < cutoff and all(_mtime(f.path) < cutoff for f in group):
                doomed.add(s)
    return [f for s in stems if s in doomed for f in by_stem[s]]


def _mtime(path: str) -> float:
    try:
        return os.stat(path, follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return float("-inf")


class CompressionAborted(Exception):
    """
    Compression stopped because the handler is closing (the raw file is kept).
    """


def compress_file(raw_path: str, mode: int, should_stop: Callable[[], bool]) -> str:
    """
    Gzip ``raw_path`` to ``raw_path + ".gz"`` crash-safely and remove the raw file.

    Callers hold the gzip lock. If the ``.gz`` already exists it is complete
    (it only ever appears by rename after fsync), so the raw file is just removed.

    Returns:
        The path of the ``.gz`` file.

    Raises:
        CompressionAborted: ``should_stop()`` became true; the raw file is intact.
        OSError: reading, writing or renaming failed; the raw file is intact.
    """
    gz_path = raw_path + ".gz"
    directory, name = os.path.split(raw_path)
    if os.path.lexists(gz_path):
        os.unlink(raw_path)
        fsync_dir(directory)
        return gz_path
    src = os.open(raw_path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
    tmp_fd, tmp_path = tempfile.mkstemp(prefix=f".{name}.", suffix=_TEMP_SUFFIX, dir=directory)
    try:
        os.fchmod(tmp_fd, mode)
        src_mtime = os.fstat(src).st_mtime
        with open(tmp_fd, "wb", closefd=True) as out:
            tmp_fd = -1
            with gzip.GzipFile(
                filename=name, mode="wb", fileobj=out, compresslevel=_GZIP_LEVEL, mtime=src_mtime
            ) as gz:
                while chunk := os.read(src, _CHUNK):
                    if should_stop():
                        raise CompressionAborted(raw_path)
                    gz.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.utime(tmp_path, (src_mtime, src_mtime))
        os.rename(tmp_path, gz_path)
        fsync_dir(directory)
    except BaseException:
        if tmp_fd >= 0:
            os.close(tmp_fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise
    finally:
        os.close(src)
    os.unlink(raw_path)
    fsync_dir(directory)
    return gz_path


def maintain(
    directory: str,
    basename: str,
    *,
    mode: int,
    compress: bool,
    backup_count: int | None,
    max_age_days: float | None,
    now: float,
    should_stop: Callable[[], bool],
    log: logging.Logger,
) -> None:
    """
    Delete orphan temp files, apply retention, then gzip the raw backups that remain.

    Callers hold the maintenance lock. Retention runs first so nothing is compressed
    only to be deleted; a file that cannot be compressed is kept raw and logged.
    """
    for tmp in orphan_temp_files(directory, basename):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    files = scan_rotated(directory, basename)
    if backup_count is not None or max_age_days is not None:
        doomed = expired(files, backup_count=backup_count, max_age_days=max_age_days, now=now)
        for f in doomed:
            try:
                os.unlink(f.path)
                log.info("retention removed %s", f.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("retention cannot remove %s: %s", f.path, exc)
        gone = {f.path for f in doomed}
        files = [f for f in files if f.path not in gone]
    if not compress:
        return
    for f in files:
        if f.compressed:
            continue
        try:
            compress_file(f.path, mode, should_stop)
        except CompressionAborted:
            return
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("cannot compress %s (kept as is): %s", f.path, exc)
