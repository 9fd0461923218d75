"""
The spill directory and its files, at the level of the operating system.

The directory is created 0700 (with missing parents) and refused when it is a
symlink, not a directory, owned by another uid, or group/world writable; only
its last component is checked, so symlinks higher in the path (``/var/run``)
are fine. All later file operations go through a directory file descriptor
opened with ``O_NOFOLLOW``, so the directory cannot be swapped underneath, and
every file is opened ``O_NOFOLLOW`` too: a planted symlink can neither redirect
a spill write nor make a replay read a file outside the directory.

Spill files are named ``spill-<pid>-<uuid7>.jsonl`` (``.replaying`` while a
recovery owns one, with its checkpoint in ``.replaying.pos``); the UUIDv7 makes
names unique across processes and orders them by creation time.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from audit_logging._model.ids import uuid7_str
from audit_logging.exceptions import SpillDirectoryError, SpillError

__all__ = [
    "DIR_FLAGS",
    "NAME_RE",
    "POS",
    "POS_FLAGS",
    "READ_FLAGS",
    "REPLAYING",
    "SPILL_FLAGS",
    "fdatasync",
    "listdir",
    "new_spill_name",
    "open_directory",
    "oserror",
    "sort_key",
    "write_all",
]

NAME_RE = re.compile(
    r"spill-[0-9]+-"
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"\.jsonl(?P<replaying>\.replaying)?"
)
"""A spill file's name (``replaying`` set while a recovery owns it)."""
REPLAYING = ".replaying"
POS = ".pos"

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
SPILL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | _O_NOFOLLOW | _O_CLOEXEC
"""A new spill or quarantine file: never an existing one, never through a symlink."""
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | _O_NOFOLLOW | _O_CLOEXEC
"""A file to replay (``O_NONBLOCK``: a planted FIFO must not block the open)."""
POS_FLAGS = os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC
"""A replay checkpoint."""
DIR_FLAGS = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC

fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


def new_spill_name() -> str:
    """
    A fresh spill file name for this process.
    """
    return f"spill-{os.getpid()}-{uuid7_str()}.jsonl"


def sort_key(name: str) -> tuple[str, str]:
    """
    Orders spill file names by creation (their UUIDv7), so replay keeps spill order.
    """
    m = NAME_RE.fullmatch(name)
    return (m.group("uuid") if m else "", name)


def oserror(exc: OSError, what: str, path: Path | str) -> SpillError:
    """
    A :class:`SpillError` saying what failed, on which path, and why.
    """
    return SpillError(exc.errno, f"{what}: {exc.strerror or exc}", str(path))


def write_all(fd: int, data: bytes) -> int:
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


def listdir(dir_fd: int) -> list[str]:
    """
    The names in the directory open as ``dir_fd``.
    """
    # A fresh descriptor per listing: directory read offsets are shared by dup'd and
    # inherited descriptors, so listing through dir_fd itself could race another
    # thread or a forked child.
    fd = os.open(".", DIR_FLAGS, dir_fd=dir_fd)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def open_directory(path: Path) -> int:
    """
    Create (0700) or check the spill directory and open it; returns its descriptor.

    Raises:
        SpillDirectoryError: the directory is unsafe (see the module docstring).
        SpillError: it cannot be created or opened.
    """
    try:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            _make_dirs(path)
            st = os.lstat(path)
        _check_dir_stat(st, path)
        fd = os.open(path, DIR_FLAGS)
    except SpillError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise SpillDirectoryError(f"spill path {str(path)!r} is not a plain directory") from exc
        raise oserror(exc, "cannot create or open the spill directory", path) from exc
    try:
        fst = os.fstat(fd)
        _check_dir_stat(fst, path)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
            raise SpillDirectoryError(f"spill directory {str(path)!r} changed while opening")
    except BaseException:
        os.close(fd)
        raise
    return fd


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
    fd = os.open(path, DIR_FLAGS)
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
