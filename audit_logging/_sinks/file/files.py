"""
Opening the files of the JSON-lines sink safely, and making directory changes durable.

Every file the sink creates (the log, its backups, the ``.gz`` files, the lock
files) is created with an explicit mode and ``fchmod``, so the umask can neither
widen nor narrow it, and opened with ``O_NOFOLLOW``: a symbolic link planted at
the log path is refused, never followed, so nobody can redirect the audit trail
into another file by creating a link where it will be written.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["O_CLOEXEC", "O_NOFOLLOW", "fsync_dir", "open_log_file", "symlink_error"]

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def symlink_error(path: str) -> OSError:
    """
    The ``ELOOP`` error for a log path that is a symbolic link, saying what to do instead.
    """
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
    flags = os.O_RDWR | O_NOFOLLOW | O_CLOEXEC | (os.O_APPEND if append else 0)
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
                raise symlink_error(path) from exc
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
        fd = os.open(directory, os.O_RDONLY | O_CLOEXEC)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)
