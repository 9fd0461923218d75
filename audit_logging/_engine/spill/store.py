"""
A durable, crash-safe, append-only JSON-lines spill store.

When an event cannot be delivered now (queue full, circuit open, rate limit,
sink failure) the bus writes it here, and :meth:`SpillStore.recover` later hands
every spilled event back. The design follows the disk buffers of Vector, the
OpenTelemetry Collector and Fluent Bit (RELIABILITY.md S1, S2, S6, S7, S12, S14).

**Line format.** One line per event: the canonical event object (the keys of
:meth:`Event.to_json_bytes`) plus ``"subscription"`` (the name of the
subscription the copy is for, or ``null`` for all), plus an integrity field
appended last::

    body = dumps({...canonical..., "subscription": sub})
    line = body[:-1] + b',"crc32":"%08x"}\\n' % zlib.crc32(body)
    line = body[:-1] + b',"hmac":"<hex HMAC-SHA256(key, body)>"}\\n'    # with a key

So a line stays one plain JSON object that ``jq`` can read, and the verifier
strips the fixed-length suffix, puts back ``}`` and recomputes. CRC-32 catches
torn lines and bit flips; only the HMAC stops forging: without a key anyone
who can write to the directory can append a line with a valid CRC. With a key
configured, unsigned (crc32-only) lines and lines with a bad MAC are
quarantined, never delivered; without a key, signed lines cannot be checked and
are quarantined too (set the same key to replay them).

**Files.** The directory is created 0700 (with missing parents) and refused
when it is a symlink, not a directory, owned by another uid, or group/world
writable; only its last component is checked, so symlinks higher in the path
(``/var/run``) are fine. All later file operations go through a directory file
descriptor opened with ``O_NOFOLLOW``, so the directory cannot be swapped
underneath. Each store writes its own file ``spill-<pid>-<uuid7>.jsonl``
(0600, ``O_EXCL|O_NOFOLLOW|O_APPEND``), opened on the first write and held with
an exclusive ``flock`` while open, so recoverers skip files that a live writer
(this process or another) still appends to. A line reaches the OS with
``os.write`` before :meth:`SpillStore.write` returns, so it survives ``kill -9``.
After a write error that left bytes behind (a torn line) or hit a file that
already holds lines (``RLIMIT_FSIZE`` limits each file), the file is closed and
the next write starts a new one, so a torn line never has a good line glued to
it. A write refused before its first byte on a still-empty file keeps that
file: on a full disk a burst of refused events would otherwise leave one empty
file (and one directory fsync) per event.

**Full policy.** ``max_bytes`` bounds the bytes in the directory's spill files
(rescanned at start and after each recovery, tracked incrementally between).
When a new line would exceed it, :meth:`SpillStore.write` raises
:class:`SpillFullError` and counts the refusal in
:attr:`SpillStore.refused_count`; what is already spilled is never dropped.
Lines moved by recovery (kept lines) do not count against the limit, and a
line being replayed stops counting when it is handed to ``deliver``, so a
deliver that re-spills the same event fits.

**fsync policy** (``fsync=``): ``"always"`` fsyncs (``fdatasync``) after each
line; ``"interval"`` (default) fsyncs on a write when ``fsync_interval`` seconds
of the injected clock have passed since the last one, and on :meth:`flush` and
:meth:`close`; ``"never"`` leaves it to the OS (except an explicit
:meth:`flush`). With ``"interval"`` the lines of the last interval are at
risk on a power loss, and after a quiet period until the next write,
:meth:`flush` or :meth:`close` (the bus's flush timer bounds that). Every
policy survives a process crash; only fsync survives a power loss. Creating a
spill file also fsyncs the directory (except with ``"never"``).

Measured per :meth:`write` of a ~250-byte event on the project's VM (2 slow
cores, ext4 on virtio, 20,000 writes into a tmp dir; about 12 us of each write
is encoding the event, 2 us the ``os.write``):

==========  =======================================================
policy      mean cost per write
==========  =======================================================
never       ~20 us
interval    ~21 us (one ~0.2 ms fdatasync per second, amortised)
always      ~220 us (about 10x: one fdatasync per line)
==========  =======================================================

An HMAC key adds about 3 us per write.

**Recovery.** :meth:`SpillStore.recover` first closes this store's own file
(so its lines become recoverable; the next write opens a new one), then, for
every regular file named ``spill-*.jsonl`` whose lock is free, renames it to
``*.replaying`` while holding its lock (two recoverers therefore never replay
one file), and also takes over ``*.replaying`` files left by a crashed replay.
Each good line goes to ``deliver(event, subscription)``: truthy means handled
(stored durably or re-spilled by the caller), falsy means keep it: the line is
rewritten, unchanged, into this store's new file and counted in ``kept``. After
each line a checkpoint (byte offset and line number) is written to
``*.replaying.pos``, so a replay killed half-way resumes at the line being
delivered (at most that one line is delivered twice after ``kill -9``). When the
caller's sinks batch in memory, ``deliver`` returning truthy does not make the
event durable yet: the caller then passes ``commit`` (which makes everything
delivered so far durable, e.g. by flushing the sinks), and the checkpoint only
advances after a commit, every ``commit_every`` lines and at the end of each
file; a replay killed half-way then repeats at most the lines since the last
commit. Only after every line was handled (and committed), the store's file and
the quarantine are fsynced, then the ``.replaying`` file is unlinked and the
directory fsynced. The
checkpoint itself is not fsynced, so across a power loss (unlike a process
crash) a replay may repeat more lines, and lines kept during an unfinished
replay are exactly as safe as the fsync policy makes any spilled line.

Bad lines (torn, no newline at end of file, invalid JSON or UTF-8, NaN or
Infinity, bad CRC or MAC, invalid event fields) are appended to
``quarantine/quarantine-<pid>-<uuid7>.jsonl`` (dir 0700, file 0600) with the
source file, line number, reason and the raw bytes in base64, reported through
``on_bad_line(file, lineno, reason)`` and never delivered; replay continues.
Tolerated, not bad: empty lines (skipped), a CRLF line ending and a UTF-8 BOM
at the start of a line (both stripped: our lines start with ``{`` and never
hold a raw CR, so stripping them cannot change an event).

**Fork.** ``os.register_at_fork`` gives every live store fresh locks in the
child and closes (never unlocks: ``flock`` belongs to the shared open file
description, and the parent's descriptor keeps it locked) the inherited spill
and replay descriptors; the child opens its own file on its next write.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as _dt
import enum
import errno
import fcntl
import hashlib
import hmac
import logging
import math
import os
import re
import stat
import threading
import time
import weakref
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging._model import encoding as _encoding
from audit_logging._model.event import Event, format_time
from audit_logging._model.ids import uuid7_str
from audit_logging.exceptions import SpillDirectoryError, SpillError, SpillFullError

__all__ = [
    "RecoveryResult",
    "SpillDirectoryError",
    "SpillError",
    "SpillFsync",
    "SpillFullError",
    "SpillStore",
]

_log = logging.getLogger("audit_logging")

Clock = Callable[[], float]
Deliver = Callable[[Event[Any], str | None], bool]
Commit = Callable[[], None]
OnBadLine = Callable[[str, int, str], None]

_NAME_RE = re.compile(
    r"spill-[0-9]+-"
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"\.jsonl(?P<replaying>\.replaying)?"
)
_REPLAYING = ".replaying"
_POS = ".pos"
_QUARANTINE = "quarantine"
_BOM = b"\xef\xbb\xbf"
_CRC_PREFIX = b',"crc32":"'
_CRC_SUFFIX_LEN = len(_CRC_PREFIX) + 8 + 2
_CRC_RE = re.compile(rb',"crc32":"([0-9a-f]{8})"\}')
_HMAC_PREFIX = b',"hmac":"'
_HMAC_SUFFIX_LEN = len(_HMAC_PREFIX) + 64 + 2
_HMAC_RE = re.compile(rb',"hmac":"([0-9a-f]{64})"\}')
_MIN_KEY_BYTES = 16

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_SPILL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | _O_NOFOLLOW | _O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | _O_NOFOLLOW | _O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC

_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


class SpillFsync(enum.StrEnum):
    """
    When spill lines are forced to disk (see the module docstring for measured costs).
    """

    NEVER = "never"
    INTERVAL = "interval"
    ALWAYS = "always"


@dataclasses.dataclass(frozen=True, slots=True)
class RecoveryResult:
    """
    What one :meth:`SpillStore.recover` call did.

    Attributes:
        replayed: lines ``deliver`` handled (returned truthy).
        kept: lines ``deliver`` declined, rewritten into the store's new file.
        corrupt: bad lines quarantined.
        files: spill files fully processed and removed.
    """

    replayed: int
    kept: int
    corrupt: int
    files: int


class _BadLine(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _bad(reason: str) -> NoReturn:
    raise _BadLine(reason)


def _oserror(exc: OSError, what: str, path: Path | str) -> SpillError:
    return SpillError(exc.errno, f"{what}: {exc.strerror or exc}", str(path))


def _check_dir_stat(st: os.stat_result, path: Path) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise SpillDirectoryError(f"spill directory {str(path)!r} is a symlink; refusing to use it")
    if not stat.S_ISDIR(st.st_mode):
        raise SpillDirectoryError(f"spill path {str(path)!r} exists and is not a directory")
    if st.st_uid != os.geteuid():
        raise SpillDirectoryError(
            f"spill directory {str(path)!r} is owned by uid {st.st_uid}, not by this process "
            f"(uid {os.geteuid()}); refusing to use it"
        )
    if st.st_mode & 0o022:
        raise SpillDirectoryError(
            f"spill directory {str(path)!r} is group- or world-writable "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); make it 0700"
        )


def _fchmod_dir(path: Path, mode: int) -> None:
    fd = os.open(path, _DIR_FLAGS)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _make_dirs(path: Path) -> None:
    """
    Create ``path`` and its missing parents, each with mode 0700 whatever the umask.
    """
    missing: list[Path] = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue
        _fchmod_dir(d, 0o700)


def _write_all(fd: int, data: bytes) -> int:
    """
    Write all of ``data`` (retrying short writes); raises with ``.written`` set on error.
    """
    view = memoryview(data)
    written = 0
    try:
        while written < len(data):
            n = os.write(fd, view[written:])
            if n <= 0:
                raise OSError(errno.EIO, "write wrote nothing")
            written += n
    except OSError as exc:
        exc.written = written  # type: ignore[attr-defined]
        raise
    return written


def _checkpoint(offset: int, lineno: int) -> bytes:
    head = b"%016x %016x" % (offset, lineno)
    return head + b" %08x\n" % zlib.crc32(head)


def _parse_checkpoint(data: bytes) -> tuple[int, int] | None:
    m = re.fullmatch(rb"([0-9a-f]{16}) ([0-9a-f]{16}) ([0-9a-f]{8})\n", data)
    if m is None or int(m.group(3), 16) != zlib.crc32(data[:33]):
        return None
    return int(m.group(1), 16), int(m.group(2), 16)


def _sort_key(name: str) -> tuple[str, str]:
    m = _NAME_RE.fullmatch(name)
    return (m.group("uuid") if m else "", name)


@dataclasses.dataclass(slots=True)
class _Replay:
    """
    The state of one recovery: callbacks, quarantine and running counts.
    """

    deliver: Deliver
    on_bad_line: OnBadLine | None
    quarantine: _Quarantine
    commit: Commit | None = None
    commit_every: int = 1
    replayed: int = 0
    kept: int = 0
    corrupt: int = 0
    files: int = 0


class _Quarantine:
    """
    The quarantine file of one recovery, opened on the first bad line.
    """

    def __init__(self, dir_fd: int, directory: Path) -> None:
        self._parent_fd = dir_fd
        self._directory = directory / _QUARANTINE
        self._dir_fd: int | None = None
        self._fd: int | None = None
        self._dirty = False
        self.fds: set[int] = set()

    def _open(self) -> int:
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(_QUARANTINE, 0o700, dir_fd=self._parent_fd)
            qdir = os.open(_QUARANTINE, _DIR_FLAGS, dir_fd=self._parent_fd)
        except OSError as exc:
            raise _oserror(exc, "cannot open the quarantine directory", self._directory) from exc
        self.fds.add(qdir)
        self._dir_fd = qdir
        st = os.fstat(qdir)
        if st.st_uid != os.geteuid():
            raise SpillDirectoryError(
                f"quarantine directory {str(self._directory)!r} is owned by uid {st.st_uid}"
            )
        name = f"quarantine-{os.getpid()}-{uuid7_str()}.jsonl"
        try:
            os.fchmod(qdir, 0o700)
            fd = os.open(name, _SPILL_FLAGS, 0o600, dir_fd=qdir)
            self.fds.add(fd)
            os.fchmod(fd, 0o600)
            os.fsync(qdir)
        except OSError as exc:
            raise _oserror(exc, "cannot create a quarantine file", self._directory / name) from exc
        self._fd = fd
        return fd

    def add(self, source: str, lineno: int, reason: str, raw: bytes) -> None:
        fd = self._fd if self._fd is not None else self._open()
        record = _encoding.dumps(
            {
                "time": format_time(_dt.datetime.now(_dt.UTC)),
                "file": source,
                "line": lineno,
                "reason": reason,
                "pid": os.getpid(),
                "raw_base64": base64.b64encode(raw).decode("ascii"),
            }
        )
        try:
            _write_all(fd, record + b"\n")
        except OSError as exc:
            raise _oserror(exc, "cannot write to the quarantine", self._directory) from exc
        self._dirty = True

    def sync(self) -> None:
        if self._fd is not None and self._dirty:
            try:
                _fdatasync(self._fd)
            except OSError as exc:
                raise _oserror(exc, "cannot fsync the quarantine", self._directory) from exc
            self._dirty = False

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
        self._fd = self._dir_fd = None


_live_stores: weakref.WeakSet[SpillStore] = weakref.WeakSet()


def _reinit_stores_after_fork() -> None:
    for store in list(_live_stores):
        store._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_stores_after_fork)


class SpillStore:
    """
    Append-only, per-writer JSON-lines spill files in one directory, with crash-safe replay.

    Args:
        directory: the spill directory; created 0700 if missing.
        key: HMAC-SHA256 key for the lines (at least 16 bytes); None = CRC-32 only.
        fsync: ``"never"``, ``"interval"`` (default) or ``"always"``.
        fsync_interval: seconds of ``clock`` between fsyncs for ``"interval"``.
        max_bytes: cap on the bytes in the directory's spill files; None = unbounded.
        clock: monotonic seconds for the fsync interval; :func:`time.monotonic` by default.

    Raises:
        SpillDirectoryError: the directory is unsafe (also a ValueError).
        SpillError: the directory cannot be created or opened.
        ValueError: a bad ``fsync``, ``fsync_interval``, ``max_bytes`` or key length.
        TypeError: ``key`` is not bytes.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        key: bytes | None = None,
        fsync: str = "interval",
        fsync_interval: float = 1.0,
        max_bytes: int | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        try:
            self._fsync = SpillFsync(fsync)
        except ValueError:
            choices = ", ".join(repr(p.value) for p in SpillFsync)
            raise ValueError(f"fsync must be one of {choices}, got {fsync!r}") from None
        if not (
            isinstance(fsync_interval, int | float)
            and math.isfinite(fsync_interval)
            and fsync_interval >= 0
        ):
            raise ValueError(f"fsync_interval must be a number >= 0, got {fsync_interval!r}")
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
        ):
            raise ValueError(f"max_bytes must be a positive integer or None, got {max_bytes!r}")
        self._mac: hmac.HMAC | None = None
        if key is not None:
            if not isinstance(key, bytes | bytearray):
                raise TypeError("the spill key must be bytes")
            if len(key) < _MIN_KEY_BYTES:
                raise ValueError(f"the spill key must be at least {_MIN_KEY_BYTES} bytes")
            self._mac = hmac.new(bytes(key), digestmod=hashlib.sha256)
        self._fsync_interval = float(fsync_interval)
        self._max_bytes = max_bytes
        self._clock = clock
        self._directory = Path(directory).absolute()
        self._dir_fd = self._open_directory(self._directory)

        self._lock = threading.Lock()
        self._recover_lock = threading.Lock()
        self._fd: int | None = None
        self._file: str | None = None
        self._file_bytes = 0  # bytes this store wrote to its current file
        self._dirty = False
        self._last_sync = clock()
        self._closed = False
        self._recovering = False
        self._recover_owner: int | None = None
        self._replay_fds: set[int] = set()
        self._refused = 0
        self._write_errors = 0
        self._fsyncs = 0
        self._bytes = 0
        self._bytes = self._scan_bytes()
        _live_stores.add(self)

    @staticmethod
    def _open_directory(path: Path) -> int:
        try:
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                _make_dirs(path)
                st = os.lstat(path)
            _check_dir_stat(st, path)
            fd = os.open(path, _DIR_FLAGS)
        except SpillError:
            raise
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise SpillDirectoryError(
                    f"spill path {str(path)!r} is not a plain directory"
                ) from exc
            raise _oserror(exc, "cannot create or open the spill directory", path) from exc
        try:
            fst = os.fstat(fd)
            _check_dir_stat(fst, path)
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                raise SpillDirectoryError(f"spill directory {str(path)!r} changed while opening")
        except BaseException:
            os.close(fd)
            raise
        return fd

    @property
    def directory(self) -> Path:
        """
        The spill directory (absolute).
        """
        return self._directory

    @property
    def fsync_policy(self) -> SpillFsync:
        """
        The fsync policy in force.
        """
        return self._fsync

    @property
    def current_file(self) -> Path | None:
        """
        The file this store appends to now (None before the first write or after rotation).
        """
        name = self._file
        return None if name is None else self._directory / name

    @property
    def refused_count(self) -> int:
        """
        Events refused with :class:`SpillFullError` because ``max_bytes`` was reached.
        """
        return self._refused

    @property
    def write_error_count(self) -> int:
        """
        Writes, file creations and fsyncs that failed with an OS error.
        """
        return self._write_errors

    @property
    def fsync_count(self) -> int:
        """
        fsyncs of spill files done by this store.
        """
        return self._fsyncs

    def pending_bytes(self) -> int:
        """
        Bytes of spilled lines not yet replayed in the directory's spill files.
        """
        return self._bytes

    def _listdir(self) -> list[str]:
        # A fresh descriptor per listing: directory read offsets are shared by dup'd and
        # inherited descriptors, so listing through self._dir_fd could race another thread
        # or a forked child.
        fd = os.open(".", _DIR_FLAGS, dir_fd=self._dir_fd)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def _scan_bytes(self) -> int:
        total = 0
        try:
            names = self._listdir()
        except OSError:
            return self._bytes
        for name in names:
            if _NAME_RE.fullmatch(name) is None:
                continue
            try:
                st = os.stat(name, dir_fd=self._dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
        return total

    def _encode(self, evt: Event[Any], subscription: str | None) -> bytes:
        if subscription is not None and not isinstance(subscription, str):
            raise TypeError("subscription must be a str or None")
        record = evt._canonical()
        record["subscription"] = subscription
        flags = evt.span_context.trace_flags
        if flags != TraceFlags.SAMPLED and evt.span_context.is_valid:
            # The canonical form has no flags (a valid span reads back as sampled):
            # keep an unsampled span unsampled across a replay (its traceparent).
            record["trace_flags"] = int(flags)
        body = _encoding.dumps(record)
        if self._mac is not None:
            mac = self._mac.copy()
            mac.update(body)
            return body[:-1] + _HMAC_PREFIX + mac.hexdigest().encode("ascii") + b'"}\n'
        return body[:-1] + b'%s%08x"}\n' % (_CRC_PREFIX, zlib.crc32(body))

    def write(self, evt: Event[Any], subscription: str | None = None) -> None:
        """
        Append one event (for ``subscription``, or all when None); it is at the OS on return.

        Raises:
            SpillFullError: ``max_bytes`` reached; the event was not written (counted).
            SpillError: the write failed or the store is closed; the next write uses a new
                file (unless the failed write left the current, still empty, file empty).
        """
        self._write_line(self._encode(evt, subscription), enforce_limit=True)

    def _write_line(self, data: bytes, *, enforce_limit: bool) -> None:
        with self._lock:
            if self._closed:
                raise SpillError(errno.EBADF, "spill store is closed", str(self._directory))
            if (
                enforce_limit
                and self._max_bytes is not None
                and self._bytes + len(data) > self._max_bytes
            ):
                self._refused += 1
                raise SpillFullError(
                    f"spill directory {str(self._directory)!r} is full: {self._bytes} bytes "
                    f"pending, max_bytes={self._max_bytes}; event refused"
                )
            fd = self._fd if self._fd is not None else self._open_new_file()
            try:
                written = _write_all(fd, data)
            except OSError as exc:
                written = getattr(exc, "written", 0)
                self._bytes += written
                self._write_errors += 1
                path = self.current_file or self._directory
                if written or self._file_bytes:
                    self._drop_file()
                raise _oserror(exc, "spill write failed", path) from exc
            self._bytes += written
            self._file_bytes += written
            self._dirty = True
            if self._fsync is SpillFsync.ALWAYS or (
                self._fsync is SpillFsync.INTERVAL
                and self._clock() - self._last_sync >= self._fsync_interval
            ):
                self._sync_locked()

    def _open_new_file(self) -> int:
        for _ in range(8):
            name = f"spill-{os.getpid()}-{uuid7_str()}.jsonl"
            try:
                fd = os.open(name, _SPILL_FLAGS, 0o600, dir_fd=self._dir_fd)
            except FileExistsError:
                continue
            except OSError as exc:
                self._write_errors += 1
                raise _oserror(exc, "cannot create a spill file", self._directory / name) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # A recoverer may have claimed the empty file between creation and lock.
                st = os.fstat(fd)
                cur = os.stat(name, dir_fd=self._dir_fd, follow_symlinks=False)
                if st.st_nlink == 0 or (cur.st_dev, cur.st_ino) != (st.st_dev, st.st_ino):
                    os.close(fd)
                    continue
                os.fchmod(fd, 0o600)
                if self._fsync is not SpillFsync.NEVER:
                    os.fsync(self._dir_fd)
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)
                continue
            except OSError as exc:
                os.close(fd)
                self._write_errors += 1
                raise _oserror(exc, "cannot prepare a spill file", self._directory / name) from exc
            self._fd = fd
            self._file = name
            self._file_bytes = 0
            self._last_sync = self._clock()
            return fd
        raise SpillError(errno.EAGAIN, "could not create a spill file", str(self._directory))

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
            _fdatasync(fd)
        except OSError as exc:
            self._write_errors += 1
            path = self.current_file or self._directory
            self._drop_file()
            raise _oserror(exc, "spill fsync failed", path) from exc
        self._dirty = False
        self._last_sync = self._clock()
        self._fsyncs += 1

    def flush(self) -> None:
        """
        fsync the current spill file now (whatever the policy).

        Raises:
            SpillError: the fsync failed; the next write uses a new file.
        """
        with self._lock:
            self._sync_locked()

    def close(self) -> None:
        """
        fsync (unless the policy is ``"never"``) and close; idempotent.

        Raises:
            SpillError: the final fsync failed (the store is closed anyway).
        """
        error: SpillError | None = None
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._fsync is not SpillFsync.NEVER:
                try:
                    self._sync_locked()
                except SpillError as exc:
                    error = exc
            self._drop_file()
            if not self._recovering:
                self._close_dir()
        _live_stores.discard(self)
        if error is not None:
            raise error

    def _close_dir(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._dir_fd)

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._recover_lock = threading.Lock()
        fds = list(self._replay_fds)
        self._replay_fds.clear()
        if self._fd is not None:
            fds.append(self._fd)
        self._fd = None
        self._file = None
        self._dirty = False
        self._recover_owner = None
        if self._recovering:
            self._recovering = False
            if self._closed:
                fds.append(self._dir_fd)
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    # --- recovery ------------------------------------------------------------------------

    def recover(
        self,
        deliver: Deliver,
        *,
        on_bad_line: OnBadLine | None = None,
        commit: Commit | None = None,
        commit_every: int = 1000,
    ) -> RecoveryResult:
        """
        Replay every spill file no live writer holds, handing each good line to ``deliver``.

        ``deliver(event, subscription)`` returns truthy once the event is handled
        (stored, or re-spilled through :meth:`write`), falsy to keep the line. It
        must not return truthy for an event only queued in memory: the line is not
        replayed again after that. If ``deliver`` raises, the exception propagates
        and the file stays (as ``*.replaying``, with its checkpoint) for the next
        recovery. Concurrent calls on one store run one after the other; calling
        :meth:`recover` from inside ``deliver`` raises RuntimeError.

        Args:
            deliver: receives each good event and its subscription (None = all).
            on_bad_line: receives ``(file, line_number, reason)`` for each quarantined
                line; without it each is logged as a warning to ``audit_logging``.
            commit: makes every event ``deliver`` accepted so far durable (flushes
                batching sinks); when given, ``deliver`` may accept an event that is
                still batched in memory, and the checkpoint advances only after a
                commit (every ``commit_every`` lines and at the end of each file).
                If it raises, the file stays for the next recovery.
            commit_every: lines between commits (ignored without ``commit``).

        Raises:
            SpillError: the store is closed, or writing a kept line, the quarantine or
                an fsync failed (the file being replayed stays for the next recovery).
            RuntimeError: called from inside ``deliver`` or ``on_bad_line``.
        """
        if self._recover_owner == threading.get_ident():
            raise RuntimeError("SpillStore.recover() called from inside its own deliver callback")
        with self._recover_lock:
            self._recover_owner = threading.get_ident()
            with self._lock:
                if self._closed:
                    raise SpillError(errno.EBADF, "spill store is closed", str(self._directory))
                self._recovering = True
                self._drop_file()
            try:
                return self._recover_all(deliver, on_bad_line, commit, commit_every)
            finally:
                self._recover_owner = None
                with self._lock:
                    self._recovering = False
                    if self._closed:
                        self._close_dir()
                    else:
                        self._bytes = self._scan_bytes()

    def _recover_all(
        self,
        deliver: Deliver,
        on_bad_line: OnBadLine | None,
        commit: Commit | None,
        commit_every: int,
    ) -> RecoveryResult:
        names = self._listdir()
        self._remove_orphan_checkpoints(names)
        candidates = sorted((n for n in names if _NAME_RE.fullmatch(n)), key=_sort_key)
        quarantine = _Quarantine(self._dir_fd, self._directory)
        # Every descriptor of this replay lives in quarantine.fds, which a forked child closes.
        self._replay_fds = quarantine.fds
        replay = _Replay(deliver, on_bad_line, quarantine, commit, max(1, commit_every))
        try:
            for name in candidates:
                claimed = self._claim(name)
                if claimed is not None:
                    self._replay_claimed(*claimed, replay)
        finally:
            quarantine.close()
            self._replay_fds = set()
        return RecoveryResult(replay.replayed, replay.kept, replay.corrupt, replay.files)

    def _replay_claimed(self, fd: int, rname: str, replay: _Replay) -> None:
        """
        Replay one claimed file, then make its effects durable and remove it.
        """
        replay.quarantine.fds.add(fd)
        try:
            self._replay_file(fd, rname, replay)
            self.flush()
            replay.quarantine.sync()
            os.unlink(rname, dir_fd=self._dir_fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(rname + _POS, dir_fd=self._dir_fd)
            os.fsync(self._dir_fd)
        except SpillError:
            raise
        except OSError as exc:
            raise _oserror(exc, "spill replay failed", self._directory / rname) from exc
        finally:
            replay.quarantine.fds.discard(fd)
            os.close(fd)
        replay.files += 1

    def _remove_orphan_checkpoints(self, names: list[str]) -> None:
        for name in names:
            if not name.endswith(_POS) or _NAME_RE.fullmatch(name[: -len(_POS)]) is None:
                continue
            target = name[: -len(_POS)]
            if not target.endswith(_REPLAYING):
                continue
            try:
                os.stat(target, dir_fd=self._dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=self._dir_fd)

    def _claim(self, name: str) -> tuple[int, str] | None:
        """
        Open, lock and (for ``*.jsonl``) rename a spill file to ``*.replaying``; None = skip it.
        """
        dir_fd = self._dir_fd
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(st.st_mode):
            _log.warning("skipping %s in the spill directory: not a regular file", name)
            return None
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
        except OSError:
            return None
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode):
                raise FileNotFoundError
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            cur = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if os.fstat(fd).st_nlink == 0 or (cur.st_dev, cur.st_ino) != (
                fst.st_dev,
                fst.st_ino,
            ):
                raise FileNotFoundError
            if name.endswith(_REPLAYING):
                return fd, name
            rname = name + _REPLAYING
            os.rename(name, rname, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return fd, rname
        except OSError:
            # Locked by a live writer or recoverer, or already taken and removed.
            os.close(fd)
            return None

    def _read_checkpoint(self, fd: int, rname: str) -> tuple[int, int]:
        try:
            pfd = os.open(rname + _POS, _READ_FLAGS, dir_fd=self._dir_fd)
        except FileNotFoundError:
            return 0, 0
        try:
            parsed = _parse_checkpoint(os.pread(pfd, 64, 0))
        finally:
            os.close(pfd)
        if parsed is None:
            _log.warning("ignoring a damaged replay checkpoint for %s", rname)
            return 0, 0
        offset = parsed[0]
        if offset == 0:
            return parsed
        if offset > os.fstat(fd).st_size or os.pread(fd, 1, offset - 1) != b"\n":
            _log.warning("ignoring a replay checkpoint off a line boundary for %s", rname)
            return 0, 0
        return parsed

    def _replay_file(self, fd: int, rname: str, replay: _Replay) -> None:
        source = str(self._directory / rname[: -len(_REPLAYING)])
        offset, lineno = self._read_checkpoint(fd, rname)
        pos_fd = os.open(
            rname + _POS,
            os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC,
            0o600,
            dir_fd=self._dir_fd,
        )
        replay.quarantine.fds.add(pos_fd)
        commit = replay.commit
        every = 1 if commit is None else replay.commit_every
        uncommitted = 0
        try:
            with open(fd, "rb", closefd=False) as reader:
                reader.seek(offset)
                for raw in reader:
                    lineno += 1
                    offset += len(raw)
                    with self._lock:
                        self._bytes = max(0, self._bytes - len(raw))
                    self._replay_line(raw, source, lineno, replay)
                    uncommitted += 1
                    if uncommitted >= every:
                        if commit is not None:
                            commit()
                        os.pwrite(pos_fd, _checkpoint(offset, lineno), 0)
                        uncommitted = 0
            if uncommitted and commit is not None:
                commit()  # before the caller unlinks the file: its events must be durable
        finally:
            replay.quarantine.fds.discard(pos_fd)
            os.close(pos_fd)

    def _replay_line(self, raw: bytes, source: str, lineno: int, replay: _Replay) -> None:
        complete = raw.endswith(b"\n")
        line = raw[:-1] if complete else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.startswith(_BOM):
            line = line[len(_BOM) :]
        if not line:
            return
        try:
            if not complete:
                _bad("torn line: no newline at end of file")
            evt, subscription = self._parse_line(line)
        except _BadLine as bad:
            replay.quarantine.add(source, lineno, bad.reason, raw)
            replay.corrupt += 1
            if replay.on_bad_line is None:
                _log.warning("quarantined spill line %s:%d: %s", source, lineno, bad.reason)
            else:
                try:
                    replay.on_bad_line(source, lineno, bad.reason)
                except Exception:
                    _log.exception("on_bad_line callback failed for %s:%d", source, lineno)
            return
        if replay.deliver(evt, subscription):
            replay.replayed += 1
        else:
            self._write_line(line + b"\n", enforce_limit=False)
            replay.kept += 1

    def _parse_line(self, line: bytes) -> tuple[Event[Any], str | None]:
        """
        Verify the integrity field and parse the line strictly; raises _BadLine.
        """
        if line.startswith(b"{") and line[-_HMAC_SUFFIX_LEN:].startswith(_HMAC_PREFIX):
            m = _HMAC_RE.fullmatch(line, len(line) - _HMAC_SUFFIX_LEN)
            if m is None:
                _bad("malformed hmac field")
            if self._mac is None:
                _bad("signed line (hmac) but no spill key is configured")
            body = line[:-_HMAC_SUFFIX_LEN] + b"}"
            mac = self._mac.copy()
            mac.update(body)
            if not hmac.compare_digest(mac.hexdigest().encode("ascii"), m.group(1)):
                _bad("hmac mismatch: forged or corrupted line")
        elif line.startswith(b"{") and line[-_CRC_SUFFIX_LEN:].startswith(_CRC_PREFIX):
            m = _CRC_RE.fullmatch(line, len(line) - _CRC_SUFFIX_LEN)
            if m is None:
                _bad("malformed crc32 field")
            if self._mac is not None:
                _bad("unsigned line (crc32 only) while a spill key is configured")
            body = line[:-_CRC_SUFFIX_LEN] + b"}"
            if b"%08x" % zlib.crc32(body) != m.group(1):
                _bad("crc32 mismatch: corrupted line")
        else:
            _bad("not a spill line: no crc32/hmac integrity field at its end")
        try:
            obj = _encoding.loads(body)  # strict: no NaN/Infinity, valid UTF-8; big ints exact
        except ValueError as exc:
            _bad(f"invalid JSON: {str(exc)[:200]}")
        if not isinstance(obj, dict):
            _bad("not a JSON object")
        subscription = obj.pop("subscription", None)
        if subscription is not None and not isinstance(subscription, str):
            _bad("field 'subscription' must be a string or null")
        flags = obj.pop("trace_flags", None)
        if flags is not None and (type(flags) is not int or not 0 <= flags <= 0xFF):
            _bad("field 'trace_flags' must be an integer 0-255")
        try:
            evt = Event.from_dict(obj)
        except (ValueError, TypeError) as exc:
            _bad(f"invalid event: {str(exc)[:200]}")
        if flags is not None and evt.span_context.is_valid:
            sc = evt.span_context
            span = SpanContext(sc.trace_id, sc.span_id, sc.is_remote, TraceFlags(flags))
            evt = dataclasses.replace(evt, span_context=span)
        return evt, subscription

    def __repr__(self) -> str:
        return (
            f"SpillStore({str(self._directory)!r}, fsync={self._fsync.value!r}, "
            f"signed={self._mac is not None})"
        )
